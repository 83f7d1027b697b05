import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from './config/config.ts';
import type { DatabaseHandle } from './db/connection.ts';
import { registerAuthenticated } from './http/authenticate.ts';
import { trustedOrigins } from './http/credentials.ts';
import type { EdgeLimits } from './http/edge-limits.ts';
import { createHttpApp } from './http/http-app.ts';
import { authRoutes, publicAuthRoutes, wsTicketRoutes } from './modules/auth/auth.routes.ts';
import { platformCardRoutes } from './modules/cards/card.routes.ts';
import { consoleRoutes } from './modules/console/console.routes.ts';
import { conversationRoutes } from './modules/conversations/conversation.routes.ts';
import { guardRoutes } from './modules/guard/guard.routes.ts';
import { mediaRoutes } from './modules/media/media.routes.ts';
import { uploadRoutes } from './modules/media/upload.routes.ts';
import { messageRoutes } from './modules/messages/message.routes.ts';
import { quickReplyRoutes } from './modules/quick-replies/quick-reply.routes.ts';
import { ratingRoutes } from './modules/ratings/rating.routes.ts';
import { reportRoutes } from './modules/reports/report.routes.ts';
import { searchRoutes } from './modules/search/search.routes.ts';
import { type ReadinessCheck, systemRoutes } from './modules/system/system.routes.ts';
import { conversationWorkRoutes } from './modules/teams/conversation-work.routes.ts';
import { teamRoutes } from './modules/teams/team.routes.ts';
import { transcriptKeyRoutes, transcriptRoutes } from './modules/transcript/transcript.routes.ts';
import { userRoutes } from './modules/users/user.routes.ts';
import { webhookRoutes } from './modules/webhooks/webhook.routes.ts';
import type { Metrics } from './observability/metrics.ts';
import { registerListGuard } from './quotas/list-guard.ts';
import { registerRealtimeGateway } from './realtime/gateway.ts';
import type { Realtime } from './realtime/realtime.ts';
import type { Services } from './services.ts';

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
  /** The built web console (packages/console/dist unless given; tests point it elsewhere). */
  consoleDir?: string;
  /** The deployment's shared-state Redis (REDIS_URL set): per-address counts of new sockets live there. */
  stateRedis?: Redis;
}

/** Where `npm run console:build` writes the web console. */
export const CONSOLE_DIST = join(import.meta.dirname, '..', 'packages', 'console', 'dist');

/**
 * The composition root of the HTTP application: the shared Fastify set-up
 * (src/http/), then public routes, then authenticated routes, then the
 * WebSocket gateway, each given only the services it uses. A new module's
 * routes are registered here, never in src/http/.
 */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config, database, services } = deps;
  const app = await createHttpApp({
    config,
    logger: deps.logger,
    metrics: deps.metrics,
    edgeLimits: deps.edgeLimits,
  });

  const readiness: ReadinessCheck[] = [
    { name: 'database', check: async () => void (await sql`select 1`.execute(database.db)) },
    ...(deps.readiness ?? []),
  ];
  await app.register(systemRoutes, { prefix: '/api', title: config.APP_TITLE, version: config.APP_VERSION, readiness });
  await app.register(consoleRoutes, { distDir: deps.consoleDir ?? CONSOLE_DIST });
  await app.register(mediaRoutes, { prefix: '/api/media', mediaDir: config.MEDIA_DIR });
  const secureCookies = config.BASE_URL.startsWith('https:');
  await app.register(publicAuthRoutes, { prefix: '/api/auth', auth: services.auth, secureCookies });
  await app.register(platformCardRoutes, { prefix: '/api', cards: services.cards });
  await app.register(transcriptKeyRoutes, { prefix: '/api', transcript: services.transcript });

  const origins = trustedOrigins(config);
  await registerAuthenticated(app, { authenticate: services.authenticate, origins }, async (authenticated) => {
    registerListGuard(authenticated, services.quotas);
    await authenticated.register(authRoutes, {
      prefix: '/api/auth',
      auth: services.auth,
      users: services.users,
      secureCookies,
    });
    await authenticated.register(wsTicketRoutes, { prefix: '/api/ws', tickets: services.tickets });
    await authenticated.register(userRoutes, { prefix: '/api/users', users: services.users });
    await authenticated.register(conversationRoutes, {
      prefix: '/api/conversations',
      conversations: services.conversations,
      messages: services.messages,
      cards: services.cards,
    });
    await authenticated.register(messageRoutes, { prefix: '/api/messages', messages: services.messages });
    await authenticated.register(quickReplyRoutes, {
      prefix: '/api/quick-replies',
      quickReplies: services.quickReplies,
    });
    await authenticated.register(searchRoutes, { prefix: '/api/search', search: services.search });
    await authenticated.register(teamRoutes, { prefix: '/api/teams', teams: services.teams });
    await authenticated.register(conversationWorkRoutes, { prefix: '/api/conversations', work: services.work });
    await authenticated.register(ratingRoutes, { prefix: '/api', ratings: services.ratings });
    await authenticated.register(reportRoutes, { prefix: '/api/reports', reports: services.reports });
    await authenticated.register(webhookRoutes, { prefix: '/api/webhooks', webhooks: services.webhooks });
    await authenticated.register(guardRoutes, { prefix: '/api/guard', guard: services.guard });
    await authenticated.register(transcriptRoutes, { prefix: '/api', transcript: services.transcript });
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
      services,
      config,
      ...(deps.stateRedis ? { redis: deps.stateRedis } : {}),
    });
  }

  return app;
}
