import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { FanoutBus } from '../../src/realtime/bus.ts';
import { createRedisBus, redisChannel } from '../../src/realtime/redis-bus.ts';
import { dropPrefix, REDIS_SKIP_REASON, TEST_REDIS_URL } from '../helpers/redis.ts';
import { assertError } from '../helpers/rest.ts';
import { type Event, eventually, type RealtimeTestApp, startRealtimeApp, type TestSocket } from './helpers.ts';

const REDIS_URL = TEST_REDIS_URL;
const skip = REDIS_SKIP_REASON;

describe('Redis bus: presence', { skip }, () => {
  const prefix = `chat-test:${randomUUID()}:`;
  const buses: FanoutBus[] = [];
  const bus = async (instanceId: string, presenceTtlMs?: number) => {
    const created = await createRedisBus({
      url: REDIS_URL,
      prefix,
      instanceId,
      ...(presenceTtlMs ? { presenceTtlMs } : {}),
    });
    buses.push(created);
    return created;
  };
  after(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await dropPrefix(prefix);
  });

  test('first arrival and last departure are decided across instances', async () => {
    const [a, b] = [await bus('A'), await bus('B')];
    assert.equal(await a.presence.join('u1'), true);
    assert.equal(await b.presence.join('u1'), false, 'already online through A');
    assert.deepEqual(await b.presence.filterOnline(['u0', 'u1']), ['u1']);
    assert.equal(await a.presence.leave('u1'), false, 'still online through B');
    assert.deepEqual(await a.presence.online(), ['u1']);
    assert.equal(await b.presence.leave('u1'), true);
    assert.deepEqual(await a.presence.online(), []);
    await a.check();
  });

  test('an instance that dies without leaving drops out of presence when its entries expire', async () => {
    const survivor = await bus('S');
    const doomed = await bus('D', 150);
    assert.equal(await doomed.presence.join('ghost'), true);
    assert.deepEqual(await survivor.presence.filterOnline(['ghost']), ['ghost']);
    await doomed.close();
    await eventually(async () => assert.deepEqual(await survivor.presence.filterOnline(['ghost']), []));
    assert.deepEqual(await survivor.presence.online(), []);
    assert.equal(await survivor.presence.join('ghost'), true, 'back online: a fresh arrival');
  });
});

const PLATFORM_KEY = 'platform-key-for-redis-tests-0123456789';

