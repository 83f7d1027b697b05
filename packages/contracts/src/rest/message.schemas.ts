import Type, { type Static } from 'typebox';
import { IdParam, idFilter, MAX_PAGE_SIZE, Paginated, pageQuery, UuidOrId } from './common.schemas.ts';
import { User } from './user.schemas.ts';

/**
 * Every message type: what clients send (`card`: issue 16), and what the server writes itself
 * (issue 13): `system` (an assignment change both sides see, never unread)
 * and `platform` (the platform desk posting into an escalated conversation).
 */
export const MESSAGE_TYPES = ['text', 'image', 'file', 'card', 'system', 'platform'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];
/** The types a client may send. */
export const SENDABLE_MESSAGE_TYPES = ['text', 'image', 'file', 'card'] as const;
export type SendableMessageType = (typeof SENDABLE_MESSAGE_TYPES)[number];
export const MAX_TEXT_LENGTH = 5000;

export const Message = Type.Object(
  {
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
    recalled_at: Type.Optional(
      Type.Integer({
        description:
          'Only on a message its sender recalled (Unix seconds). Participants get it with empty `content`; admins get the original',
      }),
    ),
    pending: Type.Optional(
      Type.Literal(true, {
        description:
          'Only in the answer to a send the content guard held for review: stored, not delivered, no seq yet (0); approval delivers it with this id',
      }),
    ),
    auto: Type.Optional(
      Type.Literal(true, {
        description: "Present on auto replies (issue 14): sent for the team by its settings, from the owner's account",
      }),
    ),
  },
  {
    title: 'Message',
    description:
      'A message. `seq` numbers the messages of a conversation from 1 without gaps; `content` is the absolute media URL for images and files, and a `Card` as JSON for cards (its current state, as the platform last set it).',
    examples: [
      {
        id: '0193a6f4-1a2b-7c3d-8e4f-5a6b7c8d9e0f',
        conversation_id: '0193a6f2-7c1e-7b3a-9d4e-2f6a8b1c3d5e',
        sender_id: 'b1',
        content: '请问这件外套有 L 码吗？',
        message_type: 'text',
        is_read: false,
        created_at: 1764896400,
        sender: null,
        seq: 12,
        client_msg_id: 'b1-1764896400123-1',
        filename: null,
      },
    ],
  },
);
export type Message = Static<typeof Message>;

export const MessageList = Paginated(Message, 'MessageList', 'A page of messages');

/** A client-chosen idempotency key: printable ASCII, at most 64 characters. */
export const ClientMsgId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x21-\\x7e]+$' });

/** The fields a send takes, shared by POST /api/messages/ and the WebSocket `message` frame. */
export const sendFields = {
  conversation_id: UuidOrId,
  // Generous for file messages ("name|url"); text length is checked after parsing.
  content: Type.String({ minLength: 1, maxLength: MAX_TEXT_LENGTH + 600 }),
  message_type: Type.Optional(Type.Enum(SENDABLE_MESSAGE_TYPES)),
  client_msg_id: Type.Optional(Type.Union([ClientMsgId, Type.Null()])),
};

export const SendMessageBody = Type.Object(
  { ...sendFields, sender_id: Type.Optional(IdParam) },
  {
    additionalProperties: false,
    title: 'SendMessageBody',
    description:
      'A message to send. `client_msg_id` makes retries safe: the same id never stores a message twice. `sender_id`, when given, must be the caller.',
    examples: [
      {
        conversation_id: '0193a6f2-7c1e-7b3a-9d4e-2f6a8b1c3d5e',
        content: '您好，L 码有现货，今天下单明天发货。',
        message_type: 'text',
        client_msg_id: 'm1-1764896460000-1',
      },
    ],
  },
);
export type SendMessageBody = Static<typeof SendMessageBody>;

export const ListMessagesQuery = Type.Object({
  conversation_id: idFilter('Only the messages of this conversation'),
  sender_id: idFilter('Only the messages this user sent'),
  message_type: Type.Optional(Type.Enum(MESSAGE_TYPES, { description: 'Only messages of this type' })),
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
  order: Type.Optional(
    Type.Enum(['asc', 'desc'], { description: 'Oldest first (asc) or newest first (desc, the default for pages)' }),
  ),
  ...pageQuery(50),
  after_seq: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Only messages with a larger seq (catching up after a reconnect)' }),
  ),
  before_seq: Type.Optional(
    Type.Integer({ minimum: 1, description: 'Only messages with a smaller seq (scrolling back)' }),
  ),
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_PAGE_SIZE,
      description: 'At most this many messages (with after_seq/before_seq)',
    }),
  ),
});
export type HistoryQuery = Static<typeof HistoryQuery>;

export const ConnectionIdHeaders = Type.Object({
  'x-connection-id': Type.Optional(
    Type.String({
      maxLength: 100,
      description:
        "The `connection_id` of the sender's own WebSocket (from its `connected` event): that socket is not sent the echo of this write",
    }),
  ),
});
