import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import type { EdgeLimits } from '../src/http/edge-limits.ts';
import { testDialects } from './helpers/databases.ts';
import { scrape } from './helpers/metrics.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Issue 12 item 6: request bodies that stall or trickle are cut (uploads
 * included) while a slow but steady one passes, the headers phase is bounded,
 * and one client address may hold only so many connections (a trusted proxy
 * any number). Raw TCP clients; every wait is for an event (an answer, a
 * close), never a sleep. The limits are shrunk for the test, with wide margins
 * between what passes and what is cut, so a loaded machine cannot flip them.
 */

const LIMITS: Partial<EdgeLimits> = {
  headersTimeoutMs: 500,
  bodyMinBytesPerSecond: 500,
  bodyRateWindowMs: 1_000,
  bodyIdleTimeoutMs: 1_000,
  checkIntervalMs: 50,
  maxConnectionsPerAddress: 1_000,
};
/** The per-address cap gets its own server: every other test's fetch keeps connections open. */
const CAP = 4;
const BOUNDARY = '----edge-limits-boundary';
const REFUSALS = 'chat_http_edge_refusals_total';

/** A raw TCP client: what it sent is up to the test, what came back is collected until the server closes. */
interface RawClient {
  socket: Socket;
  /** Everything the server sent, once it closed the connection. */
  closed: Promise<string>;
  /** Resolves with the data received so far as soon as it contains `text`. */
  received(text: string): Promise<string>;
}

async function rawClient(url: string): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  let data = '';
  const waiters = new Set<() => void>();
  socket.on('data', (chunk: Buffer) => {
    data += chunk.toString('latin1');
    for (const waiter of waiters) waiter();
  });
  // Not events.once: it would reject on the ECONNRESET of a connection the server cut with bytes unread.
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(data)));
  await once(socket, 'connect');
  return {
    socket,
    closed,
    received: (text) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!data.includes(text)) return;
          waiters.delete(check);
          resolve(data);
        };
        waiters.add(check);
        socket.once('close', () =>
          data.includes(text) ? resolve(data) : reject(new Error(`closed before "${text}"`)),
        );
        check();
      }),
  };
}

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));

/** Writes `total` bytes of `body`, `chunk` bytes at a time, the next one whenever `pace` says, until done or closed. */
function pacedWrite(socket: Socket, body: Buffer, chunk: number, paceMs: number): void {
  let offset = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || offset >= body.length) return clearInterval(timer);
    socket.write(body.subarray(offset, offset + chunk));
    offset += chunk;
  }, paceMs);
  socket.once('close', () => clearInterval(timer));
}

