import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { assertError, sendText } from './helpers/rest.ts';
import type { TestSocket } from './helpers/sockets.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Teams (issue 13): manual assignment (claim, assign, transfer, release), each
 * logged and shown to both sides as a `system` message (never unread; none in
 * a team of one) with a `conversation_updated` event; status (pending,
 * resolved, reopened by the customer); internal notes that never reach the
 * customer, over REST or WebSocket.
 */

for (const dialect of testDialects) {
  describe(`team work on conversations (${dialect.name})`, () => {
    let app: TestApp;
    const t = {} as Record<string, string>;
    const ws = {} as Record<string, TestSocket>;
    let id: string;
    const db = () => app.server.database.db;
    const row = () => db().selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const assign = (who: string, body: unknown, conversationId = id) =>
      app.client.post(`/api/conversations/${conversationId}/assignment`, { token: t[who], body });
    const log = async () =>
      (
        await db()
          .selectFrom('conversation_assignments')
          .selectAll()
          .where('conversation_id', '=', id)
          .orderBy('id')
          .execute()
      ).map((entry) => [entry.kind, entry.actor_id, entry.from_id, entry.to_id, entry.note]);
    const systemMessages = async () =>
      (
        await db()
          .selectFrom('messages')
          .selectAll()
          .where('conversation_id', '=', id)
          .where('message_type', '=', 'system')
          .orderBy('seq')
          .execute()
      ).map((m) => [m.content, Number(m.is_read), m.sender_id]);

    before(async () => {
      app = await startTestApp(dialect);
      Object.assign(t, await app.addUsers({ a1: 'admin', b1: 'buyer', b2: 'buyer', m1: 'merchant', m2: 'merchant' }));
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor', username: '李主管' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent', username: '小王' });
      t.m1b = await app.addUser('m1b', 'merchant', { team_id: 'm1', team_role: 'agent', username: '小张' });
      // Manual work only here: automatic assignment (test/team-auto-assign.test.ts) would take the queue.
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_assign: false } });
      for (const who of ['b1', 'm1s', 'm1a', 'm1b']) ws[who] = await app.connect(who, t[who] as string);
      id = await app.conversation(t.b1 as string, 'b1', 'm1');
      await sendText(app, t.b1 as string, id, 'hello shop');
    });
    after(() => app.close());

    test('claim: logged, a system message both sides see (never unread), conversation_updated to everyone', async () => {
      const unreadBefore = await row();
      const since = { b1: ws.b1?.events.length ?? 0, m1b: ws.m1b?.events.length ?? 0 };
      const response = await assign('m1a', { assignee_id: 'm1a' });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual([response.body.assignee_id, response.body.assignee?.id], ['m1a', 'm1a']);
      assert.deepEqual(await log(), [['claim', 'm1a', null, 'm1a', null]]);
      assert.deepEqual(await systemMessages(), [['客服 小王 为您服务', 1, 'm1']]);
      const after = await row();
      assert.equal(after.participant1_unread, unreadBefore.participant1_unread);
      assert.equal(after.participant2_unread, unreadBefore.participant2_unread);
      const system = await ws.b1?.waitFor((e) => e.type === 'message' && e.message_type === 'system', since.b1);
      assert.equal(system?.content, '客服 小王 为您服务');
      const updated = await ws.m1b?.waitFor('conversation_updated', since.m1b);
      assert.deepEqual(
        [updated?.conversation_id, updated?.change, updated?.assignee_id, updated?.actor_id],
        [id, 'assignment', 'm1a', 'm1a'],
      );
      await ws.b1?.waitFor('conversation_updated', since.b1);
      // The colleague no longer sees it: claiming it is a 404 to them.
      assertError(await assign('m1b', { assignee_id: 'm1b' }), 404);
      // Claiming what you hold changes nothing.
      assert.equal((await assign('m1a', { assignee_id: 'm1a' })).status, 200);
      assert.equal((await log()).length, 1);
    });

    test('transfer with a note, assign by the supervisor, release; each logged; wrong targets refused', async () => {
      const transfer = await assign('m1a', { assignee_id: 'm1b', note: '发票问题' });
      assert.equal(transfer.status, 200, JSON.stringify(transfer.body));
      assert.equal(transfer.body.assignee_id, 'm1b');
      assertError(await app.client.get(`/api/conversations/${id}`, { token: t.m1a }), 404);
      assertError(await assign('m1a', { assignee_id: 'm1a' }), 404);
      const byBoss = await assign('m1s', { assignee_id: 'm1a' });
      assert.equal(byBoss.body.assignee_id, 'm1a');
      const release = await assign('m1a', { assignee_id: null });
      assert.equal(release.body.assignee_id, null);
      assert.equal(release.body.status, 'open');
      assert.deepEqual((await log()).slice(1), [
        ['transfer', 'm1a', 'm1a', 'm1b', '发票问题'],
        ['assign', 'm1s', 'm1b', 'm1a', null],
        ['release', 'm1a', 'm1a', null, null],
      ]);
      assert.deepEqual(
        (await systemMessages()).slice(1).map(([content]) => content),
        ['会话已转接给客服 小张', '客服 小王 为您服务', '会话已转入排队，稍后将有客服为您服务'],
      );
      assert.equal((await row()).previous_assignee_id, 'm1a');
      assertError(await assign('m1s', { assignee_id: 'm2' }), 404, 'member_not_found');
      assertError(await assign('m1s', { assignee_id: 'b1' }), 404, 'member_not_found');
      assertError(await assign('m1a', { assignee_id: 'm1b' }), 403, 'forbidden');
      assertError(await assign('b1', { assignee_id: 'm1a' }), 403);
      assertError(await assign('m2', { assignee_id: 'm2' }), 404);
      assert.equal((await assign('a1', { assignee_id: 'm1b' })).body.assignee_id, 'm1b');
      assertError(await assign('m1a', { assignee_id: null }), 404);
    });

    test('status: pending and resolved by members; the customer reopens; others refused', async () => {
      const status = (who: string, value: string) =>
        app.client.post(`/api/conversations/${id}/status`, { token: t[who], body: { status: value } });
      const since = ws.b1?.events.length ?? 0;
      const pending = await status('m1b', 'pending');
      assert.equal(pending.status, 200, JSON.stringify(pending.body));
      assert.equal(pending.body.status, 'pending');
      const event = await ws.b1?.waitFor((e) => e.type === 'conversation_updated' && e.change === 'status', since);
      assert.equal(event?.status, 'pending');
      await sendText(app, t.b1 as string, id, 'any news?');
      assert.equal((await row()).status, 'open');
      const resolved = await status('m1s', 'resolved');
      assert.equal(resolved.body.status, 'resolved');
      const stored = await row();
      assert.ok(Number(stored.resolved_at) > 0);
      assert.equal(stored.awaiting_reply_since, null);
      await sendText(app, t.b1 as string, id, 'one more thing');
      assert.equal((await row()).status, 'open');
      assertError(await status('b1', 'resolved'), 403);
      assertError(await status('m1a', 'resolved'), 404, 'conversation_not_found');
      assertError(await status('m1s', 'closed'), 422);
    });

    test('notes: the team and admins read and write them; the customer never sees one, REST or WebSocket', async () => {
      const since = { b1: ws.b1?.events.length ?? 0, m1s: ws.m1s?.events.length ?? 0 };
      const created = await app.client.post(`/api/conversations/${id}/notes`, {
        token: t.m1b,
        body: { content: '老客户，注意发票' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(
        [created.body.author_id, created.body.author?.id, created.body.content],
        ['m1b', 'm1b', '老客户，注意发票'],
      );
      const pushed = await ws.m1s?.waitFor('note', since.m1s);
      assert.equal(pushed?.content, '老客户，注意发票');
      await app.client.post(`/api/conversations/${id}/notes`, { token: t.a1, body: { content: 'admin was here' } });
      const list = await app.client.get(`/api/conversations/${id}/notes`, { token: t.m1 });
      assert.deepEqual(
        list.body.map((n: any) => n.content),
        ['老客户，注意发票', 'admin was here'],
      );
      assertError(await app.client.get(`/api/conversations/${id}/notes`, { token: t.b1 }), 403);
      assertError(
        await app.client.post(`/api/conversations/${id}/notes`, { token: t.b1, body: { content: 'x' } }),
        403,
      );
      assertError(await app.client.get(`/api/conversations/${id}/notes`, { token: t.m2 }), 404);
      await ws.b1?.sync();
      assert.deepEqual(
        ws.b1?.events.slice(since.b1).filter((e) => e.type === 'note'),
        [],
      );
      assert.ok(!JSON.stringify(ws.b1?.events).includes('老客户'));
      const history = await app.client.get(`/api/conversations/${id}/messages`, { token: t.b1 });
      assert.ok(!JSON.stringify(history.body).includes('老客户'), 'notes stay out of the message sequence');
    });

    test('a team of one gets no system message', async () => {
      const other = await app.conversation(t.b2 as string, 'b2', 'm2');
      await sendText(app, t.b2 as string, other, 'hi');
      const response = await assign('m2', { assignee_id: 'm2' }, other);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.assignee_id, 'm2');
      const types = await db()
        .selectFrom('messages')
        .select('message_type')
        .where('conversation_id', '=', other)
        .execute();
      assert.deepEqual(
        types.map((m) => m.message_type),
        ['text'],
      );
    });

    test('two agents claiming the queue at once: one gets it, the other 409', async () => {
      const contested = await app.conversation(t.b2 as string, 'b2', 'm1');
      const results = await Promise.all([
        assign('m1a', { assignee_id: 'm1a' }, contested),
        assign('m1b', { assignee_id: 'm1b' }, contested),
      ]);
      const statuses = results.map((r) => r.status).sort();
      // The loser either lost under the lock (409) or looked after the winner committed (404: no longer theirs to see).
      assert.equal(statuses[0], 200, JSON.stringify(results.map((r) => r.body)));
      assert.ok([404, 409].includes(statuses[1] as number), JSON.stringify(results.map((r) => r.body)));
      const claims = await db()
        .selectFrom('conversation_assignments')
        .select('to_id')
        .where('conversation_id', '=', contested)
        .execute();
      assert.equal(claims.length, 1);
    });
  });
}
