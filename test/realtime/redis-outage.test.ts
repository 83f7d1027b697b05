import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Envelope, FanoutBus } from '../../src/realtime/bus.ts';
import { createRedisBus, type RedisBusOptions } from '../../src/realtime/redis-bus.ts';
import type { TestResponse } from '../helpers/http.ts';
import { until } from '../helpers/polling.ts';
import { dropPrefix, REDIS_SKIP_REASON, TEST_REDIS_URL, withRedis } from '../helpers/redis.ts';
import { startTcpProxy, type TcpProxy, throughProxy } from '../helpers/tcp-proxy.ts';
import { type Event, eventually, type RealtimeTestApp, startRealtimeApp, type TestSocket } from './helpers.ts';

/**
 * Redis goes away and comes back while two instances share one database. The
 * instances reach Redis through a TCP proxy, so the test breaks their link
 * without touching the shared Redis server.
 */

/** Short, so a dead connection is noticed and a returning Redis redialled quickly. */
const COMMAND_TIMEOUT_MS = 1_000;
const FAST_RECOVERY: Partial<RedisBusOptions> = {
  commandTimeoutMs: COMMAND_TIMEOUT_MS,
  healthCheckIntervalMs: 100,
  maxReconnectDelayMs: 100,
};
/** Recovery takes a reconnection or two and a readiness probe (up to its own 2 s timeout). */
const RECOVERY_MS = 10_000;

/** Polls `attempt` until `done` holds; fails after RECOVERY_MS with the last result. */
const pollUntil = <T>(attempt: () => Promise<T>, done: (result: T) => boolean) =>
  until(attempt, done, 'condition not reached', RECOVERY_MS);

/** How a promise settles before any I/O can happen: 'pending' when it waits on something (a queue, a socket). */
function outcomeAtOnce(promise: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  return Promise.race([
    promise.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending'))),
  ]);
}

const proxiedUrl = (proxy: TcpProxy) => throughProxy(TEST_REDIS_URL, proxy);

async function startProxy(): Promise<TcpProxy> {
  const target = new URL(TEST_REDIS_URL);
  return startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
}

/** GET /api/health/ready until it answers `status` with Redis `redis`. */
async function readiness(app: RealtimeTestApp, status: 200 | 503): Promise<TestResponse> {
  const response = await pollUntil(
    () => app.client.get('/api/health/ready'),
    (r) => r.status === status,
  );
  assert.equal(response.body.checks.database, 'ok');
  assert.equal(response.body.checks.redis, status === 200 ? 'ok' : 'down', JSON.stringify(response.body));
  assert.equal(response.body.status, status === 200 ? 'ready' : 'not_ready');
  if (status === 503) assert.ok(Number(response.headers.get('retry-after')) > 0, 'Retry-After');
  return response;
}

const isMessage = (content: string) => (e: Event) => e.type === 'message' && e.content === content;

/**
 * The reconnect recipe of docs/REALTIME.md: everything after the highest seq
 * the client holds, page by page, until a page comes back short.
 */
async function catchUp(app: RealtimeTestApp, token: string, conversationId: string, afterSeq: number, limit: number) {
  const messages: any[] = [];
  let cursor = afterSeq;
  for (;;) {
    const page = await app.client.get(
      `/api/conversations/${conversationId}/messages?after_seq=${cursor}&limit=${limit}`,
      { token },
    );
    assert.equal(page.status, 200, JSON.stringify(page.body));
    messages.push(...page.body.results);
    if (page.body.results.length < limit) return messages;
    cursor = page.body.results.at(-1).seq;
  }
}

