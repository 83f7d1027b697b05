import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { testDialects } from './helpers/databases.ts';
import { sendText } from './helpers/rest.ts';
import type { TestSocket } from './helpers/sockets.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Slow-reply alerts (issue 14), scheduled from the database: a customer turn
 * waiting past the team's slow_reply_seconds alerts the assignee (in the queue
 * every member) and the owner and supervisors, past slow_reply_escalation_seconds
 * the owner and supervisors; once per threshold per turn, also when two
 * instances sweep at once; a human answer ends the turn. Waits are made by
 * moving the turn's start back in the database (the sweep reads nothing else);
 * the sockets are marked before, as every instance's own 5 s sweep may alert first.
 */

for (const dialect of testDialects) {
  describe(`slow-reply alerts (${dialect.name})`, () => {
    let app: TestApp;
    const t = {} as Record<string, string>;
    const ws = {} as Record<string, TestSocket>;
    let id: string;
    const db = () => app.server.database.db;
    /** Moves the current turn (and the alert claimed for it) `seconds` into the past. */
    const age = (seconds: number) =>
      db()
        .updateTable('conversations')
        .set({
          awaiting_reply_since: sql`awaiting_reply_since - ${seconds}`,
          slow_alert_since: sql`slow_alert_since - ${seconds}`,
        })
        .where('id', '=', id)
        .execute();
    /** Two instances sweeping at once. */
    const sweepTwice = async () =>
      (await Promise.all([app.server.slowReplies.sweep(), app.server.slowReplies.sweep()])).reduce((a, b) => a + b);
    /**
     * Waits for the alerts `expected` names (an alert's audience is resolved
     * asynchronously: the assignee is read), then, after a round trip on each
     * socket, asserts every socket got exactly those since `since`.
     */
    const assertAlerts = async (since: Record<string, number>, expected: Record<string, number[]>) => {
      for (const [who, levels] of Object.entries(expected)) {
        for (const level of levels) {
          await ws[who]?.waitFor(
            (e) => e.type === 'slow_reply' && e.conversation_id === id && e.level === level,
            since[who],
          );
        }
      }
      const got: Record<string, number[]> = {};
      for (const [who, socket] of Object.entries(ws)) {
        await socket.sync();
        got[who] = socket.events
          .slice(since[who])
          .filter((e) => e.type === 'slow_reply' && e.conversation_id === id)
          .map((e) => e.level);
      }
      assert.deepEqual(got, { a1: [], b1: [], m1: [], m1s: [], m1a: [], m1b: [], ...expected });
    };
    const mark = () => Object.fromEntries(Object.entries(ws).map(([who, socket]) => [who, socket.events.length]));

    before(async () => {
      app = await startTestApp(dialect);
      Object.assign(t, await app.addUsers({ a1: 'admin', b1: 'buyer', m1: 'merchant' }));
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.m1b = await app.addUser('m1b', 'merchant', { team_id: 'm1', team_role: 'agent' });
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_assign: false } });
      for (const who of ['a1', 'b1', 'm1', 'm1s', 'm1a', 'm1b']) ws[who] = await app.connect(who, t[who] as string);
      id = await app.conversation(t.b1 as string, 'b1', 'm1');
    });
    after(() => app.close());

    test('in the queue: the first alert to every member, the owner and supervisors, once across two sweepers', async () => {
      await sendText(app, t.b1 as string, id, '在吗？');
      let since = mark();
      assert.equal(await sweepTwice(), 0, 'not yet 100 s');
      since = mark();
      await age(120);
      assert.ok((await sweepTwice()) <= 1);
      await assertAlerts(since, { m1: [1], m1s: [1], m1a: [1], m1b: [1] });
      const event = ws.m1a?.events.findLast((e) => e.type === 'slow_reply');
      assert.equal(event?.threshold_seconds, 100);
      assert.ok(event?.waited_seconds >= 120);
      since = mark();
      assert.equal(await sweepTwice(), 0);
      await assertAlerts(since, {});
    });

    test('the second alert at 180 s to the owner and supervisors only, once', async () => {
      await app.client.post(`/api/conversations/${id}/assignment`, { token: t.m1a, body: { assignee_id: 'm1a' } });
      const since = mark();
      await age(70);
      assert.ok((await sweepTwice()) <= 1);
      await assertAlerts(since, { m1: [2], m1s: [2], m1a: [], m1b: [] });
      assert.equal(await sweepTwice(), 0);
    });

    test('a human answer ends the turn; the next turn alerts its assignee again', async () => {
      await sendText(app, t.m1a as string, id, '您好');
      let since = mark();
      await age(500);
      await sweepTwice();
      await assertAlerts(since, {});
      await sendText(app, t.b1 as string, id, '还有个问题');
      since = mark();
      await age(150);
      assert.ok((await sweepTwice()) <= 1);
      await assertAlerts(since, { m1: [1], m1s: [1], m1a: [1], m1b: [] });
    });

    test("the team's thresholds are settings", async () => {
      await sendText(app, t.m1a as string, id, '请讲');
      const settings = await app.client.put('/api/teams/m1/settings', {
        token: t.m1s,
        body: { slow_reply_seconds: 300, slow_reply_escalation_seconds: 600 },
      });
      assert.deepEqual([settings.body.slow_reply_seconds, settings.body.slow_reply_escalation_seconds], [300, 600]);
      await sendText(app, t.b1 as string, id, '在吗');
      let since = mark();
      await age(200);
      await sweepTwice();
      await assertAlerts(since, {});
      since = mark();
      await age(150);
      await sweepTwice();
      await assertAlerts(since, { m1: [1], m1s: [1], m1a: [1], m1b: [] });
    });
  });
}
