import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from '@cs-chat/contracts/rest/user.schemas';
import { type Config, parseConfig } from '../../src/config/config.ts';
import { openDatabase } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import type { UserRow } from '../../src/db/types.ts';
import { createLogger } from '../../src/http/logging.ts';
import { hashPassword } from '../../src/lib/password.ts';
import { type RunningServer, type ServerOptions, startServer } from '../../src/server.ts';
import type { ScratchDatabase, TestDialect } from './databases.ts';
import { createClient, type TestClient } from './http.ts';
import { insertTestUser } from './users.ts';

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
  scratch: ScratchDatabase;
  /** Inserts a user straight into the database and returns a token for it. */
  addUser(
    id: string,
    role: Role,
    options?: Partial<Pick<UserRow, 'username' | 'status'>> & { password?: string },
  ): Promise<string>;
  tokenFor(userId: string, role?: string): Promise<string>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /**
   * The DATABASE_URL the server (and the migration before it) uses, given the
   * scratch database's own URL: e.g. the same database reached through a proxy.
   */
  databaseUrl?: (scratchUrl: string) => string;
  /** Passed to startServer (e.g. short database timeouts for outage tests). */
  server?: ServerOptions;
}

/** A migrated scratch database of the dialect and a server on 127.0.0.1, port 0. */
export async function startTestApp(dialect: TestDialect, options: TestAppOptions = {}): Promise<TestApp> {
  const scratch = await dialect.create();
  const mediaDir = mkdtempSync(join(tmpdir(), 'chat-media-'));
  const databaseUrl = options.databaseUrl ? options.databaseUrl(scratch.urlString) : scratch.urlString;
  const config = parseConfig(testEnv({ DATABASE_URL: databaseUrl, MEDIA_DIR: mediaDir, ...options.env }));
  const migrator = openDatabase(config.DATABASE_URL);
  await migrateToLatest(migrator.db);
  await migrator.destroy();
  const server = await startServer(config, createLogger({ level: 'silent' }), options.server);
  const client = createClient(server.url);
  const tokens = (await import('../../src/modules/auth/tokens.ts')).createTokenIssuer({
    secret: config.JWT_SECRET_KEY,
    algorithm: config.JWT_ALGORITHM,
    expireDays: config.JWT_ACCESS_TOKEN_EXPIRE_DAYS,
  });
  const tokenFor = async (userId: string, role = 'buyer') => (await tokens.issue(userId, role)).token;
  let usernameCounter = 0;
  return {
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
      });
      return tokenFor(id, role);
    },
    async close() {
      await server.close();
      await scratch.drop();
      rmSync(mediaDir, { recursive: true, force: true });
    },
  };
}