describe('Redis bus: commands while Redis is unreachable', { skip: REDIS_SKIP_REASON }, () => {
  const prefix = `chat-test:${randomUUID()}:`;
  let proxy: TcpProxy;
  const buses: FanoutBus[] = [];
  before(async () => {
    proxy = await startProxy();
  });
  after(async () => {
    await Promise.all(buses.map((bus) => bus.close()));
    await proxy.close();
    await dropPrefix(prefix);
  });

  test('nothing is queued: presence fails at once, publishes are dropped, not replayed on return', async () => {
    const viaProxy = await createRedisBus({ url: proxiedUrl(proxy), prefix, instanceId: 'P', ...FAST_RECOVERY });
    const direct = await createRedisBus({ url: TEST_REDIS_URL, prefix, instanceId: 'D' });
    buses.push(viaProxy, direct);
    const arrived: Envelope[] = [];
    direct.onEnvelope((envelope) => arrived.push(envelope));
    const local: Envelope[] = [];
    viaProxy.onEnvelope((envelope) => local.push(envelope));
    const typing = (conversationId: string): Envelope => ({
      kind: 'event',
      audience: { users: ['u1'], admins: false },
      event: { type: 'typing', user_id: 'u0', conversation_id: conversationId, is_typing: true },
    });

    proxy.cut('reset');
    await pollUntil(
      () =>
        viaProxy.check().then(
          () => 'up',
          () => 'down',
        ),
      (state) => state === 'down',
    );
    // An offline queue would hold these until Redis returned (and replay them late).
    assert.equal(await outcomeAtOnce(viaProxy.presence.join('u1')), 'rejected');
    assert.equal(await outcomeAtOnce(viaProxy.presence.filterOnline(['u1'])), 'rejected');
    for (let i = 0; i < 1_000; i++) viaProxy.publish(typing(`during-${i}`));
    assert.equal(local.length, 1_000, 'local delivery is synchronous and unaffected');

    proxy.restore();
    await pollUntil(
      () =>
        viaProxy.check().then(
          () => 'up',
          () => 'down',
        ),
      (state) => state === 'up',
    );
    viaProxy.publish(typing('after'));
    await eventually(() => assert.equal(arrived.length, 1));
    const [first] = arrived;
    assert.ok(first?.kind === 'event' && first.event.type === 'typing');
    assert.equal(first.event.conversation_id, 'after', 'nothing published during the outage came through');
    // The join that failed while Redis was away was written when it returned.
    await eventually(async () => assert.deepEqual(await direct.presence.filterOnline(['u1']), ['u1']));
  });
});

