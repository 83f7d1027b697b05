import { errorResponses, IdParams, SuccessResponse } from '@cs-chat/contracts/rest/common.schemas';
import {
  CreateWebhookBody,
  DeliveriesQuery,
  DeliveryParams,
  UpdateWebhookBody,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
  WebhookPing,
} from '@cs-chat/contracts/rest/webhook.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { adminOnly } from '../../http/authenticate.ts';
import type { WebhookService } from './webhook.service.ts';

/** Admin API of webhook endpoints (docs/WEBHOOKS.md). */
export const webhookRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhookService }> = async (app, { webhooks }) => {
  const tags = ['webhooks'];

  app.get(
    '/',
    {
      schema: {
        tags,
        operationId: 'listWebhooks',
        summary: 'Every webhook endpoint, oldest first (admin); a plain array, secrets never shown',
        response: {
          200: Type.Array(WebhookEndpoint, { description: 'Every webhook endpoint, oldest first' }),
          ...errorResponses(401, 403, 503),
        },
      },
      onRequest: adminOnly,
    },
    (request) => webhooks.list(request.caller),
  );

  app.post(
    '/',
    {
      schema: {
        tags,
        operationId: 'createWebhook',
        summary: 'Register a webhook endpoint (admin); the answer shows its signing secret, once',
        body: CreateWebhookBody,
        response: { 201: WebhookEndpointWithSecret, ...errorResponses(400, 401, 403, 422, 503) },
      },
      onRequest: adminOnly,
    },
    async (request, reply) => reply.code(201).send(await webhooks.create(request.caller, request.body)),
  );

  app.get(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'getWebhook',
        summary: 'One webhook endpoint (admin)',
        params: IdParams,
        response: { 200: WebhookEndpoint, ...errorResponses(401, 403, 404, 422, 503) },
      },
      onRequest: adminOnly,
    },
    (request) => webhooks.get(request.caller, request.params.id),
  );

  app.patch(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'updateWebhook',
        summary:
          'Change url, events, description, active, allow_private_network; rotate_secret answers the new secret (the old one signs for 24 h more)',
        params: IdParams,
        body: UpdateWebhookBody,
        response: {
          200: Type.Union([WebhookEndpointWithSecret, WebhookEndpoint], {
            description: 'The endpoint, with its new secret when rotate_secret was asked',
          }),
          ...errorResponses(401, 403, 404, 422, 503),
        },
      },
      onRequest: adminOnly,
    },
    (request) => webhooks.update(request.caller, request.params.id, request.body),
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'deleteWebhook',
        summary: 'Remove a webhook endpoint (admin)',
        params: IdParams,
        response: { 200: SuccessResponse, ...errorResponses(401, 403, 404, 422, 503) },
      },
      onRequest: adminOnly,
    },
    async (request) => {
      await webhooks.remove(request.caller, request.params.id);
      return { status: 'success' as const, message: `webhook ${request.params.id} deleted` };
    },
  );

  app.post(
    '/:id/test',
    {
      schema: {
        tags,
        operationId: 'pingWebhook',
        summary: 'Send the endpoint a signed `ping` event (admin); answers its event id, see its deliveries',
        params: IdParams,
        response: { 202: WebhookPing, ...errorResponses(401, 403, 404, 422, 503) },
      },
      onRequest: adminOnly,
    },
    async (request, reply) => reply.code(202).send(await webhooks.ping(request.caller, request.params.id)),
  );

  app.get(
    '/:id/deliveries',
    {
      schema: {
        tags,
        operationId: 'listWebhookDeliveries',
        summary: "The endpoint's latest deliveries first: attempts, response codes, timings (admin)",
        params: IdParams,
        querystring: DeliveriesQuery,
        response: {
          200: Type.Array(WebhookDelivery, { description: 'The latest deliveries first' }),
          ...errorResponses(401, 403, 404, 422, 503),
        },
      },
      onRequest: adminOnly,
    },
    (request) => webhooks.deliveries(request.caller, request.params.id, request.query),
  );

  app.post(
    '/:id/deliveries/:event_id/retry',
    {
      schema: {
        tags,
        operationId: 'retryWebhookDelivery',
        summary: 'Deliver one event again now, with a fresh retry schedule (admin)',
        params: DeliveryParams,
        response: { 202: WebhookDelivery, ...errorResponses(401, 403, 404, 422, 503) },
      },
      onRequest: adminOnly,
    },
    async (request, reply) =>
      reply.code(202).send(await webhooks.retry(request.caller, request.params.id, request.params.event_id)),
  );
};
