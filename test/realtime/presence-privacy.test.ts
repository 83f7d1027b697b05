import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from '../helpers/databases.ts';
import { type Event, eventually, type RealtimeTestApp, startRealtimeApp, type TestSocket } from './helpers.ts';

/**
 * Presence is shared only where the customer side took part: it started the
 * conversation or wrote in it. Opening a conversation with someone's id must
 * not let a merchant or an agent follow them (issue 12, item 10).
 */
for (const dialect of testDialects) {
  describe(`presence privacy (${dialect.name})`, () => {
    let app: RealtimeTestApp;
    const tokens: Record<string, string> = {};
    const token = (id: string) => tokens[id] ?? '';
    const conversations: Record<string, string> = {};

    before(async () => {
      app = await startRealtimeApp({ dialect });
      for (const [id, role] of [
        ['b1', 'buyer'],
        ['m1', 'merchant'],
        ['m2', 'merchant'],
        ['p1', 'service'],
        ['a1', 'admin'],
      ] as const) {
        tokens[id] = await app.addUser(id, role);
      }
      // The business side opens each of these; the customer side has not said a word.
      conversations.m1b1 = await app.conversation(token('m1'), 'm1', 'b1');
      conversations.p1b1 = await app.conversation(token('p1'), 'p1', 'b1');
      conversations.p1m2 = await app.conversation(token('p1'), 'p1', 'm2');
    });
    after(() => app.close());

    const connect = (id: string) => app.connect(id, token(id));
    const statuses = (socket: TestSocket, userId: string) =>
      socket.events.filter((e: Event) => e.type === 'status' && e.user_id === userId).map((e) => e.status);
    const onlineUsers = (socket: TestSocket) => [...(socket.of('online_users')[0]?.users ?? [])].sort();

    /** Every presence change so far was applied and its events written: absence can be asserted. */
    async function quiet(...sockets: TestSocket[]) {
      await app.realtime.settled();
      await Promise.all(sockets.map((socket) => socket.sync()));
    }

    async function send(from: string, conversation: string, content: string) {
      const response = await app.client.post('/api/messages/', {
        token: token(from),
        body: { conversation_id: conversations[conversation], content },
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
    }

    test('a merchant who opened a conversation gets no status for a buyer who never wrote; after the buyer writes, it does', async () => {
      const m1 = await connect('m1');
      const admin = await connect('a1');
      const b1 = await connect('b1');
      assert.deepEqual(onlineUsers(b1), [], 'b1 does not see the merchant either: nothing is shared yet');
      await admin.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'online');
      await quiet(m1);
      assert.deepEqual(statuses(m1, 'b1'), [], 'no status for a buyer who never took part');

      // The merchant writing is not the buyer taking part.
      await send('m1', 'm1b1', 'hello, I found your id');
      await b1.waitFor((e) => e.type === 'message' && e.content === 'hello, I found your id');
      await b1.close();
      await admin.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'offline');
      await quiet(m1);
      assert.deepEqual(statuses(m1, 'b1'), []);
      const m1Again = await connect('m1');
      assert.deepEqual(onlineUsers(m1Again), [], 'online_users holds nothing of b1 either');

      // The buyer writes: from now on presence is shared both ways, and each learns the other is online.
      const b1Back = await connect('b1');
      assert.deepEqual(onlineUsers(b1Back), []);
      const beforeWriting = m1.events.length;
      await send('b1', 'm1b1', 'what is it?');
      await m1.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'online', beforeWriting);
      await m1Again.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'online');
      await b1Back.waitFor((e) => e.type === 'status' && e.user_id === 'm1' && e.status === 'online');
      await send('b1', 'm1b1', 'hello?');
      await quiet(m1, m1Again, b1Back);
      assert.deepEqual(statuses(m1, 'b1'), ['online'], 'told once, when sharing began');
      assert.deepEqual(statuses(b1Back, 'm1'), ['online']);
      const since = m1.events.length;
      await b1Back.close();
      await m1.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'offline', since);
      const b1Third = await connect('b1');
      assert.deepEqual(onlineUsers(b1Third), ['m1'], "the merchant is among the buyer's online contacts");
      await m1.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'online', since);
      const m1Fresh = await connect('m1');
      assert.deepEqual(onlineUsers(m1Fresh), ['b1']);
      await Promise.all([m1, m1Again, m1Fresh, admin, b1Third].map((socket) => socket.close()));
    });

    test('a service agent who opened a conversation learns nothing until the customer side writes; admins see all', async () => {
      const p1 = await connect('p1');
      const m2 = await connect('m2');
      assert.deepEqual(onlineUsers(m2), [], 'the merchant is the customer of the platform agent');
      await quiet(p1);
      assert.deepEqual(statuses(p1, 'm2'), []);
      const b1 = await connect('b1');
      await quiet(p1);
      assert.deepEqual(statuses(p1, 'b1'), [], 'b1 wrote to m1, not to the agent');
      const admin = await connect('a1');
      assert.deepEqual(onlineUsers(admin), ['b1', 'm2', 'p1'], 'admins see everyone online');

      await send('m2', 'p1m2', 'I need help');
      const since = p1.events.length;
      await m2.close();
      await p1.waitFor((e) => e.type === 'status' && e.user_id === 'm2' && e.status === 'offline', since);
      await quiet(p1);
      assert.deepEqual(statuses(p1, 'b1'), []);
      await eventually(() => assert.equal(app.realtime.registry.ofUser('m2').length, 0));
      await Promise.all([p1, b1, admin].map((socket) => socket.close()));
    });
  });
}
