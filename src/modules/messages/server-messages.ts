import type { ConversationRow, MessageRow, UserRow } from '../../db/types.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { otherParticipant, recipientOf } from '../conversations/conversation.service.ts';
import { type Append, type UnreadColumn, unreadColumnOf } from './message.repository.ts';
import { previewOf } from './message-content.ts';
import type { SendTransactionPlan } from './send-transaction.ts';

/**
 * The messages the server writes rather than a client sends, each into a
 * conversation a team answers:
 * - `system`: a team's notice in the timeline (a change of hands, an
 *   escalation), sent by the team's owner; stored read, nobody's unread.
 * - `platform`: the platform desk's agent speaking in a shop's conversation it
 *   handles the escalation of; unread for both sides.
 * - `auto`: a team's auto reply (a text from the owner marked `auto`); unread
 *   for the customer.
 * Each is for the customer (webhooks' `recipient_id`). None has a `side`: none
 * reopens the conversation, answers the customer's turn or claims it.
 */
export type ServerMessageKind = 'system' | 'platform' | 'auto';

export interface ServerMessage {
  kind: ServerMessageKind;
  conversation: Pick<ConversationRow, 'id' | 'participant1_id' | 'participant2_id' | 'team_id'>;
  /** The team's owner (system, auto), or the desk's agent (platform). */
  sender: UserRow;
  content: string;
  createdAt: number;
}

/** What each kind is stored as, and whose counts it raises. */
const KINDS: Record<
  ServerMessageKind,
  { type: MessageRow['message_type']; read: boolean; auto: boolean; bothSides: boolean }
> = {
  system: { type: 'system', read: true, auto: false, bothSides: false },
  platform: { type: 'platform', read: false, auto: false, bothSides: true },
  auto: { type: 'text', read: false, auto: true, bothSides: false },
};

/** A server message's append, and the sender's side's count it raises too (platform posts). */
export interface ServerAppend {
  append: Append;
  alsoRaises: UnreadColumn | undefined;
}

export function serverAppend({ kind, conversation, sender, content, createdAt }: ServerMessage): ServerAppend {
  const rule = KINDS[kind];
  const recipientId = recipientOf(conversation, sender.id);
  return {
    append: {
      message: {
        id: uuidv7(),
        conversation_id: conversation.id,
        sender_id: sender.id,
        content,
        message_type: rule.type,
        filename: null,
        client_msg_id: null,
        created_at: createdAt,
        ...(rule.auto ? { auto_reply: 1 } : {}),
      },
      recipientId,
      recipientUnread: unreadColumnOf(conversation, recipientId),
      preview: previewOf(rule.type, content),
      ...(rule.read ? { read: true } : {}),
    },
    alsoRaises: rule.bothSides ? unreadColumnOf(conversation, otherParticipant(conversation, recipientId)) : undefined,
  };
}

/** Server messages ready to write: their appends, and what the send hooks asked for before the transaction. */
export interface PreparedServerMessages {
  readonly messages: readonly ServerMessage[];
  readonly appends: readonly ServerAppend[];
  readonly plan: SendTransactionPlan | undefined;
}