describe('Redis outage: two instances sharing one database', { skip: REDIS_SKIP_REASON }, () => {
  const prefix = `chat-test:${randomUUID()}:`;
  let proxy: TcpProxy;
  let appA: RealtimeTestApp;
  let appB: RealtimeTestApp;
  let conversationId: string;
  let tokens: Record<string, string> = {};
  const token = (id: string) => tokens[id] ?? '';

  before(async () => {
    proxy = await startProxy();
    const url = proxiedUrl(proxy);
    // REDIS_URL set (the harness's default): readiness includes Redis, exactly as in production.
    appA = await startRealtimeApp({ redis: { url, prefix, instanceId: 'A', bus: FAST_RECOVERY } });
    appB = await startRealtimeApp({
      redis: { url, prefix, instanceId: 'B', bus: FAST_RECOVERY },
      databasePath: appA.databasePath,
    });
    tokens = await appA.addUsers({ b1: 'buyer', b2: 'buyer', m1: 'merchant', a1: 'admin' });
    conversationId = await appA.conversation(token('b1'), 'b1', 'm1');
    await appA.conversation(token('b2'), 'b2', 'm1');
  });
  after(async () => {
    proxy.restore();
    await appB.close();
    await appA.close();
    await proxy.close();
    await dropPrefix(prefix);
  });

  async function send(app: RealtimeTestApp, from: string, content: string) {
    const response = await app.client.post('/api/messages/', {
      token: token(from),
      body: { conversation_id: conversationId, content },
    });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    return response.body as { id: string; seq: number; content: string };
  }

  /** What a client knows: the highest seq among the messages it was pushed or acknowledged. */
  const highestSeq = (socket: TestSocket) =>
    Math.max(0, ...socket.events.filter((e) => e.type === 'message' || e.type === 'ack').map((e) => e.seq as number));

  test('Redis down: local delivery and sends go on, readiness says so; back: delivery resumes, catch-up by seq', async () => {
    const m1A = await appA.connect('m1', token('m1'));
    const adminA = await appA.connect('a1', token('a1'));
    const m1B = await appB.connect('m1', token('m1'));
    const b1B = await appB.connect('b1', token('b1'));

    const first = await send(appB, 'b1', 'before the outage');
    await m1A.waitFor(isMessage('before the outage'));
    const seenBefore = highestSeq(m1A);
    assert.equal(seenBefore, first.seq);
    await readiness(appA, 200);

    proxy.cut('reset');
    await readiness(appA, 503);
    await readiness(appB, 503);

    // REST sends on B are stored and answered, and reach B's own connections.
    const missed = [];
    for (const content of ['outage 1', 'outage 2', 'outage 3']) {
      missed.push(await send(appB, 'b1', content));
      await m1B.waitFor(isMessage(content));
    }
    // A WebSocket send on A is acknowledged and reaches A's own connections (the admin).
    m1A.send({ type: 'message', conversation_id: conversationId, content: 'reply in outage', client_msg_id: 'o-1' });
    const ack = await m1A.waitFor('ack');
    assert.equal(ack.client_msg_id, 'o-1');
    await adminA.waitFor(isMessage('reply in outage'));
    // A socket opened during the outage still gets its hello and works locally.
    const late = await appB.connect('b1', token('b1'), { until: 'hello' });
    const typingSince = m1B.events.length;
    late.send({ type: 'typing', conversation_id: conversationId, is_typing: true });
    await m1B.waitFor((e) => e.type === 'typing' && e.user_id === 'b1', typingSince);

    proxy.restore();
    await readiness(appA, 200);
    await readiness(appB, 200);

    // m1's socket on A missed b1's messages: it catches up from the highest seq it holds.
    const caughtUp = await catchUp(appA, token('m1'), conversationId, seenBefore, 2);
    assert.deepEqual(
      caughtUp.map((m) => m.id),
      [...missed.map((m) => m.id), ack.id],
      'everything after the seq it held, in order',
    );
    assert.deepEqual(
      caughtUp.map((m) => m.seq),
      [1, 2, 3, 4].map((n) => seenBefore + n),
    );
    const known = new Set(m1A.events.filter((e) => e.type === 'message' || e.type === 'ack').map((e) => e.id));
    assert.deepEqual(
      caughtUp.filter((m) => !known.has(m.id)).map((m) => m.content),
      ['outage 1', 'outage 2', 'outage 3'],
      'exactly the missed ones',
    );

    // Cross-instance delivery resumed without restarting anything, both ways.
    await send(appB, 'b1', 'after the outage');
    await m1A.waitFor(isMessage('after the outage'));
    m1A.send({ type: 'message', conversation_id: conversationId, content: 'back again', client_msg_id: 'o-2' });
    await b1B.waitFor(isMessage('back again'));
    // Nothing published during the outage arrived late: it would have come before these.
    assert.equal(m1A.events.filter((e) => e.type === 'message' && e.content.startsWith('outage')).length, 0);
    assert.equal(b1B.events.filter(isMessage('reply in outage')).length, 0);

    await Promise.all([m1A, adminA, m1B, b1B, late].map((socket) => socket.close()));
  });

  test('a partition (Redis stops answering) never holds up a send', async () => {
    const m1A = await appA.connect('m1', token('m1'));
    const m1B = await appB.connect('m1', token('m1'));
    const seenBefore = (await send(appB, 'b1', 'before the partition')).seq;
    await m1A.waitFor(isMessage('before the partition'));

    proxy.cut('hang');
    await readiness(appB, 503);
    const sent = [];
    for (const content of ['partition 1', 'partition 2']) {
      const started = Date.now();
      sent.push(await send(appB, 'b1', content));
      // Waiting on Redis would take at least the command timeout.
      assert.ok(Date.now() - started < COMMAND_TIMEOUT_MS, `the send took ${Date.now() - started} ms`);
      await m1B.waitFor(isMessage(content));
    }

    proxy.restore();
    await readiness(appA, 200);
    await readiness(appB, 200);
    await send(appB, 'b1', 'after the partition');
    await m1A.waitFor(isMessage('after the partition'));
    // Whether the partitioned events arrived late or not, seq catch-up yields each message once, in order.
    const caughtUp = await catchUp(appA, token('m1'), conversationId, seenBefore, 100);
    assert.deepEqual(
      caughtUp.map((m) => m.content),
      ['partition 1', 'partition 2', 'after the partition'],
    );
    await Promise.all([m1A, m1B].map((socket) => socket.close()));
  });

  test('presence is written again when Redis returns, for those still connected and those who left', async () => {
    const online = (...ids: string[]) =>
      withRedis(async (redis) => {
        const scores = await redis.zmscore(`${prefix}online`, ...ids);
        return ids.filter((_, i) => scores[i] !== null && Number(scores[i]) > Date.now());
      });
    const m1A = await appA.connect('m1', token('m1'));
    const b1B = await appB.connect('b1', token('b1'));
    const b2B = await appB.connect('b2', token('b2'));
    await Promise.all([appA.realtime.settled(), appB.realtime.settled()]);
    assert.deepEqual(await online('m1', 'b1', 'b2'), ['m1', 'b1', 'b2']);

    proxy.cut('reset');
    await readiness(appA, 503);
    await readiness(appB, 503);
    // b2 leaves while B cannot tell Redis.
    await b2B.close();
    await eventually(() => assert.equal(appB.realtime.registry.ofUser('b2').length, 0));
    await appB.realtime.settled();
    // Redis restarts empty-handed for the users still connected.
    await withRedis(async (redis) => {
      await redis.del(`${prefix}presence:m1`, `${prefix}presence:b1`);
      await redis.zrem(`${prefix}online`, 'm1', 'b1');
    });
    assert.deepEqual(await online('m1', 'b1', 'b2'), ['b2']);

    proxy.restore();
    // Long before the next heartbeat refresh (30 s): written on reconnect.
    await pollUntil(
      () => online('m1', 'b1', 'b2'),
      (ids) => ids.join() === 'm1,b1',
    );
    // A new connection sees it: m1 is among b1's online contacts, whichever instance it lands on.
    const fresh = await appA.connect('b1', token('b1'));
    assert.deepEqual(fresh.of('online_users')[0]?.users, ['m1']);
    await Promise.all([m1A, b1B, fresh].map((socket) => socket.close()));
  });
});

