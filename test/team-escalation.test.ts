import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { until } from './helpers/polling.ts';
import { assertError, sendText } from './helpers/rest.ts';
import type { TestSocket } from './helpers/sockets.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Teams (issue 13): escalation to the platform desk. The buyer or the shop's
 * members escalate a buyer–shop conversation with a reason; the desk gets the
 * linked buyer–desk conversation, assigned like any desk conversation; the desk
 * agent handling it reads the original and posts into it as the platform
 * (`platform` messages both sides see). Both timelines show the escalation.
 */

for (const dialect of testDialects) {
  describe(`escalation to the platform desk (${dialect.name})`, () => {
    let app: TestApp;
    const t = {} as Record<string, string>;
    const ws = {} as Record<string, TestSocket>;
    let original: string;
    let desk: string;
    const db = () => app.server.database.db;

    before(async () => {
      app = await startTestApp(dialect);
      Object.assign(t, await app.addUsers({ a1: 'admin', p1: 'service', b1: 'buyer', m1: 'merchant' }));
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.p1a = await app.addUser('p1a', 'service', { team_id: 'p1', team_role: 'agent' });
      t.p1b = await app.addUser('p1b', 'service', { team_id: 'p1', team_role: 'agent' });
      ws.b1 = await app.connect('b1', t.b1 as string);
      ws.m1 = await app.connect('m1', t.m1 as string);
      ws.p1a = await app.connect('p1a', t.p1a as string);
      original = await app.conversation(t.b1 as string, 'b1', 'm1');
      await sendText(app, t.b1 as string, original, '我要退款');
      await sendText(app, t.m1 as string, original, '不支持退款');
    });
    after(() => app.close());

    test('the buyer escalates: a linked desk conversation, assigned like any; both timelines show it', async () => {
      const since = ws.b1?.events.length ?? 0;
      const response = await app.client.post(`/api/conversations/${original}/escalation`, {
        token: t.b1,
        body: { reason: '商家拒绝退款' },
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      desk = response.body.id;
      assert.deepEqual([response.body.team_id, response.body.linked_conversation_id], ['p1', original]);
      const shopSide = await app.client.get(`/api/conversations/${original}`, { token: t.m1 });
      assert.equal(shopSide.body.linked_conversation_id, desk);
      for (const [id, text] of [
        [original, '会话已升级至平台客服：商家拒绝退款'],
        [desk, '来自店铺会话的升级：商家拒绝退款'],
      ] as const) {
        const system = await db()
          .selectFrom('messages')
          .select(['content', 'is_read'])
          .where('conversation_id', '=', id)
          .where('message_type', '=', 'system')
          .execute();
        // First in the timeline (the desk's automatic assignment may add its own after it).
        assert.deepEqual(system.map((m) => [m.content, Number(m.is_read)])[0], [text, 1]);
      }
      const updated = await ws.b1?.waitFor(
        (e) => e.type === 'conversation_updated' && e.change === 'escalation',
        since,
      );
      assert.ok(updated);
      // The only desk agent online takes it.
      await until(
        async () =>
          (
            await db()
              .selectFrom('conversations')
              .select('assignee_id')
              .where('id', '=', desk)
              .executeTakeFirstOrThrow()
          ).assignee_id,
        (v) => v === 'p1a',
        'the desk conversation assigned',
      );
    });

    test('the desk agent handling it reads the original and posts as the platform; nobody else may', async () => {
      assert.equal((await app.client.get(`/api/conversations/${original}`, { token: t.p1a })).status, 200);
      assert.equal((await app.client.get(`/api/conversations/${original}/messages`, { token: t.p1a })).status, 200);
      assertError(await app.client.get(`/api/conversations/${original}`, { token: t.p1b }), 404);
      const before = await db()
        .selectFrom('conversations')
        .selectAll()
        .where('id', '=', original)
        .executeTakeFirstOrThrow();
      const since = { b1: ws.b1?.events.length ?? 0, m1: ws.m1?.events.length ?? 0 };
      const post = await app.client.post(`/api/conversations/${original}/platform-messages`, {
        token: t.p1a,
        body: { content: '平台已核实，商家将退款' },
      });
      assert.equal(post.status, 201, JSON.stringify(post.body));
      assert.deepEqual([post.body.message_type, post.body.sender_id, post.body.sender?.id], ['platform', 'p1a', 'p1a']);
      for (const who of ['b1', 'm1'] as const) {
        const pushed = await ws[who]?.waitFor((e) => e.type === 'message' && e.message_type === 'platform', since[who]);
        assert.equal(pushed?.content, '平台已核实，商家将退款');
      }
      const after = await db()
        .selectFrom('conversations')
        .selectAll()
        .where('id', '=', original)
        .executeTakeFirstOrThrow();
      assert.equal(Number(after.participant1_unread), Number(before.participant1_unread) + 1);
      assert.equal(Number(after.participant2_unread), Number(before.participant2_unread) + 1);
      const body = { content: 'x' };
      assertError(
        await app.client.post(`/api/conversations/${original}/platform-messages`, { token: t.p1b, body }),
        404,
      );
      assertError(
        await app.client.post(`/api/conversations/${original}/platform-messages`, { token: t.m1a, body }),
        403,
      );
      assertError(
        await app.client.post(`/api/conversations/${original}/platform-messages`, { token: t.b1, body }),
        403,
      );
      assertError(
        await app.client.post(`/api/conversations/${original}/platform-messages`, { token: t.a1, body }),
        403,
      );
      // Clients cannot send system or platform messages themselves.
      assertError(
        await app.client.post('/api/messages/', {
          token: t.m1,
          body: { conversation_id: original, content: 'fake', message_type: 'platform' },
        }),
        422,
      );
    });

    test("the shop's members may escalate too; a desk conversation cannot be escalated; strangers 404", async () => {
      const again = await app.client.post(`/api/conversations/${original}/escalation`, {
        token: t.m1a,
        body: { reason: '请平台确认' },
      });
      assert.equal(again.status, 201, JSON.stringify(again.body));
      assert.equal(again.body.id, desk, "the buyer's one conversation with the desk");
      assertError(
        await app.client.post(`/api/conversations/${desk}/escalation`, { token: t.b1, body: { reason: 'x' } }),
        400,
        'cannot_escalate',
      );
      assertError(
        await app.client.post(`/api/conversations/${original}/escalation`, { token: t.p1b, body: { reason: 'x' } }),
        404,
      );
      assertError(
        await app.client.post(`/api/conversations/${original}/escalation`, { token: t.a1, body: { reason: 'x' } }),
        403,
      );
    });
  });
}
