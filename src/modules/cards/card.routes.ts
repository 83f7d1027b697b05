import { ApiKeyHeaders } from '@cs-chat/contracts/rest/auth.schemas';
import { CardParams, PostCardBody, PutCardBody, PutCardResponse } from '@cs-chat/contracts/rest/card.schemas';
import { errorResponses, IdParams } from '@cs-chat/contracts/rest/common.schemas';
import { Message } from '@cs-chat/contracts/rest/message.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CardService } from './card.service.ts';

/**
 * The host platform's card endpoints (server to server, X-API-Key): no user
 * token, so they are registered outside the authenticated scope.
 */
export const platformCardRoutes: FastifyPluginAsyncTypebox<{ cards: CardService }> = async (app, { cards }) => {
  const tags = ['cards'];
  const security = [{ apiKeyAuth: [] }];

  app.put(
    '/cards/:kind/:id',
    {
      schema: {
        tags,
        operationId: 'putCard',
        summary:
          "Host platform (X-API-Key): set a product's or order's card state; conversations showing it get `card_updated`",
        security,
        headers: ApiKeyHeaders,
        params: CardParams,
        body: PutCardBody,
        response: { 200: PutCardResponse, ...errorResponses(401, 404, 422, 503) },
      },
    },
    (request) => cards.put(request.headers['x-api-key'], request.params.kind, request.params.id, request.body),
  );

  app.post(
    '/conversations/:id/cards',
    {
      schema: {
        tags,
        operationId: 'postCard',
        summary: 'Host platform (X-API-Key): post a stored card into a conversation as one of its participants',
        security,
        headers: ApiKeyHeaders,
        params: IdParams,
        body: PostCardBody,
        response: { 201: Message, ...errorResponses(401, 403, 404, 422, 429, 503) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await cards.post(request.headers['x-api-key'], request.params.id, request.body)),
  );
};
