import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { assertError, sendText } from './helpers/rest.ts';
import type { TestSocket } from './helpers/sockets.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Satisfaction ratings (issue 14): the buyer rates each resolution of a
 * conversation once (201, then 409; before a resolve 409); nobody else rates
 * (403, or 404 to whoever does not see it); a reopen and a new resolve start
 * the next episode; the team's owner, supervisors and the assignee and admins
 * read them and hear of them live (`rating`), the buyer and other agents do not.
 */

for (const dialect of testDialects) {
  describe(`ratings (${dialect.name})`, () => {
    let app: TestApp;
    const t = {} as Record<string, string>;
    const ws = {} as Record<string, TestSocket>;
    let id: string;
    const rate = (who: string, body: unknown, conversationId = id) =>
      app.client.post(`/api/conversations/${conversationId}/rating`, { token: t[who], body });
    const setStatus = async (who: string, status: string, conversationId = id) => {
      const response = await app.client.post(`/api/conversations/${conversationId}/status`, {
        token: t[who],
        body: { status },
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
    };
    const ratingsOf = (who: string, conversationId = id) =>
      app.client.get(`/api/conversations/${conversationId}/ratings`, { token: t[who] });

    before(async () => {
      app = await startTestApp(dialect);
      Object.assign(t, await app.addUsers({ a1: 'admin', b1: 'buyer', b2: 'buyer', m1: 'merchant', m2: 'merchant' }));
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.m1b = await app.addUser('m1b', 'merchant', { team_id: 'm1', team_role: 'agent' });
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_assign: false } });
      for (const who of ['a1', 'b1', 'm1', 'm1s', 'm1a', 'm1b']) ws[who] = await app.connect(who, t[who] as string);
      id = await app.conversation(t.b1 as string, 'b1', 'm1');
      await sendText(app, t.b1 as string, id, '发票什么时候开？');
      const claim = await app.client.post(`/api/conversations/${id}/assignment`, {
        token: t.m1a,
        body: { assignee_id: 'm1a' },
      });
      assert.equal(claim.status, 200, JSON.stringify(claim.body));
    });
    after(() => app.close());

    test('only after a resolve: 409 conversation_not_resolved while open', async () => {
      assertError(await rate('b1', { score: 5 }), 409, 'conversation_not_resolved');
    });

    test('the buyer rates a resolution once; the team side and admins hear of it, not the buyer or another agent', async () => {
      await setStatus('m1a', 'resolved');
      const since = Object.fromEntries(Object.entries(ws).map(([who, socket]) => [who, socket.events.length]));
      const response = await rate('b1', { score: 4, comment: '客服很耐心' });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      const { id: ratingId, created_at, ...rest } = response.body;
      assert.equal(typeof ratingId, 'string');
      assert.equal(typeof created_at, 'number');
      assert.deepEqual(rest, {
        conversation_id: id,
        episode: 1,
        team_id: 'm1',
        assignee_id: 'm1a',
        rater_id: 'b1',
        score: 4,
        comment: '客服很耐心',
      });
      for (const who of ['m1', 'm1s', 'm1a', 'a1']) {
        const pushed = await ws[who]?.waitFor('rating', since[who]);
        assert.deepEqual(pushed, { type: 'rating', ...response.body }, who);
      }
      for (const who of ['b1', 'm1b']) {
        await ws[who]?.sync();
        assert.deepEqual(
          ws[who]?.events.slice(since[who]).filter((e) => e.type === 'rating'),
          [],
          `${who} hears of no rating`,
        );
      }
      assertError(await rate('b1', { score: 1 }), 409, 'already_rated');
    });

    test('nobody but the buyer rates: the team side and admins 403, strangers 404; bad scores 422', async () => {
      for (const who of ['m1', 'm1s', 'm1a']) assertError(await rate(who, { score: 5 }), 403, 'forbidden');
      assertError(await rate('a1', { score: 5 }), 403, 'admin_read_only');
      // m1b is an agent and the conversation is a colleague's: it does not exist to them.
      for (const who of ['b2', 'm2', 'm1b']) assertError(await rate(who, { score: 5 }), 404, 'conversation_not_found');
      for (const score of [0, 6, 4.5]) assertError(await rate('b1', { score }), 422);
      assertError(await rate('b1', { score: 3, comment: 'x'.repeat(501) }), 422);
    });

    test('a reopen starts a new episode: rated again after the next resolve, not before', async () => {
      await sendText(app, t.b1 as string, id, '发票还是没收到');
      assertError(await rate('b1', { score: 2 }), 409, 'conversation_not_resolved');
      await setStatus('m1s', 'resolved');
      const second = await rate('b1', { score: 2 });
      assert.equal(second.status, 201, JSON.stringify(second.body));
      assert.equal(second.body.episode, 2);
      assertError(await rate('b1', { score: 5 }), 409, 'already_rated');
      // Resolved → open → resolved by the team without a buyer message: a third episode.
      await setStatus('m1s', 'open');
      await setStatus('m1s', 'resolved');
      const third = await rate('b1', { score: 5 });
      assert.equal(third.status, 201, JSON.stringify(third.body));
      assert.equal(third.body.episode, 3);
    });

    test("a conversation's ratings: newest first to its team's owner, supervisors, assignee and admins", async () => {
      for (const who of ['m1', 'm1s', 'm1a', 'a1']) {
        const list = await ratingsOf(who);
        assert.equal(list.status, 200, JSON.stringify(list.body));
        assert.deepEqual(
          list.body.map((r: { episode: number; score: number }) => [r.episode, r.score]),
          [
            [3, 5],
            [2, 2],
            [1, 4],
          ],
          who,
        );
      }
      assertError(await ratingsOf('b1'), 403, 'forbidden');
      for (const who of ['m1b', 'm2', 'b2']) assertError(await ratingsOf(who), 404, 'conversation_not_found');
    });

    test("a team's ratings: all of them to the owner, supervisors and admins, an agent's own to an agent; paged by id", async () => {
      const team = (who: string, query = '') => app.client.get(`/api/teams/m1/ratings${query}`, { token: t[who] });
      for (const who of ['m1', 'm1s', 'm1a', 'a1']) {
        const list = await team(who);
        assert.equal(list.status, 200, JSON.stringify(list.body));
        assert.deepEqual(
          list.body.map((r: { episode: number }) => r.episode),
          [3, 2, 1],
          who,
        );
      }
      assert.deepEqual((await team('m1b')).body, [], 'no rating of a conversation m1b held');
      const first = await team('m1', '?limit=2');
      assert.deepEqual(
        first.body.map((r: { episode: number }) => r.episode),
        [3, 2],
      );
      const next = await team('m1', `?limit=2&before=${first.body[1].id}`);
      assert.deepEqual(
        next.body.map((r: { episode: number }) => r.episode),
        [1],
      );
      for (const who of ['m2', 'b1']) assertError(await team(who), 404, 'team_not_found');
      assertError(await app.client.get('/api/teams/nobody/ratings', { token: t.a1 }), 404, 'team_not_found');
    });

    test('two ratings of one resolution at once: one 201, one 409', async () => {
      const other = await app.conversation(t.b2 as string, 'b2', 'm1');
      await sendText(app, t.b2 as string, other, 'hi');
      await setStatus('m1', 'resolved', other);
      const answers = await Promise.all([rate('b2', { score: 5 }, other), rate('b2', { score: 1 }, other)]);
      assert.deepEqual(answers.map((a) => a.status).sort(), [201, 409]);
      const stored = await app.server.database.db
        .selectFrom('conversation_ratings')
        .select('episode')
        .where('conversation_id', '=', other)
        .execute();
      assert.deepEqual(
        stored.map((r) => Number(r.episode)),
        [1],
      );
    });
  });
}
