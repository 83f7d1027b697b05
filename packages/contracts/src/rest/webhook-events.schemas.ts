import Type, { type Static, type TSchema } from 'typebox';
import { CONVERSATION_STATUSES } from './conversation.schemas.ts';
import { GUARD_ACTIONS, GUARD_LABELS, GUARD_ROLES } from './guard.schemas.ts';
import { MESSAGE_TYPES } from './message.schemas.ts';

/**
 * The `data` of each webhook event a receiver gets in `{type, timestamp, data}`
 * (docs/WEBHOOKS.md has an example of each). Every event of a conversation
 * carries its `conversation_id`: one conversation's events reach an endpoint
 * in commit order. Times are Unix seconds. Exactly these fields are sent
 * (a new one is added here first).
 *
 * A new event (rating.created, …) is a schema here, its name in
 * WEBHOOK_EVENTS and WEBHOOK_EVENT_DATA, its line in TransactionEvents
 * (src/events/transaction-events.ts) and in the outbox's OUTBOX_EVENTS.
 */

const MessageType = Type.Enum(MESSAGE_TYPES);

export const MessageCreatedData = Type.Object(
  {
    message: Type.Object(
      {
        id: Type.String(),
        conversation_id: Type.String(),
        seq: Type.Integer(),
        sender_id: Type.String(),
        content: Type.String({ description: 'The text, or the absolute media URL of an image or file' }),
        message_type: MessageType,
        filename: Type.Union([Type.String(), Type.Null()]),
        client_msg_id: Type.Union([Type.String(), Type.Null()]),
        created_at: Type.Integer(),
        auto: Type.Optional(
          Type.Literal(true, {
            description: "An auto reply (the team's welcome, away or keyword reply); absent otherwise",
          }),
        ),
      },
      { additionalProperties: false },
    ),
    recipient_id: Type.String(),
    recipient_online: Type.Boolean({ description: 'A WebSocket of the recipient was open at commit time' }),
    recipient_unread: Type.Integer({ description: "The recipient's unread count here, this message included" }),
  },
  { additionalProperties: false, title: 'MessageCreatedData', description: 'message.created: a message was stored' },
);
export type MessageCreatedData = Static<typeof MessageCreatedData>;

export const MessageReadData = Type.Object(
  {
    conversation_id: Type.String(),
    reader_id: Type.String(),
    sender_id: Type.String({ description: 'Whose messages were read (the other participant)' }),
    message_id: Type.Union([Type.String(), Type.Null()], {
      description: 'The one message marked read, or null when the reader read the whole conversation',
    }),
    seq: Type.Integer({
      description: "That message's seq; for a whole-conversation read, the conversation's last seq then",
    }),
    reader_unread: Type.Integer({ description: "The reader's unread count here afterwards" }),
    read_at: Type.Integer(),
  },
  {
    additionalProperties: false,
    title: 'MessageReadData',
    description: 'message.read: a participant read a message, or all of them',
  },
);
export type MessageReadData = Static<typeof MessageReadData>;

export const MessageDeletedData = Type.Object(
  {
    message_id: Type.String(),
    conversation_id: Type.String(),
    seq: Type.Integer(),
    sender_id: Type.String(),
    message_type: MessageType,
    created_at: Type.Integer(),
    deleted_by: Type.String({ description: 'The admin who deleted it' }),
    deleted_at: Type.Integer(),
  },
  {
    additionalProperties: false,
    title: 'MessageDeletedData',
    description: 'message.deleted: an admin deleted a message (its content is not sent)',
  },
);
export type MessageDeletedData = Static<typeof MessageDeletedData>;

export const ConversationCreatedData = Type.Object(
  {
    conversation_id: Type.String(),
    participant1_id: Type.String(),
    participant2_id: Type.String(),
    customer_id: Type.Union([Type.String(), Type.Null()]),
    merchant_id: Type.Union([Type.String(), Type.Null()]),
    started_by: Type.String({ description: 'Who opened it' }),
    created_at: Type.Integer(),
  },
  {
    title: 'ConversationCreatedData',
    description: 'conversation.created: a conversation was opened for the first time',
  },
);
export type ConversationCreatedData = Static<typeof ConversationCreatedData>;

