import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { until } from './helpers/polling.ts';
import { dropPrefix, REDIS_SKIP_REASON } from './helpers/redis.ts';
import { sendText } from './helpers/rest.ts';
import type { TestSocket } from './helpers/sockets.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Teams (issue 13): automatic assignment. A customer's message into a
 * conversation nobody holds goes to an online, available member under
 * capacity, the fewest open first, then the least recently assigned; the rest
 * wait in the queue, which drains when a member comes online, becomes
 * available or has room again, and on every instance's sweep (which also puts
 * the conversations of members gone offline past the grace back through
 * assignment). Two instances assigning at once never exceed a capacity.
 */

type Db = TestApp['server']['database']['db'];

const assigneeOf = async (db: Db, id: string) =>
  (await db.selectFrom('conversations').select('assignee_id').where('id', '=', id).executeTakeFirstOrThrow())
    .assignee_id;

/** Unresolved conversations each member holds. */
async function loads(db: Db, teamId: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('conversations')
    .select(['assignee_id'])
    .where('team_id', '=', teamId)
    .where('assignee_id', 'is not', null)
    .where('status', '!=', 'resolved')
    .execute();
  const counts: Record<string, number> = {};
  for (const row of rows) if (row.assignee_id) counts[row.assignee_id] = (counts[row.assignee_id] ?? 0) + 1;
  return counts;
}

