import type { TSchema } from 'typebox';
import { CloseCode } from './close-codes.ts';
import {
  AckEvent,
  CardUpdatedEvent,
  ConversationUpdatedEvent,
  ErrorEvent,
  HelloEvent,
  MAX_FRAME_BYTES,
  MessageDeletedEvent,
  MessageEvent,
  MessageFrame,
  MessageRecalledEvent,
  MessageRejectedEvent,
  NoteEvent,
  OnlineUsersEvent,
  PingFrame,
  PongEvent,
  RatingEvent,
  ReadEvent,
  ReadFrame,
  ResyncEvent,
  SlowReplyEvent,
  StatusEvent,
  TypingEvent,
  TypingFrame,
} from './protocol.ts';

/**
 * The AsyncAPI 3 document of the WebSocket (served at /api/asyncapi.json), built
 * from the TypeBox schemas of protocol.ts, so it cannot drift from what the
 * gateway parses and sends. It describes the server: it `receive`s the client's
 * frames and `send`s events. Named schemas (a `title`, such as User) become
 * `components.schemas` entries, as in the OpenAPI document.
 */

type Json = Record<string, unknown>;

interface MessageEntry {
  schema: TSchema;
  summary: string;
  example: Json;
}

const CONVERSATION = '0193a6f2-7c1e-7b3a-9d4e-2f6a8b1c3d5e';
const MESSAGE = '0193a6f4-1a2b-7c3d-8e4f-5a6b7c8d9e0f';
const AT = 1764896400;

