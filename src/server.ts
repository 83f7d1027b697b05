import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import type { Config } from './config/config.ts';
import { type DatabaseHandle, openDatabase } from './db/connection.ts';
import { missingMigrationFiles, pendingMigrations } from './db/migrator.ts';
import { createEventHub } from './events/hub.ts';
import { EDGE_LIMITS, type EdgeLimits } from './http/edge-limits.ts';
import { currentLogger } from './http/logging.ts';
import type { closeStateRedis as CloseStateRedis } from './lib/redis-client.ts';
import { presenceQueries } from './modules/access/access.repository.ts';
import { refreshRevocationsPeriodically, type SessionRevocations } from './modules/auth/session-revocations.ts';
import {
  createReportFollower,
  type ReportFollower,
  type ReportFollowerOptions,
} from './modules/reports/report-follower.ts';
import { createSearchIndexer, type SearchIndexer, type SearchIndexerOptions } from './modules/search/search-indexer.ts';
import { rosterQueries } from './modules/teams/team.repository.ts';
import { createUserCache } from './modules/users/user-cache.ts';
import {
  createDeliveryWorker,
  type DeliveryWorker,
  type DeliveryWorkerOptions,
} from './modules/webhooks/webhook-delivery.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import type { QuotaLimits } from './quotas/limits.ts';
import { createQuotas, type Quotas } from './quotas/quotas.ts';
import { createInProcessBus, type FanoutBus } from './realtime/bus.ts';
import { createRealtime, type Realtime, type RealtimeLimits } from './realtime/realtime.ts';
import { subscribeRealtime } from './realtime/realtime-subscriber.ts';
import { redisKeyPrefix } from './realtime/redis-prefix.ts';
import { createServices, type Services } from './services.ts';

export interface RunningServer {
  app: FastifyInstance;
  database: DatabaseHandle;
  realtime: Realtime;
  quotas: Quotas;
  /** Automatic assignment of the teams' queues (tests drive its sweep). */
  autoAssign: Services['autoAssign'];
  /** Slow-reply alerts (tests drive their sweep). */
  slowReplies: Services['slowReplies'];
  /** The address actually bound (useful with PORT=0). */
  url: string;
  /** This instance's search indexer; undefined when options.searchIndexer.enabled is false. */
  searchIndexer: SearchIndexer | undefined;
  /** This instance's report follower; undefined when options.reportFollower.enabled is false. */
  reportFollower: ReportFollower | undefined;
  close(): Promise<void>;
}

export class SchemaNotAtHeadError extends Error {
  constructor(pending: string[]) {
    super(
      `The database schema is not at head: ${pending.length} migration(s) pending (${pending.join(', ')}).\n` +
        'Run `npm run db:migrate`, then start again.',
    );
    this.name = 'SchemaNotAtHeadError';
  }
}

/**
 * A statement the database leaves unanswered this long fails with 503 instead
 * of holding its request (and a pool connection) for as long as TCP takes to
 * notice a partition: many minutes.
 */
export const STATEMENT_TIMEOUT_MS = 30_000;

/** What the cluster primary (src/cluster.ts) sends a worker (src/main.ts) to make it shut down gracefully. */
export const WORKER_SHUTDOWN_MESSAGE = 'shutdown';

export interface ServerOptions {
  /** Defaults to STATEMENT_TIMEOUT_MS; tests shorten it. */
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Overrides the bus REDIS_URL selects (tests share an in-process or prefixed bus). */
  bus?: FanoutBus;
  /** Heartbeat, rate and buffer limits of the WebSocket gateway; tests shorten them. */
  realtimeLimits?: Partial<RealtimeLimits>;
  /**
   * A cluster worker's id, sent as `X-Worker` on every response and WebSocket
   * upgrade, so an operator (or a test) can tell which process answered.
   */
  workerId?: string;
  /** How long an authenticated user's row is reused; defaults to USER_CACHE_TTL_MS, 0 turns the cache off. */
  userCacheTtlMs?: number;
  /** Prefix of the Redis keys of shared auth state (login throttle, WebSocket tickets); tests isolate with it. */
  redisPrefix?: string;
  /** How often revoked sessions are read back from the database; defaults to REVOCATION_REFRESH_MS. */
  revocationRefreshMs?: number;
  /** How often this instance sweeps the teams' queues (automatic assignment); defaults to SWEEP_INTERVAL_MS. */
  teamSweepMs?: number;
  /** Header, body-rate and per-address connection limits; defaults to EDGE_LIMITS, tests shorten them. */
  edgeLimits?: Partial<EdgeLimits>;
  /** Per-user and per-address quotas; DEFAULT_QUOTAS unless given (tests make them small). */
  quotas?: Partial<QuotaLimits>;
  /**
   * The webhook delivery worker's timings (tests shorten retries and the
   * timeout); `enabled: false` runs no worker in this instance (the outbox is
   * still written), as an instance killed before delivering would.
   */
  webhookDelivery?: Partial<DeliveryWorkerOptions> & { enabled?: boolean };
  /** The built web console's folder (packages/console/dist unless given; a test of the unbuilt page points elsewhere). */
  consoleDir?: string;
  /**
   * The search indexer's timings; `enabled: false` runs none in this instance
   * (its sends are indexed by another instance, or after a restart).
   */
  searchIndexer?: Partial<SearchIndexerOptions> & { enabled?: boolean };
  /** The response-time reports' follower; `enabled: false` runs none in this instance (another counts). */
  reportFollower?: Partial<ReportFollowerOptions> & { enabled?: boolean };
}

