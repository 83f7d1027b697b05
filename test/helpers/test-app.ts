import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from '@cs-chat/contracts/rest/user.schemas';
import { type Config, parseConfig } from '../../src/config/config.ts';
import { type DatabaseHandle, openDatabase } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import type { UserRow } from '../../src/db/types.ts';
import type { EdgeLimits } from '../../src/http/edge-limits.ts';
import { createLogger, type LoggerOptions } from '../../src/http/logging.ts';
import { hashPassword } from '../../src/lib/password.ts';
import { createTokenIssuer } from '../../src/modules/auth/tokens.ts';
import type { QuotaLimits } from '../../src/quotas/limits.ts';
import { createInProcessBus, type FanoutBus } from '../../src/realtime/bus.ts';
import type { Realtime, RealtimeLimits } from '../../src/realtime/realtime.ts';
import type { RedisBusOptions } from '../../src/realtime/redis-bus.ts';
import { type RunningServer, type ServerOptions, startServer } from '../../src/server.ts';
import { type ScratchDatabase, type TestDialect, testDialects } from './databases.ts';
import { createClient, type TestClient } from './http.ts';
import { type ConnectOptions, connectSocket, refusedSocket, type TestSocket } from './sockets.ts';
import { insertTestUser } from './users.ts';

/**
 * The one place tests start a server in-process: a migrated scratch database
 * (SQLite or MariaDB), the server as production wires it (startServer) on
 * 127.0.0.1 port 0, an HTTP client, WebSocket clients, and teardown. Every
 * call into src/ that building a test server takes is in this file.
 */

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-production-use-0123456789';

/** A complete, valid environment for tests; override single variables per test. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: 'sqlite::memory:',
    DEBUG_SQL: 'False',
    JWT_SECRET_KEY: TEST_SECRET,
    JWT_ALGORITHM: 'HS256',
    JWT_ACCESS_TOKEN_EXPIRE_DAYS: '7',
    HOST: '127.0.0.1',
    PORT: '0',
    RELOAD: 'False',
    DEBUG: 'False',
    BASE_URL: 'http://chat.test',
    CORS_ORIGINS: 'http://localhost:5173',
    MEDIA_DIR: 'media',
    MAX_FILE_SIZE: '10485760',
    APP_TITLE: '在线客服系统',
    APP_DESCRIPTION: 'test',
    APP_VERSION: '9.9.9',
    REDIS_URL: '',
    REDIS_PREFIX: 'cs-chat-test',
    PLATFORM_API_KEY: '',
    TRUSTED_PROXIES: '',
    ...overrides,
  };
}

export interface TestApp {
  server: RunningServer;
  config: Config;
  client: TestClient;
  /** The app's database; a `sharedDatabase` app's drop does nothing (its owner drops it). */
  scratch: ScratchDatabase;
  /** Inserts a user straight into the database and returns a token for it. */
  addUser(
    id: string,
    role: Role,
    options?: Partial<Pick<UserRow, 'username' | 'status' | 'team_id' | 'team_role'>> & { password?: string },
  ): Promise<string>;
  /** Inserts the users in order (id → role) and returns their tokens by id. */
  addUsers(roles: Record<string, Role>): Promise<Record<string, string>>;
  tokenFor(userId: string, role?: string): Promise<string>;
  /** Get-or-create the conversation of a pair as `token`'s user. */
  conversation(token: string, a: string, b: string): Promise<string>;
  /** Opens a socket and resolves once `hello` and `online_users` (or `options.until`) arrived. */
  connect(userId: string, token: string, options?: ConnectOptions): Promise<TestSocket>;
  /** Tries an upgrade that must be refused; resolves with the HTTP status and JSON body. */
  refused(userId: string, options: ConnectOptions & { token?: string }): Promise<{ status: number; body: any }>;
  /** Stops the server (sockets still open get its 1012), then drops the database and media directory. */
  close(): Promise<void>;
}

