import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from '@cs-chat/contracts/rest/user.schemas';
import WebSocket from 'ws';
import { type Config, parseConfig } from '../../src/config/config.ts';
import { type DatabaseHandle, openDatabase } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import type { UserRow } from '../../src/db/types.ts';
import type { EdgeLimits } from '../../src/http/edge-limits.ts';
import { createLogger } from '../../src/http/logging.ts';
import { createTokenIssuer } from '../../src/modules/auth/tokens.ts';
import type { QuotaLimits } from '../../src/quotas/limits.ts';
import type { FanoutBus } from '../../src/realtime/bus.ts';
import type { Realtime, RealtimeLimits } from '../../src/realtime/realtime.ts';
import { startServer } from '../../src/server.ts';
import { type TestDialect, testDialects } from '../helpers/databases.ts';
import { createClient, type TestClient } from '../helpers/http.ts';
import { testEnv } from '../helpers/test-app.ts';
import { insertTestUser } from '../helpers/users.ts';

/** How long a test waits for an expected frame before failing. */
export const WAIT_MS = 5_000;

export type Event = { type: string; [field: string]: any };

/** A real `ws` client that records every event and lets a test wait for one. */
export class TestSocket {
  readonly ws: WebSocket;
  readonly events: Event[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters = new Set<{ check: () => boolean }>();
  #isClosed = false;

  constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.#isClosed = true;
        resolve({ code, reason: reason.toString() });
        for (const waiter of this.#waiters) waiter.check();
      });
    });
    ws.on('message', (data) => {
      this.events.push(JSON.parse(data.toString()) as Event);
      for (const waiter of this.#waiters) waiter.check();
    });
  }

  get hello(): Event {
    const hello = this.events[0];
    assert.equal(hello?.type, 'hello');
    return hello;
  }

  get connectionId(): string {
    return this.hello.connection_id;
  }

  of(type: string): Event[] {
    return this.events.filter((event) => event.type === type);
  }

  /**
   * The first event (at index `since` or later) that matches, now or when it
   * arrives; fails after WAIT_MS or when the socket closes first.
   */
  waitFor(match: string | ((event: Event) => boolean), since = 0, label = String(match)): Promise<Event> {
    const test = typeof match === 'string' ? (event: Event) => event.type === match : match;
    return new Promise((resolve, reject) => {
      const waiter = {
        check: () => {
          const found = this.events.slice(since).find(test);
          if (found) {
            done();
            resolve(found);
            return true;
          }
          if (this.#isClosed) {
            done();
            reject(new Error(`socket closed while waiting for ${label}; got ${JSON.stringify(this.events)}`));
            return true;
          }
          return false;
        },
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${label}; got ${JSON.stringify(this.events)}`));
      }, WAIT_MS);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      this.#waiters.add(waiter);
      waiter.check();
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /**
   * A ping/pong round trip. Frames are handled in order and pushes are
   * written before the request that caused them returns, so after this every
   * event already due to this socket has arrived: absence can be asserted.
   */
  async sync(): Promise<void> {
    const since = this.events.length;
    this.send({ type: 'ping' });
    await this.waitFor('pong', since);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

export interface ConnectOptions {
  /** Where the token goes (default: the Authorization header). */
  via?: 'header' | 'query' | 'cookie';
  path?: 'api' | 'legacy';
  headers?: Record<string, string>;
  wsOptions?: WebSocket.ClientOptions;
  /** The event `connect` waits for (default `online_users`; `hello` when presence cannot answer). */
  until?: 'hello' | 'online_users';
}

export interface RealtimeTestApp {
  url: string;
  /** The SQLite file, for a second instance of the same cluster. */
  databasePath: string;
  client: TestClient;
  config: Config;
  database: DatabaseHandle;
  realtime: Realtime;
  addUser(id: string, role: Role, options?: Partial<Pick<UserRow, 'status'>>): Promise<string>;
  tokenFor(userId: string, role?: string): Promise<string>;
  /** Get-or-create the conversation of a pair as `token`'s user. */
  conversation(token: string, a: string, b: string): Promise<string>;
  /** Opens a socket and resolves once `hello` and `online_users` (or `options.until`) arrived. */
  connect(userId: string, token: string, options?: ConnectOptions): Promise<TestSocket>;
  /** Tries an upgrade that must be refused; resolves with the HTTP status and JSON body. */
  refused(userId: string, options: ConnectOptions & { token?: string }): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export interface RealtimeTestOptions {
  limits?: Partial<RealtimeLimits>;
  bus?: FanoutBus;
  env?: Record<string, string>;
  /** Share another app's scratch database (two instances of one cluster). */
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

function socketUrl(base: string, userId: string, options: ConnectOptions, token: string | undefined): string {
  const url = new URL(base.replace(/^http/, 'ws'));
  url.pathname = `${options.path === 'legacy' ? '/ws' : '/api/ws'}/${userId}`;
  if (token && options.via === 'query') url.searchParams.set('token', token);
  return url.toString();
}

function socketHeaders(options: ConnectOptions, token: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { ...options.headers };
  if (token && (options.via ?? 'header') === 'header') headers.authorization = `Bearer ${token}`;
  if (token && options.via === 'cookie') headers.cookie = `theme=dark; access_token=${token}`;
  return headers;
}

/**
 * A server as production wires it (scratch SQLite database, services, app)
 * with the gateway registered before listen, on 127.0.0.1 port 0.
 */
export async function startRealtimeApp(options: RealtimeTestOptions = {}): Promise<RealtimeTestApp> {
  const dialect = options.dialect ?? testDialects.find((d) => d.name === 'sqlite');
  assert.ok(dialect);
  const scratch = options.databasePath ? undefined : await dialect.create();
  const databaseUrl = options.databasePath ? `sqlite:${options.databasePath}` : (scratch?.urlString ?? '');
  const mediaDir = mkdtempSync(join(tmpdir(), 'chat-media-'));
  const config = parseConfig(testEnv({ DATABASE_URL: databaseUrl, MEDIA_DIR: mediaDir, ...options.env }));
  const migrator = openDatabase(config.DATABASE_URL);
  await migrateToLatest(migrator.db);
  await migrator.destroy();
  // Wired exactly as production: startServer builds the realtime core, services, app and gateway.
  const server = await startServer(config, createLogger({ level: 'silent' }), {
    ...(options.bus ? { bus: options.bus } : {}),
    ...(options.limits ? { realtimeLimits: options.limits } : {}),
    ...(options.userCacheTtlMs !== undefined ? { userCacheTtlMs: options.userCacheTtlMs } : {}),
    ...(options.quotas ? { quotas: options.quotas } : {}),
    ...(options.edgeLimits ? { edgeLimits: options.edgeLimits } : {}),
  });
  const { url, database, realtime } = server;
  const client = createClient(url);
  const tokens = createTokenIssuer({
    secret: config.JWT_SECRET_KEY,
    algorithm: config.JWT_ALGORITHM,
    expireDays: config.JWT_ACCESS_TOKEN_EXPIRE_DAYS,
  });
  const tokenFor = async (userId: string, role = 'buyer') => (await tokens.issue(userId, role)).token;
  const sockets = new Set<TestSocket>();

  return {
    url,
    databasePath: databaseUrl.startsWith('sqlite:') ? databaseUrl.slice('sqlite:'.length) : '',
    client,
    config,
    database,
    realtime,
    tokenFor,
    async addUser(id, role, extra = {}) {
      await insertTestUser(database.db, id, role, { status: extra.status ?? 'active' });
      return tokenFor(id, role);
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
      const ws = new WebSocket(socketUrl(url, userId, connectOptions, token), {
        headers: socketHeaders(connectOptions, token),
        ...connectOptions.wsOptions,
      });
      const socket = new TestSocket(ws);
      sockets.add(socket);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      });
      await socket.waitFor(connectOptions.until ?? 'online_users');
      return socket;
    },
    refused(userId, connectOptions) {
      const ws = new WebSocket(socketUrl(url, userId, connectOptions, connectOptions.token), {
        headers: socketHeaders(connectOptions, connectOptions.token),
      });
      return new Promise((resolve, reject) => {
        ws.once('open', () => {
          ws.terminate();
          reject(new Error('the upgrade was accepted'));
        });
        ws.once('unexpected-response', (_request, response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            text += chunk;
          });
          response.on('end', () => {
            ws.terminate();
            resolve({ status: response.statusCode ?? 0, body: text === '' ? null : JSON.parse(text) });
          });
        });
        ws.once('error', () => {});
      });
    },
    async close() {
      // Sockets still open get the shutdown close (1012), as in production.
      await server.close();
      for (const socket of sockets) socket.ws.terminate();
      await scratch?.drop();
      rmSync(mediaDir, { recursive: true, force: true });
    },
  };
}

/** Retries an assertion until it holds (state the server reaches asynchronously); fails after WAIT_MS. */
export async function eventually(assertion: () => void | Promise<void>, label = 'condition'): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${label} never held`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
