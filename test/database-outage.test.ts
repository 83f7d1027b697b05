import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createConnection } from 'mysql2/promise';
import { MYSQL_SKIP_REASON, TEST_MYSQL_URL, testDialects } from './helpers/databases.ts';
import type { TestResponse } from './helpers/http.ts';
import { until } from './helpers/polling.ts';
import { startTcpProxy, type TcpProxy, throughProxy } from './helpers/tcp-proxy.ts';
import { startTestApp, type TestApp, type TestAppOptions } from './helpers/test-app.ts';

const RECOVERY_DEADLINE_MS = 10_000;

/** Calls `attempt` until `done` holds for its result, for at most `deadlineMs`. */
const pollUntil = <T>(attempt: () => Promise<T>, done: (result: T) => boolean, deadlineMs = RECOVERY_DEADLINE_MS) =>
  until(attempt, done, 'condition not reached', deadlineMs);

function assertUnavailable(response: TestResponse, what: string): void {
  assert.equal(response.status, 503, `${what}: ${JSON.stringify(response.body)}`);
  assert.ok(Number(response.headers.get('retry-after')) > 0, `${what}: Retry-After`);
  assert.equal(response.body.error_type, 'database_unavailable', what);
  assert.equal(typeof response.body.detail, 'string', what);
  assert.ok(response.body.detail.length > 0, what);
}

/** A server whose database link runs through a TCP proxy, with a buyer, a merchant and their conversation. */
async function startBehindProxy(server?: TestAppOptions['server']) {
  const mysql = testDialects.find((dialect) => dialect.name === 'mysql');
  assert.ok(mysql && TEST_MYSQL_URL);
  const target = new URL(TEST_MYSQL_URL);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 3306) });
  const app = await startTestApp(mysql, {
    databaseUrl: (scratchUrl) => throughProxy(scratchUrl, proxy),
    // GET /api/auth/me stands for "a request that reads the database" here: no cached callers.
    server: { userCacheTtlMs: 0, ...server },
  });
  const buyer = await app.addUser('b1', 'buyer');
  const merchant = await app.addUser('m1', 'merchant');
  const created = await app.client.post('/api/conversations/', {
    token: buyer,
    body: { participant1_id: 'b1', participant2_id: 'm1' },
  });
  assert.equal(created.status, 201);
  return { proxy, app, buyer, merchant, conversationId: created.body.id as string };
}

