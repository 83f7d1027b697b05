import Type, { type Static } from 'typebox';
import { cardId } from './card.schemas.ts';
import { IdParam, Paginated, pageQuery } from './common.schemas.ts';
import { User } from './user.schemas.ts';

const NullableUser = Type.Union([User, Type.Null()]);

export const CONVERSATION_STATUSES = ['open', 'pending', 'resolved'] as const;
export type ConversationStatus = (typeof CONVERSATION_STATUSES)[number];

export const Conversation = Type.Object(
  {
    id: Type.String(),
    participant1_id: Type.String(),
    participant2_id: Type.String(),
    participant1_unread: Type.Integer(),
    participant2_unread: Type.Integer(),
    last_message: Type.Union([Type.String(), Type.Null()]),
    last_message_time: Type.Union([Type.Integer(), Type.Null()]),
    last_seq: Type.Integer(),
    created_at: Type.Integer(),
    updated_at: Type.Integer(),
    participant1: NullableUser,
    participant2: NullableUser,
    // Seed-era aliases: the participant who is the buyer / the merchant, else null.
    customer_id: Type.Union([Type.String(), Type.Null()]),
    merchant_id: Type.Union([Type.String(), Type.Null()]),
    customer_unread_count: Type.Integer(),
    merchant_unread_count: Type.Integer(),
    customer: NullableUser,
    merchant: NullableUser,
    team_id: Type.Union([Type.String(), Type.Null()], {
      description: 'The participant whose team answers it (a shop, or the platform desk)',
    }),
    assignee_id: Type.Union([Type.String(), Type.Null()], {
      description: "The team member handling it; null: in the team's queue",
    }),
    assignee: NullableUser,
    status: Type.Enum(CONVERSATION_STATUSES, {
      description: '`open`, `pending` (waiting on the customer) or `resolved`; a customer message reopens it',
    }),
    linked_conversation_id: Type.Union([Type.String(), Type.Null()], {
      description: "The platform desk's conversation escalated from this one, or the one this escalates",
    }),
  },
  {
    title: 'Conversation',
    description:
      'A one-to-one conversation and its unread counts; `last_seq` is the seq of its latest message (0 when empty).',
    examples: [
      {
        id: '0193a6f2-7c1e-7b3a-9d4e-2f6a8b1c3d5e',
        participant1_id: 'b1',
        participant2_id: 'm1',
        participant1_unread: 0,
        participant2_unread: 2,
        last_message: '请问这件外套有 L 码吗？',
        last_message_time: 1764896400,
        last_seq: 12,
        created_at: 1764892800,
        updated_at: 1764896400,
        participant1: null,
        participant2: null,
        customer_id: 'b1',
        merchant_id: 'm1',
        customer_unread_count: 0,
        merchant_unread_count: 2,
        customer: null,
        merchant: null,
        team_id: 'm1',
        assignee_id: 'm4',
        assignee: null,
        status: 'open',
        linked_conversation_id: null,
      },
    ],
  },
);
export type Conversation = Static<typeof Conversation>;

export const ConversationDetail = Type.Intersect([Conversation, Type.Object({ message_count: Type.Integer() })], {
  title: 'ConversationDetail',
  description: 'A conversation with the number of its messages',
});
export type ConversationDetail = Static<typeof ConversationDetail>;

export const ConversationList = Paginated(
  Conversation,
  'ConversationList',
  'A page of conversations, most recent first',
);

export const ListConversationsQuery = Type.Object({
  user_id: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 50,
      pattern: '^[A-Za-z0-9_-]+$',
      description: "Only this user's conversations (admins; others see only their own)",
      examples: ['b1'],
    }),
  ),
  status: Type.Optional(Type.Enum(CONVERSATION_STATUSES, { description: 'Only conversations in this status' })),
  assignee_id: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 50,
      pattern: '^[A-Za-z0-9_-]+$',
      description: "Only those assigned to `me`, to nobody (`none`: the team's queue), or to this member",
      examples: ['me'],
    }),
  ),
  team_id: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 50,
      pattern: '^[A-Za-z0-9_-]+$',
      description: "Only those this team answers (its owner's id)",
      examples: ['m1'],
    }),
  ),
  ...pageQuery(20),
});

/** What a conversation is about: a card the platform stored, posted as a message when it opens (API.md, "Cards"). */
const aboutCard = {
  order_id: Type.Optional(cardId('An order card the platform stored, naming the caller among its `user_ids`')),
  product_id: Type.Optional(cardId('A product card the platform stored')),
};

export const CreateConversationBody = Type.Union(
  [
    Type.Object({ participant1_id: IdParam, participant2_id: IdParam, ...aboutCard }, { additionalProperties: false }),
    Type.Object({ customer_id: IdParam, merchant_id: IdParam, ...aboutCard }, { additionalProperties: false }),
  ],
  {
    title: 'CreateConversationBody',
    description:
      'The two participants (or, as the original backend spelled it, the buyer and the merchant); an existing conversation between them is returned instead of a new one. With `order_id` or `product_id` (not both) the card is posted into it as a message from the caller, unless the conversation already shows that card.',
    examples: [
      { participant1_id: 'b1', participant2_id: 'm1' },
      { customer_id: 'b1', merchant_id: 'm1', order_id: 'O20261205001' },
    ],
  },
);
export type CreateConversationBody = Static<typeof CreateConversationBody>;

const readerId = (description: string) =>
  Type.Optional(
    Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9_-]+$', description, examples: ['b1'] }),
  );
export const ReaderQuery = Type.Object({ reader_id: readerId('Who read them: must be the caller when given') });
export const ReadQuery = Type.Object({
  user_id: readerId('Whose unread count to reset: must be the caller when given'),
});