/** How an app reaches Redis. */
export interface TestRedis {
  /** Keys and channels of this test's instances; the test drops them (dropPrefix) afterwards. */
  prefix: string;
  /** The instance's name on the bus (a fresh one otherwise, as in production). */
  instanceId?: string;
  /** TEST_REDIS_URL unless given (e.g. the same Redis through a TCP proxy). */
  url?: string;
  /** Bus tuning, e.g. short timeouts for outage tests. */
  bus?: Partial<RedisBusOptions>;
  /**
   * Only the fan-out bus uses Redis: REDIS_URL stays empty, so auth state
   * (login throttle, tickets) stays in-process and readiness leaves Redis out.
   * Otherwise the app runs as production with REDIS_URL set, its shared
   * state under `prefix`.
   */
  busOnly?: boolean;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /**
   * The DATABASE_URL the server (and the migration before it) uses, given the
   * scratch database's own URL: e.g. the same database reached through a proxy.
   */
  databaseUrl?: (scratchUrl: string) => string;
  /** Another app's database URL (a second instance of one cluster): no scratch database of its own. */
  sharedDatabase?: string;
  /**
   * A Redis bus and shared state as `TestRedis` says, or 'unreachable': REDIS_URL
   * names a port nothing listens on (every shared-state command fails) while
   * the bus stays in-process.
   */
  redis?: TestRedis | 'unreachable';
  /** Passed to startServer (e.g. short database timeouts for outage tests); wins over `redis`. */
  server?: ServerOptions;
  /** The server's real logger at this level and destination (silent otherwise). */
  log?: LoggerOptions;
}

/** Nothing listens on port 1. */
const UNREACHABLE_REDIS_URL = 'redis://127.0.0.1:1';

/** The environment and server options that connect an app to Redis as `redis` says. */
async function redisWiring(
  redis: TestAppOptions['redis'],
): Promise<{ env: Record<string, string>; server: ServerOptions }> {
  if (redis === undefined) return { env: {}, server: {} };
  if (redis === 'unreachable')
    return { env: { REDIS_URL: UNREACHABLE_REDIS_URL }, server: { bus: createInProcessBus() } };
  // Loaded only when asked for: ./redis.ts probes Redis on import and ioredis is not needed by most tests.
  const { TEST_REDIS_URL } = await import('./redis.ts');
  const { createRedisBus } = await import('../../src/realtime/redis-bus.ts');
  const url = redis.url ?? TEST_REDIS_URL;
  const bus = await createRedisBus({ url, prefix: redis.prefix, instanceId: redis.instanceId, ...redis.bus });
  if (redis.busOnly) return { env: {}, server: { bus } };
  return { env: { REDIS_URL: url }, server: { bus, redisPrefix: redis.prefix } };
}

