import Type, { type Static } from 'typebox';
import { Card } from '../rest/card.schemas.ts';
import { IdParam, UuidOrId } from '../rest/common.schemas.ts';
import { CONVERSATION_STATUSES } from '../rest/conversation.schemas.ts';
import { Message, sendFields } from '../rest/message.schemas.ts';
import { Rating } from '../rest/rating.schemas.ts';
import { Note } from '../rest/team.schemas.ts';

/**
 * The WebSocket wire protocol (API.md, "WebSocket"): the frames a client may
 * send and the events the server sends (the close codes are in close-codes.ts,
 * the parser of inbound frames in frame-parser.ts). Every event carries a
 * `type`; clients ignore types they do not know.
 */

/** Larger inbound frames close the socket with 1009. */
export const MAX_FRAME_BYTES = 64 * 1024;

// ---------------------------------------------------------------- client → server

export const MessageFrame = Type.Object({
  type: Type.Literal('message'),
  ...sendFields,
  // The seed's client may name itself; anything but the caller is refused like the REST send.
  sender_id: Type.Optional(IdParam),
});
export type MessageFrame = Static<typeof MessageFrame>;

export const ReadFrame = Type.Object({ type: Type.Literal('read'), conversation_id: UuidOrId });
export type ReadFrame = Static<typeof ReadFrame>;

export const TypingFrame = Type.Object({
  type: Type.Literal('typing'),
  conversation_id: UuidOrId,
  is_typing: Type.Boolean(),
});
export type TypingFrame = Static<typeof TypingFrame>;

export const PingFrame = Type.Object({ type: Type.Literal('ping') });
export type PingFrame = Static<typeof PingFrame>;

export const ClientFrame = Type.Union([MessageFrame, ReadFrame, TypingFrame, PingFrame]);
export type ClientFrame = Static<typeof ClientFrame>;

// ---------------------------------------------------------------- server → client

const Timestamp = Type.Integer({ minimum: 0, description: 'Unix seconds' });

export const HelloEvent = Type.Object({
  type: Type.Literal('hello'),
  connection_id: Type.String(),
  user_id: Type.String(),
  server_time: Timestamp,
});
export type HelloEvent = Static<typeof HelloEvent>;

export const OnlineUsersEvent = Type.Object({
  type: Type.Literal('online_users'),
  users: Type.Array(Type.String()),
  timestamp: Timestamp,
});
export type OnlineUsersEvent = Static<typeof OnlineUsersEvent>;

export const StatusEvent = Type.Object({
  type: Type.Literal('status'),
  user_id: Type.String(),
  status: Type.Enum(['online', 'offline']),
  timestamp: Timestamp,
});
export type StatusEvent = Static<typeof StatusEvent>;

/** The REST `Message` plus `timestamp` (= created_at), as the reference client reads it. */
export const MessageEvent = Type.Object({
  type: Type.Literal('message'),
  ...Message.properties,
  timestamp: Timestamp,
});
export type MessageEvent = Static<typeof MessageEvent>;

export const ReadEvent = Type.Object({
  type: Type.Literal('read'),
  conversation_id: Type.String(),
  reader_id: Type.String(),
  timestamp: Timestamp,
});
export type ReadEvent = Static<typeof ReadEvent>;

export const TypingEvent = Type.Object({
  type: Type.Literal('typing'),
  user_id: Type.String(),
  conversation_id: Type.String(),
  is_typing: Type.Boolean(),
});
export type TypingEvent = Static<typeof TypingEvent>;

export const AckEvent = Type.Object({
  type: Type.Literal('ack'),
  client_msg_id: Type.Union([Type.String(), Type.Null()]),
  id: Type.String(),
  seq: Type.Integer(),
  conversation_id: Type.String(),
  /** The content guard held the message for review: stored, not delivered, seq 0 until approved. */
  pending: Type.Optional(Type.Literal(true)),
});
export type AckEvent = Static<typeof AckEvent>;

export const MessageDeletedEvent = Type.Object({
  type: Type.Literal('message_deleted'),
  id: Type.String(),
  conversation_id: Type.String(),
});
export type MessageDeletedEvent = Static<typeof MessageDeletedEvent>;

/** Its sender recalled a message: participants drop its content (admins keep it, marked recalled). */
export const MessageRecalledEvent = Type.Object({
  type: Type.Literal('message_recalled'),
  id: Type.String(),
  conversation_id: Type.String(),
  recalled_at: Timestamp,
});
export type MessageRecalledEvent = Static<typeof MessageRecalledEvent>;

