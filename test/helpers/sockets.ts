import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { WAIT_MS } from './polling.ts';

/**
 * WebSocket CLIENT utilities for tests: the recording TestSocket, opening a
 * socket that must connect, and an upgrade whose outcome (open or refused) a
 * test inspects. Servers are started by test/helpers/test-app.ts.
 */

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

/** The path (and query) of `userId`'s socket, with the token in the query when `options.via` says so. */
function socketPath(userId: string, options: ConnectOptions, token: string | undefined): string {
  const path = `${options.path === 'legacy' ? '/ws' : '/api/ws'}/${userId}`;
  return token && options.via === 'query' ? `${path}?${new URLSearchParams({ token })}` : path;
}

function socketHeaders(options: ConnectOptions, token: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { ...options.headers };
  if (token && (options.via ?? 'header') === 'header') headers.authorization = `Bearer ${token}`;
  if (token && options.via === 'cookie') headers.cookie = `theme=dark; access_token=${token}`;
  return headers;
}

/** Opens `userId`'s socket on the server at `baseUrl`; resolves once `hello` and `online_users` (or `options.until`) arrived. */
export async function connectSocket(
  baseUrl: string,
  userId: string,
  token: string,
  options: ConnectOptions = {},
): Promise<TestSocket> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${socketPath(userId, options, token)}`, {
    headers: socketHeaders(options, token),
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

/** Tries `userId`'s upgrade, which must be refused; resolves with the HTTP status and JSON body. */
export async function refusedSocket(
  baseUrl: string,
  userId: string,
  options: ConnectOptions & { token?: string },
): Promise<{ status: number; body: any }> {
  const result = await upgrade(
    baseUrl,
    socketPath(userId, options, options.token),
    socketHeaders(options, options.token),
  );
  if (result.open) {
    result.ws.terminate();
    throw new Error('the upgrade was accepted');
  }
  return { status: result.status, body: result.body };
}

/** An upgrade's outcome: an open socket (with its close, when it comes), or the HTTP refusal. */
export type Upgrade =
  | { open: true; ws: WebSocket; closed: Promise<{ code: number; reason: string }>; firstEvent: Promise<unknown> }
  | { open: false; status: number; body: any };

/** Opens a WebSocket to `path` on the server at `baseUrl` and reports how the upgrade went. */
export function upgrade(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<Upgrade> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${path}`, { headers });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const firstEvent = new Promise<unknown>((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)))));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ open: true, ws, closed, firstEvent }));
    ws.once('unexpected-response', (_request, response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => {
        ws.terminate();
        resolve({ open: false, status: response.statusCode ?? 0, body: text === '' ? null : JSON.parse(text) });
      });
    });
    ws.once('error', (error) => reject(error));
  });
}

/** The open socket of an upgrade that must have succeeded. */
export function opened(result: Upgrade): Extract<Upgrade, { open: true }> {
  if (!result.open) throw new Error(`upgrade refused: ${result.status} ${JSON.stringify(result.body)}`);
  return result;
}

/**
 * Who among `people`'s sockets gets an event: `mark()` notes where each one's events stand, and
 * `pushedTo(match, reached, since)` waits until everyone in `reached` has a matching event since
 * then and checks, after a round trip, that nobody else got one. `sockets` is read at each call,
 * so a test may replace a person's socket.
 */
export function audience<P extends string>(sockets: Record<P, TestSocket>, people: readonly P[]) {
  return {
    mark: () => Object.fromEntries(people.map((p) => [p, sockets[p].events.length])) as Record<P, number>,
    async pushedTo(match: (event: Event) => boolean, reached: readonly P[], since: Record<P, number>): Promise<void> {
      await Promise.all(reached.map((person) => sockets[person].waitFor(match, since[person], person)));
      const others = people.filter((person) => !reached.includes(person));
      await Promise.all(others.map((person) => sockets[person].sync()));
      for (const person of others) {
        assert.equal(sockets[person].events.slice(since[person]).filter(match).length, 0, `${person} must not get it`);
      }
    },
  };
}
