import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, parseConfig } from '../../src/config/config.ts';
import { openDatabase } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { createLogger } from '../../src/http/logging.ts';
import { type RunningServer, type ServerOptions, startServer } from '../../src/server.ts';
import { testDialects } from './databases.ts';
import { testEnv } from './test-app.ts';

export interface LoggedServer {
  server: RunningServer;
  config: Config;
  close(): Promise<void>;
}

/**
 * A server on a scratch SQLite database whose real logger (createLogger, as
 * main.ts builds it) writes into `destination`, with DEBUG_SQL=True so each
 * request logs its statements too: for tests that read what the server logs.
 */
export async function startLoggedServer(
  destination: { write(chunk: string): void },
  level: 'debug' | 'info',
  options: ServerOptions = {},
): Promise<LoggedServer> {
  const sqlite = testDialects.find((dialect) => dialect.name === 'sqlite');
  assert.ok(sqlite);
  const scratch = await sqlite.create();
  const mediaDir = mkdtempSync(join(tmpdir(), 'chat-media-'));
  const config = parseConfig(testEnv({ DATABASE_URL: scratch.urlString, MEDIA_DIR: mediaDir, DEBUG_SQL: 'True' }));
  const migrator = openDatabase(config.DATABASE_URL);
  await migrateToLatest(migrator.db);
  await migrator.destroy();
  const server = await startServer(config, createLogger({ level, destination }), options);
  return {
    server,
    config,
    async close() {
      await server.close();
      await scratch.drop();
      rmSync(mediaDir, { recursive: true, force: true });
    },
  };
}
