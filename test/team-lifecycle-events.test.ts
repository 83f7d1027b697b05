import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { testDialects } from './helpers/databases.ts';
import { sendText } from './helpers/rest.ts';
import { audience, type TestSocket } from './helpers/sockets.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';
import { type Receiver, startReceiver } from './helpers/webhook-receiver.ts';

/**
 * Every change a member's lists must follow is announced (issue 13): a customer's
 * message reopening a resolved conversation, the sweep's automatic resolve, and a
 * member's removal putting their conversations back in the queue. Each is a
 * `conversation_updated` to the conversation's audience and a webhook written in its
 * change's transaction (conversation.status_changed, conversation.assigned).
 */

const FAST = { retryDelaysMs: [100, 200, 400], timeoutMs: 400, pollMs: 50 };
const PEOPLE = ['a1', 'b1', 'm1', 'm1s', 'm1a', 'm1b', 'm2'] as const;
type Person = (typeof PEOPLE)[number];

for (const dialect of testDialects) {
  describe(`team lifecycle events (${dialect.name})`, () => {
    let app: TestApp;
    let receiver: Receiver;
    let secret: string;
    const t = {} as Record<Person, string>;
    const ws = {} as Record<Person, TestSocket>;

    before(async () => {
      app = await startTestApp(dialect, { env: { DEBUG: 'True' }, server: { webhookDelivery: FAST } });
      Object.assign(t, await app.addUsers({ a1: 'admin', b1: 'buyer', m1: 'merchant', m2: 'merchant' }));
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.m1b = await app.addUser('m1b', 'merchant', { team_id: 'm1', team_role: 'agent' });
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_assign: false } });
      receiver = await startReceiver();
      const created = await app.client.post('/api/webhooks', {
        token: t.a1,
        body: { url: receiver.url, events: ['conversation.status_changed', 'conversation.assigned'] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      secret = created.body.secret;
      for (const person of PEOPLE) ws[person] = await app.connect(person, t[person]);
    });
    after(async () => {
      await receiver.stop();
      await app.close();
    });

    const { mark, pushedTo } = audience(ws, PEOPLE);
    const updated = (id: string, fields: Record<string, unknown>) => (e: any) =>
      e.type === 'conversation_updated' &&
      e.conversation_id === id &&
      Object.entries(fields).every(([key, value]) => e[key] === value);
    /** The webhook events received so far about `id`, verified, oldest first. */
    const hooks = (id: string) =>
      receiver.received
        .map((entry) => new Webhook(secret).verify(entry.body, entry.headers as Record<string, string>) as any)
        .filter((event) => event.data.conversation_id === id);

    test("a customer's message reopening a resolved conversation: conversation_updated and the webhook", async () => {
      const id = await app.conversation(t.b1, 'b1', 'm1');
      await sendText(app, t.b1, id, '发票呢？');
      const resolved = await app.client.post(`/api/conversations/${id}/status`, {
        token: t.m1s,
        body: { status: 'resolved' },
      });
      assert.equal(resolved.status, 200, JSON.stringify(resolved.body));

      const since = mark();
      await sendText(app, t.b1, id, '还没收到发票');
      // In the queue: every member, the customer and admins; never another shop.
      const reopened = updated(id, { change: 'status', status: 'open', actor_id: 'b1', assignee_id: null });
      await pushedTo(reopened, ['a1', 'b1', 'm1', 'm1s', 'm1a', 'm1b'], since);
      const listed = await app.client.get(`/api/conversations/${id}`, { token: t.m1a });
      assert.equal(listed.body.status, 'open');

      // Already open: the next message changes no status and announces nothing.
      const again = mark();
      await sendText(app, t.b1, id, '在吗');
      await ws.m1s.waitFor((e: any) => e.type === 'message' && e.content === '在吗', again.m1s);
      await ws.m1s.sync();
      assert.equal(ws.m1s.events.slice(again.m1s).filter(updated(id, { change: 'status' })).length, 0);

      await receiver.waitFor(() => hooks(id).length >= 2, 'both status changes');
      assert.deepEqual(
        hooks(id).map((event) => [event.type, event.data.previous_status, event.data.status, event.data.actor_id]),
        [
          ['conversation.status_changed', 'open', 'resolved', 'm1s'],
          ['conversation.status_changed', 'resolved', 'open', 'b1'],
        ],
      );
    });

    test('a held customer message, once a reviewer approves it, reopens as a send would', async () => {
      const buyer = await app.addUser('hb1', 'buyer');
      const id = await app.conversation(buyer, 'hb1', 'm1');
      await sendText(app, buyer, id, '你好');
      const resolved = await app.client.post(`/api/conversations/${id}/status`, {
        token: t.m1s,
        body: { status: 'resolved' },
      });
      assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
      // The content guard's default rules hold an off-site deal for review.
      const held = await app.client.post('/api/messages/', {
        token: buyer,
        body: { conversation_id: id, content: '我们私下交易吧，便宜点' },
      });
      assert.equal(held.status, 202, JSON.stringify(held.body));
      const since = mark();
      const approved = await app.client.post(`/api/guard/queue/${held.body.id}`, {
        token: t.a1,
        body: { decision: 'approve' },
      });
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      const reopened = updated(id, { change: 'status', status: 'open', actor_id: 'hb1' });
      await pushedTo(reopened, ['a1', 'm1', 'm1s', 'm1a', 'm1b'], since);
      const row = await app.server.database.db
        .selectFrom('conversations')
        .select(['status', 'awaiting_reply_since'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'open');
      assert.notEqual(row.awaiting_reply_since, null, 'the customer waits for a reply again');
      await receiver.waitFor(() => hooks(id).length >= 2, 'both status changes');
      assert.deepEqual(
        hooks(id).map((event) => [event.data.previous_status, event.data.status, event.data.actor_id]),
        [
          ['open', 'resolved', 'm1s'],
          ['resolved', 'open', 'hb1'],
        ],
      );
    });

    test('the sweep resolving an idle conversation: conversation_updated and the webhook, once', async () => {
      const db = app.server.database.db;
      // Another customer: a pair has one conversation, and b1's is open again.
      const idler = await app.addUser('ib1', 'buyer');
      const id = await app.conversation(idler, 'ib1', 'm1');
      await sendText(app, idler, id, '你好');
      const claimed = await app.client.post(`/api/conversations/${id}/assignment`, {
        token: t.m1a,
        body: { assignee_id: 'm1a' },
      });
      assert.equal(claimed.status, 200, JSON.stringify(claimed.body));
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_resolve_hours: 1 } });
      const idleSince = Math.floor(Date.now() / 1000) - 7200;
      await db.updateTable('conversations').set({ updated_at: idleSince }).where('id', '=', id).execute();

      const since = mark();
      await Promise.all([app.server.autoAssign.sweep(), app.server.autoAssign.sweep()]);
      // Every member's list, and admins (the customer, ib1, has no socket here; b1 and m2 must not hear).
      const resolved = updated(id, { change: 'status', status: 'resolved', actor_id: 'm1', assignee_id: 'm1a' });
      await pushedTo(resolved, ['a1', 'm1', 'm1s', 'm1a', 'm1b'], since);
      await app.server.autoAssign.sweep();
      await ws.m1.sync();
      assert.equal(ws.m1.events.slice(since.m1).filter(resolved).length, 1, 'resolved once');
      await receiver.waitFor(
        () => hooks(id).some((event) => event.type === 'conversation.status_changed'),
        'the status change',
      );
      assert.deepEqual(
        hooks(id)
          .filter((event) => event.type === 'conversation.status_changed')
          .map((event) => [event.data.previous_status, event.data.status, event.data.actor_id]),
        [['open', 'resolved', 'm1']],
      );
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_resolve_hours: null } });
    });

    test('removing a member: each of their conversations is requeued, logged, announced, then assigned', async () => {
      const db = app.server.database.db;
      const ids: string[] = [];
      for (const buyer of ['rb1', 'rb2']) {
        const token = await app.addUser(buyer, 'buyer');
        const id = await app.conversation(token, buyer, 'm1');
        await sendText(app, token, id, `${buyer} 求助`);
        const given = await app.client.post(`/api/conversations/${id}/assignment`, {
          token: t.m1s,
          body: { assignee_id: 'm1a' },
        });
        assert.equal(given.status, 200, JSON.stringify(given.body));
        ids.push(id);
      }
      // Automatic assignment on: once requeued, the online, available m1b takes them (the supervisor is away).
      const away = await app.client.patch('/api/teams/m1/members/m1s', { token: t.m1s, body: { available: false } });
      assert.equal(away.status, 200, JSON.stringify(away.body));
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_assign: true } });
      const since = mark();
      const removed = await app.client.delete('/api/teams/m1/members/m1a', { token: t.m1 });
      assert.equal(removed.status, 200, JSON.stringify(removed.body));
      for (const id of ids) {
        const requeued = updated(id, { change: 'assignment', previous_assignee_id: 'm1a', assignee_id: null });
        await Promise.all(
          ['m1', 'm1s', 'm1b', 'a1'].map((p) => ws[p as Person].waitFor(requeued, since[p as Person], p)),
        );
        await ws.m1s.waitFor(updated(id, { change: 'assignment', assignee_id: 'm1b' }), since.m1s, 'assigned again');
      }
      for (const id of ids) {
        const log = await db
          .selectFrom('conversation_assignments')
          .select(['kind', 'actor_id', 'from_id', 'to_id'])
          .where('conversation_id', '=', id)
          .orderBy('id')
          .execute();
        assert.deepEqual(
          log.slice(-2).map((row) => [row.kind, row.actor_id, row.from_id, row.to_id]),
          [
            ['member_removed', 'm1', 'm1a', null],
            ['auto', 'm1', null, 'm1b'],
          ],
        );
        await receiver.waitFor(
          () => hooks(id).filter((event) => event.type === 'conversation.assigned').length >= 3,
          'the assignments',
        );
        assert.deepEqual(
          hooks(id)
            .filter((event) => event.type === 'conversation.assigned')
            .map((event) => [event.data.kind, event.data.previous_assignee_id, event.data.assignee_id]),
          [
            ['assign', null, 'm1a'],
            ['member_removed', 'm1a', null],
            ['auto', null, 'm1b'],
          ],
        );
      }
      // The customers read it in their timelines: the queue's line, then who serves them now.
      const history = await app.client.get(`/api/conversations/${ids[0]}/messages`, { token: t.m1 });
      const lines = (history.body.results ?? history.body).filter((m: any) => m.message_type === 'system');
      assert.deepEqual(
        lines.slice(-2).map((m: any) => m.content.replace(/user-(\w+)-\d+/, '$1')),
        ['会话已转入排队，稍后将有客服为您服务', '客服 m1b 为您服务'],
      );
    });
  });
}
