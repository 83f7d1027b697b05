import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config/config.ts';
import { type DatabaseHandle, openDatabase } from './db/connection.ts';
import { pendingMigrations } from './db/migrator.ts';
import { buildApp } from './http/app.ts';
import { currentLogger } from './http/logging.ts';
import { createUserCache } from './modules/users/user-cache.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import type { QuotaLimits } from './quotas/limits.ts';
import { createQuotas, type Quotas } from './quotas/quotas.ts';
import { createInProcessBus, type FanoutBus } from './realtime/bus.ts';
import { createRealtime, type Realtime, type RealtimeLimits } from './realtime/realtime.ts';
import { createRedisBus, DEFAULT_REDIS_PREFIX } from './realtime/redis-bus.ts';
import { createServices } from './services.ts';

export interface RunningServer {
  app: FastifyInstance;
  database: DatabaseHandle;
  realtime: Realtime;
  quotas: Quotas;
  /** The address actually bound (useful with PORT=0). */
  url: string;
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
  /** Per-user and per-address quotas; DEFAULT_QUOTAS unless given (tests make them small). */
  quotas?: Partial<QuotaLimits>;
}

/** REDIS_URL="" means one instance fanning out in-process; otherwise Redis pub/sub and presence. */
async function openBus(config: Config, logger: Logger, metrics: Metrics): Promise<FanoutBus> {
  if (config.REDIS_URL === '') return createInProcessBus();
  return createRedisBus({ url: config.REDIS_URL, prefix: DEFAULT_REDIS_PREFIX, logger, metrics });
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
  try {
    const pending = await pendingMigrations(database.db);
    if (pending.length > 0) throw new SchemaNotAtHeadError(pending);
    const bus = options.bus ?? (await openBus(config, logger, metrics));
    const userCache = createUserCache(options.userCacheTtlMs !== undefined ? { ttlMs: options.userCacheTtlMs } : {});
    realtime = createRealtime({
      onUserDisabled: (userId) => userCache.forget(userId),
      db: database.db,
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
    const quotas = createQuotas(options.quotas, metrics);
    const services = createServices(database.db, config, realtime, userCache, quotas, metrics);
    const app = await buildApp({
      config,
      database,
      services,
      logger,
      realtime,
      readiness: config.REDIS_URL === '' ? [] : [{ name: 'redis', check: () => liveRealtime.checkBus() }],
      metrics,
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
      async close() {
        await app.close();
        await database.destroy();
        metrics.close();
      },
    };
  } catch (error) {
    await realtime?.close();
    await database.destroy();
    metrics.close();
    throw error;
  }
}
