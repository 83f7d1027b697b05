import type { FastifyInstance } from 'fastify';
import { type Metrics, UNMATCHED_ROUTE } from './metrics.ts';

/**
 * Times every response by route pattern (`/api/conversations/:id`, never the
 * raw URL, so ids and query strings cannot multiply the series) and serves
 * GET /metrics. The endpoint is unauthenticated and left out of the OpenAPI
 * document: keep it private at the reverse proxy (deploy/nginx.conf).
 */
export function registerMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });

  // logLevel warn: a scrape every few seconds would otherwise fill the access log.
  app.get('/metrics', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    const { contentType, body } = await metrics.render();
    return reply.type(contentType).send(body);
  });
}
