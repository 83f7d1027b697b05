import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, type LogEvent, MysqlDialect, type MysqlPool, type MysqlPoolConnection, SqliteDialect } from 'kysely';
import { createPool, type Pool, type PoolConnection } from 'mysql2';
import type { DatabaseUrl } from '../config/config.ts';
import { openNodeSqlite } from './sqlite-database.ts';
import type { Database } from './types.ts';

export type Dialect = 'mysql' | 'sqlite';

export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: Dialect;
  /** MySQL pool occupancy, for the metrics; absent for SQLite (one connection, no pool). */
  poolStats?: () => PoolStats;
  destroy(): Promise<void>;
}

export interface PoolStats {
  /** Connections checked out by a query or transaction. */
  inUse: number;
  /** Requests queued for a free connection. */
  waiting: number;
  /** Connections open, busy or idle. */
  open: number;
  /** The pool's connection limit. */
  limit: number;
}

export interface DatabaseOptions {
  /** Called for every query when DEBUG_SQL=True. */
  logQuery?: (sql: string, durationMs: number, error?: unknown) => void;
  /** Pool size for MySQL; the embedded database has one connection. */
  poolSize?: number;
  /**
   * MySQL: a statement unanswered for this long fails (mapped to 503) and its
   * connection is discarded, so a database that stops answering (a network
   * partition, a frozen host) cannot hold requests forever. Unset: no limit
   * (the CLIs, whose migrations may legitimately run long).
   */
  statementTimeoutMs?: number;
  /** MySQL: how long opening a connection may take. */
  connectTimeoutMs?: number;
  /**
   * MySQL: how long a query may wait for a free pool connection before it
   * fails (mapped to 503). mysql2 has no such limit, so behind a slow or
   * saturated database a queued request would wait for the whole queue.
   */
  acquireTimeoutMs?: number;
}

export const DEFAULT_POOL_SIZE = 10;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_ACQUIRE_TIMEOUT_MS = 5000;

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
    if (url.path !== ':memory:') assertSqliteFolderExists(url.path);
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
    connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
    maxIdle: options.poolSize ?? DEFAULT_POOL_SIZE,
    idleTimeout: 60_000,
    charset: 'utf8mb4_unicode_ci',
    supportBigNumbers: true,
    timezone: 'Z',
  });
  const db = new Kysely<Database>({
    dialect: new MysqlDialect({
      pool: withAcquireTimeout(
        options.statementTimeoutMs ? withStatementTimeout(pool, options.statementTimeoutMs) : pool,
        options.acquireTimeoutMs ?? DEFAULT_ACQUIRE_TIMEOUT_MS,
      ),
    }),
    ...(log ? { log } : {}),
  });
  return { db, dialect: 'mysql', poolStats: () => mysqlPoolStats(pool), destroy: () => db.destroy() };
}

/** DATABASE_URL names an embedded database in a folder that is not there (or is not a folder). */
export class DatabaseLocationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseLocationError';
  }
}

/**
 * A typo in DATABASE_URL (`sqlite:/nonexistent/dir/x.db`) must not create a
 * directory tree and an empty database somewhere unexpected: the folder has to
 * exist. `npm run setup` makes data/ for the embedded default on purpose.
 */
function assertSqliteFolderExists(path: string): void {
  const folder = resolve(dirname(path));
  const stats = statSync(folder, { throwIfNoEntry: false });
  if (!stats?.isDirectory()) {
    throw new DatabaseLocationError(
      `DATABASE_URL names an SQLite database in ${folder}, which ${stats ? 'is not a folder' : 'does not exist'}. ` +
        `Fix DATABASE_URL, or create the folder (mkdir -p ${folder}); npm run setup creates data/ for the default sqlite:data/chat.db.`,
    );
  }
}

/** mysql2 exposes no pool statistics: read its queues, and report 0 should their shape change. */
function mysqlPoolStats(pool: Pool): PoolStats {
  const internals = pool as unknown as Partial<
    Record<'_allConnections' | '_freeConnections' | '_connectionQueue', { length: number }>
  > & { config?: { connectionLimit?: number } };
  const open = internals._allConnections?.length ?? 0;
  const free = internals._freeConnections?.length ?? 0;
  return {
    inUse: Math.max(0, open - free),
    waiting: internals._connectionQueue?.length ?? 0,
    open,
    limit: internals.config?.connectionLimit ?? 0,
  };
}

/**
 * The pool as Kysely sees it, with a deadline on every statement. A statement
 * unanswered in time fails as unavailable and its connection is destroyed
 * (its queue is stuck behind the statement): later commands on it, such as
 * Kysely's rollback, fail at once, and the pool opens a fresh connection.
 */
function withStatementTimeout(pool: Pool, timeoutMs: number): MysqlPool {
  const wrappers = new WeakMap<PoolConnection, MysqlPoolConnection>();
  const wrap = (connection: PoolConnection): MysqlPoolConnection => {
    let wrapper = wrappers.get(connection);
    if (!wrapper) {
      const query = (sql: string, parameters: unknown[], callback?: (error: unknown, result: any) => void): any => {
        // Streaming reads (unused by the service) keep mysql2's own behaviour.
        if (!callback) return connection.query(sql, parameters);
        let answered = false;
        const timer = setTimeout(() => {
          answered = true;
          connection.destroy();
          const error = new Error(`The database did not answer within ${timeoutMs} ms`);
          callback(Object.assign(error, { code: 'PROTOCOL_SEQUENCE_TIMEOUT', fatal: true }), undefined);
        }, timeoutMs);
        connection.query(sql, parameters, (error, result) => {
          clearTimeout(timer);
          if (answered) return;
          answered = true;
          callback(error, result);
        });
      };
      wrapper = { query, release: () => connection.release() };
      wrappers.set(connection, wrapper);
    }
    return wrapper;
  };
  return {
    getConnection: (callback) =>
      pool.getConnection((error, connection) => callback(error, error ? connection : wrap(connection))),
    end: (callback) => pool.end(callback),
  };
}

/**
 * A deadline on getting a pool connection: past it the caller fails as
 * unavailable (503) at once. Its place in mysql2's queue cannot be withdrawn,
 * so a connection that turns up later goes straight back to the pool.
 */
function withAcquireTimeout(pool: MysqlPool, timeoutMs: number): MysqlPool {
  return {
    getConnection(callback) {
      let answered = false;
      const timer = setTimeout(() => {
        answered = true;
        const error = new Error(`No database connection became free within ${timeoutMs} ms`);
        callback(Object.assign(error, { code: 'POOL_ACQUIRE_TIMEOUT' }), undefined as unknown as MysqlPoolConnection);
      }, timeoutMs);
      pool.getConnection((error, connection) => {
        clearTimeout(timer);
        if (!answered) {
          answered = true;
          callback(error, connection);
        } else if (!error) {
          connection.release();
        }
      });
    },
    end: (callback) => pool.end(callback),
  };
}
