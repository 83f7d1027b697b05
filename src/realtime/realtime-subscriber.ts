import { messageEvent } from '@cs-chat/contracts/ws/protocol';
import type { EventOrigin } from '../events/domain-events.ts';
import type { EventHub } from '../events/hub.ts';
import type { Realtime } from './realtime.ts';

/** A write whose origin is not said reaches every connection of its writer. */
const NO_ORIGIN: EventOrigin = { skipConnectionId: null, echoToSender: true };

/**
 * Real-time delivery as one subscriber of the domain events: each event is
 * mapped to the frames it becomes and the audience that receives them, on
 * every instance. Returns the function that unsubscribes it all.
 */
export function subscribeRealtime(hub: Pick<EventHub, 'subscribe'>, realtime: Realtime): () => void {
  const unsubscribers = [
    hub.subscribe('message.created', ({ message, participants }, { origin = NO_ORIGIN }) => {
      const { skipConnectionId, echoToSender } = origin;
      const sender = message.sender_id;
      const other = participants[0] === sender ? participants[1] : participants[0];
      realtime.broadcast(messageEvent(message), {
        users: echoToSender ? [other, sender] : [other],
        admins: true,
        ...(echoToSender ? {} : { exceptUsers: [sender] }),
        exceptConnection: skipConnectionId ? { userId: sender, connectionId: skipConnectionId } : null,
      });
      // After the push: the participants may learn of each other's presence now.
      realtime.revealPresence(message, participants);
    }),

    hub.subscribe('conversation.read', ({ conversationId, readerId, otherId, timestamp }) => {
      realtime.broadcast(
        { type: 'read', conversation_id: conversationId, reader_id: readerId, timestamp },
        { users: [otherId], admins: false },
      );
    }),

    hub.subscribe('message.rejected', ({ id, conversationId, senderId }) => {
      realtime.broadcast(
        { type: 'message_rejected', id, conversation_id: conversationId },
        { users: [senderId], admins: false },
      );
    }),

    hub.subscribe('message.recalled', ({ id, conversationId, participants, recalledAt }) => {
      realtime.broadcast(
        { type: 'message_recalled', id, conversation_id: conversationId, recalled_at: recalledAt },
        { users: [...participants], admins: true },
      );
    }),

    hub.subscribe('message.deleted', ({ id, conversationId, participants }) => {
      realtime.broadcast(
        { type: 'message_deleted', id, conversation_id: conversationId },
        { users: [...participants], admins: true },
      );
    }),

    hub.subscribe('card.updated', ({ card, conversations }) => {
      // One push per conversation (the service bounds how many): a client updates the card where it shows.
      for (const { id, participants } of conversations) {
        realtime.broadcast(
          { type: 'card_updated', conversation_id: id, card },
          { users: [...participants], admins: true },
        );
      }
    }),

    hub.subscribe('user.disabled', ({ userId }) => realtime.disconnectUser(userId)),

    hub.subscribe('sessions.revoked', (event) => realtime.revokeSessions(event)),
  ];
  return () => {
    for (const unsubscribe of unsubscribers) unsubscribe();
  };
}
