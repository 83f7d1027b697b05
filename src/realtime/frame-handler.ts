import type { Message } from '@cs-chat/contracts/rest/message.schemas';
import type { AckEvent, ClientFrame, MessageFrame, TypingFrame } from '@cs-chat/contracts/ws/protocol';
import { nowSeconds } from '../lib/time.ts';
import { type ConversationService, sideOf } from '../modules/conversations/conversation.service.ts';
import type { MessageService } from '../modules/messages/message.service.ts';
import type { ClientConnection } from './connection.ts';
import { failureEvent } from './errors.ts';
import type { Realtime } from './realtime.ts';
import { type ConversationSides, otherSide } from './team-audience.ts';

/** Conversations whose other participant a connection has looked up (for typing), per connection. */
const TYPING_CACHE_LIMIT = 200;

export interface FrameHandlerDeps {
  messages: Pick<MessageService, 'send' | 'findLegacyEcho' | 'readAll'>;
  conversations: Pick<ConversationService, 'visible'>;
  realtime: Realtime;
}

function ackOf(
  message: Pick<Message, 'id' | 'seq' | 'conversation_id' | 'pending'>,
  clientMsgId: string | null,
): AckEvent {
  return {
    type: 'ack',
    client_msg_id: clientMsgId,
    id: message.id,
    seq: message.seq,
    conversation_id: message.conversation_id,
    ...(message.pending ? { pending: true as const } : {}),
  };
}

/**
 * Turns a client's frames into service calls. Sends go through the same
 * MessageService.send as POST /api/messages/, so both follow one set of rules.
 */
export function createFrameHandler(deps: FrameHandlerDeps) {
  const { messages, conversations, realtime } = deps;
  const typingPeers = new WeakMap<ClientConnection, Map<string, { sides: ConversationSides; from: string }>>();

  async function onMessage(connection: ClientConnection, frame: MessageFrame): Promise<void> {
    const clientMsgId = frame.client_msg_id ?? null;
    try {
      const input = {
        conversation_id: frame.conversation_id,
        content: frame.content,
        message_type: frame.message_type,
        client_msg_id: clientMsgId,
        sender_id: frame.sender_id,
      };
      // The reference client's echo of a message it just POSTed is acknowledged, not stored again.
      const echo = await messages.findLegacyEcho(connection.user, input);
      const { message } = echo
        ? { message: echo }
        : await messages.send(connection.user, input, { skipConnectionId: connection.id, echoToSender: true });
      connection.send(ackOf(message, clientMsgId));
    } catch (error) {
      reject(connection, error, clientMsgId);
    }
  }

  /** A conversation the connection's user may type in, as typing audiences need it (remembered per connection). */
  async function typingSides(
    connection: ClientConnection,
    conversationId: string,
  ): Promise<{ sides: ConversationSides; from: string }> {
    let peers = typingPeers.get(connection);
    const known = peers?.get(conversationId);
    if (known) return known;
    const conversation = await conversations.visible(connection.user, conversationId, 'conversation.type');
    const participants = [conversation.participant1_id, conversation.participant2_id] as const;
    const sides: ConversationSides = {
      id: conversation.id,
      teamId: conversation.team_id,
      customerId: participants[0] === conversation.team_id ? participants[1] : participants[0],
      participants,
    };
    // A team member types for the team: the side they speak for decides who hears it.
    const entry = { sides, from: sideOf(conversation, connection.user) ?? connection.userId };
    if (!peers) {
      peers = new Map();
      typingPeers.set(connection, peers);
    }
    if (peers.size >= TYPING_CACHE_LIMIT) peers.clear();
    peers.set(conversationId, entry);
    return entry;
  }

  async function onTyping(connection: ClientConnection, frame: TypingFrame): Promise<void> {
    try {
      const { sides, from } = await typingSides(connection, frame.conversation_id);
      // Presence and typing follow the lines messages do (docs/REALTIME.md, "Teams").
      realtime.teams.withTeam(sides, (team) =>
        realtime.typing({
          from: connection.userId,
          to: otherSide(sides, from, team),
          conversationId: frame.conversation_id,
          isTyping: frame.is_typing,
        }),
      );
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
