import type { Message } from '@cs-chat/contracts/rest/message.schemas';
import type { presenceSharing } from '../modules/access/access.repository.ts';
import { canBeCustomer } from '../modules/access/presence-rule.ts';
import type { PresenceStore } from './bus.ts';

/** Conversations remembered per process; past it the oldest is forgotten (and checked again if it comes back). */
const REMEMBERED_CONVERSATIONS = 50_000;

export interface PresenceRevealDeps {
  /** Whether a conversation shares presence, and whether this message made it so (access.repository.ts). */
  presenceSharing: (conversationId: string, messageId: string) => ReturnType<typeof presenceSharing>;
  presence: Pick<PresenceStore, 'filterOnline'>;
  /** Tells `to` that `subject` is online (a `status` event to `to` only). */
  announceOnline(subject: string, to: string): void;
}

/**
 * Presence starts being shared when the customer side writes its first
 * message in a conversation it did not start. Until then neither side was
 * told about the other, so at that moment each learns whether the other is
 * online; later changes arrive as usual `status` events.
 *
 * Runs after the send committed, never inside it. What each conversation is
 * known to be (sharing, or who its customer is) is remembered, so a send
 * costs a query only the first time a possible customer writes in a
 * conversation this process has not seen, and agents' sends never do.
 */
export function createPresenceReveal({ presenceSharing, presence, announceOnline }: PresenceRevealDeps) {
  /** Conversation → 'shared', or the customer's id while they have not written. */
  const known = new Map<string, 'shared' | { customerId: string }>();

  function remember(conversationId: string, value: 'shared' | { customerId: string }): void {
    known.delete(conversationId);
    if (known.size >= REMEMBERED_CONVERSATIONS) {
      const oldest = known.keys().next().value;
      if (oldest !== undefined) known.delete(oldest);
    }
    known.set(conversationId, value);
  }

  type Sent = Pick<Message, 'id' | 'conversation_id' | 'sender_id' | 'sender'>;

  return {
    /** Whether a stored message may have started sharing presence; false for nearly every send, at no cost. */
    mayStartSharing(message: Sent): boolean {
      const role = message.sender?.role;
      if (!role || !canBeCustomer(role)) return false;
      const seen = known.get(message.conversation_id);
      return seen === undefined || (seen !== 'shared' && seen.customerId === message.sender_id);
    },

    /** For a message mayStartSharing picked: checks, and announces each online participant to the other. */
    async messageCreated(message: Sent, participants: readonly [string, string]): Promise<void> {
      const sharing = await presenceSharing(message.conversation_id, message.id);
      if (!sharing) return;
      if (sharing.state === 'not_shared') {
        remember(message.conversation_id, { customerId: sharing.customerId });
        return;
      }
      remember(message.conversation_id, 'shared');
      if (sharing.state !== 'shared_by_this_message') return;
      const [a, b] = participants;
      const online = new Set(await presence.filterOnline([a, b]));
      if (online.has(a)) announceOnline(a, b);
      if (online.has(b)) announceOnline(b, a);
    },
  };
}