for (const dialect of testDialects) {
  describe(`HTTP edge limits (${dialect.name})`, () => {
    let app: TestApp;
    let buyer: string;

    before(async () => {
      app = await startTestApp(dialect, { server: { edgeLimits: LIMITS } });
      buyer = await app.addUser('b1', 'buyer');
    });
    after(() => app.close());

    const postHead = (path: string, length: number | 'chunked', type = 'application/json') =>
      `POST ${path} HTTP/1.1\r\nHost: chat.test\r\nAuthorization: Bearer ${buyer}\r\nContent-Type: ${type}\r\n` +
      (length === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${length}\r\n`) +
      'Accept-Language: en\r\n\r\n';

    const refusals = async (reason: string) => (await scrape(app.server.url)).value(REFUSALS, { reason });

    test('a body that stalls is cut with 408 and counted as body_idle', async () => {
      const before = await refusals('body_idle');
      const client = await rawClient(app.server.url);
      client.socket.write(`${postHead('/api/messages/', 200)}{"conversation_id":`);
      const answer = await client.closed;
      assert.equal(statusOf(answer), 408, answer);
      assert.equal(bodyOf(answer).error_type, 'request_timeout');
      assert.equal(await refusals('body_idle'), before + 1);
    });

    test('a body trickled below the minimum rate is cut and counted as body_too_slow', async () => {
      const before = await refusals('body_too_slow');
      const client = await rawClient(app.server.url);
      client.socket.write(postHead('/api/messages/', 100_000));
      // A byte every 100 ms: never idle for the 1 s limit, but 10 B/s against a 500 B/s minimum.
      pacedWrite(client.socket, Buffer.alloc(100_000, 0x20), 1, 100);
      const answer = await client.closed;
      assert.equal(statusOf(answer), 408, answer);
      assert.equal(await refusals('body_too_slow'), before + 1);
    });

    test('a body trickled after its answer was sent (an unknown route) is cut too, without a second answer', async () => {
      const before = await refusals('body_too_slow');
      const client = await rawClient(app.server.url);
      // A type no parser reads: the 404 goes out at once, the body is left to arrive (and be discarded).
      client.socket.write(postHead('/api/no-such-route', 100_000, 'application/x-anything'));
      pacedWrite(client.socket, Buffer.alloc(100_000, 0x20), 1, 100);
      const answer = await client.closed;
      assert.equal(statusOf(answer), 404, answer);
      assert.doesNotMatch(answer, /HTTP\/1\.1 408/);
      assert.equal(await refusals('body_too_slow'), before + 1);
    });

    test('a chunked upload trickled below the minimum rate is cut too', async () => {
      const client = await rawClient(app.server.url);
      client.socket.write(postHead('/api/upload/file', 'chunked', `multipart/form-data; boundary=${BOUNDARY}`));
      const part = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\nContent-Type: text/plain\r\n\r\n`;
      client.socket.write(`${part.length.toString(16)}\r\n${part}\r\n`);
      pacedWrite(client.socket, Buffer.from('1\r\na\r\n'.repeat(10_000)), 6, 100);
      assert.equal(statusOf(await client.closed), 408);
    });

    test('a large upload sent slowly but steadily, for longer than the window and the idle limit, is stored', async () => {
      const content = Buffer.alloc(60_000, 'slow but steady\n');
      const body = Buffer.concat([
        Buffer.from(
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\nContent-Type: text/plain\r\n\r\n`,
        ),
        content,
        Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
      ]);
      const client = await rawClient(app.server.url);
      client.socket.write(postHead('/api/upload/file', body.length, `multipart/form-data; boundary=${BOUNDARY}`));
      // 1,000 bytes every 20 ms: 50 kB/s, a hundred times the minimum rate; ~1.2 s in all.
      pacedWrite(client.socket, body, 1_000, 20);
      const answer = await client.received('}');
      assert.equal(statusOf(answer), 200, answer);
      const stored = await fetch(bodyOf(answer).url.replace('http://chat.test', app.server.url));
      assert.equal(stored.status, 200);
      assert.equal((await stored.arrayBuffer()).byteLength, content.length);
      client.socket.destroy();
    });

    test('headers that never finish are cut with 408 and counted as headers_timeout', async () => {
      const before = await refusals('headers_timeout');
      const client = await rawClient(app.server.url);
      client.socket.write('GET /api/health HTTP/1.1\r\nHost: chat.test\r\nX-Slow: ');
      const answer = await client.closed;
      assert.equal(statusOf(answer), 408, answer);
      assert.equal(await refusals('headers_timeout'), before + 1);
    });

    test('a WebSocket is not held to the body rules: it outlives a stalled body cut on another connection', async () => {
      const ws = new WebSocket(`${app.server.url.replace('http', 'ws')}/api/ws/b1?token=${buyer}`);
      const hello = new Promise<void>((resolve) => ws.once('message', () => resolve()));
      await hello;
      const client = await rawClient(app.server.url);
      client.socket.write(`${postHead('/api/messages/', 200)}{`);
      await client.closed;
      assert.equal(ws.readyState, WebSocket.OPEN);
      ws.ping();
      await once(ws, 'pong');
      ws.close();
      await once(ws, 'close');
    });
  });
}

describe('HTTP edge limits: connections per address', () => {
  let app: TestApp;
  let proxied: TestApp;
  before(async () => {
    const [sqlite] = testDialects;
    assert.ok(sqlite);
    const server = { edgeLimits: { ...LIMITS, maxConnectionsPerAddress: CAP } };
    app = await startTestApp(sqlite, { server });
    proxied = await startTestApp(sqlite, { env: { TRUSTED_PROXIES: 'loopback' }, server });
  });
  after(async () => {
    await app.close();
    await proxied.close();
  });

  /** A kept-alive connection that has been answered (so the server surely counts it). */
  const heldConnection = async (url: string): Promise<RawClient> => {
    const client = await rawClient(url);
    client.socket.write('GET /api/health HTTP/1.1\r\nHost: chat.test\r\n\r\n');
    assert.equal(statusOf(await client.received('\r\n\r\n')), 200);
    return client;
  };

  test('one address holds at most maxConnectionsPerAddress connections; the next gets 429 and is closed', async () => {
    const held: RawClient[] = [];
    for (let i = 0; i < CAP; i++) held.push(await heldConnection(app.server.url));
    const refused = await rawClient(app.server.url);
    const answer = await refused.closed;
    assert.equal(statusOf(answer), 429, answer);
    assert.match(answer, /\r\nRetry-After: \d+\r\n/i);
    assert.equal(bodyOf(answer).error_type, 'too_many_connections');

    // Closed connections free their places (once the server has seen them go).
    for (const client of held) client.socket.destroy();
    await Promise.all(held.map((client) => client.closed));
    for (let attempt = 0; ; attempt++) {
      const again = await rawClient(app.server.url);
      again.socket.write('GET /api/health HTTP/1.1\r\nHost: chat.test\r\nConnection: close\r\n\r\n');
      const status = statusOf(await again.closed);
      if (status === 200) break;
      assert.equal(status, 429);
      assert.ok(attempt < 100, 'closed connections never freed their places');
    }
    const metrics = await scrape(app.server.url);
    assert.ok(metrics.value(REFUSALS, { reason: 'too_many_connections' }) >= 1);
  });

  test('connections from a TRUSTED_PROXIES address are not capped (every client arrives through it)', async () => {
    const held: RawClient[] = [];
    for (let i = 0; i < CAP * 3; i++) held.push(await heldConnection(proxied.server.url));
    for (const client of held) client.socket.destroy();
  });
});