/** Server → client, by `type`. */
const EVENTS: Record<string, MessageEntry> = {
  hello: {
    schema: HelloEvent,
    summary: 'First, once per socket: keep `connection_id` (send it as X-Connection-Id on REST writes)',
    example: { type: 'hello', connection_id: 'c-0193a6f3-2b1d', user_id: 'b1', server_time: AT },
  },
  online_users: {
    schema: OnlineUsersEvent,
    summary: 'Right after hello: your online contacts (admins: everyone online)',
    example: { type: 'online_users', users: ['m1', 'p1'], timestamp: AT },
  },
  status: {
    schema: StatusEvent,
    summary: "A contact's first connection opened or last connection closed, anywhere in the cluster",
    example: { type: 'status', user_id: 'm1', status: 'online', timestamp: AT },
  },
  message: {
    schema: MessageEvent,
    summary: 'A message was stored in one of your conversations (admins: any); the REST Message plus `timestamp`',
    example: {
      type: 'message',
      id: MESSAGE,
      conversation_id: CONVERSATION,
      sender_id: 'm1',
      content: '您好，L 码有现货，今天下单明天发货。',
      message_type: 'text',
      is_read: false,
      created_at: AT,
      sender: null,
      seq: 13,
      client_msg_id: 'm1-1764896460000-1',
      filename: null,
      timestamp: AT,
    },
  },
  read: {
    schema: ReadEvent,
    summary: 'The other participant read the conversation',
    example: { type: 'read', conversation_id: CONVERSATION, reader_id: 'm1', timestamp: AT },
  },
  typing: {
    schema: TypingEvent,
    summary: 'The other side is (not) typing (a team: along its lines; admins get every one); not stored',
    example: { type: 'typing', user_id: 'm1', conversation_id: CONVERSATION, is_typing: true },
  },
  ack: {
    schema: AckEvent,
    summary: 'Your `message` frame is committed (acks come back in the order the frames were sent)',
    example: { type: 'ack', client_msg_id: 'b1-1764896400123-1', id: MESSAGE, seq: 12, conversation_id: CONVERSATION },
  },
  message_deleted: {
    schema: MessageDeletedEvent,
    summary: 'A moderator deleted a message',
    example: { type: 'message_deleted', id: MESSAGE, conversation_id: CONVERSATION },
  },
  message_recalled: {
    schema: MessageRecalledEvent,
    summary: 'Its sender recalled a message (within 2 minutes): drop its content; admins keep it, marked recalled',
    example: { type: 'message_recalled', id: MESSAGE, conversation_id: CONVERSATION, recalled_at: AT },
  },
  message_rejected: {
    schema: MessageRejectedEvent,
    summary:
      'To its sender: a message the content guard held (acked `pending`) was rejected in review and will never be delivered',
    example: { type: 'message_rejected', id: MESSAGE, conversation_id: CONVERSATION },
  },
  card_updated: {
    schema: CardUpdatedEvent,
    summary:
      'The host platform changed a card this conversation shows (an order shipped): show the new state (participants and admins)',
    example: {
      type: 'card_updated',
      conversation_id: CONVERSATION,
      card: { kind: 'order', id: 'O20261205001', title: '羊毛大衣 L 码 ×1', status: '已发货' },
    },
  },
  conversation_updated: {
    schema: ConversationUpdatedEvent,
    summary:
      "A conversation's assignment, status or escalation changed: to its customer, every member of the team answering it, and admins",
    example: {
      type: 'conversation_updated',
      conversation_id: CONVERSATION,
      change: 'assignment',
      team_id: 'm1',
      assignee_id: 'm1a1',
      previous_assignee_id: null,
      status: 'open',
      linked_conversation_id: null,
      actor_id: 'm1s1',
      timestamp: AT,
    },
  },
  note: {
    schema: NoteEvent,
    summary: "An internal note on a conversation: to the team's side and admins, never the customer",
    example: {
      type: 'note',
      id: MESSAGE,
      conversation_id: CONVERSATION,
      author_id: 'm1a1',
      author: null,
      content: '老客户，上次的发票已补开',
      created_at: AT,
    },
  },
  slow_reply: {
    schema: SlowReplyEvent,
    summary:
      'A customer has waited too long for a human answer: level 1 to the assignee (or the queue) and supervisors, level 2 to supervisors',
    example: {
      type: 'slow_reply',
      conversation_id: CONVERSATION,
      team_id: 'm1',
      assignee_id: 'm1a1',
      level: 1,
      waiting_since: AT,
      waited_seconds: 104,
      threshold_seconds: 100,
    },
  },
  rating: {
    schema: RatingEvent,
    summary:
      "A buyer rated a resolution of a conversation: to the team's owner, supervisors and the assignee, and admins",
    example: {
      type: 'rating',
      id: MESSAGE,
      conversation_id: CONVERSATION,
      episode: 1,
      team_id: 'm1',
      assignee_id: 'm1a1',
      rater_id: 'b1',
      score: 5,
      comment: '客服很耐心，问题解决了',
      created_at: AT,
    },
  },
  resync: {
    schema: ResyncEvent,
    summary: 'Pushes may have been lost (the fan-out bus was away): catch up every conversation by after_seq',
    example: { type: 'resync', reason: 'bus_restored', timestamp: AT },
  },
  error: {
    schema: ErrorEvent,
    summary: 'A frame was rejected; the socket stays open',
    example: {
      type: 'error',
      detail: '你不是该会话的参与者',
      error_type: 'not_a_participant',
      client_msg_id: 'b1-1764896400123-1',
    },
  },
  pong: {
    schema: PongEvent,
    summary: 'The answer to a `ping` frame',
    example: { type: 'pong', timestamp: AT },
  },
};

/** Client → server, by `type`. */
const FRAMES: Record<string, MessageEntry & { replies?: string[] }> = {
  message: {
    schema: MessageFrame,
    summary:
      'Send a message (the rules of POST /api/messages/); answered by `ack`, or `error` with the same client_msg_id',
    example: {
      type: 'message',
      conversation_id: CONVERSATION,
      content: '请问这件外套有 L 码吗？',
      message_type: 'text',
      client_msg_id: 'b1-1764896400123-1',
    },
    replies: ['ack', 'error'],
  },
  read: {
    schema: ReadFrame,
    summary: "Mark the other side's messages read (as PUT …/messages/read-all); the other side gets `read`",
    example: { type: 'read', conversation_id: CONVERSATION },
  },
  typing: {
    schema: TypingFrame,
    summary: 'Tell the other side (and admins) you are (not) typing',
    example: { type: 'typing', conversation_id: CONVERSATION, is_typing: true },
  },
  ping: {
    schema: PingFrame,
    summary: 'An application-level check; answered by `pong`',
    example: { type: 'ping' },
    replies: ['pong'],
  },
};

