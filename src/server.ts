import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config/config.ts';
import { type DatabaseHandle, openDatabase } from './db/connection.ts';
import { pendingMigrations } from './db/migrator.ts';
import { buildApp } from './http/app.ts';
import { noRealtime, type RealtimePublisher } from './realtime/publisher.ts';
import { createServices } from './services.ts';

export interface RunningServer {
  app: FastifyInstance;
  database: DatabaseHandle;
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

export interface ServerOptions {
  /** Defaults to STATEMENT_TIMEOUT_MS; tests shorten it. */
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/**
 * Opens the database, refuses to serve an outdated schema, builds the app and
 * listens. `close` stops accepting, lets in-flight requests finish, then
 * closes the database pool.
 */
export async function startServer(
  config: Config,
  logger: Logger,
  realtime: RealtimePublisher = noRealtime,
  options: ServerOptions = {},
): Promise<RunningServer> {
  const database = openDatabase(config.DATABASE_URL, {
    statementTimeoutMs: options.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS,
    ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    ...(config.DEBUG_SQL
      ? {
          logQuery: (sql: string, durationMs: number, error?: unknown) =>
            logger.info({ sql, durationMs, err: error }, 'sql'),
        }
      : {}),
  });
  try {
    const pending = await pendingMigrations(database.db);
    if (pending.length > 0) throw new SchemaNotAtHeadError(pending);
    const services = createServices(database.db, config, realtime);
    const app = await buildApp({ config, database, services, logger });
    // A keep-alive socket busy when closing starts is not idle then, so the server
    // would wait for it until keepAliveTimeout (72 s): answers sent while closing
    // carry Connection: close, so each such socket ends with its last response.
    let closing = false;
    app.addHook('preClose', async () => {
      closing = true;
    });
    app.addHook('onSend', async (_request, reply) => {
      if (closing) reply.header('connection', 'close');
    });
    const url = await app.listen({ host: config.HOST, port: config.PORT });
    return {
      app,
      database,
      url,
      async close() {
        await app.close();
        await database.destroy();
      },
    };
  } catch (error) {
    await database.destroy();
    throw error;
  }
}
