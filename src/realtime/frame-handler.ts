import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../db/types.ts';
import { forbidden } from '../lib/errors.ts';
import { nowSeconds } from '../lib/time.ts';
import {
  type ConversationService,
  isParticipant,
  otherParticipant,
} from '../modules/conversations/conversation.service.ts';
import type { Message } from '../modules/messages/message.schemas.ts';
import type { MessageService } from '../modules/messages/message.service.ts';
import { parseContent } from '../modules/messages/message-content.ts';
import type { ClientConnection } from './connection.ts';
import { failureEvent } from './errors.ts';
import type { AckEvent, ClientFrame, MessageFrame, TypingFrame } from './protocol.ts';
import { findRecentDuplicate } from './realtime.repository.ts';
import type { Realtime } from './realtime.ts';

/** A frame without client_msg_id repeating a message stored this recently is the reference client's echo. */
export const LEGACY_DUPLICATE_WINDOW_SECONDS = 10;

/** Conversations whose other participant a connection has looked up (for typing), per connection. */
const TYPING_CACHE_LIMIT = 200;

export interface FrameHandlerDeps {
  db: Kysely<Database>;
  messages: Pick<MessageService, 'send' | 'readAll'>;
  conversations: Pick<ConversationService, 'visible'>;
  realtime: Realtime;
  baseUrl: string;
  mediaDir: string;
}

function ackOf(message: Pick<Message, 'id' | 'seq' | 'conversation_id'>, clientMsgId: string | null): AckEvent {
  return {
    type: 'ack',
    client_msg_id: clientMsgId,
    id: message.id,
    seq: message.seq,
    conversation_id: message.conversation_id,
  };
}

/**
 * Turns a client's frames into service calls. Sends go through the same
 * MessageService.send as POST /api/messages/, so both follow one set of rules.
 */
export function createFrameHandler(deps: FrameHandlerDeps) {
  const { db, messages, conversations, realtime } = deps;
  const typingPeers = new WeakMap<ClientConnection, Map<string, string>>();

  /** The message a legacy (no client_msg_id) frame repeats, if it is the reference client's echo of a POST. */
  async function legacyDuplicate(user: UserRow, frame: MessageFrame) {
    const type = frame.message_type ?? 'text';
    const stored = await parseContent(type, frame.content, { baseUrl: deps.baseUrl, mediaDir: deps.mediaDir });
    return findRecentDuplicate(db, {
      conversationId: frame.conversation_id,
      senderId: user.id,
      messageType: type,
      content: stored.content,
      filename: stored.filename,
      since: nowSeconds() - LEGACY_DUPLICATE_WINDOW_SECONDS,
    });
  }

  async function onMessage(connection: ClientConnection, frame: MessageFrame): Promise<void> {
    const clientMsgId = frame.client_msg_id ?? null;
    try {
      if (clientMsgId === null && !connection.isAdmin) {
        const earlier = await legacyDuplicate(connection.user, frame);
        if (earlier) {
          connection.send(ackOf({ ...earlier, seq: Number(earlier.seq) }, null));
          return;
        }
      }
      const { message } = await messages.send(
        connection.user,
        {
          conversation_id: frame.conversation_id,
          content: frame.content,
          message_type: frame.message_type,
          client_msg_id: clientMsgId,
          sender_id: frame.sender_id,
        },
        { skipConnectionId: connection.id, echoToSender: true },
      );
      connection.send(ackOf(message, clientMsgId));
    } catch (error) {
      reject(connection, error, clientMsgId);
    }
  }

  /** The other participant of a conversation the connection's user takes part in. */
  async function typingPeer(connection: ClientConnection, conversationId: string): Promise<string> {
    let peers = typingPeers.get(connection);
    const known = peers?.get(conversationId);
    if (known) return known;
    const conversation = await conversations.visible(connection.user, conversationId);
    if (!isParticipant(conversation, connection.userId)) throw forbidden('not_a_participant');
    const other = otherParticipant(conversation, connection.userId);
    if (!peers) {
      peers = new Map();
      typingPeers.set(connection, peers);
    }
    if (peers.size >= TYPING_CACHE_LIMIT) peers.clear();
    peers.set(conversationId, other);
    return other;
  }

  async function onTyping(connection: ClientConnection, frame: TypingFrame): Promise<void> {
    try {
      const to = await typingPeer(connection, frame.conversation_id);
      realtime.typing({
        from: connection.userId,
        to,
        conversationId: frame.conversation_id,
        isTyping: frame.is_typing,
      });
    } catch (error) {
      reject(connection, error);
    }
  }

  function reject(connection: ClientConnection, error: unknown, clientMsgId?: string | null): void {
    const { event, unexpected } = failureEvent(error, connection.language, clientMsgId);
    if (unexpected) {
      realtime.logger.error({ err: error, userId: connection.userId, connectionId: connection.id }, 'frame failed');
    }
    connection.send(event);
  }

  return async function handle(connection: ClientConnection, frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'ping':
        connection.send({ type: 'pong', timestamp: nowSeconds() });
        return;
      case 'message':
        return onMessage(connection, frame);
      case 'typing':
        return onTyping(connection, frame);
      case 'read':
        try {
          await messages.readAll(connection.user, frame.conversation_id, undefined);
        } catch (error) {
          reject(connection, error);
        }
        return;
    }
  };
}

export type FrameHandler = ReturnType<typeof createFrameHandler>;