/** What each close code means and what a client should do (docs/REALTIME.md, "Close codes"). */
export const CLOSE_CODES: { code: number; meaning: string; action: string }[] = [
  { code: 1000, meaning: 'normal close (1001 too)', action: 'reconnect when you need to' },
  {
    code: 1006,
    meaning: 'no close frame: network loss, or a socket that stopped reading or missed a ping',
    action: 'reconnect with backoff, then catch up',
  },
  {
    code: CloseCode.policyViolation,
    meaning: 'kept sending after `rate_limited` errors',
    action: 'slow down; reconnect after a pause',
  },
  {
    code: CloseCode.messageTooBig,
    meaning: `a frame over ${MAX_FRAME_BYTES / 1024} KiB`,
    action: 'fix the client; do not resend that frame',
  },
  {
    code: CloseCode.serviceRestart,
    meaning: 'service restart (deploy or shutdown)',
    action: 'reconnect soon (with jitter), possibly to another instance, then catch up',
  },
  {
    code: CloseCode.unauthorized,
    meaning: 'the session ended: token expired, logged out, or every session of the user ended',
    action: 'sign in again, then reconnect and catch up',
  },
  { code: CloseCode.forbidden, meaning: 'the user was deactivated or deleted', action: 'do not reconnect' },
];

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null;
const SCHEMA_NAME = /^[A-Z][A-Za-z0-9]*$/;

/** A plain JSON copy of a TypeBox schema whose titled subschemas are references into `schemas`. */
function hoisted(schema: TSchema, schemas: Json): Json {
  const visit = (node: unknown, top: boolean): unknown => {
    if (Array.isArray(node)) return node.map((item) => visit(item, false));
    if (!isObject(node)) return node;
    const out: Json = {};
    for (const [key, value] of Object.entries(node)) {
      out[key] = key === 'examples' || key === 'enum' || key === 'const' ? value : visit(value, false);
    }
    if (!top && typeof out.title === 'string' && SCHEMA_NAME.test(out.title)) {
      const { examples: _examples, ...definition } = out;
      schemas[out.title] = definition;
      return { $ref: `#/components/schemas/${out.title}` };
    }
    return out;
  };
  return visit(JSON.parse(JSON.stringify(schema)), true) as Json;
}

export interface AsyncApiInfo {
  title: string;
  version: string;
  /** The public URL of the server (BASE_URL): http → ws, https → wss. */
  baseUrl: string;
}

const CHANNELS = { userSocket: '/api/ws/{user_id}', legacyUserSocket: '/ws/{user_id}' } as const;

