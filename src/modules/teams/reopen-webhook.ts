import type { TransactionEventRecorder } from '../../events/transaction-events.ts';
import type { MessageHook } from '../messages/send-transaction.ts';

/**
 * A customer's message that reopens a pending or resolved conversation is a
 * status change like any other (issue 13): `conversation.status_changed` is
 * recorded in the send's transaction, so the outbox row commits with the
 * message. The append already read the previous status under the row lock
 * (StoredMessage.reopened), so every other message costs nothing here, and a
 * reopening costs a statement only when an endpoint subscribes.
 */
export function reopenWebhook(transactionEvents: TransactionEventRecorder): MessageHook {
  return async (trx, { message, reopened }, afterCommit) => {
    if (!reopened) return;
    await transactionEvents.record({ db: trx, afterCommit }, 'conversation.status_changed', () => ({
      conversation_id: message.conversation_id,
      team_id: reopened.teamId,
      status: 'open',
      previous_status: reopened.previousStatus,
      actor_id: message.sender_id,
      changed_at: Number(message.created_at),
    }));
  };
}
