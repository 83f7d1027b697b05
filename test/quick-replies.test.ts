import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { assertError, rowCounts } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

interface QuickReply {
  id: string;
  user_id: string;
  content: string;
  sort_order: number;
  is_active: boolean;
  created_at: number;
}

for (const dialect of testDialects) {
  describe(`quick replies (${dialect.name})`, () => {
    let app: TestApp;
    let admin: string;
    let merchant: string;
    let buyer: string;

    const create = async (token: string, body: Record<string, unknown>) => {
      const response = await app.client.post<QuickReply>('/api/quick-replies/', { token, body });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body;
    };
    const listOf = async (userId: string, token: string, path = 'user') => {
      const response = await app.client.get<QuickReply[]>(`/api/quick-replies/${path}/${userId}`, { token });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body;
    };

    before(async () => {
      app = await startTestApp(dialect);
      [admin, merchant, buyer] = await Promise.all([
        app.addUser('a1', 'admin'),
        app.addUser('m1', 'merchant'),
        app.addUser('b1', 'buyer'),
      ]);
    });
    after(() => app.close());

    test('create answers the QuickReply; the list is a plain array ordered by sort_order', async () => {
      const third = await create(merchant, { content: 'third', sort_order: 30 });
      assert.deepEqual(
        { user_id: third.user_id, content: third.content, sort_order: third.sort_order, is_active: third.is_active },
        { user_id: 'm1', content: 'third', sort_order: 30, is_active: true },
      );
      assert.equal(typeof third.id, 'string');
      assert.equal(typeof third.created_at, 'number');
      await create(merchant, { content: 'first', sort_order: -5 });
      await create(merchant, { content: 'second', sort_order: 0, user_id: 'm1' });
      const own = await listOf('m1', merchant);
      assert.ok(Array.isArray(own));
      assert.deepEqual(
        own.map((reply) => reply.content),
        ['first', 'second', 'third'],
      );
      assert.deepEqual(await listOf('m1', merchant, 'merchant'), own);
      assert.deepEqual(await listOf('m1', admin), own);
      assert.deepEqual(await listOf('b1', buyer), []);
    });

    test("someone else's list is a 403, and shows nothing", async () => {
      for (const path of ['user', 'merchant']) {
        const response = await app.client.get(`/api/quick-replies/${path}/m1`, { token: buyer });
        assertError(response, 403);
        assert.ok(!JSON.stringify(response.body).includes('third'));
      }
    });

    test('create: user_id other than self → 403; admin → 403; nothing stored', async () => {
      const before = await rowCounts(app);
      assertError(
        await app.client.post('/api/quick-replies/', { token: buyer, body: { content: 'x', user_id: 'm1' } }),
        403,
      );
      assertError(await app.client.post('/api/quick-replies/', { token: admin, body: { content: 'x' } }), 403);
      assertError(
        await app.client.post('/api/quick-replies/', { token: admin, body: { content: 'x', user_id: 'm1' } }),
        403,
      );
      assert.deepEqual(await rowCounts(app), before);
    });

    test('the 11th active reply is a 400 with a clear detail; deleting one makes room', async () => {
      const token = await app.addUser('p1', 'service');
      const made: QuickReply[] = [];
      for (let n = 1; n <= 10; n++) made.push(await create(token, { content: `reply ${n}`, sort_order: n }));
      const before = await rowCounts(app);
      const eleventh = await app.client.post('/api/quick-replies/', {
        token,
        body: { content: 'one too many' },
        headers: { 'accept-language': 'en' },
      });
      assertError(eleventh, 400, 'quick_reply_limit');
      assert.match(eleventh.body.detail, /10/);
      assert.deepEqual(await rowCounts(app), before);
      assert.equal((await listOf('p1', token)).length, 10);

      const removed = await app.client.delete(`/api/quick-replies/${made[0]?.id}`, { token });
      assert.equal(removed.status, 200);
      const again = await create(token, { content: 'fits again' });
      assert.equal(again.content, 'fits again');
      assert.equal((await listOf('p1', token)).length, 10);
    });

    test('10 concurrent creates past the limit still stop at 10', async () => {
      const token = await app.addUser('m2', 'merchant');
      for (let n = 1; n <= 5; n++) await create(token, { content: `base ${n}` });
      const responses = await Promise.all(
        Array.from({ length: 10 }, (_, n) =>
          app.client.post('/api/quick-replies/', { token, body: { content: `race ${n}` } }),
        ),
      );
      assert.deepEqual(responses.map((r) => r.status).sort(), [201, 201, 201, 201, 201, 400, 400, 400, 400, 400]);
      assert.equal((await listOf('m2', token)).length, 10);
    });

    test('update and delete by the owner and by an admin', async () => {
      const reply = await create(buyer, { content: 'original', sort_order: 1 });
      const edited = await app.client.put<QuickReply>(`/api/quick-replies/${reply.id}`, {
        token: buyer,
        body: { content: 'edited' },
      });
      assert.equal(edited.status, 200);
      assert.deepEqual(
        { content: edited.body.content, sort_order: edited.body.sort_order },
        {
          content: 'edited',
          sort_order: 1,
        },
      );
      const moved = await app.client.put<QuickReply>(`/api/quick-replies/${reply.id}`, {
        token: admin,
        body: { sort_order: 9 },
      });
      assert.equal(moved.status, 200);
      assert.deepEqual(
        { content: moved.body.content, sort_order: moved.body.sort_order, user_id: moved.body.user_id },
        {
          content: 'edited',
          sort_order: 9,
          user_id: 'b1',
        },
      );
      assert.deepEqual(
        (await listOf('b1', buyer)).map((r) => [r.content, r.sort_order]),
        [['edited', 9]],
      );

      const second = await create(buyer, { content: 'second' });
      const byOwner = await app.client.delete(`/api/quick-replies/${reply.id}`, { token: buyer });
      assert.equal(byOwner.status, 200);
      assert.equal(byOwner.body.status, 'success');
      assert.equal(typeof byOwner.body.message, 'string');
      const byAdmin = await app.client.delete(`/api/quick-replies/${second.id}`, { token: admin });
      assert.equal(byAdmin.status, 200);
      assert.deepEqual(await listOf('b1', buyer), []);
      // A soft delete: the rows stay, inactive, and are gone for every later request.
      const rows = await app.server.database.db
        .selectFrom('quick_replies')
        .select(['id', 'is_active'])
        .where('user_id', '=', 'b1')
        .execute();
      assert.deepEqual(rows.map((row) => Number(row.is_active)).sort(), [0, 0]);
      assertError(
        await app.client.put(`/api/quick-replies/${reply.id}`, { token: buyer, body: { content: 'x' } }),
        404,
      );
      assertError(await app.client.delete(`/api/quick-replies/${reply.id}`, { token: admin }), 404);
    });

    test("others editing or deleting someone's reply get 404 and change nothing", async () => {
      const [target] = await listOf('m1', merchant);
      assert.ok(target);
      for (const token of [buyer, await app.tokenFor('m2', 'merchant')]) {
        const edit = await app.client.put(`/api/quick-replies/${target.id}`, { token, body: { content: 'hijacked' } });
        assertError(edit, 404, 'quick_reply_not_found');
        assertError(
          await app.client.delete(`/api/quick-replies/${target.id}`, { token }),
          404,
          'quick_reply_not_found',
        );
      }
      assertError(
        await app.client.put('/api/quick-replies/no-such-reply', { token: admin, body: { content: 'x' } }),
        404,
      );
      const [unchanged] = await listOf('m1', merchant);
      assert.deepEqual(unchanged, target);
    });

    test('bad bodies are 422s: empty or long content, unknown fields, non-integer sort_order', async () => {
      const [target] = await listOf('m1', merchant);
      assert.ok(target);
      const before = await rowCounts(app);
      for (const body of [
        { content: '' },
        { content: 'x'.repeat(501) },
        { content: 'ok', is_active: false },
        { content: 'ok', sort_order: 1.5 },
        { content: 'ok', sort_order: '1' },
        {},
      ]) {
        const response = await app.client.post('/api/quick-replies/', { token: merchant, body });
        assertError(response, 422, 'validation_error');
        assert.ok(response.body.errors.length > 0, JSON.stringify(body));
      }
      assertError(
        await app.client.put(`/api/quick-replies/${target.id}`, { token: merchant, body: { user_id: 'b1' } }),
        422,
      );
      assert.deepEqual(await rowCounts(app), before);
      assert.deepEqual((await listOf('m1', merchant))[0], target);
    });
  });
}
