import { conflict } from '../../lib/errors.ts';
import { nowSeconds } from '../../lib/time.ts';
import type { MessageHook } from '../messages/send-transaction.ts';

/**
 * The send transaction's team rule (issue 13), run for each message under the
 * conversation's row lock (the seq claim took it): a member who answers an
 * unassigned conversation claims it; an agent answering one assigned to
 * someone else is refused with 409 assigned_to_other, which rolls back that
 * message only. Supervisors answer anything without taking it over.
 *
 * The owner's answers and the customer's messages cost nothing here: a team
 * of one (every account before it adds members) runs no statement of this
 * hook. The owner is the account itself, so its answer claims nothing.
 */
export const claimOnAnswer: MessageHook = async (trx, { message, append }) => {
  if (append.side !== 'team' || append.teamRole === undefined || append.teamRole === 'owner') return;
  const row = await trx
    .selectFrom('conversations')
    .select('assignee_id')
    .where('id', '=', message.conversation_id)
    .executeTakeFirst();
  if (!row || row.assignee_id === message.sender_id) return;
  if (row.assignee_id !== null) {
    if (append.teamRole === 'agent') throw conflict('assigned_to_other');
    return;
  }
  const now = nowSeconds();
  await trx
    .updateTable('conversations')
    .set({ assignee_id: message.sender_id, assigned_at: now })
    .where('id', '=', message.conversation_id)
    .execute();
  await trx
    .insertInto('conversation_assignments')
    .values({
      conversation_id: message.conversation_id,
      actor_id: message.sender_id,
      from_id: null,
      to_id: message.sender_id,
      note: null,
      kind: 'claim',
      created_at: now,
    })
    .execute();
};
