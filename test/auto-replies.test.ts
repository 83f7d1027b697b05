import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { eventually } from './helpers/polling.ts';
import { assertError, sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Auto replies (issue 14) end to end: the settings (partial, validated, an
 * empty value turns one off); the welcome message once; the away message once
 * per away period (nobody online; outside business hours); keyword replies
 * once per cooldown, NFKC- and case-insensitive. Each is a message from the
 * owner with `auto: true`, pushed like any message, and never claims, reopens
 * or answers the buyer's turn; nothing answers the team or an auto reply.
 * The rules on a fixed clock: test/auto-reply-rules.test.ts.
 */

/** Yesterday, today and tomorrow in Shanghai: days off that close the team now, whatever the time. */
function daysAroundToday(): string[] {
  const format = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' });
  return [-1, 0, 1].map((days) => format.format(Date.now() + days * 86_400_000));
}

for (const dialect of testDialects) {
  describe(`auto replies (${dialect.name})`, () => {
    let app: TestApp;
    const t = {} as Record<string, string>;
    const db = () => app.server.database.db;
    const settings = (who: string, body: unknown, team = 'm1') =>
      app.client.put(`/api/teams/${team}/settings`, { token: t[who], body });
    const autoReplies = async (conversationId: string) =>
      (
        await db()
          .selectFrom('messages')
          .select(['content', 'sender_id', 'auto_reply', 'message_type'])
          .where('conversation_id', '=', conversationId)
          .where('auto_reply', '=', 1)
          .orderBy('seq')
          .execute()
      ).map((m) => m.content);
    /** Sends as the buyer and waits until the conversation holds `expected` auto replies in all. */
    const buyerSays = async (who: string, conversationId: string, text: string, expected: string[]) => {
      await sendText(app, t[who] as string, conversationId, text);
      await eventually(async () => assert.deepEqual(await autoReplies(conversationId), expected), 'auto replies');
    };

    before(async () => {
      app = await startTestApp(dialect);
      Object.assign(
        t,
        await app.addUsers({ b1: 'buyer', b2: 'buyer', b3: 'buyer', b4: 'buyer', m1: 'merchant', m2: 'merchant' }),
      );
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      assert.equal((await settings('m1', { auto_assign: false })).status, 200);
    });
    after(() => app.close());

    test('settings: partial, validated, returned whole; an empty value turns one off; agents 403', async () => {
      const body = {
        welcome_message: '您好，欢迎光临！',
        away_message: '客服暂时不在，稍后回复您',
        timezone: 'Asia/Shanghai',
        business_hours: [{ day: 1, open: '09:00', close: '18:00' }],
        days_off: ['2026-10-01'],
        keyword_replies: [{ keywords: ['发票', 'ＶＩＰ'], match: 'contains', reply: '发票请在订单页申请' }],
      };
      const response = await settings('m1s', body);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual(response.body, {
        max_open_per_agent: 10,
        auto_assign: false,
        auto_resolve_hours: null,
        ...body,
        slow_reply_seconds: 100,
        slow_reply_escalation_seconds: 180,
      });
      const cleared = await settings('m1', { welcome_message: '', business_hours: [], days_off: [] });
      assert.deepEqual(
        [cleared.body.welcome_message, cleared.body.business_hours, cleared.body.days_off, cleared.body.away_message],
        [null, [], [], body.away_message],
      );
      const team = await app.client.get('/api/teams/m1', { token: t.m1a });
      assert.deepEqual(team.body.settings, cleared.body);
      assertError(await settings('m1', { timezone: 'Mars/Olympus' }), 400, 'invalid_timezone');
      // A close before the open runs overnight (business-hours tests): accepted as given.
      const night = await settings('m1', { business_hours: [{ day: 2, open: '22:00', close: '02:00' }] });
      assert.equal(night.status, 200);
      assert.deepEqual(night.body.business_hours, [{ day: 2, open: '22:00', close: '02:00' }]);
      assertError(await settings('m1', { days_off: ['2026-02-30'] }), 400, 'invalid_business_hours');
      assertError(await settings('m1', { business_hours: [{ day: 8, open: '09:00', close: '10:00' }] }), 422);
      const rule = { keywords: ['x'], match: 'contains', reply: 'y' };
      assertError(await settings('m1', { keyword_replies: Array.from({ length: 51 }, () => rule) }), 422);
      assertError(await settings('m1a', { welcome_message: 'hi' }), 403);
      // Turn everything off for the next tests, which set what they need.
      await settings('m1', { away_message: '', keyword_replies: [] });
    });

    test('welcome once, to the first message; from the owner with auto: true, pushed; never claims or answers', async () => {
      await settings('m1', { welcome_message: '欢迎光临' });
      const b1 = await app.connect('b1', t.b1 as string);
      const id = await app.conversation(t.b1 as string, 'b1', 'm1');
      await buyerSays('b1', id, '在吗', ['欢迎光临']);
      const pushed = await b1.waitFor((e) => e.type === 'message' && e.content === '欢迎光临');
      assert.deepEqual([pushed.sender_id, pushed.auto, pushed.message_type], ['m1', true, 'text']);
      const history = await app.client.get(`/api/conversations/${id}/messages`, { token: t.b1 });
      assert.equal(history.status, 200);
      const stored = JSON.stringify(history.body);
      assert.ok(stored.includes('"auto":true'), 'the history shows auto: true');
      const row = await db().selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(row.assignee_id, null, 'an auto reply claims nothing');
      assert.notEqual(row.awaiting_reply_since, null, 'an auto reply answers no turn');
      await buyerSays('b1', id, '有人吗', ['欢迎光临']);
      await settings('m1', { welcome_message: '' });
    });

    test('away when nobody is online and available, once per unanswered turn; again after a human answer', async () => {
      await settings('m1', { away_message: '客服不在' });
      const id = await app.conversation(t.b2 as string, 'b2', 'm1');
      await buyerSays('b2', id, '你好', ['客服不在']);
      await buyerSays('b2', id, '还在吗', ['客服不在']);
      await sendText(app, t.m1a as string, id, '您好，我在');
      await buyerSays('b2', id, '好的', ['客服不在', '客服不在']);
      // Someone online and available, within (no) business hours: no away message.
      const agent = await app.connect('m1a', t.m1a as string);
      await sendText(app, t.m1a as string, id, '请讲');
      await sendText(app, t.b2 as string, id, '谢谢');
      await agent.sync();
      assert.deepEqual(await autoReplies(id), ['客服不在', '客服不在']);
      await agent.close();
    });

    test('away outside business hours (days off), even with a member online', async () => {
      await settings('m1', { days_off: daysAroundToday() });
      const agent = await app.connect('m1a', t.m1a as string);
      const id = await app.conversation(t.b3 as string, 'b3', 'm1');
      await buyerSays('b3', id, '营业吗', ['客服不在']);
      await buyerSays('b3', id, '？', ['客服不在']);
      await agent.close();
      await settings('m1', { days_off: [], away_message: '' });
    });

    test('keyword replies: NFKC and case folded, the first rule, once per cooldown; never to the team', async () => {
      await settings('m1', {
        keyword_replies: [
          { keywords: ['ＶＩＰ'], match: 'contains', reply: '会员说明' },
          { keywords: ['发票'], match: 'exact', reply: '发票说明' },
        ],
      });
      const id = await app.conversation(t.b4 as string, 'b4', 'm1');
      await buyerSays('b4', id, '怎么办vip', ['会员说明']);
      await buyerSays('b4', id, '发票', ['会员说明', '发票说明']);
      // Within the cooldown: no second answer of either rule.
      await buyerSays('b4', id, 'VIP 还有吗', ['会员说明', '发票说明']);
      // The team's own messages never trigger a reply.
      await sendText(app, t.m1a as string, id, 'vip 发票');
      await sendText(app, t.b4 as string, id, 'ok');
      const b4 = await app.connect('b4', t.b4 as string);
      await b4.sync();
      assert.deepEqual(await autoReplies(id), ['会员说明', '发票说明']);
      // A cooldown that has run out lets the rule answer again.
      await db()
        .updateTable('auto_reply_sends')
        .set({ mark: 0 })
        .where('conversation_id', '=', id)
        .where('rule', '=', 'keyword:0')
        .execute();
      await buyerSays('b4', id, 'vip', ['会员说明', '发票说明', '会员说明']);
    });

    test('a team with no rule: nothing is sent or recorded', async () => {
      const id = await app.conversation(t.b1 as string, 'b1', 'm2');
      await sendText(app, t.b1 as string, id, 'vip 发票');
      const socket = await app.connect('b1', t.b1 as string);
      await socket.sync();
      assert.deepEqual(await autoReplies(id), []);
      const sends = await db().selectFrom('auto_reply_sends').selectAll().where('conversation_id', '=', id).execute();
      assert.deepEqual(sends, []);
    });
  });
}
