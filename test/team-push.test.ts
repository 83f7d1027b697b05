import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { sendText } from './helpers/rest.ts';
import { audience, type TestSocket } from './helpers/sockets.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Teams (issue 13), who is pushed what: a customer's message reaches the
 * assignee (or, unassigned, every member), the owner, supervisors and admins;
 * a member's message reaches the customer, the owner, supervisors (and the
 * assignee); typing and read marks follow the same lines. A team of one is
 * pushed exactly as before.
 */

const PEOPLE = ['b1', 'b2', 'm1', 'm1s', 'm1a', 'm1b', 'm2', 'a1'] as const;
type Person = (typeof PEOPLE)[number];

for (const dialect of testDialects) {
  describe(`team push audiences (${dialect.name})`, () => {
    let app: TestApp;
    const t = {} as Record<Person | 'm1c', string>;
    const ws = {} as Record<Person, TestSocket>;

    before(async () => {
      app = await startTestApp(dialect);
      Object.assign(t, await app.addUsers({ a1: 'admin', b1: 'buyer', b2: 'buyer', m1: 'merchant', m2: 'merchant' }));
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.m1b = await app.addUser('m1b', 'merchant', { team_id: 'm1', team_role: 'agent' });
      // Manual work only here: automatic assignment (test/team-auto-assign.test.ts) would take the queue.
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_assign: false } });
      for (const person of PEOPLE) ws[person] = await app.connect(person, t[person]);
    });
    after(() => app.close());

    const { mark, pushedTo } = audience(ws, PEOPLE);
    const messageWith = (content: string) => (e: any) => e.type === 'message' && e.content === content;

    test('unassigned: a customer message reaches every member; a claim narrows it to the assignee', async () => {
      const id = await app.conversation(t.b1, 'b1', 'm1');
      let since = mark();
      await sendText(app, t.b1, id, 'queue question');
      await pushedTo(messageWith('queue question'), ['m1', 'm1s', 'm1a', 'm1b', 'a1'], since);

      since = mark();
      const answer = await sendText(app, t.m1a, id, 'agent a answers');
      assert.equal(answer.sender_id, 'm1a');
      // A REST send without X-Connection-Id reaches none of the sender's own sockets.
      await pushedTo(messageWith('agent a answers'), ['b1', 'm1', 'm1s', 'a1'], since);

      since = mark();
      await sendText(app, t.b1, id, 'follow-up');
      await pushedTo(messageWith('follow-up'), ['m1', 'm1s', 'm1a', 'a1'], since);

      since = mark();
      await sendText(app, t.m1s, id, 'the supervisor adds');
      await pushedTo(messageWith('the supervisor adds'), ['b1', 'm1', 'm1a', 'a1'], since);

      // Presence: the holder and the customer see each other; a colleague does not see the customer.
      const onlineOf = async (person: Person) => {
        const socket = await app.connect(person, t[person]);
        const online = (await socket.waitFor('online_users')).users as string[];
        await socket.close();
        return online;
      };
      assert.ok((await onlineOf('m1a')).includes('b1'));
      assert.ok((await onlineOf('b1')).includes('m1a'));
      assert.ok(!(await onlineOf('m1b')).includes('b1'));
    });

    test('typing and read marks follow the same lines', async () => {
      const id = await app.conversation(t.b1, 'b1', 'm1');
      const typing = (from: string) => (e: any) =>
        e.type === 'typing' && e.user_id === from && e.conversation_id === id;
      let since = mark();
      ws.b1.send({ type: 'typing', conversation_id: id, is_typing: true });
      await pushedTo(typing('b1'), ['m1', 'm1s', 'm1a', 'a1'], since);
      since = mark();
      ws.m1a.send({ type: 'typing', conversation_id: id, is_typing: true });
      await pushedTo(typing('m1a'), ['b1', 'm1', 'm1s', 'a1'], since);

      since = mark();
      const read = await app.client.put(`/api/conversations/${id}/messages/read-all`, { token: t.m1a });
      assert.equal(read.status, 200);
      const readMark = (e: any) => e.type === 'read' && e.conversation_id === id;
      // Everyone of both sides but the member who read.
      await pushedTo(readMark, ['b1', 'm1', 'm1s'], since);
      since = mark();
      await app.client.put(`/api/conversations/${id}/messages/read-all`, { token: t.b1 });
      await pushedTo(readMark, ['m1', 'm1s', 'm1a'], since);
    });

    test('a team of one is pushed as before: the pair and admins', async () => {
      const id = await app.conversation(t.b2, 'b2', 'm2');
      let since = mark();
      await sendText(app, t.b2, id, 'to a shop of one');
      await pushedTo(messageWith('to a shop of one'), ['m2', 'a1'], since);
      since = mark();
      await sendText(app, t.m2, id, 'the shop answers');
      await pushedTo(messageWith('the shop answers'), ['b2', 'a1'], since);
    });

    test("a member added on the way is in the next push (the roster is forgotten on the team's change)", async () => {
      const created = await app.client.post('/api/teams/m1/members', {
        token: t.m1,
        body: { username: 'late-agent', password: 'secret123', team_role: 'agent' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const login = await app.client.post('/api/auth/login', {
        body: { username: 'late-agent', password: 'secret123' },
      });
      const late = await app.connect(created.body.user.id, login.body.access_token);
      const id = await app.conversation(t.b2, 'b2', 'm1');
      const since = mark();
      const lateSince = late.events.length;
      await sendText(app, t.b2, id, 'for everyone in the queue');
      await late.waitFor(messageWith('for everyone in the queue'), lateSince);
      await pushedTo(messageWith('for everyone in the queue'), ['m1', 'm1s', 'm1a', 'm1b', 'a1'], since);
    });
  });
}