export const GuardFlaggedData = Type.Object(
  {
    message_id: Type.Union([Type.String(), Type.Null()], { description: 'Null when it was blocked (nothing stored)' }),
    conversation_id: Type.String(),
    sender_id: Type.String(),
    sender_role: Type.Enum(GUARD_ROLES),
    outcome: Type.Enum(['delivered', 'held', 'blocked'], {
      description: 'delivered (allowed or masked), held for review, or blocked',
    }),
    delivered_content: Type.Union([Type.String(), Type.Null()], {
      description: 'What was (or, once approved, will be) delivered; null when blocked',
    }),
    findings: Type.Array(
      Type.Object(
        {
          label: Type.Enum(GUARD_LABELS),
          action: Type.Enum(GUARD_ACTIONS),
          excerpt: Type.String({ description: 'The matched text' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    title: 'GuardFlaggedData',
    description: 'guard.flagged: the content guard found something in a text message',
  },
);
export type GuardFlaggedData = Static<typeof GuardFlaggedData>;

const NullableId = (description: string) => Type.Union([Type.String(), Type.Null()], { description });

/** How a conversation changed hands (the assignment log's kinds). */
export const ASSIGNMENT_KINDS = [
  'claim',
  'assign',
  'transfer',
  'release',
  'auto',
  'requeue',
  'member_removed',
] as const;

export const ConversationAssignedData = Type.Object(
  {
    conversation_id: Type.String(),
    team_id: Type.String({ description: "The answering team (its owner's id)" }),
    assignee_id: NullableId('Who holds it now; null: back in the queue'),
    previous_assignee_id: NullableId('Who held it before; null: it was in the queue'),
    kind: Type.Enum(ASSIGNMENT_KINDS, {
      description:
        'claim (taken by the caller), assign (given by a supervisor, the owner or an admin), transfer (passed on by its holder), release (put back in the queue), auto (automatic assignment), requeue (taken back from a member who went offline), member_removed (taken back from a member removed from the team)',
    }),
    actor_id: Type.String({ description: "Who did it (the team's owner for automatic assignment)" }),
    note: NullableId('The note given with the assignment'),
    assigned_at: Type.Integer(),
  },
  {
    additionalProperties: false,
    title: 'ConversationAssignedData',
    description: 'conversation.assigned: a team conversation changed hands (or went back to the queue)',
  },
);
export type ConversationAssignedData = Static<typeof ConversationAssignedData>;

export const ConversationStatusChangedData = Type.Object(
  {
    conversation_id: Type.String(),
    team_id: NullableId("The answering team (its owner's id)"),
    status: Type.Enum(CONVERSATION_STATUSES),
    previous_status: Type.Enum(CONVERSATION_STATUSES),
    actor_id: Type.String({
      description:
        "Who set it: the member or admin, the customer whose message reopened it, the team's owner for the automatic resolve",
    }),
    changed_at: Type.Integer(),
  },
  {
    additionalProperties: false,
    title: 'ConversationStatusChangedData',
    description:
      "conversation.status_changed: a team member (or an admin) set a conversation's status, a customer's message reopened it, or the sweep resolved it as idle",
  },
);
export type ConversationStatusChangedData = Static<typeof ConversationStatusChangedData>;

export const ConversationEscalatedData = Type.Object(
  {
    conversation_id: Type.String({ description: 'The buyer–shop conversation escalated' }),
    desk_conversation_id: Type.String({ description: "The buyer's conversation with the platform desk, linked to it" }),
    team_id: Type.String({ description: "The shop (its owner's id)" }),
    customer_id: Type.String(),
    desk_id: Type.String({ description: "The platform desk (its owner's id)" }),
    reason: Type.String(),
    escalated_by: Type.String({ description: 'The customer or a member of the shop' }),
    escalated_at: Type.Integer(),
  },
  {
    additionalProperties: false,
    title: 'ConversationEscalatedData',
    description: 'conversation.escalated: a buyer–shop conversation was escalated to the platform desk',
  },
);
export type ConversationEscalatedData = Static<typeof ConversationEscalatedData>;

export const RatingCreatedData = Type.Object(
  {
    rating_id: Type.String(),
    conversation_id: Type.String(),
    episode: Type.Integer({ description: 'Which resolution of the conversation it rates (1 the first)' }),
    team_id: Type.Union([Type.String(), Type.Null()], { description: 'The team that answered' }),
    assignee_id: Type.Union([Type.String(), Type.Null()], {
      description: 'The member holding the conversation when it was rated; null: nobody',
    }),
    rater_id: Type.String({ description: 'The customer who rated' }),
    score: Type.Integer({ minimum: 1, maximum: 5 }),
    comment: Type.Union([Type.String(), Type.Null()]),
    created_at: Type.Integer(),
  },
  {
    additionalProperties: false,
    title: 'RatingCreatedData',
    description: "rating.created: a customer rated a conversation's resolution (issue 14)",
  },
);
export type RatingCreatedData = Static<typeof RatingCreatedData>;

/** The events an endpoint can subscribe to. `ping` is sent by the test call only. */
export const WEBHOOK_EVENTS = [
  'message.created',
  'message.read',
  'message.deleted',
  'conversation.created',
  'guard.flagged',
  'conversation.assigned',
  'conversation.status_changed',
  'conversation.escalated',
  'rating.created',
] as const;
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];

/** Each event's `data` schema. */
export const WEBHOOK_EVENT_DATA = {
  'message.created': MessageCreatedData,
  'message.read': MessageReadData,
  'message.deleted': MessageDeletedData,
  'conversation.created': ConversationCreatedData,
  'guard.flagged': GuardFlaggedData,
  'conversation.assigned': ConversationAssignedData,
  'conversation.status_changed': ConversationStatusChangedData,
  'conversation.escalated': ConversationEscalatedData,
  'rating.created': RatingCreatedData,
} as const satisfies Record<WebhookEventName, TSchema>;
