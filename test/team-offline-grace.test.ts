import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { until } from './helpers/polling.ts';
import { dropPrefix, REDIS_SKIP_REASON } from './helpers/redis.ts';
import { sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * The offline grace (issue 13) is shared state, not one instance's memory: a
 * member's last connection in the cluster closing marks `users.offline_since`,
 * their next connection clears it, and any instance's sweep, the restarted one
 * included, requeues their conversations awaiting a reply once the grace has
 * passed, exactly once however many instances sweep.
 */

const GRACE_MS = 60_000;

for (const dialect of testDialects) {
  describe(`offline grace across instances and restarts (${dialect.name})`, {
    skip: REDIS_SKIP_REASON,
  }, () => {
    const prefix = `chat-test:${randomUUID()}:`;
    const server = { teamOfflineGraceMs: GRACE_MS };
    let appA: TestApp;
    let appB: TestApp | undefined;
    const t = {} as Record<string, string>;
    const instance = (id: string, shared?: string) =>
      startTestApp(dialect, {
        ...(shared ? { sharedDatabase: shared } : {}),
        redis: { prefix, instanceId: id, busOnly: true },
        server,
      });
    const db = () => appA.server.database.db;
    const offlineSince = async (id: string) =>
      (await db().selectFrom('users').select('offline_since').where('id', '=', id).executeTakeFirstOrThrow())
        .offline_since;
    const holderOf = async (id: string) =>
      (await db().selectFrom('conversations').select('assignee_id').where('id', '=', id).executeTakeFirstOrThrow())
        .assignee_id;
    const requeues = (id: string) =>
      db()
        .selectFrom('conversation_assignments')
        .select('kind')
        .where('conversation_id', '=', id)
        .where('kind', '=', 'requeue')
        .execute();

    before(async () => {
      appA = await instance('A');
      appB = await instance('B', appA.scratch.urlString);
      Object.assign(t, await appA.addUsers({ m1: 'merchant', b1: 'buyer', b2: 'buyer' }));
      t.m1a = await appA.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.m1b = await appA.addUser('m1b', 'merchant', { team_id: 'm1', team_role: 'agent' });
      // Manual assignment: the requeue itself is what is watched, not who takes it next.
      await appA.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_assign: false } });
    });
    after(async () => {
      await appB?.close();
      await appA.close();
      await dropPrefix(prefix);
    });

    /** A conversation of `buyer` with m1, awaiting a reply, held by `holder`. */
    async function heldBy(buyer: string, holder: string): Promise<string> {
      const id = await appA.conversation(t[buyer] as string, buyer, 'm1');
      await sendText(appA, t[buyer] as string, id, '请问发货了吗');
      const given = await appA.client.post(`/api/conversations/${id}/assignment`, {
        token: t.m1,
        body: { assignee_id: holder },
      });
      assert.equal(given.status, 200, JSON.stringify(given.body));
      return id;
    }

    test("the member leaves on B, B restarts: any instance's sweep requeues after the grace, once", async () => {
      const id = await heldBy('b1', 'm1a');
      const socket = await (appB as TestApp).connect('m1a', t.m1a as string);
      // A second connection on A: closing B's alone is not leaving the cluster.
      const other = await appA.connect('m1a', t.m1a as string);
      await socket.close();
      await (appB as TestApp).server.realtime.settled();
      assert.equal(await offlineSince('m1a'), null, 'still connected on A');
      await other.close();
      await appA.server.realtime.settled();
      const left = await offlineSince('m1a');
      assert.ok(left !== null && Math.abs(Number(left) - Date.now()) < 10_000, `offline since ${left}`);

      // B restarts: what B's memory knew is gone; the database still knows.
      await (appB as TestApp).close();
      appB = await instance('B2', appA.scratch.urlString);
      const restarted = appB;
      await Promise.all([appA.server.autoAssign.sweep(), restarted.server.autoAssign.sweep()]);
      assert.equal(await holderOf(id), 'm1a', 'within the grace nothing moves');

      const past = Number(left) + GRACE_MS + 1;
      await Promise.all([appA.server.autoAssign.sweep(past), restarted.server.autoAssign.sweep(past)]);
      assert.equal(await holderOf(id), null, 'back in the queue');
      assert.equal((await requeues(id)).length, 1, 'requeued once by the two sweeps');
    });

    test('coming back clears the mark; a member whose instance died is marked by the first sweep that misses them', async () => {
      const back = await (appB as TestApp).connect('m1a', t.m1a as string);
      await until(
        () => offlineSince('m1a'),
        (since) => since === null,
        'm1a back',
      );
      await back.close();

      // m1b never connected (as if their instance died without saying): no mark until a sweep misses them.
      const id = await heldBy('b2', 'm1b');
      assert.equal(await offlineSince('m1b'), null);
      const now = Date.now();
      await appA.server.autoAssign.sweep(now);
      assert.equal(Number(await offlineSince('m1b')), now);
      assert.equal(await holderOf(id), 'm1b');
      await (appB as TestApp).server.autoAssign.sweep(now + GRACE_MS + 1);
      assert.equal(await holderOf(id), null);
      assert.equal((await requeues(id)).length, 1);
    });
  });
}
