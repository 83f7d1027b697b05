import Type, { type Static } from 'typebox';
import { IdParam, Paginated, pageQuery } from './common.schemas.ts';
import { User } from './user.schemas.ts';

const NullableUser = Type.Union([User, Type.Null()]);

export const Conversation = Type.Object({
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
});
export type Conversation = Static<typeof Conversation>;

export const ConversationDetail = Type.Intersect([Conversation, Type.Object({ message_count: Type.Integer() })]);
export type ConversationDetail = Static<typeof ConversationDetail>;

export const ConversationList = Paginated(Conversation);

export const ListConversationsQuery = Type.Object({ user_id: Type.Optional(IdParam), ...pageQuery(20) });

export const CreateConversationBody = Type.Union([
  Type.Object({ participant1_id: IdParam, participant2_id: IdParam }, { additionalProperties: false }),
  Type.Object({ customer_id: IdParam, merchant_id: IdParam }, { additionalProperties: false }),
]);
export type CreateConversationBody = Static<typeof CreateConversationBody>;

export const ReaderQuery = Type.Object({ reader_id: Type.Optional(IdParam) });
export const ReadQuery = Type.Object({ user_id: Type.Optional(IdParam) });
