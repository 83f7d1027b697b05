import assert from 'node:assert/strict';
import type { Config } from '../../src/config/config.ts';
import type { RunningServer, ServerOptions } from '../../src/server.ts';
import { testDialects } from './databases.ts';
import { startTestApp } from './test-app.ts';

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
  const { server, config, close } = await startTestApp(sqlite, {
    env: { DEBUG_SQL: 'True' },
    log: { level, destination },
    server: options,
  });
  return { server, config, close };
}
