import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { until } from './helpers/polling.ts';
import { assertError, sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Teams (issue 13) meeting the features built before them, which looked only
 * at a conversation's participants: searching conversations by name, card
 * updates, recall and transcript export follow what a member sees by role.
 */

const PLATFORM_KEY = 'platform-key-for-team-gap-tests-0123456789';

for (const dialect of testDialects) {
  describe(`teams and earlier features (${dialect.name})`, () => {
    let app: TestApp;
    const PEOPLE = ['a1', 'b1', 'zb', 'm1', 'm2', 'm1s', 'm1a', 'm1b'] as const;
    const t = {} as Record<(typeof PEOPLE)[number], string>;
    /** zb sorts after m1: m1 is participant1 of their conversation, so "the other participant" of a non-participant is m1. */
    let queued: string;
    let held: string;

    before(async () => {
      app = await startTestApp(dialect, { env: { PLATFORM_API_KEY: PLATFORM_KEY } });
      Object.assign(t, await app.addUsers({ a1: 'admin', b1: 'buyer', zb: 'buyer', m1: 'merchant', m2: 'merchant' }));
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.m1b = await app.addUser('m1b', 'merchant', { team_id: 'm1', team_role: 'agent' });
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_assign: false } });
      queued = await app.conversation(t.b1, 'b1', 'm1');
      held = await app.conversation(t.zb, 'zb', 'm1');
      await app.conversation(t.b1, 'b1', 'm2');
      // m1a's answer claims zb's conversation: m1b no longer sees it.
      await sendText(app, t.zb, held, 'hello shop');
      await sendText(app, t.m1a, held, 'agent a here');
    });
    after(() => app.close());

    test('searching conversations by name: a member finds the customers of the team conversations they see', async () => {
      const named = async (who: keyof typeof t, q: string) => {
        const response = await app.client.get(`/api/search/conversations?q=${encodeURIComponent(q)}`, {
          token: t[who],
        });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        return (response.body.results as { id: string }[]).map((c) => c.id).sort();
      };
      assert.deepEqual(await named('m1s', 'user-'), [queued, held].sort());
      assert.deepEqual(await named('m1s', 'user-zb'), [held]);
      assert.deepEqual(await named('m1a', 'user-zb'), [held]);
      assert.deepEqual(await named('m1b', 'user-zb'), []);
      assert.deepEqual(await named('m1b', 'user-b1'), [queued]);
      // The shop's own name is no customer's: a member finds nothing by it.
      assert.deepEqual(await named('m1s', 'user-m1'), []);
      // Unchanged: the owner as a participant, the customer, and another shop's conversations stay out.
      assert.deepEqual(await named('m1', 'user-zb'), [held]);
      assert.equal((await named('b1', 'user-m')).length, 2);
    });

    test('searching messages: a member finds them in the team conversations they see, never others', async () => {
      await sendText(app, t.b1, queued, 'parcel lost');
      await sendText(app, t.zb, held, 'parcel late');
      const behind = () =>
        app.server.database.db.selectFrom('conversations').select('id').where('search_behind', '=', 1).execute();
      await until(behind, (rows) => rows.length === 0, 'search index caught up');
      const found = async (who: keyof typeof t, extra = '') => {
        const response = await app.client.get(`/api/search/messages?q=parcel${extra}`, { token: t[who] });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        return (response.body.results as { conversation_id: string }[]).map((hit) => hit.conversation_id).sort();
      };
      assert.deepEqual(await found('m1s'), [queued, held].sort());
      assert.deepEqual(await found('m1a'), [queued, held].sort());
      assert.deepEqual(await found('m1b'), [queued]);
      assert.deepEqual(await found('m2'), []);
      assertError(
        await app.client.get(`/api/search/messages?q=parcel&conversation_id=${held}`, { token: t.m1b }),
        404,
        'conversation_not_found',
      );
    });

    test('a card update reaches the team members who see the conversation', async () => {
      const headers = { 'x-api-key': PLATFORM_KEY };
      const put = (status: string) =>
        app.client.put('/api/cards/order/TG1', { headers, body: { title: '订单 TG1', status, user_ids: ['b1'] } });
      assert.equal((await put('待付款')).status, 200);
      const posted = await app.client.post(`/api/conversations/${queued}/cards`, {
        headers,
        body: { kind: 'order', id: 'TG1', sender_id: 'b1' },
      });
      assert.equal(posted.status, 201, JSON.stringify(posted.body));
      const sockets = Object.fromEntries(
        await Promise.all(PEOPLE.map(async (p) => [p, await app.connect(p, t[p])] as const)),
      );
      assert.equal((await put('已付款')).body.conversations_notified, 1);
      const updated = (e: any) => e.type === 'card_updated' && e.card.id === 'TG1';
      // In the queue: every member sees it.
      for (const p of ['b1', 'm1', 'm1s', 'm1a', 'm1b', 'a1']) await sockets[p]?.waitFor(updated, 0, p);
      for (const p of ['m2', 'zb']) {
        await sockets[p]?.sync();
        assert.equal(sockets[p]?.events.filter(updated).length, 0, `${p} must not get it`);
      }
      await Promise.all(Object.values(sockets).map((s) => s.close()));
    });

    test("a member recalls their own message, not a colleague's; the customer's unread count drops", async () => {
      const db = app.server.database.db;
      const counts = () =>
        db
          .selectFrom('conversations')
          .select(['participant1_id', 'participant1_unread', 'participant2_unread'])
          .where('id', '=', held)
          .executeTakeFirstOrThrow();
      const sent = await sendText(app, t.m1a, held, 'wrong price, sorry');
      const before = await counts();
      assert.equal(before.participant1_id, 'm1');
      assert.equal(Number(before.participant2_unread), 2, 'zb has both agent messages unread');
      // The supervisor sees it but did not write it; the other agent does not see it.
      assertError(await app.client.post(`/api/messages/${sent.id}/recall`, { token: t.m1s }), 403, 'forbidden');
      assertError(await app.client.post(`/api/messages/${sent.id}/recall`, { token: t.m1b }), 404, 'message_not_found');
      const recalled = await app.client.post(`/api/messages/${sent.id}/recall`, { token: t.m1a });
      assert.equal(recalled.status, 200, JSON.stringify(recalled.body));
      const afterwards = await counts();
      assert.equal(Number(afterwards.participant2_unread), 1, "the customer's count drops");
      assert.equal(Number(afterwards.participant1_unread), Number(before.participant1_unread), "the shop's stays");
    });

    test('the transcript: members who see the conversation export it, others are told it does not exist', async () => {
      const transcript = (who: keyof typeof t, id: string) =>
        app.client.get(`/api/conversations/${id}/transcript`, { token: t[who] });
      for (const who of ['m1', 'm1s', 'm1a', 'zb', 'a1'] as const) {
        assert.equal((await transcript(who, held)).status, 200, who);
      }
      assertError(await transcript('m1b', held), 404, 'conversation_not_found');
      assertError(await transcript('m2', held), 404, 'conversation_not_found');
      assert.equal((await transcript('m1b', queued)).status, 200);
    });
  });
}