export function asyncApiDocument(info: AsyncApiInfo): Json {
  // BASE_URL is validated by the server's config: a scheme, then the host (and port).
  const [, scheme = 'http', host = 'localhost'] = /^(https?):\/\/([^/?#]+)/.exec(info.baseUrl) ?? [];
  const schemas: Json = {};
  const messages: Json = {};
  const messageName = (direction: 'event' | 'frame', type: string) =>
    `${direction === 'event' ? 'Event' : 'Frame'}${type
      .split('_')
      .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
      .join('')}`;
  for (const [direction, entries] of [
    ['event', EVENTS],
    ['frame', FRAMES],
  ] as const) {
    for (const [type, entry] of Object.entries(entries)) {
      messages[messageName(direction, type)] = {
        name: type,
        title: `${direction === 'event' ? 'server → client' : 'client → server'}: ${type}`,
        summary: entry.summary,
        contentType: 'application/json',
        payload: hoisted(entry.schema, schemas),
        examples: [{ name: type, payload: entry.example }],
      };
    }
  }
  const closeCodes = CLOSE_CODES.map(({ code, meaning, action }) => `| ${code} | ${meaning} | ${action} |`).join('\n');
  const channelMessages = Object.fromEntries(
    Object.keys(messages).map((name) => [name, { $ref: `#/components/messages/${name}` }]),
  );
  const channels: Json = {};
  for (const [id, address] of Object.entries(CHANNELS)) {
    channels[id] = {
      address,
      title: id === 'userSocket' ? 'A user’s socket' : 'A user’s socket (the original FastAPI backend’s path)',
      description:
        'One socket per connection of `{user_id}`, authenticated before the upgrade (a refused upgrade is a plain HTTP 401, 403 or 429). ' +
        'Every frame and event is one JSON text message with a `type`; ignore types and fields you do not know. ' +
        `Frames over ${MAX_FRAME_BYTES} bytes close the socket. After a reconnect, catch up each conversation with ` +
        'GET /api/conversations/{id}/messages?after_seq=<last seq seen>.\n\n' +
        `Close codes:\n\n| code | meaning | what to do |\n|---|---|---|\n${closeCodes}`,
      parameters: { user_id: { description: 'The id of the signed-in user (the token’s user), e.g. b1' } },
      messages: channelMessages,
      bindings: {
        ws: {
          method: 'GET',
          query: {
            type: 'object',
            properties: {
              ticket: {
                type: 'string',
                description: 'A single-use ticket from POST /api/ws/ticket (browsers: preferred)',
              },
              token: { type: 'string', description: 'The access token, where no header can be set (prefer a ticket)' },
            },
          },
          headers: {
            type: 'object',
            properties: {
              Authorization: { type: 'string', description: 'Bearer <token>: servers and apps that can set headers' },
              'Accept-Language': { type: 'string', description: '`en` for English `detail` texts (Chinese otherwise)' },
            },
          },
          bindingVersion: '0.1.0',
        },
      },
    };
  }
  const operations: Json = {};
  for (const channel of Object.keys(CHANNELS)) {
    const ref = (type: string, direction: 'event' | 'frame') => ({
      $ref: `#/channels/${channel}/messages/${messageName(direction, type)}`,
    });
    const suffix = channel === 'userSocket' ? '' : 'Legacy';
    for (const [type, entry] of Object.entries(EVENTS)) {
      operations[`${messageName('event', type).replace(/^Event/, 'send')}${suffix}`] = {
        action: 'send',
        channel: { $ref: `#/channels/${channel}` },
        summary: entry.summary,
        messages: [ref(type, 'event')],
      };
    }
    for (const [type, entry] of Object.entries(FRAMES)) {
      operations[`${messageName('frame', type).replace(/^Frame/, 'receive')}${suffix}`] = {
        action: 'receive',
        channel: { $ref: `#/channels/${channel}` },
        summary: entry.summary,
        messages: [ref(type, 'frame')],
        ...(entry.replies
          ? {
              reply: {
                channel: { $ref: `#/channels/${channel}` },
                messages: entry.replies.map((reply) => ref(reply, 'event')),
              },
            }
          : {}),
      };
    }
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: `${info.title}: WebSocket`,
      version: info.version,
      description:
        'The real-time protocol of the chat server. This document describes the server: it receives the client’s frames ' +
        'and sends events. The REST API is described by /api/openapi.json.',
      license: { name: 'MIT' },
    },
    defaultContentType: 'application/json',
    servers: {
      server: {
        host,
        protocol: scheme === 'https' ? 'wss' : 'ws',
        description: 'The chat server (BASE_URL)',
        security: [
          { $ref: '#/components/securitySchemes/bearer' },
          { $ref: '#/components/securitySchemes/ticket' },
          { $ref: '#/components/securitySchemes/token' },
          { $ref: '#/components/securitySchemes/cookie' },
        ],
      },
    },
    channels,
    operations,
    components: {
      messages,
      schemas,
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'Authorization: Bearer <token> on the upgrade request',
        },
        ticket: {
          type: 'httpApiKey',
          in: 'query',
          name: 'ticket',
          description: 'A single-use ticket from POST /api/ws/ticket, valid 30 s',
        },
        token: { type: 'httpApiKey', in: 'query', name: 'token', description: 'The access token in the URL' },
        cookie: {
          type: 'httpApiKey',
          in: 'cookie',
          name: 'access_token',
          description: 'The cookie of POST /api/auth/login; the upgrade’s Origin must be allowed',
        },
      },
    },
  };
}
