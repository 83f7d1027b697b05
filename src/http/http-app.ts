import { asyncApiDocument } from '@cs-chat/contracts/ws/asyncapi';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { unavailable } from '../lib/errors.ts';
import { registerMetrics } from '../observability/http-metrics.ts';
import type { Metrics } from '../observability/metrics.ts';
import { registerCors } from './cors.ts';
import { EDGE_LIMITS, type EdgeLimits, headerTimeouts, installEdgeLimits } from './edge-limits.ts';
import { acceptEmptyBodies } from './empty-body.ts';
import { clientErrorHandler, frameworkErrors, installErrorHandling } from './error-handler.ts';
import { bindRequestLoggers, requestIdFor } from './logging.ts';
import { openApiOptions } from './openapi.ts';
import { strictValidatorCompiler } from './validation.ts';

export const JSON_BODY_LIMIT_BYTES = 256 * 1024;

export interface HttpAppDependencies {
  config: Pick<
    Config,
    'TRUSTED_PROXIES' | 'DEBUG' | 'CORS_ORIGINS' | 'APP_TITLE' | 'APP_DESCRIPTION' | 'APP_VERSION' | 'BASE_URL'
  >;
  logger: Logger;
  /** Request timing and GET /metrics (Prometheus); without it neither exists. */
  metrics?: Metrics | undefined;
  /** Header, body-rate and per-address connection limits (EDGE_LIMITS in production; tests shorten them). */
  edgeLimits?: EdgeLimits | undefined;
}

/**
 * The Fastify instance every route shares, before any route: edge limits,
 * validation, logging, the standard error body, CORS, 503 while closing,
 * metrics, cookies and the OpenAPI document. The routes are the composition
 * root's business (src/app.ts).
 */
export async function createHttpApp(deps: HttpAppDependencies): Promise<FastifyInstance> {
  const { config } = deps;
  const edgeLimits = deps.edgeLimits ?? EDGE_LIMITS;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: requestIdFor,
    // request.ip is the client behind a configured proxy, the connection's address otherwise.
    trustProxy: config.TRUSTED_PROXIES.length > 0 ? [...config.TRUSTED_PROXIES] : false,
    requestIdHeader: false,
    // In-flight requests finish on close; new ones get 503 from the hook below, in the standard error body
    // (Fastify's own answer has neither `detail` nor Retry-After).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // The largest legitimate JSON body (POST /api/users/ensure with 100 users) is well
    // under this; a smaller cap also bounds what a hostile deeply nested body costs to parse.
    // Uploads are multipart and have their own limit (MAX_FILE_SIZE).
    bodyLimit: JSON_BODY_LIMIT_BYTES,
    // Refusals before routing, in the standard error body too.
    frameworkErrors,
    clientErrorHandler(error, socket) {
      if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') deps.metrics?.edgeRefusal('headers_timeout');
      clientErrorHandler(error, socket);
    },
    // Headers must arrive in time; bodies are held to a minimum rate by installEdgeLimits below.
    http: headerTimeouts(edgeLimits),
  });
  installEdgeLimits(app.server, {
    limits: edgeLimits,
    trustedProxies: config.TRUSTED_PROXIES,
    logger: deps.logger as FastifyBaseLogger,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  });
  app.setValidatorCompiler(strictValidatorCompiler);
  acceptEmptyBodies(app);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  bindRequestLoggers(app);
  installErrorHandling(app, { debug: config.DEBUG });
  // Before any hook that can refuse (503 while closing, 401, 429): a browser reads those answers only with CORS headers.
  await registerCors(app, config.CORS_ORIGINS);
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async () => {
    if (closing) throw unavailable();
  });
  if (deps.metrics) registerMetrics(app, deps.metrics);

  await app.register(cookie);
  await app.register(swagger, openApiOptions(config));
  await app.register(swaggerUi, {
    routePrefix: '/api/docs',
    // "Authorize" signs in with a username and password (the OAuth2 password flow against
    // POST /api/auth/oauth2/token) and keeps the token for "Try it out", as FastAPI's /docs does.
    uiConfig: { persistAuthorization: true },
  });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // The WebSocket protocol as an AsyncAPI 3 document, built from the same contracts as the gateway.
  const asyncApi = asyncApiDocument({ title: config.APP_TITLE, version: config.APP_VERSION, baseUrl: config.BASE_URL });
  app.get('/api/asyncapi.json', { schema: { hide: true } }, async () => asyncApi);
  return app;
}
