import Type, { type Static } from 'typebox';
import { IdParam, MAX_PAGE_SIZE, Paginated, pageQuery, UuidOrId } from './common.schemas.ts';
import { User } from './user.schemas.ts';

export const MESSAGE_TYPES = ['text', 'image', 'file'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];
export const MAX_TEXT_LENGTH = 5000;

export const Message = Type.Object({
  id: Type.String(),
  conversation_id: Type.String(),
  sender_id: Type.String(),
  content: Type.String(),
  message_type: Type.Enum(MESSAGE_TYPES),
  is_read: Type.Boolean(),
  created_at: Type.Integer(),
  sender: Type.Union([User, Type.Null()]),
  seq: Type.Integer(),
  client_msg_id: Type.Union([Type.String(), Type.Null()]),
  filename: Type.Union([Type.String(), Type.Null()]),
});
export type Message = Static<typeof Message>;

export const MessageList = Paginated(Message);

/** A client-chosen idempotency key: printable ASCII, at most 64 characters. */
export const ClientMsgId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x21-\\x7e]+$' });

/** The fields a send takes, shared by POST /api/messages/ and the WebSocket `message` frame. */
export const sendFields = {
  conversation_id: UuidOrId,
  // Generous for file messages ("name|url"); text length is checked after parsing.
  content: Type.String({ minLength: 1, maxLength: MAX_TEXT_LENGTH + 600 }),
  message_type: Type.Optional(Type.Enum(MESSAGE_TYPES)),
  client_msg_id: Type.Optional(Type.Union([ClientMsgId, Type.Null()])),
};

export const SendMessageBody = Type.Object(
  { ...sendFields, sender_id: Type.Optional(IdParam) },
  { additionalProperties: false },
);
export type SendMessageBody = Static<typeof SendMessageBody>;

export const ListMessagesQuery = Type.Object({
  conversation_id: Type.Optional(UuidOrId),
  sender_id: Type.Optional(IdParam),
  message_type: Type.Optional(Type.Enum(MESSAGE_TYPES)),
  ...pageQuery(50),
  before_id: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 50,
      pattern: '^[A-Za-z0-9_-]+$',
      description:
        'Keyset cursor: only messages older than this message id (the last id of the previous page). Pages past the counted matches need it.',
    }),
  ),
});

export const HistoryQuery = Type.Object({
  order: Type.Optional(Type.Enum(['asc', 'desc'])),
  ...pageQuery(50),
  after_seq: Type.Optional(Type.Integer({ minimum: 0 })),
  before_seq: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE })),
});
export type HistoryQuery = Static<typeof HistoryQuery>;

export const ConnectionIdHeaders = Type.Object({ 'x-connection-id': Type.Optional(Type.String({ maxLength: 100 })) });
