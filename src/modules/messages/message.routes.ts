import { errorResponses, IdParams, pageOf, SuccessResponse } from '@cs-chat/contracts/rest/common.schemas';
import {
  ConnectionIdHeaders,
  ListMessagesQuery,
  Message,
  MessageList,
  SendMessageBody,
} from '@cs-chat/contracts/rest/message.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { adminOnly } from '../../http/authenticate.ts';
import { LIST_ROUTE } from '../../quotas/list-guard.ts';
import type { MessageService } from './message.service.ts';

export const messageRoutes: FastifyPluginAsyncTypebox<{ messages: MessageService }> = async (app, { messages }) => {
  const tags = ['messages'];

  app.get(
    '/',
    {
      schema: {
        tags,
        operationId: 'listMessages',
        summary: 'Messages, newest first (admins: all; others: within their conversations)',
        querystring: ListMessagesQuery,
        response: { 200: MessageList, ...errorResponses(401, 404, 422, 429, 503) },
      },
      config: LIST_ROUTE,
    },
    (request) => messages.list(request.caller, request.query, pageOf(request.query, 50)),
  );

  app.post(
    '/',
    {
      schema: {
        tags,
        operationId: 'sendMessage',
        summary:
          'Send a message (201; 200 when client_msg_id repeats an earlier send; 202, `pending`, when the content guard holds it for review)',
        headers: ConnectionIdHeaders,
        body: SendMessageBody,
        response: { 200: Message, 201: Message, 202: Message, ...errorResponses(401, 403, 404, 409, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const connectionId = request.headers['x-connection-id'] ?? null;
      const { message, created } = await messages.send(request.caller, request.body, {
        skipConnectionId: connectionId,
        echoToSender: connectionId !== null,
      });
      return reply.code(message.pending ? 202 : created ? 201 : 200).send(message);
    },
  );

  app.put(
    '/:id/read',
    {
      schema: {
        tags,
        operationId: 'markMessageRead',
        summary: 'Mark one message read (its recipient)',
        params: IdParams,
        response: { 200: SuccessResponse, ...errorResponses(401, 403, 404, 422, 503) },
      },
    },
    async (request) => {
      await messages.markRead(request.caller, request.params.id);
      return { status: 'success' as const };
    },
  );

  app.post(
    '/:id/recall',
    {
      schema: {
        tags,
        operationId: 'recallMessage',
        summary:
          'Recall one of your messages within 2 minutes of sending it: participants then get it without content, ' +
          'admins keep the original marked recalled; both participants get `message_recalled`',
        params: IdParams,
        response: { 200: Message, ...errorResponses(401, 403, 404, 422, 503) },
      },
    },
    (request) => messages.recall(request.caller, request.params.id),
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'deleteMessage',
        summary:
          'Delete a message (admin moderation); both participants are told, and its image or file ' +
          'answers 404 once no other message refers to it',
        params: IdParams,
        response: { 200: SuccessResponse, ...errorResponses(401, 403, 404, 422, 503) },
      },
      onRequest: adminOnly,
    },
    async (request) => {
      const { releaseError } = await messages.remove(request.caller, request.params.id);
      if (releaseError !== undefined) {
        request.log.warn({ err: releaseError }, "the deleted message's file could not be removed");
      }
      return { status: 'success' as const, message: `message ${request.params.id} deleted` };
    },
  );
};
