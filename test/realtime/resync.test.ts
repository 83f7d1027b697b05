import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createInProcessBus, type Envelope, type FanoutBus } from '../../src/realtime/bus.ts';
import { type RealtimeTestApp, startRealtimeApp } from './helpers.ts';

/**
 * What the realtime core does when its bus reports it is whole again, with a
 * bus whose outage the test switches by hand (no Redis needed): the Redis
 * cases are in redis-outage.test.ts.
 */
function switchableBus() {
  const inner = createInProcessBus();
  let restored: (info: { missedPublishes: number }) => void = () => {};
  let down = false;
  const published: Envelope[] = [];
  const unavailable = () => Promise.reject(new Error('bus down'));
  const bus: FanoutBus = {
    ...inner,
    presence: {
      join: (userId) => (down ? unavailable() : inner.presence.join(userId)),
      leave: (userId) => (down ? unavailable() : inner.presence.leave(userId)),
      online: () => (down ? unavailable() : inner.presence.online()),
      filterOnline: (userIds) => (down ? unavailable() : inner.presence.filterOnline(userIds)),
      refresh: (userIds) => inner.presence.refresh(userIds),
    },
    publish(envelope) {
      published.push(envelope);
      inner.publish(envelope);
    },
    onRestored(handler) {
      restored = handler;
    },
  };
  return {
    bus,
    published,
    goDown: () => {
      down = true;
    },
    comeBack: (missedPublishes: number) => {
      down = false;
      restored({ missedPublishes });
    },
  };
}

describe('resync when the bus returns', () => {
  const switchable = switchableBus();
  let app: RealtimeTestApp;
  const tokens: Record<string, string> = {};
  const token = (id: string) => tokens[id] ?? '';

  before(async () => {
    app = await startRealtimeApp({ bus: switchable.bus });
    for (const [id, role] of [
      ['b1', 'buyer'],
      ['m1', 'merchant'],
    ] as const) {
      tokens[id] = await app.addUser(id, role);
    }
    await app.conversation(token('b1'), 'b1', 'm1');
  });
  after(() => app.close());

  test('every local socket is told; only a bus that lost publishes tells the other instances', async () => {
    const b1 = await app.connect('b1', token('b1'));
    switchable.goDown();
    const m1 = await app.connect('m1', token('m1'), { until: 'hello' });
    await app.realtime.settled();
    assert.equal(m1.of('online_users').length, 0, 'presence is unknown while the bus is down');

    const before = switchable.published.length;
    switchable.comeBack(0);
    for (const socket of [b1, m1]) assert.equal((await socket.waitFor('resync')).reason, 'bus_restored');
    assert.deepEqual((await m1.waitFor('online_users')).users, ['b1']);
    await app.realtime.settled();
    assert.equal(
      switchable.published.slice(before).filter((e) => e.kind === 'event' && e.event.type === 'resync').length,
      0,
      'nothing this instance published was lost: the other instances are not told',
    );

    switchable.goDown();
    switchable.comeBack(3);
    const resyncs = switchable.published.filter((e) => e.kind === 'event' && e.event.type === 'resync');
    assert.equal(resyncs.length, 1, 'published for every instance');
    assert.deepEqual(resyncs[0]?.kind === 'event' && resyncs[0].audience, { users: [], admins: false, everyone: true });
    await b1.sync();
    assert.equal(b1.of('resync').length, 2, 'once per return, local copy included');
    assert.equal(b1.of('online_users').length, 1, 'a socket that had its online_users gets no second one');
    await Promise.all([b1.close(), m1.close()]);
  });
});