for (const dialect of testDialects) {
  describe(`automatic assignment (${dialect.name})`, () => {
    let app: TestApp;
    const t = {} as Record<string, string>;
    const sockets: Record<string, TestSocket> = {};
    const db = () => app.server.database.db;

    before(async () => {
      app = await startTestApp(dialect);
      Object.assign(
        t,
        await app.addUsers({
          m1: 'merchant',
          b1: 'buyer',
          b2: 'buyer',
          b3: 'buyer',
          b4: 'buyer',
          b5: 'buyer',
          b6: 'buyer',
        }),
      );
      for (const id of ['m1a', 'm1b', 'm1c'])
        t[id] = await app.addUser(id, 'merchant', { team_id: 'm1', team_role: 'agent' });
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { max_open_per_agent: 2 } });
      sockets.m1a = await app.connect('m1a', t.m1a as string);
      sockets.m1b = await app.connect('m1b', t.m1b as string);
    });
    after(() => app.close());

    const write = async (buyer: string) => {
      const id = await app.conversation(t[buyer] as string, buyer, 'm1');
      await sendText(app, t[buyer] as string, id, `${buyer} needs help`);
      return id;
    };

    test('fewest open first, then least recently assigned; never an offline member; capacity holds; the rest queue', async () => {
      const first = await write('b1');
      const a = await until(
        () => assigneeOf(db(), first),
        (v) => v !== null,
        'the first assignment',
      );
      const second = await write('b2');
      const b = await until(
        () => assigneeOf(db(), second),
        (v) => v !== null,
        'the second assignment',
      );
      assert.notEqual(a, b, 'the one with fewer open conversations');
      assert.ok(
        [a, b].every((who) => who === 'm1a' || who === 'm1b'),
        'm1c is offline',
      );
      const log = await db()
        .selectFrom('conversation_assignments')
        .select(['kind', 'to_id'])
        .where('conversation_id', '=', first)
        .execute();
      assert.deepEqual(
        log.map((entry) => [entry.kind, entry.to_id]),
        [['auto', a]],
      );
      const system = await db()
        .selectFrom('messages')
        .select('content')
        .where('conversation_id', '=', first)
        .where('message_type', '=', 'system')
        .execute();
      assert.equal(system.length, 1);
      await write('b3');
      await write('b4');
      await until(
        () => loads(db(), 'm1'),
        (l) => l.m1a === 2 && l.m1b === 2,
        'two each',
      );
      const waiting = await write('b5');
      await app.server.autoAssign.sweep();
      assert.equal(await assigneeOf(db(), waiting), null, 'everyone is at capacity: it waits in the queue');
      assert.deepEqual(await loads(db(), 'm1'), { m1a: 2, m1b: 2 });
    });

    test('the queue drains when a member comes online, has room again, or becomes available', async () => {
      const waiting = (
        await db()
          .selectFrom('conversations')
          .select('id')
          .where('team_id', '=', 'm1')
          .where('assignee_id', 'is', null)
          .execute()
      ).map((r) => r.id);
      assert.equal(waiting.length, 1);
      // A member coming online takes the oldest queued conversation.
      sockets.m1c = await app.connect('m1c', t.m1c as string);
      await until(
        () => assigneeOf(db(), waiting[0] as string),
        (v) => v === 'm1c',
        'm1c takes the queue',
      );
      // m1c unavailable: a new one waits; resolving one of m1a's makes room, and it goes there.
      await app.client.patch('/api/teams/m1/members/m1c', { token: t.m1c, body: { available: false } });
      const next = await write('b6');
      await app.server.autoAssign.sweep();
      assert.equal(await assigneeOf(db(), next), null);
      const held = await db()
        .selectFrom('conversations')
        .select('id')
        .where('assignee_id', '=', 'm1a')
        .executeTakeFirstOrThrow();
      const resolved = await app.client.post(`/api/conversations/${held.id}/status`, {
        token: t.m1a,
        body: { status: 'resolved' },
      });
      assert.equal(resolved.status, 200);
      await until(
        () => assigneeOf(db(), next),
        (v) => v === 'm1a',
        'm1a has room again',
      );
      // Back to available: m1c gets nothing more while the queue is empty, and capacity still holds.
      await app.client.patch('/api/teams/m1/members/m1c', { token: t.m1c, body: { available: true } });
      const l = await loads(db(), 'm1');
      assert.ok(
        Object.values(l).every((n) => n <= 2),
        JSON.stringify(l),
      );
    });

    test('a resolved conversation the customer reopens goes back to its previous holder when they can take it', async () => {
      // Room for everyone, so the previous holder can take it.
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { max_open_per_agent: 10 } });
      const id = await app.conversation(t.b1 as string, 'b1', 'm1');
      const holder = await assigneeOf(db(), id);
      assert.ok(holder);
      await app.client.post(`/api/conversations/${id}/assignment`, {
        token: t[holder] as string,
        body: { assignee_id: null },
      });
      await app.client.post(`/api/conversations/${id}/status`, { token: t.m1, body: { status: 'resolved' } });
      // The release made room and drained: make sure it was not taken before it is reopened.
      await db()
        .updateTable('conversations')
        .set({ assignee_id: null, previous_assignee_id: holder, awaiting_reply_since: null })
        .where('id', '=', id)
        .execute();
      await sendText(app, t.b1 as string, id, 'it broke again');
      await until(
        () => assigneeOf(db(), id),
        (v) => v !== null,
        'reassigned',
      );
      assert.equal(await assigneeOf(db(), id), holder);
    });

    test('a member offline past the grace: their conversations awaiting a reply go back through assignment', async () => {
      const held = await db()
        .selectFrom('conversations')
        .select('id')
        .where('assignee_id', '=', 'm1b')
        .where('status', '=', 'open')
        .execute();
      assert.ok(held.length > 0);
      await sockets.m1b?.close();
      await app.server.realtime.settled();
      const now = Date.now();
      await app.server.autoAssign.sweep(now);
      assert.equal(await assigneeOf(db(), held[0]?.id as string), 'm1b', 'within the grace nothing moves');
      await app.server.autoAssign.sweep(now + 2 * 60_000 + 1);
      for (const { id } of held) assert.notEqual(await assigneeOf(db(), id), 'm1b');
      const kinds = await db()
        .selectFrom('conversation_assignments')
        .select('kind')
        .where('conversation_id', '=', held[0]?.id as string)
        .where('kind', '=', 'requeue')
        .execute();
      assert.equal(kinds.length, 1);
    });

    test('auto-resolve: conversations idle past the team setting are resolved by the sweep', async () => {
      await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_resolve_hours: 1 } });
      const id = await app.conversation(t.b2 as string, 'b2', 'm1');
      await db()
        .updateTable('conversations')
        .set({ updated_at: Math.floor(Date.now() / 1000) - 7200 })
        .where('id', '=', id)
        .execute();
      await app.server.autoAssign.sweep();
      const row = await db()
        .selectFrom('conversations')
        .select(['status'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'resolved');
    });
  });
}

