import { errorResponses, IdParams, pageOf, SuccessResponse } from '@cs-chat/contracts/rest/common.schemas';
import {
  Conversation,
  ConversationDetail,
  ConversationList,
  CreateConversationBody,
  ListConversationsQuery,
  ReaderQuery,
  ReadQuery,
} from '@cs-chat/contracts/rest/conversation.schemas';
import { HistoryQuery, MessageList } from '@cs-chat/contracts/rest/message.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { LIST_ROUTE } from '../../quotas/list-guard.ts';
import type { CardService } from '../cards/card.service.ts';
import type { MessageService } from '../messages/message.service.ts';
import type { ConversationService } from './conversation.service.ts';

export interface ConversationRouteDependencies {
  conversations: ConversationService;
  /** A conversation's history and read marks are the messages module's. */
  messages: Pick<MessageService, 'history' | 'readAll' | 'resetUnread'>;
  /** Opening a conversation about an order or product posts its card (the cards module). */
  cards: Pick<CardService, 'openAbout'>;
}

export const conversationRoutes: FastifyPluginAsyncTypebox<ConversationRouteDependencies> = async (
  app,
  { conversations, messages, cards },
) => {
  const tags = ['conversations'];

  app.get(
    '/',
    {
      schema: {
        tags,
        operationId: 'listConversations',
        summary:
          "Conversations, newest activity first (participants: their own; team members: the team's they see; admins: all or one user's)",
        querystring: ListConversationsQuery,
        response: { 200: ConversationList, ...errorResponses(401, 403, 422, 429, 503) },
      },
      config: LIST_ROUTE,
    },
    (request) => conversations.list(request.caller, request.query, pageOf(request.query, 20)),
  );

  app.post(
    '/',
    {
      schema: {
        tags,
        operationId: 'openConversation',
        summary:
          'Get or create the conversation of a pair (201 when created); with order_id or product_id, post that card into it',
        body: CreateConversationBody,
        response: { 200: Conversation, 201: Conversation, ...errorResponses(400, 401, 403, 404, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const { body, caller } = request;
      const aboutCard = body.order_id !== undefined || body.product_id !== undefined;
      const { conversation, created } = await (aboutCard
        ? cards.openAbout(caller, body)
        : conversations.open(caller, body));
      return reply.code(created ? 201 : 200).send(conversation);
    },
  );

  app.get(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'getConversation',
        summary: 'One conversation',
        params: IdParams,
        response: { 200: Conversation, ...errorResponses(401, 404, 422, 503) },
      },
    },
    (request) => conversations.get(request.caller, request.params.id),
  );

  app.get(
    '/:id/detail',
    {
      schema: {
        tags,
        operationId: 'getConversationDetail',
        summary: 'One conversation with its message count',
        params: IdParams,
        response: { 200: ConversationDetail, ...errorResponses(401, 404, 422, 503) },
      },
    },
    (request) => conversations.detail(request.caller, request.params.id),
  );

  app.get(
    '/:id/messages',
    {
      schema: {
        tags,
        operationId: 'getConversationMessages',
        summary: 'History: numbered pages by seq, or exactly the messages after_seq / before_seq',
        params: IdParams,
        querystring: HistoryQuery,
        response: { 200: MessageList, ...errorResponses(401, 404, 422, 429, 503) },
      },
      config: LIST_ROUTE,
    },
    (request) => messages.history(request.caller, request.params.id, request.query),
  );

  app.put(
    '/:id/messages/read-all',
    {
      schema: {
        tags,
        operationId: 'readAllConversationMessages',
        summary: "Mark the other side's messages read and zero your unread count",
        params: IdParams,
        querystring: ReaderQuery,
        response: { 200: SuccessResponse, ...errorResponses(401, 403, 404, 422, 503) },
      },
    },
    async (request) => {
      await messages.readAll(request.caller, request.params.id, request.query.reader_id);
      return { status: 'success' as const };
    },
  );

  app.put(
    '/:id/read',
    {
      schema: {
        tags,
        operationId: 'resetConversationUnread',
        summary: 'Zero your unread count',
        params: IdParams,
        querystring: ReadQuery,
        response: { 200: SuccessResponse, ...errorResponses(401, 403, 404, 422, 503) },
      },
    },
    async (request) => {
      await messages.resetUnread(request.caller, request.params.id, request.query.user_id);
      return { status: 'success' as const };
    },
  );
};