/** A migrated scratch database of the dialect and a server on 127.0.0.1, port 0. */
export async function startTestApp(dialect: TestDialect, options: TestAppOptions = {}): Promise<TestApp> {
  const scratch: ScratchDatabase = options.sharedDatabase
    ? sharedScratch(options.sharedDatabase)
    : await dialect.create();
  const mediaDir = mkdtempSync(join(tmpdir(), 'chat-media-'));
  const databaseUrl = options.databaseUrl ? options.databaseUrl(scratch.urlString) : scratch.urlString;
  const redis = await redisWiring(options.redis);
  const config = parseConfig(testEnv({ DATABASE_URL: databaseUrl, MEDIA_DIR: mediaDir, ...redis.env, ...options.env }));
  const migrator = openDatabase(config.DATABASE_URL);
  await migrateToLatest(migrator.db);
  await migrator.destroy();
  const server = await startServer(config, createLogger(options.log ?? { level: 'silent' }), {
    ...redis.server,
    ...options.server,
  });
  const client = createClient(server.url);
  const tokens = createTokenIssuer({
    secret: config.JWT_SECRET_KEY,
    algorithm: config.JWT_ALGORITHM,
    expireDays: config.JWT_ACCESS_TOKEN_EXPIRE_DAYS,
  });
  const tokenFor = async (userId: string, role = 'buyer') => (await tokens.issue(userId, role)).token;
  const sockets = new Set<TestSocket>();
  let usernameCounter = 0;
  const app: TestApp = {
    server,
    config,
    client,
    scratch,
    tokenFor,
    async addUser(id, role, extra = {}) {
      await insertTestUser(server.database.db, id, role, {
        username: extra.username ?? `user-${id}-${++usernameCounter}`,
        status: extra.status ?? 'active',
        password_hash: extra.password ? await hashPassword(extra.password) : null,
        ...(extra.team_id ? { team_id: extra.team_id, team_role: extra.team_role ?? 'agent' } : {}),
      });
      return tokenFor(id, role);
    },
    async addUsers(roles) {
      const byId: Record<string, string> = {};
      for (const [id, role] of Object.entries(roles)) byId[id] = await app.addUser(id, role);
      return byId;
    },
    async conversation(token, a, b) {
      const response = await client.post('/api/conversations/', {
        token,
        body: { participant1_id: a, participant2_id: b },
      });
      assert.ok(response.status === 201 || response.status === 200, JSON.stringify(response.body));
      return response.body.id;
    },
    async connect(userId, token, connectOptions = {}) {
      const socket = await connectSocket(server.url, userId, token, connectOptions);
      sockets.add(socket);
      return socket;
    },
    refused(userId, connectOptions) {
      return refusedSocket(server.url, userId, connectOptions);
    },
    async close() {
      // Sockets still open get the shutdown close (1012), as in production.
      await server.close();
      for (const socket of sockets) socket.ws.terminate();
      await scratch.drop();
      rmSync(mediaDir, { recursive: true, force: true });
    },
  };
  return app;
}

/** Another app's database as this app's scratch: the owner drops it, not this app. */
function sharedScratch(urlString: string): ScratchDatabase {
  return { url: parseConfig(testEnv({ DATABASE_URL: urlString })).DATABASE_URL, urlString, drop: async () => {} };
}

/** A test app with the realtime parts at hand (and the SQLite path, for a second instance of one cluster). */
export interface RealtimeTestApp extends TestApp {
  url: string;
  /** The SQLite file, for a second instance of the same cluster ('' on MariaDB). */
  databasePath: string;
  database: DatabaseHandle;
  realtime: Realtime;
}

export interface RealtimeTestOptions {
  limits?: Partial<RealtimeLimits>;
  /** A bus of the test's own making (e.g. one that fails on purpose); `redis` builds the usual ones. */
  bus?: FanoutBus;
  redis?: TestAppOptions['redis'];
  env?: Record<string, string>;
  /** Share another app's scratch database (two instances of one cluster); '' means a scratch of its own. */
  databasePath?: string;
  /** The scratch database's dialect (default SQLite); `databasePath` is SQLite only. */
  dialect?: TestDialect;
  /** How long the server reuses an authenticated user's row (its default otherwise). */
  userCacheTtlMs?: number;
  /** Per-user and per-address quotas (DEFAULT_QUOTAS otherwise). */
  quotas?: Partial<QuotaLimits>;
  /** Header, body-rate and per-address connection limits (EDGE_LIMITS otherwise). */
  edgeLimits?: Partial<EdgeLimits>;
}

/** startTestApp with realtime options by name, on SQLite unless `dialect` says otherwise. */
export async function startRealtimeApp(options: RealtimeTestOptions = {}): Promise<RealtimeTestApp> {
  const dialect = options.dialect ?? testDialects.find((d) => d.name === 'sqlite');
  assert.ok(dialect);
  const app = await startTestApp(dialect, {
    env: options.env,
    redis: options.redis,
    sharedDatabase: options.databasePath ? `sqlite:${options.databasePath}` : undefined,
    // Only the options given: an undefined `bus` would override the one `redis` builds.
    server: definedOnly({
      bus: options.bus,
      realtimeLimits: options.limits,
      userCacheTtlMs: options.userCacheTtlMs,
      quotas: options.quotas,
      edgeLimits: options.edgeLimits,
    }),
  });
  const { url, database, realtime } = app.server;
  const databasePath = app.scratch.url.kind === 'sqlite' ? app.scratch.url.path : '';
  return { ...app, url, databasePath, database, realtime };
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
