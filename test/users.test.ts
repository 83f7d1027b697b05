import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { assertError, openConversation, rowCounts } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

const ids = (body: { results: { id: string }[] }) => body.results.map((user) => user.id);

for (const dialect of testDialects) {
  describe(`users (${dialect.name})`, () => {
    let app: TestApp;
    let admin: string;
    let buyer: string;
    let buyer2: string;
    let merchant: string;
    let service: string;

    before(async () => {
      app = await startTestApp(dialect);
      [admin, buyer, buyer2, merchant, service] = await Promise.all([
        app.addUser('a1', 'admin', { username: 'root' }),
        app.addUser('b1', 'buyer', { username: 'alice' }),
        app.addUser('b2', 'buyer', { username: 'bob' }),
        app.addUser('m1', 'merchant', { username: 'shop_one' }),
        app.addUser('p1', 'service', { username: 'helpdesk' }),
      ]);
      await Promise.all([
        app.addUser('m2', 'merchant', { username: 'shop%two' }),
        app.addUser('m3', 'merchant', { username: 'closed-shop', status: 'inactive' }),
        app.addUser('m4', 'merchant', { username: 'gone-shop', status: 'deleted' }),
      ]);
    });
    after(() => app.close());

    describe('GET /api/users/', () => {
      test('an admin sees everyone, whatever their role or status', async () => {
        const list = await app.client.get('/api/users/?page_size=100', { token: admin });
        assert.equal(list.status, 200);
        const all = await rowCounts(app);
        assert.equal(list.body.count, all.users);
        for (const id of ['a1', 'b1', 'b2', 'm1', 'm3', 'm4', 'p1']) assert.ok(ids(list.body).includes(id), id);
        const buyers = await app.client.get('/api/users/?role=buyer', { token: admin });
        assert.ok(buyers.body.results.every((u: { role: string }) => u.role === 'buyer'));
        assert.ok(ids(buyers.body).includes('b1') && ids(buyers.body).includes('b2'));
      });

      test('others see only the active merchant/service directory', async () => {
        for (const token of [buyer, merchant, service]) {
          const list = await app.client.get('/api/users/?page_size=100', { token });
          assert.equal(list.status, 200);
          assert.deepEqual(ids(list.body).sort(), ['m1', 'm2', 'p1']);
          assert.equal(list.body.count, 3);
        }
        const services = await app.client.get('/api/users/?role=platform', { token: buyer });
        assert.deepEqual(ids(services.body), ['p1']);
      });

      test('a non-admin asking for buyers or admins gets 403', async () => {
        assertError(await app.client.get('/api/users/?role=buyer', { token: buyer }), 403, 'forbidden');
        assertError(await app.client.get('/api/users/?role=admin', { token: merchant }), 403, 'forbidden');
      });

      test('q matches an id prefix or a username substring, with LIKE wildcards taken literally', async () => {
        assert.deepEqual(ids((await app.client.get('/api/users/?q=shop', { token: buyer })).body).sort(), ['m1', 'm2']);
        assert.deepEqual(ids((await app.client.get('/api/users/?q=m2', { token: buyer })).body), ['m2']);
        assert.deepEqual(ids((await app.client.get('/api/users/?q=help', { token: buyer })).body), ['p1']);
        assert.deepEqual(ids((await app.client.get('/api/users/?q=%25', { token: buyer })).body), ['m2']);
        assert.deepEqual(ids((await app.client.get('/api/users/?q=_', { token: buyer })).body), ['m1']);
        const none = await app.client.get('/api/users/?q=zzz', { token: admin });
        assert.deepEqual(none.body, { count: 0, results: [] });
        // The directory rule still applies to a search.
        assert.deepEqual(ids((await app.client.get('/api/users/?q=b', { token: buyer })).body), []);
        assert.deepEqual(ids((await app.client.get('/api/users/?q=b', { token: admin })).body).sort(), ['b1', 'b2']);
      });

      test('q matches case-insensitively on every dialect (MySQL columns use a binary collation)', async () => {
        assert.deepEqual(ids((await app.client.get('/api/users/?q=ALICE', { token: admin })).body), ['b1']);
        assert.deepEqual(ids((await app.client.get('/api/users/?q=Shop_One', { token: buyer })).body), ['m1']);
        assert.deepEqual(ids((await app.client.get('/api/users/?q=M2', { token: buyer })).body), ['m2']);
        assert.deepEqual(ids((await app.client.get('/api/users/?q=B', { token: admin })).body).sort(), ['b1', 'b2']);
      });

      test('pages partition the list; a page beyond the end is empty with the right count', async () => {
        const all = await app.client.get('/api/users/?page_size=100', { token: admin });
        const seen: string[] = [];
        for (let page = 1; page <= 4; page++) {
          const response = await app.client.get(`/api/users/?page=${page}&page_size=3`, { token: admin });
          assert.equal(response.status, 200);
          assert.equal(response.body.count, all.body.count);
          seen.push(...ids(response.body));
        }
        assert.deepEqual(seen, ids(all.body));
        const beyond = await app.client.get('/api/users/?page=50&page_size=20', { token: admin });
        assert.deepEqual(beyond.body, { count: all.body.count, results: [] });
        const defaults = await app.client.get('/api/users/', { token: admin });
        assert.equal(defaults.body.results.length, Math.min(20, all.body.count));
      });

      for (const query of [
        'page_size=0',
        'page_size=101',
        'page_size=abc',
        'page_size=',
        'page_size=true',
        'page=0',
        'page=-1',
        'page=1.5',
        'page=0x10',
        'page=1&page=2',
        'role=god',
      ]) {
        test(`?${query} → 422 with errors`, async () => {
          const response = await app.client.get(`/api/users/?${query}`, { token: admin });
          assertError(response, 422, 'validation_error');
          assert.ok(Array.isArray(response.body.errors) && response.body.errors.length > 0);
          assert.match(response.body.errors.join('\n'), /querystring\.(page|page_size|role)/);
        });
      }
    });

    describe('GET /api/users/{id}', () => {
      test('self, admins, and anyone for merchants and service', async () => {
        assert.equal((await app.client.get('/api/users/b1', { token: buyer })).body.id, 'b1');
        assert.equal((await app.client.get('/api/users/b2', { token: admin })).body.id, 'b2');
        assert.equal((await app.client.get('/api/users/m1', { token: buyer })).body.id, 'm1');
        assert.equal((await app.client.get('/api/users/p1', { token: merchant })).body.id, 'p1');
        // Inactive directory users stay visible by id (their names show in old conversations).
        assert.equal((await app.client.get('/api/users/m3', { token: buyer })).status, 200);
      });

      test('404 for users you share nothing with; visible once you share a conversation', async () => {
        await app.addUser('b5', 'buyer', { username: 'eve' });
        assertError(await app.client.get('/api/users/b5', { token: buyer }), 404, 'user_not_found');
        assertError(await app.client.get('/api/users/b5', { token: merchant }), 404, 'user_not_found');
        assertError(await app.client.get('/api/users/a1', { token: buyer }), 404, 'user_not_found');
        assertError(await app.client.get('/api/users/nobody', { token: buyer }), 404, 'user_not_found');

        await openConversation(app, await app.tokenFor('b5', 'buyer'), 'b5', 'm1');
        const visible = await app.client.get('/api/users/b5', { token: merchant });
        assert.equal(visible.status, 200);
        assert.equal(visible.body.username, 'eve');
        // Buyers never share a conversation, so b1 still cannot see b5.
        assertError(await app.client.get('/api/users/b5', { token: buyer }), 404);
      });

      test('a deleted user is visible to admins only', async () => {
        assertError(await app.client.get('/api/users/m4', { token: buyer }), 404);
        const forAdmin = await app.client.get('/api/users/m4', { token: admin });
        assert.equal(forAdmin.status, 200);
        assert.equal(forAdmin.body.status, 'deleted');
      });
    });

    describe('POST /api/users/', () => {
      test('generates {letter}{n} ids per role', async () => {
        const created = await app.client.post('/api/users/', {
          token: admin,
          body: { username: 'new-buyer', role: 'buyer', description: 'hi' },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.match(created.body.id, /^b\d+$/);
        const existing = (await app.client.get('/api/users/?role=buyer&page_size=100', { token: admin })).body;
        const numbers = ids(existing)
          .filter((id) => id !== created.body.id && /^b\d+$/.test(id))
          .map((id) => Number(id.slice(1)));
        assert.equal(Number(created.body.id.slice(1)), Math.max(...numbers) + 1);
        assert.deepEqual(
          { role: created.body.role, status: created.body.status, description: created.body.description },
          { role: 'buyer', status: 'active', description: 'hi' },
        );

        const service2 = await app.client.post('/api/users/', {
          token: admin,
          body: { username: 'agent-two', role: 'platform' },
        });
        assert.equal(service2.status, 201);
        assert.equal(service2.body.id, 'p2');
        assert.equal(service2.body.role, 'service');
        const admin2 = await app.client.post('/api/users/', {
          token: admin,
          body: { username: 'root2', role: 'admin' },
        });
        assert.equal(admin2.body.id, 'a2');
      });

      test('20 concurrent creates get 20 distinct generated ids', async () => {
        const responses = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            app.client.post('/api/users/', { token: admin, body: { username: `burst-${i}`, role: 'service' } }),
          ),
        );
        assert.deepEqual(
          responses.map((r) => r.status),
          Array(20).fill(201),
          JSON.stringify(responses.filter((r) => r.status !== 201).map((r) => r.body)),
        );
        const created = responses.map((r) => r.body.id as string);
        assert.equal(new Set(created).size, 20);
        assert.ok(
          created.every((id) => /^p\d+$/.test(id)),
          created.join(),
        );
      });

      test('an explicit id is kept; a stored media avatar comes back absolute', async () => {
        const created = await app.client.post('/api/users/', {
          token: admin,
          body: {
            id: 'shop_77',
            username: 'seventy-seven',
            role: 'merchant',
            avatar: 'http://chat.test/api/media/avatars/merchant.png',
            status: 'inactive',
          },
        });
        assert.equal(created.status, 201);
        assert.equal(created.body.id, 'shop_77');
        assert.equal(created.body.status, 'inactive');
        assert.equal(created.body.avatar, 'http://chat.test/api/media/avatars/merchant.png');
        const stored = await app.server.database.db
          .selectFrom('users')
          .select('avatar')
          .where('id', '=', 'shop_77')
          .executeTakeFirstOrThrow();
        assert.equal(stored.avatar, '/api/media/avatars/merchant.png');
      });

      test('a duplicate id or username is a 409 and stores nothing', async () => {
        const before = await rowCounts(app);
        assertError(
          await app.client.post('/api/users/', {
            token: admin,
            body: { id: 'b1', username: 'fresh-name', role: 'buyer' },
          }),
          409,
          'user_id_taken',
        );
        assertError(
          await app.client.post('/api/users/', { token: admin, body: { username: 'alice', role: 'buyer' } }),
          409,
          'username_taken',
        );
        assertError(
          await app.client.post('/api/users/', { token: admin, body: { id: 'b99', username: 'alice', role: 'buyer' } }),
          409,
          'username_taken',
        );
        assert.deepEqual(await rowCounts(app), before);
      });

      test('non-admins get 403 before validation', async () => {
        assertError(await app.client.post('/api/users/', { token: buyer, body: { nonsense: true } }), 403, 'forbidden');
        assertError(
          await app.client.post('/api/users/', { token: service, body: { username: 'x', role: 'buyer' } }),
          403,
        );
      });
    });

    describe('PUT /api/users/{id}', () => {
      test('self may change username, avatar and description', async () => {
        const updated = await app.client.put('/api/users/b2', {
          token: buyer2,
          body: { username: 'bobby', avatar: '/api/media/avatars/b.png', description: 'pharmacy' },
        });
        assert.equal(updated.status, 200, JSON.stringify(updated.body));
        assert.deepEqual(
          { username: updated.body.username, avatar: updated.body.avatar, description: updated.body.description },
          { username: 'bobby', avatar: 'http://chat.test/api/media/avatars/b.png', description: 'pharmacy' },
        );
        // The PUT's own authentication read the old row; the change made the server forget it.
        assert.equal((await app.client.get('/api/auth/me', { token: buyer2 })).body.username, 'bobby');
        const cleared = await app.client.put('/api/users/b2', { token: buyer2, body: { avatar: null } });
        assert.equal(cleared.body.avatar, null);
        assert.equal(cleared.body.username, 'bobby');
        assert.equal((await app.client.get('/api/auth/me', { token: buyer2 })).body.description, 'pharmacy');
      });

      test('self changing role or status is a 403 and changes nothing', async () => {
        assertError(await app.client.put('/api/users/b2', { token: buyer2, body: { role: 'merchant' } }), 403);
        assertError(
          await app.client.put('/api/users/b2', { token: buyer2, body: { status: 'inactive', description: 'x' } }),
          403,
        );
        const me = await app.client.get('/api/auth/me', { token: buyer2 });
        assert.equal(me.body.role, 'buyer');
        assert.equal(me.body.description, 'pharmacy');
      });

      test('others: 403 for a visible user, 404 for an invisible one', async () => {
        assertError(await app.client.put('/api/users/m1', { token: buyer, body: { description: 'hacked' } }), 403);
        assertError(await app.client.put('/api/users/b2', { token: buyer, body: { description: 'hacked' } }), 404);
        assert.notEqual((await app.client.get('/api/users/m1', { token: admin })).body.description, 'hacked');
      });

      test('a username taken by someone else is a 409', async () => {
        assertError(
          await app.client.put('/api/users/b2', { token: buyer2, body: { username: 'alice' } }),
          409,
          'username_taken',
        );
      });

      test('admins change anything; a role cannot change once the user has conversations', async () => {
        await app.addUser('b60', 'buyer', { username: 'will-be-merchant' });
        const promoted = await app.client.put('/api/users/b60', { token: admin, body: { role: 'merchant' } });
        assert.equal(promoted.status, 200);
        assert.equal(promoted.body.role, 'merchant');
        await openConversation(app, buyer, 'b1', 'm1');
        assertError(
          await app.client.put('/api/users/m1', { token: admin, body: { role: 'service' } }),
          400,
          'role_change_not_allowed',
        );
        assert.equal((await app.client.get('/api/users/m1', { token: admin })).body.role, 'merchant');
        assertError(await app.client.put('/api/users/nobody', { token: admin, body: { description: 'x' } }), 404);
      });
    });

    describe('PATCH /api/users/{id}/status', () => {
      test('admins deactivate and reactivate; the user is refused meanwhile, and old tokens stay dead', async () => {
        const token = await app.addUser('b10', 'buyer');
        // Served once, so the server remembers the active row: the change must make it forget it.
        assert.equal((await app.client.get('/api/auth/me', { token })).status, 200);
        const off = await app.client.patch('/api/users/b10/status?status=inactive', { token: admin });
        assert.equal(off.status, 200);
        assert.equal(off.body.status, 'inactive');
        assertError(await app.client.get('/api/auth/me', { token }), 403, 'user_inactive');
        const on = await app.client.patch('/api/users/b10/status?status=active', { token: admin });
        assert.equal(on.body.status, 'active');
        // Deactivation ended every session: reactivation does not revive a token from before it.
        assertError(await app.client.get('/api/auth/me', { token }), 401, 'token_revoked');
        const fresh = await app.tokenFor('b10');
        assert.equal((await app.client.get('/api/auth/me', { token: fresh })).status, 200);
      });

      test('errors: non-admin 403, self 400, unknown user 404, bad status 422', async () => {
        assertError(await app.client.patch('/api/users/b2/status?status=inactive', { token: buyer }), 403);
        assertError(
          await app.client.patch('/api/users/a1/status?status=inactive', { token: admin }),
          400,
          'cannot_modify_self',
        );
        assertError(await app.client.patch('/api/users/nobody/status?status=active', { token: admin }), 404);
        assertError(await app.client.patch('/api/users/b2/status?status=deleted', { token: admin }), 422);
        assertError(await app.client.patch('/api/users/b2/status', { token: admin }), 422);
        assert.equal((await app.client.get('/api/auth/me', { token: buyer2 })).body.status, 'active');
      });
    });

    describe('DELETE /api/users/{id}', () => {
      test('a soft delete: the row stays with status "deleted" and the token stops working', async () => {
        const token = await app.addUser('b11', 'buyer');
        const before = await rowCounts(app);
        const deleted = await app.client.delete('/api/users/b11', { token: admin });
        assert.equal(deleted.status, 200);
        assert.equal(deleted.body.status, 'success');
        assert.equal(typeof deleted.body.message, 'string');
        assert.deepEqual(await rowCounts(app), before);
        assert.equal((await app.client.get('/api/users/b11', { token: admin })).body.status, 'deleted');
        assertError(await app.client.get('/api/auth/me', { token }), 401);
      });

      test('errors: non-admin 403, self 400, unknown 404', async () => {
        assertError(await app.client.delete('/api/users/b2', { token: merchant }), 403);
        assertError(await app.client.delete('/api/users/b1', { token: buyer }), 403);
        assertError(await app.client.delete('/api/users/a1', { token: admin }), 400, 'cannot_modify_self');
        assertError(await app.client.delete('/api/users/nobody', { token: admin }), 404);
        assert.equal((await app.client.get('/api/auth/me', { token: buyer2 })).status, 200);
      });
    });

    describe('POST /api/users/ensure', () => {
      test('creates the missing users and answers all of them in request order, existing ones unchanged', async () => {
        const response = await app.client.post('/api/users/ensure', {
          token: admin,
          body: {
            users: [
              { id: 'ext-m', role: 'merchant' },
              { id: 'b1', role: 'merchant', username: 'renamed', description: 'changed' },
              { id: 'ext-b', role: 'buyer', username: 'external buyer', description: 'from the platform' },
              { id: 'ext-p', role: 'platform' },
            ],
          },
        });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.deepEqual(
          response.body.map((u: { id: string }) => u.id),
          ['ext-m', 'b1', 'ext-b', 'ext-p'],
        );
        const [m, b1, b, p] = response.body;
        assert.match(m.username, /^商家\d{13}/);
        assert.equal(m.role, 'merchant');
        assert.deepEqual(
          { username: b1.username, role: b1.role, description: b1.description },
          {
            username: 'alice',
            role: 'buyer',
            description: null,
          },
        );
        assert.deepEqual(
          { username: b.username, description: b.description },
          {
            username: 'external buyer',
            description: 'from the platform',
          },
        );
        assert.equal(p.role, 'service');
        assert.match(p.username, /^客服\d{13}/);
        assert.notEqual(m.username, p.username);

        const again = await app.client.post('/api/users/ensure', {
          token: admin,
          body: { users: [{ id: 'ext-b', role: 'buyer', username: 'other name' }] },
        });
        assert.equal(again.body[0].username, 'external buyer');
      });

      test('concurrent ensures of different new users all succeed', async () => {
        const responses = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            app.client.post('/api/users/ensure', {
              token: admin,
              body: { users: [{ id: `par-${i}`, role: 'merchant' }] },
            }),
          ),
        );
        assert.deepEqual(
          responses.map((r) => r.status),
          Array(10).fill(200),
          JSON.stringify(responses.map((r) => r.body)),
        );
        assert.equal(new Set(responses.map((r) => r.body[0].username)).size, 10);
      });

      test('non-admin 403; an empty list or a bad role is a 422 and stores nothing', async () => {
        const before = await rowCounts(app);
        assertError(
          await app.client.post('/api/users/ensure', {
            token: merchant,
            body: { users: [{ id: 'x1', role: 'buyer' }] },
          }),
          403,
        );
        assertError(await app.client.post('/api/users/ensure', { token: admin, body: { users: [] } }), 422);
        assertError(
          await app.client.post('/api/users/ensure', {
            token: admin,
            body: {
              users: [
                { id: 'x2', role: 'buyer' },
                { id: 'x3', role: 'wizard' },
              ],
            },
          }),
          422,
        );
        assert.deepEqual(await rowCounts(app), before);
      });
    });

    describe('PUT /api/users/{id}/password', () => {
      test('self needs the right old password; an admin can reset anyone', async () => {
        const token = await app.addUser('m20', 'merchant', { username: 'pw-shop', password: 'first-password' });
        const login = (password: string) =>
          app.client.post('/api/auth/login', { body: { username: 'pw-shop', password } });

        assertError(
          await app.client.put('/api/users/m20/password', { token, body: { new_password: 'second-password' } }),
          400,
          'old_password_required',
        );
        assertError(
          await app.client.put('/api/users/m20/password', {
            token,
            body: { old_password: 'not-it', new_password: 'second-password' },
          }),
          400,
          'wrong_old_password',
        );
        const changed = await app.client.put('/api/users/m20/password', {
          token,
          body: { old_password: 'first-password', new_password: 'second-password' },
        });
        assert.equal(changed.status, 200);
        assert.deepEqual(changed.body, { status: 'success' });
        assert.equal((await login('second-password')).status, 200);

        const reset = await app.client.put('/api/users/m20/password', {
          token: admin,
          body: { new_password: 'third-password' },
        });
        assert.equal(reset.status, 200);
        assert.equal((await login('third-password')).status, 200);
        assertError(await login('second-password'), 401);
      });

      test("others' passwords: 403 when visible, 404 when not; short passwords 422", async () => {
        assertError(
          await app.client.put('/api/users/m1/password', {
            token: buyer,
            body: { old_password: 'x', new_password: 'long-enough' },
          }),
          403,
        );
        assertError(
          await app.client.put('/api/users/b2/password', { token: buyer, body: { new_password: 'abcdefg' } }),
          404,
        );
        const short = await app.client.put('/api/users/b1/password', { token: admin, body: { new_password: 'abc' } });
        assertError(short, 422, 'validation_error');
        assert.ok(short.body.errors.some((line: string) => line.startsWith('body.new_password')));
      });
    });

    describe('generated ids among platform-supplied ones', () => {
      test('many longer ids with the same first letter do not hide the highest {letter}{n}', async () => {
        const now = Math.floor(Date.now() / 1000);
        const platformIds = Array.from({ length: 250 }, (_, i) => `merchant-platform-${i}`);
        await app.server.database.db
          .insertInto('users')
          .values(
            platformIds.map((id) => ({
              id,
              username: id,
              role: 'merchant' as const,
              status: 'active' as const,
              avatar: null,
              description: null,
              password_hash: null,
              created_at: now,
              updated_at: now,
            })),
          )
          .execute();
        await app.addUser('m12x', 'merchant');
        const created = await app.client.post('/api/users/', {
          token: admin,
          body: { username: 'after-the-platform', role: 'merchant' },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const numbers = (await app.server.database.db.selectFrom('users').select('id').execute())
          .map(({ id }) => /^m(\d+)$/.exec(id)?.[1])
          .filter((n) => n !== undefined)
          .map(Number)
          .filter((n) => n !== Number(created.body.id.slice(1)));
        assert.equal(created.body.id, `m${Math.max(...numbers) + 1}`);
      });
    });
  });
}
