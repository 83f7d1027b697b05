import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTokenIssuer } from '../src/modules/auth/tokens.ts';
import type { RunningServer } from '../src/server.ts';
import { type LoggedServer, startLoggedServer } from './helpers/logged-server.ts';
import { insertTestUser } from './helpers/users.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type LogLine = { level: number; msg?: string; reqId?: string; sql?: string; [key: string]: unknown };

/**
 * The server's real logger (createLogger, as main.ts builds it) writing into
 * memory through a pino destination stream, with DEBUG_SQL=True so that each
 * request also logs its queries.
 */
describe('request ids in responses and in every log line of a request', () => {
  const lines: LogLine[] = [];
  const destination = {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine);
    },
  };
  let logged: LoggedServer;
  let server: RunningServer;
  let buyer: string;
  let conversationId: string;

  before(async () => {
    logged = await startLoggedServer(destination, 'info');
    server = logged.server;
    const { config } = logged;
    for (const [id, role] of [
      ['b1', 'buyer'],
      ['m1', 'merchant'],
    ] as const) {
      await insertTestUser(server.database.db, id, role, { username: id });
    }
    const tokens = createTokenIssuer({ secret: config.JWT_SECRET_KEY, algorithm: 'HS256', expireDays: 1 });
    buyer = (await tokens.issue('b1', 'buyer')).token;
    const opened = await post('/api/conversations/', { participant1_id: 'b1', participant2_id: 'm1' });
    assert.equal(opened.status, 201);
    conversationId = ((await opened.json()) as { id: string }).id;
  });
  after(() => logged.close());

  function post(path: string, body: unknown, headers: Record<string, string> = {}) {
    return fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${buyer}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  }

  /** The log lines written while `work` ran (one request at a time unless the test overlaps them). */
  /**
   * The lines a request wrote: all but the background work a send only wakes
   * (the search indexer's rounds), which belongs to no request and says so by
   * carrying no reqId. The request's own lines never lack one: its messages
   * insert and its lifecycle lines are checked to carry it.
   */
  function requestLines(logged: LogLine[]): LogLine[] {
    for (const line of logged.filter((l) => l.reqId === undefined)) {
      assert.ok(!/request|insert into .messages./.test(`${line.msg} ${line.sql ?? ''}`), JSON.stringify(line));
    }
    return logged.filter((line) => line.reqId !== undefined);
  }

  async function linesDuring(work: () => Promise<void>): Promise<LogLine[]> {
    const start = lines.length;
    await work();
    // "request completed" is written once the response has been sent: let it land.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return lines.slice(start);
  }

  test('a safe X-Request-Id is kept, echoed, and on every line the request logs, its SQL included', async () => {
    let echoed: string | null = null;
    const logged = await linesDuring(async () => {
      const response = await post(
        '/api/messages/',
        { conversation_id: conversationId, content: 'traced' },
        { 'x-request-id': 'edge-7f3a.1:retry-2' },
      );
      assert.equal(response.status, 201);
      echoed = response.headers.get('x-request-id');
    });
    assert.equal(echoed, 'edge-7f3a.1:retry-2');
    assert.ok(logged.some((line) => line.msg === 'incoming request'));
    assert.ok(logged.some((line) => line.msg === 'request completed'));
    const own = requestLines(logged);
    const sqlLines = own.filter((line) => typeof line.sql === 'string');
    assert.ok(sqlLines.length >= 3, `the send's queries are logged: ${JSON.stringify(logged)}`);
    for (const line of own) assert.equal(line.reqId, 'edge-7f3a.1:retry-2', JSON.stringify(line));
  });

  test('an unsafe X-Request-Id is replaced by a generated one, which is echoed and logged instead', async () => {
    const unsafe = ['has spaces in it', 'x'.repeat(129), '<script>alert(1)</script>', 'a/b', '{"json":1}', ''];
    for (const given of unsafe) {
      let echoed = '';
      const logged = await linesDuring(async () => {
        const response = await fetch(`${server.url}/api/health`, { headers: { 'x-request-id': given } });
        assert.equal(response.status, 200);
        echoed = response.headers.get('x-request-id') ?? '';
      });
      assert.match(echoed, UUID, `replacement for ${JSON.stringify(given)}`);
      // Background rounds an earlier send woke (search, reports) may log meanwhile, without a reqId.
      const own = requestLines(logged);
      assert.ok(own.length >= 2);
      for (const line of own) {
        assert.equal(line.reqId, echoed);
        assert.ok(!JSON.stringify(line).includes(given) || given === '', `the unsafe value is not logged: ${given}`);
      }
    }
  });

  test('without X-Request-Id each request gets its own id, errors included', async () => {
    const ids = new Set<string>();
    for (const path of ['/api/health', '/api/no-such-route', '/api/auth/me']) {
      const response = await fetch(`${server.url}${path}`);
      const id = response.headers.get('x-request-id') ?? '';
      assert.match(id, UUID, path);
      ids.add(id);
    }
    assert.equal(ids.size, 3);
  });

  test('concurrent requests each log under their own id, SQL lines included', async () => {
    const ids = ['concurrent-1', 'concurrent-2', 'concurrent-3', 'concurrent-4', 'concurrent-5'];
    const logged = await linesDuring(async () => {
      const responses = await Promise.all(
        ids.map((id) =>
          post('/api/messages/', { conversation_id: conversationId, content: `from ${id}` }, { 'x-request-id': id }),
        ),
      );
      for (const response of responses) assert.equal(response.status, 201);
    });
    for (const line of requestLines(logged)) {
      assert.ok(ids.includes(line.reqId ?? ''), `a line without its request: ${line.msg}`);
    }
    const sqlCounts = ids.map((id) => logged.filter((line) => line.reqId === id && line.sql).length);
    assert.ok(
      sqlCounts.every((count) => count >= 3 && count === sqlCounts[0]),
      `SQL lines per request: ${sqlCounts}`,
    );
  });
});
