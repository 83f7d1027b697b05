import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, type RealtimeTestApp, startRealtimeApp, type TestSocket } from './helpers.ts';

describe('presence', () => {
  let app: RealtimeTestApp;
  const tokens: Record<string, string> = {};

  before(async () => {
    app = await startRealtimeApp();
    for (const [id, role] of [
      ['b1', 'buyer'],
      ['b2', 'buyer'],
      ['m1', 'merchant'],
      ['m2', 'merchant'],
      ['a1', 'admin'],
    ] as const) {
      tokens[id] = await app.addUser(id, role);
    }
    await app.conversation(tokens.b1 ?? '', 'b1', 'm1');
    await app.conversation(tokens.b2 ?? '', 'b2', 'm1');
  });
  after(() => app.close());

  const connect = (id: string) => app.connect(id, tokens[id] ?? '');
  const statusOf = (socket: TestSocket, userId: string, status: string) =>
    socket.events.filter((e) => e.type === 'status' && e.user_id === userId && e.status === status);

  test('online_users, status on first open / last close only, to contacts and admins', async () => {
    const m1 = await connect('m1');
    assert.deepEqual(m1.of('online_users')[0]?.users, []);
    const admin = await connect('a1');
    assert.deepEqual(admin.of('online_users')[0]?.users, ['m1'], 'admins see everyone online but themselves');
    const m2 = await connect('m2');
    assert.deepEqual(m2.of('online_users')[0]?.users, [], 'm2 shares no conversation with anyone');

    const tab1 = await connect('b1');
    assert.deepEqual(tab1.of('online_users')[0]?.users, ['m1']);
    const online = await m1.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'online');
    assert.equal(typeof online.timestamp, 'number');
    await admin.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'online');

    const tab2 = await connect('b1');
    assert.deepEqual(tab2.of('online_users')[0]?.users, ['m1']);
    await Promise.all([m1.sync(), admin.sync(), m2.sync(), tab1.sync()]);
    assert.equal(statusOf(m1, 'b1', 'online').length, 1, 'a second tab is not a new arrival');
    assert.equal(statusOf(admin, 'b1', 'online').length, 1);
    assert.equal(m2.of('status').length, 0, 'presence never leaks to strangers');
    assert.equal(statusOf(tab1, 'b1', 'online').length, 0, 'nobody is told about themselves');

    await tab1.close();
    await eventually(() => assert.equal(app.realtime.registry.ofUser('b1').length, 1), 'server saw tab1 close');
    await app.realtime.settled();
    await m1.sync();
    assert.equal(statusOf(m1, 'b1', 'offline').length, 0, 'still online in the other tab');

    await tab2.close();
    await m1.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'offline');
    await admin.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'offline');
    await m2.sync();
    assert.equal(m2.of('status').length, 0);

    // b2 shares a conversation with m1 only: its online_users lists m1, not m2 or the admin.
    const b2 = await connect('b2');
    assert.deepEqual(b2.of('online_users')[0]?.users, ['m1']);
    await Promise.all([m1.close(), admin.close(), m2.close(), b2.close()]);
  });

  test('admins are announced to admins, and see every online user', async () => {
    const watcher = await connect('a1');
    const b1 = await connect('b1');
    const b2 = await connect('b2');
    const other = await app.addUser('a2', 'admin');
    const second = await app.connect('a2', other);
    assert.deepEqual([...(second.of('online_users')[0]?.users ?? [])].sort(), ['a1', 'b1', 'b2']);
    await watcher.waitFor((e) => e.type === 'status' && e.user_id === 'a2' && e.status === 'online');
    await b1.sync();
    assert.equal(statusOf(b1, 'a2', 'online').length, 0, 'admins share no conversation with buyers');
    await Promise.all([watcher.close(), b1.close(), b2.close(), second.close()]);
  });
});