/** REDIS_URL="" means one instance fanning out in-process; otherwise Redis pub/sub and presence. */
async function openBus(config: Config, logger: Logger, metrics: Metrics): Promise<FanoutBus> {
  if (config.REDIS_URL === '') return createInProcessBus();
  // Loaded only when configured: ioredis is a few MB of resident memory a single instance never uses.
  const { createRedisBus } = await import('./realtime/redis-bus.ts');
  return createRedisBus({ url: config.REDIS_URL, prefix: redisKeyPrefix(config.REDIS_PREFIX), logger, metrics });
}

/**
 * Opens the database, refuses to serve an outdated schema, builds the app with
 * its WebSocket gateway and listens. `close` stops accepting, lets in-flight
 * requests and frames finish, closes sockets with 1012 and the bus, then the
 * database pool.
 */
export async function startServer(config: Config, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  const database = openDatabase(config.DATABASE_URL, {
    statementTimeoutMs: options.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS,
    ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    ...(config.DEBUG_SQL
      ? {
          // The request's logger when serving one, so each SQL line carries its reqId.
          logQuery: (sql: string, durationMs: number, error?: unknown) =>
            currentLogger(logger).info({ sql, durationMs, err: error }, 'sql'),
        }
      : {}),
  });
  // Per instance, never prom-client's global registry: tests run several servers in one process.
  const metrics = createMetrics();
  if (database.poolStats) metrics.trackDatabasePool(database.poolStats);
  let realtime: Realtime | undefined;
  let stateRedis: Redis | undefined;
  let closeStateRedis: typeof CloseStateRedis = async () => {};
  let revocationRefresh: NodeJS.Timeout | undefined;
  let stopSweep: (() => void) | undefined;
  let stopSlowReplies: (() => void) | undefined;
  let webhookWorker: DeliveryWorker | undefined;
  let searchIndexer: SearchIndexer | undefined;
  let reportFollower: ReportFollower | undefined;
  try {
    const pending = await pendingMigrations(database.db);
    if (pending.length > 0) throw new SchemaNotAtHeadError(pending);
    // Newer code migrated this database (a rollback of the code, or an instance left behind in a
    // rolling deploy): serving may be fine if those migrations were additive, so say it, not refuse.
    const unknown = await missingMigrationFiles(database.db);
    if (unknown.length > 0) {
      logger.warn(
        { migrations: unknown },
        `the database has ${unknown.length} migration(s) this code does not have (${unknown.join(', ')}): it was migrated by newer code; npm run db:status lists them`,
      );
    }
    const bus = options.bus ?? (await openBus(config, logger, metrics));
    const userCache = createUserCache(options.userCacheTtlMs !== undefined ? { ttlMs: options.userCacheTtlMs } : {});
    // Built with the services below; a revocation cannot arrive before the server listens.
    let revocations: SessionRevocations | undefined;
    // Built with the services below; nobody is online before the server listens.
    let autoAssign: Services['autoAssign'] | undefined;
    realtime = createRealtime({
      onUserOnline: (user) => autoAssign?.cameOnline(user),
      onUserDisabled: (userId) => userCache.forget(userId),
      onSessionsRevoked: ({ userId, session }) => {
        userCache.forget(userId);
        if (session) revocations?.remember(session.id, session.expiresAt);
      },
      ...presenceQueries(database.db),
      teams: rosterQueries(database.db),
      bus,
      logger,
      metrics,
      ...(options.realtimeLimits ? { limits: options.realtimeLimits } : {}),
    });
    const liveRealtime = realtime;
    metrics.trackRealtime({
      connections: () => liveRealtime.registry.size,
      users: () => liveRealtime.registry.users().length,
    });
    if (config.REDIS_URL !== '') {
      // Loaded only when configured, like the bus.
      const client = await import('./lib/redis-client.ts');
      closeStateRedis = client.closeStateRedis;
      stateRedis = client.openStateRedis(config.REDIS_URL, 'auth-state', logger);
    }
    const quotas = createQuotas(options.quotas, metrics);
    // Committed writes reach real-time delivery through the hub; later subscribers join it here.
    const events = createEventHub(logger);
    subscribeRealtime(events, realtime);
    const services = createServices(database.db, config, events, userCache, quotas, metrics, {
      redis: stateRedis,
      redisPrefix: options.redisPrefix ?? redisKeyPrefix(config.REDIS_PREFIX),
      logger,
      online: (userIds) => bus.presence.filterOnline(userIds),
      teamMembers: (teamId) => liveRealtime.teams.members(teamId),
    });
    // Teams: a customer's message, a team's change, a member coming online start assignment; every
    // instance sweeps the queues, absent members' conversations and idle ones.
    autoAssign = services.autoAssign;
    services.autoAssign.subscribe(events);
    stopSweep = services.autoAssign.start(options.teamSweepMs);
    // Auto replies answer a buyer's message after its send committed (issue 14).
    services.autoReplies.subscribe(events);
    // Slow-reply alerts: every instance sweeps; the database decides which one alerts.
    stopSlowReplies = services.slowReplies.start();
    await services.webhookSubscriptions.refresh();
    if (options.webhookDelivery?.enabled !== false) {
      const worker = createDeliveryWorker({
        db: database.db,
        subscriptions: services.webhookSubscriptions,
        allowLoopbackHttp: config.DEBUG,
        logger,
        options: options.webhookDelivery,
      });
      webhookWorker = worker;
      services.webhookSubscriptions.onNudge(() => worker.wake());
      // A send's outbox rows are committed when its event is published: deliver them now, not at the next poll.
      const subscriptions = services.webhookSubscriptions;
      // (A guard decision written in the send transaction is committed then too.)
      events.subscribe('message.created', () => {
        const written = ['message.created', 'guard.flagged'] as const;
        if (written.some((type) => subscriptions.endpointsFor(type).length > 0)) worker.wake();
      });
      worker.start();
    }
    if (options.searchIndexer?.enabled !== false) {
      const indexer = createSearchIndexer({ db: database.db, logger, metrics, options: options.searchIndexer });
      searchIndexer = indexer;
      // A send's messages are committed when its event is published: index them now, not at the next poll.
      events.subscribe('message.created', () => indexer.wake());
      indexer.start();
    }
    if (options.reportFollower?.enabled !== false) {
      const follower = createReportFollower({ db: database.db, logger, options: options.reportFollower });
      reportFollower = follower;
      events.subscribe('message.created', () => follower.wake());
      follower.start();
    }
    revocations = services.revocations;
    const liveRevocations = revocations;
    await liveRevocations.refresh();
    // Catches revocations whose bus event this instance missed (Redis down at the time).
    revocationRefresh = refreshRevocationsPeriodically(
      liveRevocations,
      () => liveRealtime.registry.all(),
      logger,
      options.revocationRefreshMs,
    );
    const app = await buildApp({
      config,
      database,
      services,
      logger,
      realtime,
      readiness: config.REDIS_URL === '' ? [] : [{ name: 'redis', check: () => liveRealtime.checkBus() }],
      metrics,
      edgeLimits: { ...EDGE_LIMITS, ...options.edgeLimits },
      ...(stateRedis ? { stateRedis } : {}),
      ...(options.consoleDir ? { consoleDir: options.consoleDir } : {}),
    });
    // A keep-alive socket busy when closing starts is not idle then, so the server
    // would wait for it until keepAliveTimeout (72 s): answers sent while closing
    // carry Connection: close, so each such socket ends with its last response.
    let closing = false;
    app.addHook('preClose', async () => {
      closing = true;
    });
    app.addHook('onSend', async (_request, reply) => {
      if (closing) reply.header('connection', 'close');
      if (options.workerId) reply.header('x-worker', options.workerId);
    });
    const { workerId } = options;
    if (workerId) {
      app.websocketServer.on('headers', (headers: string[]) => headers.push(`X-Worker: ${workerId}`));
    }
    const url = await app.listen({ host: config.HOST, port: config.PORT });
    return {
      app,
      database,
      realtime,
      quotas,
      url,
      searchIndexer,
      reportFollower,
      autoAssign: services.autoAssign,
      slowReplies: services.slowReplies,
      async close() {
        clearInterval(revocationRefresh);
        stopSweep?.();
        stopSlowReplies?.();
        await app.close();
        await webhookWorker?.stop();
        await searchIndexer?.stop();
        await reportFollower?.stop();
        if (stateRedis) await closeStateRedis(stateRedis);
        await database.destroy();
        metrics.close();
      },
    };
  } catch (error) {
    clearInterval(revocationRefresh);
    stopSweep?.();
    stopSlowReplies?.();
    await webhookWorker?.stop();
    await searchIndexer?.stop();
    await reportFollower?.stop();
    if (stateRedis) await closeStateRedis(stateRedis);
    await realtime?.close();
    await database.destroy();
    metrics.close();
    throw error;
  }
}