/** To its sender only: a message the content guard held (acked `pending`) was rejected in review, never delivered. */
export const MessageRejectedEvent = Type.Object({
  type: Type.Literal('message_rejected'),
  id: Type.String(),
  conversation_id: Type.String(),
});
export type MessageRejectedEvent = Static<typeof MessageRejectedEvent>;
/** The host platform changed a card this conversation shows: show `card` wherever its kind and id appear. */
export const CardUpdatedEvent = Type.Object({
  type: Type.Literal('card_updated'),
  conversation_id: Type.String(),
  card: Card,
});
export type CardUpdatedEvent = Static<typeof CardUpdatedEvent>;

export const ErrorEvent = Type.Object({
  type: Type.Literal('error'),
  detail: Type.String(),
  error_type: Type.String(),
  client_msg_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  /** For validation failures: "field: problem" lines, as in REST 422 answers. */
  errors: Type.Optional(Type.Array(Type.String())),
});
export type ErrorEvent = Static<typeof ErrorEvent>;

export const PongEvent = Type.Object({ type: Type.Literal('pong'), timestamp: Timestamp });
export type PongEvent = Static<typeof PongEvent>;

/**
 * Pushes may have been lost (the fan-out bus was away): catch up every
 * conversation by `after_seq`, as after a reconnect (docs/REALTIME.md).
 */
export const ResyncEvent = Type.Object({
  type: Type.Literal('resync'),
  reason: Type.Literal('bus_restored'),
  timestamp: Timestamp,
});
export type ResyncEvent = Static<typeof ResyncEvent>;

/**
 * A conversation's assignment or status changed (issue 13): to the customer,
 * every member of the team answering it, and admins.
 */
export const ConversationUpdatedEvent = Type.Object({
  type: Type.Literal('conversation_updated'),
  conversation_id: Type.String(),
  change: Type.Enum(['assignment', 'status', 'escalation']),
  team_id: Type.Union([Type.String(), Type.Null()]),
  assignee_id: Type.Union([Type.String(), Type.Null()]),
  previous_assignee_id: Type.Union([Type.String(), Type.Null()]),
  status: Type.Enum(CONVERSATION_STATUSES),
  linked_conversation_id: Type.Union([Type.String(), Type.Null()]),
  /** Who made the change. */
  actor_id: Type.String(),
  timestamp: Timestamp,
});
export type ConversationUpdatedEvent = Static<typeof ConversationUpdatedEvent>;

/** An internal note (issue 13): to the team's side (never the customer) and admins. */
export const NoteEvent = Type.Object({ type: Type.Literal('note'), ...Note.properties });
export type NoteEvent = Static<typeof NoteEvent>;

/**
 * A buyer rated a resolution (issue 14): to the team's owner, supervisors and
 * the conversation's assignee, and admins; never the buyer.
 */
export const RatingEvent = Type.Object({ type: Type.Literal('rating'), ...Rating.properties });
export type RatingEvent = Static<typeof RatingEvent>;

/**
 * A customer has waited too long for a human answer (issue 14): `level` 1 (the
 * team's slow_reply_seconds) to the assignee, or in the queue every member,
 * and the owner and supervisors; `level` 2 (slow_reply_escalation_seconds) to
 * the owner and supervisors. Once per level per customer turn.
 */
export const SlowReplyEvent = Type.Object({
  type: Type.Literal('slow_reply'),
  conversation_id: Type.String(),
  team_id: Type.String(),
  assignee_id: Type.Union([Type.String(), Type.Null()]),
  level: Type.Union([Type.Literal(1), Type.Literal(2)]),
  /** When the customer's unanswered turn began. */
  waiting_since: Timestamp,
  waited_seconds: Type.Integer({ minimum: 0 }),
  threshold_seconds: Type.Integer({ minimum: 1 }),
});
export type SlowReplyEvent = Static<typeof SlowReplyEvent>;

/** Events fanned out to many connections (and across instances); the rest answer one connection. */
export const BroadcastEvent = Type.Union([
  StatusEvent,
  MessageEvent,
  ReadEvent,
  TypingEvent,
  MessageDeletedEvent,
  MessageRecalledEvent,
  MessageRejectedEvent,
  CardUpdatedEvent,
  ResyncEvent,
  ConversationUpdatedEvent,
  NoteEvent,
  RatingEvent,
  SlowReplyEvent,
]);
export type BroadcastEvent = Static<typeof BroadcastEvent>;

export type ServerEvent = HelloEvent | OnlineUsersEvent | AckEvent | ErrorEvent | PongEvent | BroadcastEvent;

export function messageEvent(message: Message): MessageEvent {
  return { type: 'message', ...message, timestamp: message.created_at };
}
