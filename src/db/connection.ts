import { Kysely, type LogEvent, MysqlDialect, SqliteDialect } from 'kysely';
import { createPool } from 'mysql2';
import type { DatabaseUrl } from '../config/config.ts';
import { openNodeSqlite } from './sqlite-database.ts';
import type { Database } from './types.ts';

export type Dialect = 'mysql' | 'sqlite';

export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: Dialect;
  destroy(): Promise<void>;
}

export interface DatabaseOptions {
  /** Called for every query when DEBUG_SQL=True. */
  logQuery?: (sql: string, durationMs: number, error?: unknown) => void;
  /** Pool size for MySQL; the embedded database has one connection. */
  poolSize?: number;
}

export const DEFAULT_POOL_SIZE = 10;

export function openDatabase(url: DatabaseUrl, options: DatabaseOptions = {}): DatabaseHandle {
  const log = options.logQuery
    ? (event: LogEvent) =>
        options.logQuery?.(
          event.query.sql,
          event.queryDurationMillis,
          event.level === 'error' ? event.error : undefined,
        )
    : undefined;

  if (url.kind === 'sqlite') {
    const db = new Kysely<Database>({
      dialect: new SqliteDialect({ database: openNodeSqlite(url.path) }),
      ...(log ? { log } : {}),
    });
    return { db, dialect: 'sqlite', destroy: () => db.destroy() };
  }

  const pool = createPool({
    uri: url.url,
    connectionLimit: options.poolSize ?? DEFAULT_POOL_SIZE,
    // A bounded queue: when every connection is busy and the queue is full the
    // caller gets an error at once (mapped to 503) instead of waiting forever.
    queueLimit: 500,
    waitForConnections: true,
    connectTimeout: 5000,
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
    maxIdle: options.poolSize ?? DEFAULT_POOL_SIZE,
    idleTimeout: 60_000,
    charset: 'utf8mb4_unicode_ci',
    supportBigNumbers: true,
    timezone: 'Z',
  });
  const db = new Kysely<Database>({
    dialect: new MysqlDialect({ pool }),
    ...(log ? { log } : {}),
  });
  return { db, dialect: 'mysql', destroy: () => db.destroy() };
}