describe('Redis bus: two instances sharing one database', { skip }, () => {
  const prefix = `chat-test:${randomUUID()}:`;
  let appA: RealtimeTestApp;
  let appB: RealtimeTestApp;
  let conversationId: string;
  let tokens: Record<string, string> = {};
  const token = (id: string) => tokens[id] ?? '';

  before(async () => {
    appA = await startRealtimeApp({
      redis: { prefix, instanceId: 'A', busOnly: true },
      env: { PLATFORM_API_KEY: PLATFORM_KEY },
    });
    appB = await startRealtimeApp({
      redis: { prefix, instanceId: 'B', busOnly: true },
      databasePath: appA.databasePath,
      // B remembers users for the whole suite: only the bus can make it forget one.
      userCacheTtlMs: 600_000,
    });
    tokens = await appA.addUsers({ b1: 'buyer', m1: 'merchant', a1: 'admin' });
    conversationId = await appA.conversation(token('b1'), 'b1', 'm1');
  });
  after(async () => {
    await appB.close();
    await appA.close();
    await dropPrefix(prefix);
  });

  /**
   * Everything `from` published before this call has reached `socket` (on
   * another instance) once the marker it publishes now arrives: one Redis
   * connection's messages keep their order.
   */
  async function barrier(from: RealtimeTestApp, socket: TestSocket, userId: string): Promise<void> {
    const marker = `barrier-${randomUUID()}`;
    from.realtime.typing({ from: 'barrier', to: [userId], conversationId: marker, isTyping: true });
    await socket.waitFor((e) => e.type === 'typing' && e.conversation_id === marker);
  }
  const status = (socket: TestSocket, userId: string, value: string) =>
    socket.events.filter((e) => e.type === 'status' && e.user_id === userId && e.status === value);
  const isMessage = (content: string) => (e: Event) => e.type === 'message' && e.content === content;

  test('presence spans instances: status once per cluster-wide arrival and departure', async () => {
    const m1 = await appA.connect('m1', token('m1'));
    const onB = await appB.connect('b1', token('b1'));
    assert.deepEqual(onB.of('online_users')[0]?.users, ['m1'], 'sees m1 on the other instance');
    await m1.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'online');

    const onA = await appA.connect('b1', token('b1'));
    await appA.realtime.settled();
    await m1.sync();
    assert.equal(status(m1, 'b1', 'online').length, 1, 'a second tab on another instance is no arrival');

    await onB.close();
    await eventually(() => assert.equal(appB.realtime.registry.size, 0));
    await appB.realtime.settled();
    await barrier(appB, m1, 'm1');
    assert.equal(status(m1, 'b1', 'offline').length, 0, 'still online on A');

    await onA.close();
    await m1.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'offline');
    await m1.close();
  });

  test("a card's update on one instance reaches the participants' and admins' sockets on the other", async () => {
    const headers = { 'x-api-key': PLATFORM_KEY };
    assert.equal((await appA.client.put('/api/cards/order/O-bus', { headers, body: { title: '订单' } })).status, 200);
    const posted = await appA.client.post(`/api/conversations/${conversationId}/cards`, {
      headers,
      body: { kind: 'order', id: 'O-bus', sender_id: 'b1' },
    });
    assert.equal(posted.status, 201);
    const sockets = [await appB.connect('m1', token('m1')), await appB.connect('a1', token('a1'))];
    const put = await appA.client.put('/api/cards/order/O-bus', { headers, body: { title: '订单', status: '已发货' } });
    assert.equal(put.body.conversations_notified, 1);
    for (const socket of sockets) {
      const event = await socket.waitFor('card_updated');
      assert.deepEqual(event, {
        type: 'card_updated',
        conversation_id: conversationId,
        card: { kind: 'order', id: 'O-bus', title: '订单', status: '已发货' },
      });
    }
    await Promise.all(sockets.map((socket) => socket.close()));
  });

  test('a message sent on one instance reaches every connection on both, once', async () => {
    const m1 = await appA.connect('m1', token('m1'));
    const adminA = await appA.connect('a1', token('a1'));
    const adminB = await appB.connect('a1', token('a1'));
    const senderTab = await appB.connect('b1', token('b1'));
    const otherTab = await appA.connect('b1', token('b1'));

    const sent = await appB.client.post('/api/messages/', {
      token: token('b1'),
      headers: { 'x-connection-id': senderTab.connectionId },
      body: { conversation_id: conversationId, content: 'across' },
    });
    assert.equal(sent.status, 201);
    for (const socket of [m1, adminA, adminB, otherTab]) {
      assert.equal((await socket.waitFor(isMessage('across'))).id, sent.body.id);
    }
    await senderTab.sync();
    assert.equal(senderTab.events.filter(isMessage('across')).length, 0);

    // Sent on A: A delivers locally at once and must drop its own copy coming back from Redis.
    otherTab.send({ type: 'message', conversation_id: conversationId, content: 'echo?', client_msg_id: 'e-1' });
    await otherTab.waitFor('ack');
    await adminB.waitFor(isMessage('echo?'));
    await barrier(appB, m1, 'm1');
    assert.equal(m1.events.filter(isMessage('echo?')).length, 1);
    assert.equal(adminA.events.filter(isMessage('echo?')).length, 1);

    // Typing crosses too, to the other participant only.
    senderTab.send({ type: 'typing', conversation_id: conversationId, is_typing: true });
    await m1.waitFor((e) => e.type === 'typing' && e.user_id === 'b1');
    await Promise.all([m1, adminA, adminB, senderTab, otherTab].map((s) => s.close()));
  });

  test('deactivating a user on one instance closes their sockets on the other with 4403 and refuses their token there', async () => {
    const victimToken = await appA.addUser('b7', 'buyer');
    const victim = await appB.connect('b7', victimToken);
    assert.equal((await appB.client.get('/api/auth/me', { token: victimToken })).status, 200, 'B has read b7');
    const response = await appA.client.patch('/api/users/b7/status?status=inactive', { token: token('a1') });
    assert.equal(response.status, 200);
    assert.equal((await victim.closed).code, 4403);
    // B forgot the active row it had read.
    assertError(await appB.client.get('/api/auth/me', { token: victimToken }), 403, 'user_inactive');
  });

  test('invalid payloads on the channel are dropped; valid ones from elsewhere are delivered', async () => {
    const m1 = await appA.connect('m1', token('m1'));
    const rogue = new Redis(REDIS_URL);
    try {
      const channel = redisChannel(prefix, Number(new URL(REDIS_URL).pathname.slice(1) || 0));
      await rogue.publish(channel, 'not json');
      await rogue.publish(channel, JSON.stringify({ origin: 'X', envelope: { kind: 'event' } }));
      await rogue.publish(
        channel,
        JSON.stringify({
          origin: 'X',
          envelope: {
            kind: 'event',
            audience: { users: ['m1'], admins: false },
            event: { type: 'message', id: 'forged', content: 'no other fields' },
          },
        }),
      );
      await rogue.publish(
        channel,
        JSON.stringify({ origin: 'X', envelope: { kind: 'disconnect', userId: 'm1', code: 'now' } }),
      );
      await rogue.publish(
        channel,
        JSON.stringify({
          origin: 'X',
          envelope: {
            kind: 'event',
            audience: { users: ['m1'], admins: false },
            event: { type: 'typing', user_id: 'b1', conversation_id: 'valid', is_typing: true },
          },
        }),
      );
      const typing = await m1.waitFor('typing');
      assert.equal(typing.conversation_id, 'valid');
      assert.equal(m1.of('message').length, 0);
      assert.equal(m1.ws.readyState, m1.ws.OPEN);
    } finally {
      rogue.disconnect();
    }
    await m1.close();
  });

  test('readiness reflects Redis', async () => {
    await appA.realtime.checkBus();
  });
});