describe('database outage (MySQL/MariaDB through a TCP proxy)', { skip: MYSQL_SKIP_REASON }, () => {
  let proxy: TcpProxy;
  let app: TestApp;
  let buyer: string;
  let merchant: string;
  let conversationId: string;

  before(async () => {
    ({ proxy, app, buyer, merchant, conversationId } = await startBehindProxy());
  });
  after(async () => {
    await app?.close();
    await proxy?.close();
  });

  const send = (content: string, clientMsgId?: string) =>
    app.client.post('/api/messages/', {
      token: buyer,
      body: { conversation_id: conversationId, content, ...(clientMsgId ? { client_msg_id: clientMsgId } : {}) },
    });

  /** The conversation's current last_seq, as the merchant sees it. */
  async function lastSeq(): Promise<number> {
    const conversation = await app.client.get(`/api/conversations/${conversationId}`, { token: merchant });
    assert.equal(conversation.status, 200);
    return conversation.body.last_seq;
  }

  for (const mode of ['reset', 'close'] as const) {
    test(`outage by ${mode}: before it, requests go through the proxy and work`, async () => {
      // Several at once, so the pool holds several idle connections when the cut comes.
      const responses = await Promise.all(
        Array.from({ length: 6 }, () => app.client.get('/api/auth/me', { token: merchant })),
      );
      assert.deepEqual(
        responses.map((r) => r.status),
        [200, 200, 200, 200, 200, 200],
      );
      assert.equal((await send(`before ${mode}`)).status, 201);
      assert.ok(proxy.openConnections >= 2, `pooled connections through the proxy: ${proxy.openConnections}`);
      assert.equal((await app.client.get('/api/health/ready')).status, 200);
    });

    test(`outage by ${mode}: 503 with Retry-After, liveness 200, readiness 503, no crash`, async () => {
      const seqBefore = await lastSeq();
      proxy.cut(mode);
      assert.equal(proxy.openConnections, 0);
      const acceptedBefore = proxy.acceptedConnections;
      // Two rounds: the first meets pooled connections that were cut, the second new connections refused.
      for (const round of [1, 2]) {
        const [me, conversations, history, sent] = await Promise.all([
          app.client.get('/api/auth/me', { token: buyer }),
          app.client.get('/api/conversations/', { token: merchant }),
          app.client.get(`/api/conversations/${conversationId}/messages`, { token: buyer }),
          send(`during ${mode} ${round}`),
        ]);
        assertUnavailable(me, `round ${round} GET /api/auth/me`);
        assertUnavailable(conversations, `round ${round} GET /api/conversations/`);
        assertUnavailable(history, `round ${round} GET messages`);
        assertUnavailable(sent, `round ${round} POST /api/messages/`);
        const english = await app.client.get('/api/auth/me', { token: buyer, headers: { 'accept-language': 'en' } });
        assertUnavailable(english, `round ${round} English`);
        assert.match(english.body.detail, /database/i);

        const health = await app.client.get('/api/health');
        assert.equal(health.status, 200);
        assert.deepEqual(health.body, { status: 'healthy' });
        const ready = await app.client.get('/api/health/ready');
        assert.equal(ready.status, 503);
        assert.ok(Number(ready.headers.get('retry-after')) > 0);
        assert.equal(ready.body.status, 'not_ready');
        assert.equal(ready.body.checks.database, 'down');
      }
      assert.ok(proxy.acceptedConnections > acceptedBefore, 'the pool tried to reconnect');
      // Requests that need no database still work (the process is alive and serving).
      assert.equal((await app.client.get('/api/')).status, 200);
      assert.equal((await app.client.get('/api/auth/me')).status, 401);

      proxy.restore();
      const me = await pollUntil(
        () => app.client.get('/api/auth/me', { token: buyer }),
        (response) => response.status !== 503,
      );
      assert.equal(me.status, 200, 'the same process recovers without a restart');
      assert.equal(me.body.id, 'b1');
      const ready = await pollUntil(
        () => app.client.get('/api/health/ready'),
        (response) => response.status === 200,
      );
      assert.equal(ready.body.checks.database, 'ok');

      const sent = await send(`after ${mode}`, `after-${mode}`);
      assert.equal(sent.status, 201);
      assert.equal(sent.body.seq, seqBefore + 1, 'nothing was stored during the outage');
      const history = await app.client.get(`/api/conversations/${conversationId}/messages?after_seq=${seqBefore - 1}`, {
        token: merchant,
      });
      assert.equal(history.status, 200);
      assert.deepEqual(
        history.body.results.map((m: { content: string }) => m.content),
        [`before ${mode}`, `after ${mode}`],
      );
    });
  }

  test('connections killed by the server are dropped from the pool; requests recover', async () => {
    assert.ok(TEST_MYSQL_URL);
    const databaseName = new URL(app.scratch.urlString).pathname.slice(1);
    await Promise.all(Array.from({ length: 4 }, () => app.client.get('/api/auth/me', { token: buyer })));
    const admin = await createConnection(TEST_MYSQL_URL);
    try {
      const [rows] = await admin.query(
        'SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()',
        [databaseName],
      );
      const ids = (rows as { id: number }[]).map((row) => row.id);
      assert.ok(ids.length >= 1, 'the app holds pooled connections');
      for (const id of ids) await admin.query(`KILL CONNECTION ${Number(id)}`);
    } finally {
      await admin.end();
    }
    // A request may meet a killed connection before its close is noticed (503), never a 500 or a crash.
    const me = await pollUntil(
      () => app.client.get('/api/auth/me', { token: buyer }),
      (response) => {
        if (response.status === 503) assertUnavailable(response, 'after KILL');
        else assert.equal(response.status, 200, JSON.stringify(response.body));
        return response.status === 200;
      },
    );
    assert.equal(me.body.id, 'b1');
    const statuses = await Promise.all(
      Array.from({ length: 6 }, async () => (await app.client.get('/api/auth/me', { token: buyer })).status),
    );
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200]);
  });

  test('a send cut off mid-transaction is not stored, and its retry stores it once', async () => {
    assert.ok(TEST_MYSQL_URL);
    const seqBefore = await lastSeq();
    // Hold the conversation row locked from outside, so the send waits inside its transaction.
    const databaseName = new URL(app.scratch.urlString).pathname.slice(1);
    const holder = await createConnection(app.scratch.urlString);
    try {
      await holder.query('START TRANSACTION');
      await holder.query('SELECT id FROM conversations WHERE id = ? FOR UPDATE', [conversationId]);
      const pending = send('cut mid-transaction', 'mid-1');
      const observer = await createConnection(TEST_MYSQL_URL);
      try {
        await pollUntil(
          async () => {
            const [rows] = await observer.query(
              "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = ? AND info LIKE 'update `conversations`%'",
              [databaseName],
            );
            return Number((rows as { n: number }[])[0]?.n);
          },
          (waiting) => waiting > 0,
          5000,
        );
      } finally {
        await observer.end();
      }
      proxy.cut();
      assertUnavailable(await pending, 'the interrupted send');
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    proxy.restore();

    const retried = await pollUntil(
      () => send('cut mid-transaction', 'mid-1'),
      (response) => response.status !== 503,
    );
    assert.equal(retried.status, 201, 'the first attempt never committed');
    assert.equal(retried.body.seq, seqBefore + 1);
    const again = await send('cut mid-transaction', 'mid-1');
    assert.equal(again.status, 200);
    assert.equal(again.body.id, retried.body.id);
    const conversation = await app.client.get(`/api/conversations/${conversationId}`, { token: merchant });
    assert.equal(conversation.body.last_seq, seqBefore + 1);
    assert.equal(conversation.body.participant2_unread, seqBefore + 1, 'every stored send counted once');
    assert.equal(conversation.body.last_message, 'cut mid-transaction');
  });
});