/** Two instances on one database and one Redis: presence is shared, capacity holds under concurrency. */
const mysql = testDialects.find((dialect) => dialect.name === 'mysql');
describe('automatic assignment across two instances (mysql)', {
  skip: REDIS_SKIP_REASON || (mysql ? false : 'TEST_MYSQL_URL is not set'),
}, () => {
  const prefix = `chat-test:${randomUUID()}:`;
  let appA: TestApp;
  let appB: TestApp;
  const AGENTS = ['m1a', 'm1b', 'm1c', 'm1d'];
  const CAPACITY = 3;
  const BUYERS = 30;
  const t = {} as Record<string, string>;

  before(async () => {
    appA = await startTestApp(mysql as NonNullable<typeof mysql>, {
      redis: { prefix, instanceId: 'A', busOnly: true },
    });
    appB = await startTestApp(mysql as NonNullable<typeof mysql>, {
      sharedDatabase: appA.scratch.urlString,
      redis: { prefix, instanceId: 'B', busOnly: true },
    });
    t.m1 = await appA.addUser('m1', 'merchant');
    for (const id of AGENTS) t[id] = await appA.addUser(id, 'merchant', { team_id: 'm1', team_role: 'agent' });
    for (let i = 0; i < BUYERS; i++) t[`b${i}`] = await appA.addUser(`b${i}`, 'buyer');
    await appA.client.put('/api/teams/m1/settings', { token: t.m1, body: { max_open_per_agent: CAPACITY } });
    // Half the agents on each instance; the last one stays offline for now.
    await appA.connect('m1a', t.m1a as string);
    await appB.connect('m1b', t.m1b as string);
    await appA.connect('m1c', t.m1c as string);
  });
  after(async () => {
    await appB.close();
    await appA.close();
    await dropPrefix(prefix);
  });

  test('30 buyers at once through both instances: 3 agents × capacity 3 are filled, none beyond, one holder each', async () => {
    const db = appA.server.database.db;
    await Promise.all(
      Array.from({ length: BUYERS }, async (_, i) => {
        const app = i % 2 === 0 ? appA : appB;
        const id = await app.conversation(t[`b${i}`] as string, `b${i}`, 'm1');
        await sendText(app, t[`b${i}`] as string, id, `buyer ${i}`);
      }),
    );
    await until(
      () => loads(db, 'm1'),
      (l) => Object.values(l).reduce((a, b) => a + b, 0) === 9,
      'nine assigned',
    );
    await Promise.all([appA.server.autoAssign.sweep(), appB.server.autoAssign.sweep()]);
    const l = await loads(db, 'm1');
    assert.deepEqual(l, { m1a: 3, m1b: 3, m1c: 3 });
    const logged = await db
      .selectFrom('conversation_assignments')
      .select(['conversation_id'])
      .where('kind', '=', 'auto')
      .execute();
    assert.equal(logged.length, 9, 'one assignment per assigned conversation');
    assert.equal(new Set(logged.map((row) => row.conversation_id)).size, 9);

    // The fourth agent comes online on B: the oldest queued conversations go to them, up to capacity.
    await appB.connect('m1d', t.m1d as string);
    await until(
      () => loads(db, 'm1'),
      (l2) => l2.m1d === CAPACITY,
      'm1d filled from the queue',
    );
    // Both instances sweep at once: still nobody beyond capacity.
    await Promise.all([appA.server.autoAssign.sweep(), appB.server.autoAssign.sweep()]);
    assert.deepEqual(await loads(db, 'm1'), { m1a: 3, m1b: 3, m1c: 3, m1d: 3 });
    const queued = await db
      .selectFrom('conversations')
      .select('id')
      .where('team_id', '=', 'm1')
      .where('assignee_id', 'is', null)
      .execute();
    assert.equal(queued.length, BUYERS - 12);
  });
});