describe('Redis outage: clients are told to catch up when the bus returns', { skip: REDIS_SKIP_REASON }, () => {
  const prefix = `chat-test:${randomUUID()}:`;
  let proxy: TcpProxy;
  /** Reaches Redis through the proxy: its link is the one that breaks. */
  let appA: RealtimeTestApp;
  /** Reaches Redis directly: it never sees the outage. */
  let appB: RealtimeTestApp;
  let conversationId: string;
  let tokens: Record<string, string> = {};
  const token = (id: string) => tokens[id] ?? '';

  before(async () => {
    proxy = await startProxy();
    appA = await startRealtimeApp({ redis: { url: proxiedUrl(proxy), prefix, instanceId: 'A', bus: FAST_RECOVERY } });
    appB = await startRealtimeApp({ redis: { prefix, instanceId: 'B' }, databasePath: appA.databasePath });
    tokens = await appA.addUsers({ b1: 'buyer', m1: 'merchant', a1: 'admin' });
    conversationId = await appA.conversation(token('b1'), 'b1', 'm1');
  });
  after(async () => {
    proxy.restore();
    await appB.close();
    await appA.close();
    await proxy.close();
    await dropPrefix(prefix);
  });

  test('resync to every socket when the bus returns; online_users to sockets opened while it was down', async () => {
    const b1A = await appA.connect('b1', token('b1'));
    const m1B = await appB.connect('m1', token('m1'));
    assert.deepEqual(b1A.of('online_users')[0]?.users, []);

    proxy.cut('reset');
    await readiness(appA, 503);
    // A socket opened while A cannot reach Redis: hello, but nobody can say who is online.
    const late = await appA.connect('m1', token('m1'), { until: 'hello' });
    const admin = await appA.connect('a1', token('a1'), { until: 'hello' });
    // Sent on A while Redis is away: m1's socket on B never gets it.
    const missed = await appA.client.post('/api/messages/', {
      token: token('b1'),
      body: { conversation_id: conversationId, content: 'lost push' },
    });
    assert.equal(missed.status, 201);
    await late.waitFor(isMessage('lost push'));
    assert.equal(late.of('online_users').length, 0);

    proxy.restore();
    // A's sockets missed B's events; B's sockets missed A's: every socket of the cluster is told.
    for (const socket of [b1A, late, admin, m1B]) {
      const resync = await socket.waitFor('resync', 0, `resync on ${socket.hello.user_id}`);
      assert.equal(resync.reason, 'bus_restored');
      assert.equal(typeof resync.timestamp, 'number');
    }
    const online = await late.waitFor('online_users');
    assert.deepEqual(online.users, ['b1'], 'the contacts online anywhere once presence is known again');
    const adminOnline = await admin.waitFor('online_users');
    assert.deepEqual([...adminOnline.users].sort(), ['b1', 'm1']);
    assert.equal(b1A.of('online_users').length, 1, 'a socket that had its online_users gets no second one');
    // What the resync is for: m1 on B fetches what it missed by seq.
    const caughtUp = await catchUp(appB, token('m1'), conversationId, 0, 100);
    assert.deepEqual(
      caughtUp.map((m) => m.content),
      ['lost push'],
    );
    assert.equal(m1B.of('message').length, 0, 'the push itself was lost');
    await Promise.all([b1A, m1B, late, admin].map((socket) => socket.close()));
  });
});
