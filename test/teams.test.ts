import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { seedDemoData } from '../src/cli/seed.ts';
import { testDialects } from './helpers/databases.ts';
import { insertConversation } from './helpers/factories.ts';
import { assertError } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/** Teams (issue 13): the team API, team members made by the API and by POST /api/auth/token, the seed. */

const PLATFORM_KEY = 'platform-key-for-team-tests';

/** A team's auto-reply settings (issue 14) until it sets one. */
const NO_AUTO_REPLIES = {
  welcome_message: null,
  away_message: null,
  timezone: 'Asia/Shanghai',
  business_hours: [],
  days_off: [],
  keyword_replies: [],
  slow_reply_seconds: 100,
  slow_reply_escalation_seconds: 180,
};

for (const dialect of testDialects) {
  describe(`teams (${dialect.name})`, () => {
    let app: TestApp;
    let t: Record<string, string>;

    before(async () => {
      app = await startTestApp(dialect, { env: { PLATFORM_API_KEY: PLATFORM_KEY } });
      t = await app.addUsers({ a1: 'admin', b1: 'buyer', m1: 'merchant', m2: 'merchant', p1: 'service' });
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.m2a = await app.addUser('m2a', 'merchant', { team_id: 'm2', team_role: 'agent' });
    });
    after(() => app.close());

    const get = (token: string, owner = 'm1') => app.client.get(`/api/teams/${owner}`, { token });

    test('a merchant account owns a team of one, with default settings', async () => {
      const response = await get(t.m2 as string, 'm2');
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual(response.body.settings, {
        max_open_per_agent: 10,
        auto_assign: true,
        auto_resolve_hours: null,
        ...NO_AUTO_REPLIES,
      });
      assert.deepEqual(
        response.body.members.map((m: any) => [m.user.id, m.team_role]),
        [
          ['m2', 'owner'],
          ['m2a', 'agent'],
        ],
      );
    });

    test("GET: the team's members and admins; everyone else 404, even a team's agent", async () => {
      for (const who of ['m1', 'm1s', 'm1a', 'a1']) {
        const response = await get(t[who] as string);
        assert.equal(response.status, 200, `${who}: ${JSON.stringify(response.body)}`);
        assert.deepEqual(
          response.body.members.map((m: any) => [m.user.id, m.team_role, m.available, m.online, m.open_count]),
          [
            ['m1', 'owner', true, false, 0],
            ['m1s', 'supervisor', true, false, 0],
            ['m1a', 'agent', true, false, 0],
          ],
        );
      }
      for (const who of ['b1', 'm2', 'm2a', 'p1']) assertError(await get(t[who] as string), 404, 'team_not_found');
      assertError(await get(t.a1 as string, 'b1'), 404, 'team_not_found');
      assertError(await app.client.get('/api/teams/m1'), 401);
    });

    test('members: the owner and admins create them; supervisors and agents 403; strangers 404', async () => {
      const body = (username: string) => ({ username, password: 'secret123', team_role: 'agent' });
      const created = await app.client.post('/api/teams/m1/members', { token: t.m1, body: body('华润-新人') });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.user.role, 'merchant');
      assert.equal(created.body.team_role, 'agent');
      assert.equal(created.body.open_count, 0);
      const login = await app.client.post('/api/auth/login', {
        body: { username: '华润-新人', password: 'secret123' },
      });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      assert.equal(login.body.user.id, created.body.user.id);
      const byAdmin = await app.client.post('/api/teams/m1/members', { token: t.a1, body: body('华润-新人2') });
      assert.equal(byAdmin.status, 201, JSON.stringify(byAdmin.body));
      assertError(await app.client.post('/api/teams/m1/members', { token: t.m1s, body: body('x1') }), 403);
      assertError(await app.client.post('/api/teams/m1/members', { token: t.m1a, body: body('x2') }), 403);
      assertError(await app.client.post('/api/teams/m1/members', { token: t.m2, body: body('x3') }), 404);
      assertError(
        await app.client.post('/api/teams/m1/members', { token: t.m1, body: { ...body('x4'), team_role: 'owner' } }),
        422,
      );
      // A merchant's staff cannot take a platform-staff name.
      assertError(await app.client.post('/api/teams/m1/members', { token: t.m1, body: body('平台客服小李') }), 422);
    });

    test('PATCH: a member sets their own availability; roles and capacity are the owner’s', async () => {
      const own = await app.client.patch('/api/teams/m1/members/m1a', { token: t.m1a, body: { available: false } });
      assert.equal(own.status, 200, JSON.stringify(own.body));
      assert.equal(own.body.available, false);
      assertError(await app.client.patch('/api/teams/m1/members/m1a', { token: t.m1a, body: { max_open: 3 } }), 403);
      assertError(
        await app.client.patch('/api/teams/m1/members/m1s', { token: t.m1a, body: { available: false } }),
        403,
      );
      assertError(
        await app.client.patch('/api/teams/m1/members/m1a', { token: t.m2a, body: { available: true } }),
        404,
      );
      const byOwner = await app.client.patch('/api/teams/m1/members/m1a', {
        token: t.m1,
        body: { available: true, max_open: 3, team_role: 'supervisor' },
      });
      assert.equal(byOwner.status, 200, JSON.stringify(byOwner.body));
      assert.deepEqual(
        [byOwner.body.available, byOwner.body.max_open, byOwner.body.team_role],
        [true, 3, 'supervisor'],
      );
      const back = await app.client.patch('/api/teams/m1/members/m1a', {
        token: t.a1,
        body: { team_role: 'agent', max_open: null },
      });
      assert.deepEqual([back.body.max_open, back.body.team_role], [null, 'agent']);
      assertError(await app.client.patch('/api/teams/m1/members/m2a', { token: t.m1, body: { available: true } }), 404);
      assertError(
        await app.client.patch('/api/teams/m1/members/m1', { token: t.m1, body: { team_role: 'agent' } }),
        400,
      );
    });

    test('DELETE: the member is gone and their open conversations are back in the queue, logged', async () => {
      await app.addUser('m1gone', 'merchant', { team_id: 'm1', team_role: 'agent' });
      const db = app.server.database.db;
      const buyer = { id: 'b1' };
      const open = await insertConversation(db, buyer, { id: 'm1' }, { team_id: 'm1', assignee_id: 'm1gone' });
      assertError(await app.client.delete('/api/teams/m1/members/m1gone', { token: t.m1s }), 403);
      const removed = await app.client.delete('/api/teams/m1/members/m1gone', { token: t.m1 });
      assert.equal(removed.status, 200, JSON.stringify(removed.body));
      const row = await db.selectFrom('conversations').selectAll().where('id', '=', open.id).executeTakeFirstOrThrow();
      assert.deepEqual([row.assignee_id, row.previous_assignee_id], [null, 'm1gone']);
      const log = await db
        .selectFrom('conversation_assignments')
        .selectAll()
        .where('conversation_id', '=', open.id)
        .execute();
      assert.deepEqual(
        log.map((entry) => [entry.kind, entry.actor_id, entry.from_id, entry.to_id]),
        [['member_removed', 'm1', 'm1gone', null]],
      );
      const user = await db.selectFrom('users').select('status').where('id', '=', 'm1gone').executeTakeFirstOrThrow();
      assert.equal(user.status, 'deleted');
      const team = await get(t.m1 as string);
      assert.ok(!team.body.members.some((m: any) => m.user.id === 'm1gone'));
      assertError(await app.client.delete('/api/teams/m1/members/m1gone', { token: t.m1 }), 404, 'member_not_found');
      assertError(await app.client.delete('/api/teams/m1/members/m1', { token: t.m1 }), 400);
    });

    test('settings: partial update by the owner, supervisors and admins; agents 403, strangers 404', async () => {
      const put = (token: string, body: unknown) => app.client.put('/api/teams/m1/settings', { token, body });
      const first = await put(t.m1s as string, { max_open_per_agent: 4 });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.deepEqual(first.body, {
        max_open_per_agent: 4,
        auto_assign: true,
        auto_resolve_hours: null,
        ...NO_AUTO_REPLIES,
      });
      const second = await put(t.a1 as string, { auto_resolve_hours: 48, auto_assign: false });
      assert.deepEqual(second.body, {
        max_open_per_agent: 4,
        auto_assign: false,
        auto_resolve_hours: 48,
        ...NO_AUTO_REPLIES,
      });
      const third = await put(t.m1 as string, { auto_resolve_hours: null, auto_assign: true, max_open_per_agent: 10 });
      assert.deepEqual(third.body, {
        max_open_per_agent: 10,
        auto_assign: true,
        auto_resolve_hours: null,
        ...NO_AUTO_REPLIES,
      });
      assertError(await put(t.m1a as string, { max_open_per_agent: 1 }), 403);
      assertError(await put(t.m2 as string, { max_open_per_agent: 1 }), 404);
      assertError(await put(t.m1 as string, { max_open_per_agent: 0 }), 422);
      assert.deepEqual((await get(t.m1 as string)).body.settings.max_open_per_agent, 10);
    });

    test('POST /api/auth/token with team_id creates the member in that team on first use', async () => {
      const token = (body: Record<string, unknown>) =>
        app.client.post('/api/auth/token', { headers: { 'x-api-key': PLATFORM_KEY }, body });
      const first = await token({ user_id: 'host-staff-1', role: 'merchant', username: '华润-外部', team_id: 'm1' });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const row = await app.server.database.db
        .selectFrom('users')
        .selectAll()
        .where('id', '=', 'host-staff-1')
        .executeTakeFirstOrThrow();
      assert.deepEqual([row.team_id, row.team_role], ['m1', 'agent']);
      assert.equal((await token({ user_id: 'host-staff-1', role: 'merchant', team_id: 'm1' })).status, 200);
      assertError(await token({ user_id: 'host-staff-1', role: 'merchant', team_id: 'm2' }), 409, 'not_a_team_member');
      assertError(await token({ user_id: 'host-staff-2', role: 'service', team_id: 'm1' }), 409, 'not_a_team_member');
      assertError(await token({ user_id: 'host-staff-3', role: 'merchant', team_id: 'b1' }), 404, 'team_not_found');
      const none = await app.server.database.db
        .selectFrom('users')
        .select('id')
        .where('id', 'in', ['host-staff-2', 'host-staff-3'])
        .execute();
      assert.deepEqual(none, []);
      // Without team_id a merchant is a shop of its own.
      await token({ user_id: 'host-shop-1', role: 'merchant' });
      const shop = await get(t.a1 as string, 'host-shop-1');
      assert.equal(shop.status, 200);
      assert.deepEqual(
        shop.body.members.map((m: any) => m.team_role),
        ['owner'],
      );
    });
  });

  describe(`teams: the demo seed (${dialect.name})`, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp(dialect);
      await seedDemoData(app.server.database.db);
    });
    after(() => app.close());

    test('m1 gets a supervisor and two agents, p1 two agents, all signing in with printed passwords', async () => {
      const lines: string[] = [];
      await seedDemoData(app.server.database.db, (line) => lines.push(line));
      const admin = await app.client.post('/api/auth/login', { body: { username: 'admin', password: 'admin123' } });
      for (const [owner, expected] of [
        ['m1', ['owner', 'supervisor', 'agent', 'agent']],
        ['p1', ['owner', 'agent', 'agent']],
      ] as const) {
        const team = await app.client.get(`/api/teams/${owner}`, { token: admin.body.access_token });
        assert.equal(team.status, 200, JSON.stringify(team.body));
        assert.deepEqual(
          team.body.members.map((m: any) => m.team_role),
          expected,
        );
      }
      const fresh: string[] = [];
      const other = await startTestApp(dialect);
      try {
        await seedDemoData(other.server.database.db, (line) => fresh.push(line));
        const agent = fresh.find((line) => line.includes('m1a1'));
        const password = agent?.match(/password: (\S+)/)?.[1];
        assert.ok(password, agent);
        const login = await other.client.post('/api/auth/login', { body: { username: '华润医药-小王', password } });
        assert.equal(login.status, 200, JSON.stringify(login.body));
        assert.deepEqual([login.body.user.id, login.body.user.role], ['m1a1', 'merchant']);
      } finally {
        await other.close();
      }
    });
  });
}