describe('database partition (MySQL/MariaDB: the link hangs, nothing is closed)', { skip: MYSQL_SKIP_REASON }, () => {
  const STATEMENT_TIMEOUT_MS = 500;
  let proxy: TcpProxy;
  let app: TestApp;
  let buyer: string;
  let conversationId: string;

  before(async () => {
    ({ proxy, app, buyer, conversationId } = await startBehindProxy({
      statementTimeoutMs: STATEMENT_TIMEOUT_MS,
      connectTimeoutMs: STATEMENT_TIMEOUT_MS,
    }));
  });
  after(async () => {
    await app?.close();
    await proxy?.close();
  });

  const send = (content: string, clientMsgId: string) =>
    app.client.post('/api/messages/', {
      token: buyer,
      body: { conversation_id: conversationId, content, client_msg_id: clientMsgId },
    });

  test('requests fail with 503 within the statement timeout instead of hanging, then recover', async () => {
    const warm = await Promise.all(Array.from({ length: 4 }, () => app.client.get('/api/auth/me', { token: buyer })));
    assert.deepEqual(
      warm.map((r) => r.status),
      [200, 200, 200, 200],
    );
    assert.equal((await send('before', 'p-1')).status, 201);

    proxy.cut('hang');
    // First round: pooled connections whose statements go unanswered; second: new connections never answered.
    for (const round of [1, 2]) {
      const started = Date.now();
      const [me, conversations, sent] = await Promise.all([
        app.client.get('/api/auth/me', { token: buyer }),
        app.client.get('/api/conversations/', { token: buyer }),
        send(`during ${round}`, `p-during-${round}`),
      ]);
      const elapsed = Date.now() - started;
      assertUnavailable(me, `round ${round} GET /api/auth/me`);
      assertUnavailable(conversations, `round ${round} GET /api/conversations/`);
      assertUnavailable(sent, `round ${round} POST /api/messages/`);
      // Bounded by the timeouts, not hanging: ten statement timeouts leave a loaded machine room.
      assert.ok(elapsed < 10 * STATEMENT_TIMEOUT_MS, `answered in ${elapsed} ms, bounded by the timeouts`);
      assert.equal((await app.client.get('/api/health')).status, 200);
      assert.equal((await app.client.get('/api/health/ready')).status, 503);
    }

    proxy.restore();
    const me = await pollUntil(
      () => app.client.get('/api/auth/me', { token: buyer }),
      (response) => response.status === 200,
    );
    assert.equal(me.body.id, 'b1');
    // Retries of the sends that failed store each once, in order.
    const retried = await pollUntil(
      () => send('during 1', 'p-during-1'),
      (response) => response.status !== 503,
    );
    assert.ok([200, 201].includes(retried.status), JSON.stringify(retried.body));
    const after = await send('after', 'p-after');
    assert.equal(after.status, 201);
    const history = await app.client.get(`/api/conversations/${conversationId}/messages?after_seq=0`, {
      token: buyer,
    });
    const contents = history.body.results.map((m: { content: string }) => m.content);
    assert.equal(contents[0], 'before');
    assert.equal(contents.at(-1), 'after');
    assert.equal(contents.filter((c: string) => c === 'during 1').length, 1, 'stored once');
    assert.deepEqual(
      history.body.results.map((m: { seq: number }) => m.seq),
      contents.map((_: string, i: number) => i + 1),
      'dense seqs',
    );
  });
});
