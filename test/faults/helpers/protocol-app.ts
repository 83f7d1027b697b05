import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { TestDialect } from '../../helpers/databases.ts';
import { startTestApp, type TestApp, type TestAppOptions } from '../../helpers/test-app.ts';
import { TestSocket } from '../../realtime/helpers.ts';

/**
 * A test app on any dialect (test/helpers/test-app.ts) that also speaks
 * WebSocket: the sockets are the recording TestSocket of
 * test/realtime/helpers.ts, whose own app is SQLite-only.
 */
export interface ProtocolApp extends TestApp {
  /** Opens a socket and resolves once `until` (default `online_users`) arrived. */
  connect(userId: string, token: string, options?: SocketOptions): Promise<TestSocket>;
  /** Terminates every socket this app opened (the server's close sends 1012 to the rest first). */
  close(): Promise<void>;
}

export interface SocketOptions {
  headers?: Record<string, string>;
  until?: 'hello' | 'online_users';
  wsOptions?: WebSocket.ClientOptions;
}

export function socketUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/^http/, 'ws')}${path}`;
}

/** Opens a `ws` client socket (token in the Authorization header) and waits for `until`. */
export async function openSocket(
  baseUrl: string,
  userId: string,
  token: string,
  options: SocketOptions = {},
): Promise<TestSocket> {
  const ws = new WebSocket(socketUrl(baseUrl, `/api/ws/${userId}`), {
    headers: { authorization: `Bearer ${token}`, ...options.headers },
    ...options.wsOptions,
  });
  const socket = new TestSocket(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_request, response) =>
      reject(new Error(`upgrade refused: ${response.statusCode}`)),
    );
  });
  await socket.waitFor(options.until ?? 'online_users');
  return socket;
}

export async function startProtocolApp(dialect: TestDialect, options: TestAppOptions = {}): Promise<ProtocolApp> {
  const app = await startTestApp(dialect, options);
  const sockets = new Set<TestSocket>();
  return {
    ...app,
    async connect(userId, token, socketOptions = {}) {
      const socket = await openSocket(app.server.url, userId, token, socketOptions);
      sockets.add(socket);
      return socket;
    },
    async close() {
      await app.close();
      for (const socket of sockets) socket.ws.terminate();
    },
  };
}

/** The p-th percentile (0..100) of samples, nearest-rank. */
export function percentile(samples: readonly number[], p: number): number {
  assert.ok(samples.length > 0, 'no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

/** Resident set size of this process, in bytes. */
export function rss(): number {
  return process.memoryUsage().rss;
}
