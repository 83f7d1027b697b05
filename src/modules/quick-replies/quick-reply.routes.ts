import { errorResponses, IdParams, SuccessResponse, UserIdParams } from '@cs-chat/contracts/rest/common.schemas';
import { CreateQuickReplyBody, QuickReply, UpdateQuickReplyBody } from '@cs-chat/contracts/rest/quick-reply.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { LIST_ROUTE } from '../../quotas/list-guard.ts';
import type { QuickReplyService } from './quick-reply.service.ts';

export const quickReplyRoutes: FastifyPluginAsyncTypebox<{ quickReplies: QuickReplyService }> = async (
  app,
  { quickReplies },
) => {
  const tags = ['quick-replies'];

  const listSchema = {
    tags,
    operationId: 'listUserQuickReplies',
    summary: "A user's active quick replies by sort_order (yourself or admin); a plain array",
    params: UserIdParams,
    response: {
      200: Type.Array(QuickReply, { description: 'The active quick replies, by sort_order' }),
      ...errorResponses(401, 403, 422, 429, 503),
    },
  };
  app.get('/user/:user_id', { schema: listSchema, config: LIST_ROUTE }, (request) =>
    quickReplies.listFor(request.caller, request.params.user_id),
  );
  // The seed's path, kept for the reference client.
  app.get(
    '/merchant/:user_id',
    {
      schema: { ...listSchema, operationId: 'listMerchantQuickReplies', summary: 'Alias of /user/{user_id}' },
      config: LIST_ROUTE,
    },
    (request) => quickReplies.listFor(request.caller, request.params.user_id),
  );

  app.post(
    '/',
    {
      schema: {
        tags,
        operationId: 'createQuickReply',
        summary: 'Add a quick reply for yourself (at most 10 active)',
        body: CreateQuickReplyBody,
        response: { 201: QuickReply, ...errorResponses(400, 401, 403, 422, 503) },
      },
    },
    async (request, reply) => reply.code(201).send(await quickReplies.create(request.caller, request.body)),
  );

  app.put(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'updateQuickReply',
        summary: 'Edit a quick reply (owner or admin)',
        params: IdParams,
        body: UpdateQuickReplyBody,
        response: { 200: QuickReply, ...errorResponses(401, 404, 422, 503) },
      },
    },
    (request) => quickReplies.update(request.caller, request.params.id, request.body),
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'deleteQuickReply',
        summary: 'Remove a quick reply (owner or admin)',
        params: IdParams,
        response: { 200: SuccessResponse, ...errorResponses(401, 404, 422, 503) },
      },
    },
    async (request) => {
      await quickReplies.remove(request.caller, request.params.id);
      return { status: 'success' as const, message: `quick reply ${request.params.id} deleted` };
    },
  );
};
