import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { createInProcessBus, type Envelope, type FanoutBus } from '../src/realtime/bus.ts';
import { createRedisBus } from '../src/realtime/redis-bus.ts';
import { MYSQL_SKIP_REASON, testDialects } from './helpers/databases.ts';
import { type Scrape, scrape } from './helpers/metrics.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';
import { startTestApp } from './helpers/test-app.ts';
import { eventually, type RealtimeTestApp, startRealtimeApp } from './realtime/helpers.ts';

const HTTP = 'chat_http_request_duration_seconds_count';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('GET /metrics', () => {
  let app: RealtimeTestApp;
  const tokens: Record<string, string> = {};
  const token = (id: string) => tokens[id] ?? '';
  let conversationId: string;

  before(async () => {
    app = await startRealtimeApp();
    for (const [id, role] of [
      ['b1', 'buyer'],
      ['m1', 'merchant'],
      ['a1', 'admin'],
    ] as const) {
      tokens[id] = await app.addUser(id, role);
    }
    conversationId = await app.conversation(token('b1'), 'b1', 'm1');
  });
  after(() => app.close());

  test('serves the Prometheus text format without a token, and stays out of the OpenAPI document', async () => {
    const response = await fetch(`${app.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4; charset=utf-8$/);
    const text = await response.text();
    assert.match(text, /^# HELP chat_http_request_duration_seconds /m);
    assert.match(text, /^# TYPE chat_messages_stored_total counter$/m);
    const openapi = await app.client.get('/api/openapi.json');
    assert.equal(openapi.status, 200);
    assert.ok(!Object.keys(openapi.body.paths).some((path) => path.includes('metrics')));
  });

  test('HTTP requests are timed by route pattern and status code, never by raw URL', async () => {
    const before = await scrape(app.url);
    const health = { method: 'GET', route: '/api/health', status_code: '200' };
    const history = { method: 'GET', route: '/api/conversations/:id/messages', status_code: '200' };
    const unmatched = { method: 'GET', route: 'unmatched', status_code: '404' };
    const denied = { method: 'GET', route: '/api/conversations/:id/messages', status_code: '401' };

    assert.equal((await app.client.get('/api/health')).status, 200);
    assert.equal((await app.client.get('/api/health')).status, 200);
    const path = `/api/conversations/${conversationId}/messages?page=1&page_size=5`;
    assert.equal((await app.client.get(path, { token: token('m1') })).status, 200);
    assert.equal((await app.client.get(path)).status, 401);
    assert.equal((await app.client.get('/no/such/route/12345')).status, 404);
    assert.equal((await app.client.get('/no/such/route/67890')).status, 404);

    const after = await scrape(app.url);
    assert.equal(after.value(HTTP, health) - before.value(HTTP, health), 2);
    assert.equal(after.value(HTTP, history) - before.value(HTTP, history), 1);
    assert.equal(after.value(HTTP, denied) - before.value(HTTP, denied), 1);
    assert.equal(after.value(HTTP, unmatched) - before.value(HTTP, unmatched), 2, 'one series for every unknown URL');
    assert.ok(after.value('chat_http_request_duration_seconds_sum', health) > 0);
    const le = after.find('chat_http_request_duration_seconds_bucket', { ...health, le: '+Inf' });
    assert.equal(le[0]?.value, after.value(HTTP, health));
    for (const sample of after.find(HTTP)) {
      assert.ok(!sample.labels.route?.includes(conversationId), `raw id in a label: ${sample.labels.route}`);
      assert.ok(!sample.labels.route?.includes('?'), `query string in a label: ${sample.labels.route}`);
      assert.ok(!sample.labels.route?.includes('/no/such'), `unknown URL in a label: ${sample.labels.route}`);
    }
  });

  test('open WebSocket connections and online users are read from the registry at each scrape', async () => {
    const first = await scrape(app.url);
    assert.equal(first.value('chat_websocket_connections'), 0);
    assert.equal(first.value('chat_online_users'), 0);

    const b1a = await app.connect('b1', token('b1'));
    const b1b = await app.connect('b1', token('b1'));
    const m1 = await app.connect('m1', token('m1'));
    const three = await scrape(app.url);
    assert.equal(three.value('chat_websocket_connections'), 3);
    assert.equal(three.value('chat_online_users'), 2, 'two tabs of b1 are one user');

    await b1a.close();
    await eventually(async () => {
      const now = await scrape(app.url);
      assert.equal(now.value('chat_websocket_connections'), 2);
      assert.equal(now.value('chat_online_users'), 2);
    }, 'one tab closed');
    await Promise.all([b1b.close(), m1.close()]);
    await eventually(async () => {
      const now = await scrape(app.url);
      assert.equal(now.value('chat_websocket_connections'), 0);
      assert.equal(now.value('chat_online_users'), 0);
    }, 'everyone gone');
  });

  test('a message counts once it is stored (REST or WebSocket); retries and refused sends do not count', async () => {
    const stored = (s: Scrape) => s.value('chat_messages_stored_total', { message_type: 'text' });
    const before = await scrape(app.url);

    const body = { conversation_id: conversationId, content: 'counted once', client_msg_id: 'metrics-1' };
    assert.equal((await app.client.post('/api/messages/', { token: token('b1'), body })).status, 201);
    assert.equal((await app.client.post('/api/messages/', { token: token('b1'), body })).status, 200, 'a retry');
    const refused = await app.client.post('/api/messages/', {
      token: token('a1'),
      body: { conversation_id: conversationId, content: 'admins never send' },
    });
    assert.equal(refused.status, 403);
    const afterRest = await scrape(app.url);
    assert.equal(stored(afterRest) - stored(before), 1);

    const socket = await app.connect('m1', token('m1'));
    socket.send({
      type: 'message',
      conversation_id: conversationId,
      content: 'over the socket',
      client_msg_id: 'ws-1',
    });
    await socket.waitFor('ack');
    const afterSocket = await scrape(app.url);
    assert.equal(stored(afterSocket) - stored(before), 2);
    await socket.close();
  });

  test('fan-out: published events, frames written to sockets and the publish-to-write latency', async () => {
    const m1a = await app.connect('m1', token('m1'));
    const m1b = await app.connect('m1', token('m1'));
    const admin = await app.connect('a1', token('a1'));
    const before = await scrape(app.url);

    const sent = await app.client.post('/api/messages/', {
      token: token('b1'),
      body: { conversation_id: conversationId, content: 'fan me out' },
    });
    assert.equal(sent.status, 201);
    await Promise.all([m1a, m1b, admin].map((socket) => socket.waitFor('message')));

    const after = await scrape(app.url);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      after.value(name, labels) - before.value(name, labels);
    assert.equal(delta('chat_realtime_events_published_total', { event_type: 'message' }), 1);
    assert.equal(
      delta('chat_realtime_events_fanned_out_total', { event_type: 'message' }),
      3,
      'two tabs of the merchant and the admin',
    );
    assert.equal(delta('chat_realtime_fanout_latency_seconds_count'), 1, 'one local delivery of the envelope');
    const latency = delta('chat_realtime_fanout_latency_seconds_sum');
    assert.ok(latency >= 0 && latency < 5, `latency ${latency}`);
    assert.equal(delta('chat_realtime_bus_publish_failures_total'), 0);
    await Promise.all([m1a.close(), m1b.close(), admin.close()]);
  });

  test('event-loop delay and memory are reported; SQLite has no pool to report', async () => {
    const now = await scrape(app.url);
    for (const stat of ['p50', 'p90', 'p99', 'max', 'mean']) {
      const value = now.value('chat_event_loop_delay_seconds', { stat });
      assert.ok(Number.isFinite(value) && value >= 0, `${stat}: ${value}`);
    }
    assert.ok(now.value('chat_process_resident_memory_bytes') > 1e6);
    assert.ok(now.value('chat_process_heap_used_bytes') > 1e5);
    assert.ok(!now.has('chat_db_pool_connections_in_use'), 'the embedded database has one connection, no pool');
  });
});

describe('metrics: failures and isolation', () => {
  test('a bus that fails to publish is counted, and the send still succeeds', async (t) => {
    const inner = createInProcessBus();
    let failing = false;
    const bus: FanoutBus = {
      ...inner,
      publish(envelope) {
        if (failing) throw new Error('bus down');
        inner.publish(envelope);
      },
    };
    const app = await startRealtimeApp({ bus });
    t.after(() => app.close());
    const b1 = await app.addUser('b1', 'buyer');
    await app.addUser('m1', 'merchant');
    const conversationId = await app.conversation(b1, 'b1', 'm1');
    const before = await scrape(app.url);
    failing = true;
    const sent = await app.client.post('/api/messages/', {
      token: b1,
      body: { conversation_id: conversationId, content: 'stored, not pushed' },
    });
    failing = false;
    assert.equal(sent.status, 201, 'a failed push never undoes a committed message');
    const after = await scrape(app.url);
    assert.equal(
      after.value('chat_realtime_bus_publish_failures_total') -
        before.value('chat_realtime_bus_publish_failures_total'),
      1,
    );
    assert.equal(
      after.value('chat_messages_stored_total', { message_type: 'text' }) -
        before.value('chat_messages_stored_total', { message_type: 'text' }),
      1,
    );
  });

  test('Redis: an event that cannot reach the other instances is counted as a publish failure', async (t) => {
    const target = new URL(REDIS_URL);
    const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    const reachable = await probe.connect().then(
      () => true,
      () => false,
    );
    probe.disconnect();
    if (!reachable) {
      t.skip(`Redis is not reachable at ${REDIS_URL} (set TEST_REDIS_URL)`);
      return;
    }
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
    t.after(() => proxy.close());
    const viaProxy = new URL(REDIS_URL);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    let failures = 0;
    const bus = await createRedisBus({
      url: viaProxy.toString(),
      prefix: `chat-metrics-test:${randomUUID()}:`,
      metrics: { busPublishFailed: () => (failures += 1) },
    });
    t.after(() => bus.close());
    const envelope: Envelope = {
      kind: 'event',
      audience: { users: ['nobody'], admins: false },
      event: { type: 'typing', user_id: 'b1', conversation_id: 'c1', is_typing: true },
    };
    bus.publish(envelope);
    await bus.check();
    assert.equal(failures, 0, 'a publish that reached Redis is no failure');
    proxy.cut('reset');
    await eventually(() => {
      bus.publish(envelope);
      assert.ok(failures >= 1);
    }, 'a publish while Redis is unreachable is counted');
  });

  test('two apps in one process keep separate registries', async (t) => {
    const one = await startRealtimeApp();
    t.after(() => one.close());
    const two = await startRealtimeApp();
    t.after(() => two.close());
    const route = { method: 'GET', route: '/api/health', status_code: '200' };
    for (let i = 0; i < 3; i += 1) assert.equal((await one.client.get('/api/health')).status, 200);
    const token = await one.addUser('b1', 'buyer');
    await one.connect('b1', token);
    assert.equal((await scrape(one.url)).value(HTTP, route), 3);
    assert.equal((await scrape(two.url)).value(HTTP, route), 0);
    assert.equal((await scrape(one.url)).value('chat_websocket_connections'), 1);
    assert.equal((await scrape(two.url)).value('chat_websocket_connections'), 0);
  });
});

const mysql = testDialects.find((dialect) => dialect.name === 'mysql');

describe('metrics: MySQL connection pool', { skip: MYSQL_SKIP_REASON }, () => {
  test('connections in use, requests waiting, open and the limit move with the load', async (t) => {
    assert.ok(mysql);
    const app = await startTestApp(mysql);
    t.after(() => app.close());
    const { db } = app.server.database;
    const pool = (s: Scrape) => ({
      inUse: s.value('chat_db_pool_connections_in_use'),
      waiting: s.value('chat_db_pool_requests_waiting'),
      open: s.value('chat_db_pool_connections_open'),
      limit: s.value('chat_db_pool_connections_limit'),
    });
    const idle = pool(await scrape(app.server.url));
    assert.equal(idle.limit, 10);
    assert.equal(idle.inUse, 0);
    assert.equal(idle.waiting, 0);

    // Every connection held by an open transaction, and one more query queued behind them.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = 0;
    const holders = Array.from({ length: 10 }, () =>
      db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        started += 1;
        await held;
      }),
    );
    await eventually(() => assert.equal(started, 10), 'ten transactions open');
    const queued = sql`select 1`.execute(db);
    await eventually(async () => {
      const busy = pool(await scrape(app.server.url));
      assert.deepEqual(busy, { inUse: 10, waiting: 1, open: 10, limit: 10 });
    }, 'the pool is full with one waiting');
    release();
    await Promise.all([...holders, queued]);
    await eventually(async () => {
      const after = pool(await scrape(app.server.url));
      assert.equal(after.inUse, 0);
      assert.equal(after.waiting, 0);
    }, 'the pool is idle again');
  });
});
