import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { sendText } from './helpers/rest.ts';
import { audience, type TestSocket } from './helpers/sockets.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Presence and typing follow the lines messages take (issue 13): a customer's
 * status reaches the member holding their conversation, or every member while
 * it is in the queue, always the owner and the supervisors, and admins; a
 * member sees, on connecting, the customers whose messages would reach them.
 * The team side's own status does not travel back to customers beyond the
 * holder (and the owner, a participant).
 */

const STAFF = ['a1', 'm1', 'm1s', 'm1a', 'm1b', 'm2'] as const;
type Staff = (typeof STAFF)[number];

for (const dialect of testDialects) {
  describe(`team presence and typing (${dialect.name})`, () => {
    let app: TestApp;
    let id: string;
    const t = {} as Record<Staff | 'b1', string>;
    const ws = {} as Record<Staff, TestSocket>;

    before(async () => {
      app = await startTestApp(dialect);
      Object.assign(t, await app.addUsers({ a1: 'admin', b1: 'buyer', m1: 'merchant', m2: 'merchant' }));
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.m1b = await app.addUser('m1b', 'merchant', { team_id: 'm1', team_role: 'agent' });
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_assign: false } });
      // b1 writes to m1: the conversation waits in the queue.
      id = await app.conversation(t.b1, 'b1', 'm1');
      await sendText(app, t.b1, id, '有人吗');
      for (const person of STAFF) ws[person] = await app.connect(person, t[person]);
    });
    after(() => app.close());

    const { mark, pushedTo } = audience(ws, STAFF);
    const status = (user: string, value: 'online' | 'offline') => (e: any) =>
      e.type === 'status' && e.user_id === user && e.status === value;
    const onlineUsersOf = async (person: Staff | 'b1') => {
      const socket = await app.connect(person, t[person]);
      const users = (await socket.waitFor('online_users')).users as string[];
      await socket.close();
      return users;
    };

    test("in the queue: the customer's status reaches every member, the owner, supervisors and admins", async () => {
      let since = mark();
      const buyer = await app.connect('b1', t.b1);
      await pushedTo(status('b1', 'online'), ['a1', 'm1', 'm1s', 'm1a', 'm1b'], since);
      // Each member connecting now is told the customer is online; another shop is not.
      assert.ok((await onlineUsersOf('m1b')).includes('b1'));
      assert.ok((await onlineUsersOf('m1s')).includes('b1'));
      assert.ok(!(await onlineUsersOf('m2')).includes('b1'));
      since = mark();
      await buyer.close();
      await app.server.realtime.settled();
      await pushedTo(status('b1', 'offline'), ['a1', 'm1', 'm1s', 'm1a', 'm1b'], since);
    });

    test('held: the holder, the owner, supervisors and admins; the other agent no more; a transfer tells the new holder', async () => {
      const claimed = await app.client.post(`/api/conversations/${id}/assignment`, {
        token: t.m1a,
        body: { assignee_id: 'm1a' },
      });
      assert.equal(claimed.status, 200, JSON.stringify(claimed.body));
      let since = mark();
      const buyer = await app.connect('b1', t.b1);
      await pushedTo(status('b1', 'online'), ['a1', 'm1', 'm1s', 'm1a'], since);
      assert.ok(!(await onlineUsersOf('m1b')).includes('b1'));
      assert.ok((await onlineUsersOf('m1s')).includes('b1'));
      // The customer sees the holder and the shop, not the supervisor watching.
      const seen = await onlineUsersOf('b1');
      assert.ok(seen.includes('m1a') && seen.includes('m1'), JSON.stringify(seen));
      assert.ok(!seen.includes('m1s'));

      // Typing: the same lines, admins included; never the typist.
      const typing = (from: string) => (e: any) => e.type === 'typing' && e.user_id === from;
      since = mark();
      buyer.send({ type: 'typing', conversation_id: id, is_typing: true });
      await pushedTo(typing('b1'), ['a1', 'm1', 'm1s', 'm1a'], since);
      since = mark();
      const buyerSince = buyer.events.length;
      ws.m1a.send({ type: 'typing', conversation_id: id, is_typing: true });
      await buyer.waitFor(typing('m1a'), buyerSince);
      await pushedTo(typing('m1a'), ['a1', 'm1', 'm1s'], since);

      // A supervisor coming online is not announced to the customer (one way), the holder is.
      await ws.m1s.close();
      await ws.m1a.close();
      await app.server.realtime.settled();
      const before = buyer.events.length;
      ws.m1s = await app.connect('m1s', t.m1s);
      ws.m1a = await app.connect('m1a', t.m1a);
      await buyer.waitFor(status('m1a', 'online'), before);
      await app.server.realtime.settled();
      await buyer.sync();
      assert.equal(buyer.events.slice(before).filter(status('m1s', 'online')).length, 0);

      // A transfer: the new holder learns at once that the customer is online, and the customer of them.
      since = mark();
      const buyerBefore = buyer.events.length;
      const passed = await app.client.post(`/api/conversations/${id}/assignment`, {
        token: t.m1a,
        body: { assignee_id: 'm1b' },
      });
      assert.equal(passed.status, 200, JSON.stringify(passed.body));
      await ws.m1b.waitFor(status('b1', 'online'), since.m1b, 'm1b told b1 is online');
      await buyer.waitFor(status('m1b', 'online'), buyerBefore, 'b1 told m1b is online');
      // Another shop is told nothing.
      await ws.m2.sync();
      assert.equal(ws.m2.events.slice(since.m2).filter(status('b1', 'online')).length, 0);
      await buyer.close();
    });
  });
}
