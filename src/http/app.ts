import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { DatabaseHandle } from '../db/connection.ts';
import { unavailable } from '../lib/errors.ts';
import { authRoutes, publicAuthRoutes, wsTicketRoutes } from '../modules/auth/auth.routes.ts';
import { conversationRoutes } from '../modules/conversations/conversation.routes.ts';
import { mediaRoutes } from '../modules/media/media.routes.ts';
import { uploadRoutes } from '../modules/media/upload.routes.ts';
import { messageRoutes } from '../modules/messages/message.routes.ts';
import { quickReplyRoutes } from '../modules/quick-replies/quick-reply.routes.ts';
import { type ReadinessCheck, systemRoutes } from '../modules/system/system.routes.ts';
import { userRoutes } from '../modules/users/user.routes.ts';
import { registerMetrics } from '../observability/http-metrics.ts';
import type { Metrics } from '../observability/metrics.ts';
import { registerListGuard } from '../quotas/list-guard.ts';
import { registerRealtimeGateway } from '../realtime/gateway.ts';
import type { Realtime } from '../realtime/realtime.ts';
import type { Services } from '../services.ts';
import { authenticateHook } from './authenticate.ts';
import { registerCors } from './cors.ts';
import { trustedOrigins } from './credentials.ts';
import { EDGE_LIMITS, type EdgeLimits, headerTimeouts, installEdgeLimits } from './edge-limits.ts';
import { acceptEmptyBodies } from './empty-body.ts';
import { clientErrorHandler, frameworkErrors, installErrorHandling } from './error-handler.ts';
import { bindRequestLoggers, requestIdFor } from './logging.ts';
import { strictValidatorCompiler } from './validation.ts';

export const JSON_BODY_LIMIT_BYTES = 256 * 1024;

export interface AppDependencies {
  config: Config;
  database: DatabaseHandle;
  services: Services;
  logger: Logger;
  /** The WebSocket gateway's core; without it the app serves REST only (tools, some tests). */
  realtime?: Realtime;
  /** Extra readiness checks (Redis, when configured). */
  readiness?: readonly ReadinessCheck[];
  /** Request timing and GET /metrics (Prometheus); without it neither exists. */
  metrics?: Metrics;
  /** Header, body-rate and per-address connection limits (EDGE_LIMITS in production; tests shorten them). */
  edgeLimits?: EdgeLimits;
  /** The deployment's shared-state Redis (REDIS_URL set): per-address counts of new sockets live there. */
  stateRedis?: Redis;
}

/** Builds the HTTP application: plugins, then public routes, then authenticated routes. */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config, database, services } = deps;
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
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: config.APP_TITLE, description: config.APP_DESCRIPTION, version: config.APP_VERSION },
      servers: [{ url: config.BASE_URL }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          // Set by POST /api/auth/login; changes made with it need an allowed Origin (CSRF).
          cookieAuth: { type: 'apiKey', in: 'cookie', name: 'access_token' },
        },
      },
      security: [{ bearerAuth: [] }, { cookieAuth: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const readiness: ReadinessCheck[] = [
    { name: 'database', check: async () => void (await sql`select 1`.execute(database.db)) },
    ...(deps.readiness ?? []),
  ];
  await app.register(systemRoutes, { prefix: '/api', title: config.APP_TITLE, version: config.APP_VERSION, readiness });
  await app.register(mediaRoutes, { prefix: '/api/media', mediaDir: config.MEDIA_DIR });
  await app.register(publicAuthRoutes, {
    prefix: '/api/auth',
    services,
    secureCookies: config.BASE_URL.startsWith('https:'),
  });

  await app.register(async (authenticated) => {
    authenticated.addHook('onRequest', authenticateHook(services.authenticate, trustedOrigins(config)));
    registerListGuard(authenticated, services.quotas);
    await authenticated.register(authRoutes, {
      prefix: '/api/auth',
      services,
      secureCookies: config.BASE_URL.startsWith('https:'),
    });
    await authenticated.register(wsTicketRoutes, { prefix: '/api/ws', services });
    await authenticated.register(userRoutes, { prefix: '/api/users', services });
    await authenticated.register(conversationRoutes, { prefix: '/api/conversations', services });
    await authenticated.register(messageRoutes, { prefix: '/api/messages', services });
    await authenticated.register(quickReplyRoutes, { prefix: '/api/quick-replies', services });
    await authenticated.register(uploadRoutes, {
      prefix: '/api/upload',
      mediaDir: config.MEDIA_DIR,
      maxFileSize: config.MAX_FILE_SIZE,
      baseUrl: config.BASE_URL,
      quotas: services.quotas,
    });
  });

  // Last, so the websocket plugin's hooks wrap only the socket routes.
  if (deps.realtime) {
    await registerRealtimeGateway(app, {
      realtime: deps.realtime,
      db: database.db,
      services,
      config,
      ...(deps.stateRedis ? { redis: deps.stateRedis } : {}),
    });
  }

  return app;
}
