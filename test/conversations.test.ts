import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { assertError, openConversation, rowCounts, sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

const seqs = (body: { results: { seq: number }[] }) => body.results.map((message) => message.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

for (const dialect of testDialects) {
  describe(`conversations (${dialect.name})`, () => {
    let app: TestApp;
    let admin: string;
    let b1: string;
    let b2: string;
    let m1: string;
    let m2: string;
    let p1: string;

    before(async () => {
      app = await startTestApp(dialect);
      [admin, b1, b2, m1, m2, p1] = await Promise.all([
        app.addUser('a1', 'admin'),
        app.addUser('b1', 'buyer'),
        app.addUser('b2', 'buyer'),
        app.addUser('m1', 'merchant'),
        app.addUser('m2', 'merchant'),
        app.addUser('p1', 'service'),
      ]);
    });
    after(() => app.close());

    describe('POST /api/conversations/', () => {
      test('{participant1_id, participant2_id}: 201 when new, 200 after; the reversed pair is the same row', async () => {
        const created = await app.client.post('/api/conversations/', {
          token: b1,
          body: { participant1_id: 'm1', participant2_id: 'b1' },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.deepEqual([created.body.participant1_id, created.body.participant2_id].sort(), ['b1', 'm1']);
        assert.equal(created.body.last_seq, 0);
        assert.equal(created.body.last_message, null);
        assert.equal(created.body.participant1.id, created.body.participant1_id);

        const again = await app.client.post('/api/conversations/', {
          token: b1,
          body: { participant1_id: 'b1', participant2_id: 'm1' },
        });
        assert.equal(again.status, 200);
        assert.equal(again.body.id, created.body.id);
        const fromMerchant = await app.client.post('/api/conversations/', {
          token: m1,
          body: { participant1_id: 'm1', participant2_id: 'b1' },
        });
        assert.equal(fromMerchant.status, 200);
        assert.equal(fromMerchant.body.id, created.body.id);
      });

      test('{customer_id, merchant_id} gives the seed-era aliases', async () => {
        const created = await app.client.post('/api/conversations/', {
          token: m2,
          body: { customer_id: 'b2', merchant_id: 'm2' },
        });
        assert.equal(created.status, 201);
        assert.equal(created.body.customer_id, 'b2');
        assert.equal(created.body.merchant_id, 'm2');
        assert.equal(created.body.customer.id, 'b2');
        assert.equal(created.body.merchant.role, 'merchant');
        const same = await app.client.post('/api/conversations/', {
          token: b2,
          body: { participant1_id: 'm2', participant2_id: 'b2' },
        });
        assert.equal(same.status, 200);
        assert.equal(same.body.id, created.body.id);

        const withService = await app.client.post('/api/conversations/', {
          token: p1,
          body: { participant1_id: 'p1', participant2_id: 'b2' },
        });
        assert.equal(withService.status, 201);
        assert.equal(withService.body.customer_id, 'b2');
        assert.equal(withService.body.merchant_id, null);
        assert.equal(withService.body.merchant, null);
      });

      test('10 concurrent creates of one pair give one row', async () => {
        await app.addUser('b30', 'buyer');
        const token = await app.tokenFor('p1', 'service');
        const before = await rowCounts(app);
        const responses = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            app.client.post('/api/conversations/', {
              token,
              body:
                i % 2 ? { participant1_id: 'p1', participant2_id: 'b30' } : { customer_id: 'b30', merchant_id: 'p1' },
            }),
          ),
        );
        assert.deepEqual(
          responses.map((r) => r.status).sort(),
          [200, 200, 200, 200, 200, 200, 200, 200, 200, 201],
          JSON.stringify(responses.map((r) => r.body)),
        );
        assert.equal(new Set(responses.map((r) => r.body.id)).size, 1);
        assert.equal((await rowCounts(app)).conversations, before.conversations + 1);
      });

      test('invalid pairs are refused and store nothing', async () => {
        await app.addUser('m9', 'merchant', { status: 'deleted' });
        const before = await rowCounts(app);
        const open = (token: string, a: string, b: string) =>
          app.client.post('/api/conversations/', { token, body: { participant1_id: a, participant2_id: b } });
        // Buyers never see each other, so another buyer's id is not revealed.
        assertError(await open(b1, 'b1', 'b2'), 404, 'user_not_found');
        // A merchant sees other merchants, so the reason is given.
        assertError(await open(m1, 'm1', 'm2'), 400, 'invalid_pair');
        assertError(await open(b1, 'b1', 'a1'), 404, 'user_not_found');
        assertError(await open(p1, 'p1', 'a1'), 404, 'user_not_found');
        assertError(await open(b1, 'b1', 'b1'), 400, 'invalid_pair');
        assertError(await open(b1, 'b1', 'nobody'), 404, 'user_not_found');
        assertError(await open(b1, 'b1', 'm9'), 404, 'user_not_found');
        assertError(await open(admin, 'a1', 'b1'), 403, 'admin_read_only');
        assertError(await open(admin, 'b1', 'm1'), 403, 'admin_read_only');
        assert.deepEqual(await rowCounts(app), before);
      });

      test('the caller must be one of the two: 403', async () => {
        const before = await rowCounts(app);
        assertError(
          await app.client.post('/api/conversations/', {
            token: b1,
            body: { participant1_id: 'b2', participant2_id: 'm2' },
          }),
          403,
          'not_a_participant',
        );
        assertError(
          await app.client.post('/api/conversations/', { token: m1, body: { customer_id: 'b2', merchant_id: 'p1' } }),
          403,
          'not_a_participant',
        );
        assert.deepEqual(await rowCounts(app), before);
      });
    });

    describe('GET /api/conversations/', () => {
      let lister: string;
      let convIds: string[];

      before(async () => {
        // A buyer with three conversations whose updated_at is set apart.
        lister = await app.addUser('b40', 'buyer');
        convIds = [];
        for (const other of ['m1', 'm2', 'p1']) convIds.push(await openConversation(app, lister, 'b40', other));
        const db = app.server.database.db;
        for (const [index, id] of convIds.entries()) {
          await db
            .updateTable('conversations')
            .set({ updated_at: 1_000_000 + index * 1000 })
            .where('id', '=', id)
            .execute();
        }
      });

      test('participants see only their own, newest updated_at first; a send moves one to the top', async () => {
        const list = await app.client.get('/api/conversations/', { token: lister });
        assert.equal(list.status, 200);
        assert.equal(list.body.count, 3);
        assert.deepEqual(
          list.body.results.map((c: { id: string }) => c.id),
          [...convIds].reverse(),
        );
        assert.ok(
          list.body.results.every((c: { participant1_id: string; participant2_id: string }) =>
            [c.participant1_id, c.participant2_id].includes('b40'),
          ),
        );
        const [oldest] = convIds;
        assert.ok(oldest);
        await sendText(app, await app.tokenFor('m1', 'merchant'), oldest, 'bump');
        const after = await app.client.get('/api/conversations/?page_size=1', { token: lister });
        assert.equal(after.body.count, 3);
        assert.deepEqual(
          after.body.results.map((c: { id: string; last_message: string }) => [c.id, c.last_message]),
          [[oldest, 'bump']],
        );
        const page3 = await app.client.get('/api/conversations/?page=3&page_size=1', { token: lister });
        assert.deepEqual(
          page3.body.results.map((c: { id: string }) => c.id),
          [convIds[1]],
        );
        const beyond = await app.client.get('/api/conversations/?page=4&page_size=1', { token: lister });
        assert.deepEqual(beyond.body, { count: 3, results: [] });
      });

      test('user_id: self is fine, anyone else is a 403 for non-admins', async () => {
        const own = await app.client.get('/api/conversations/?user_id=b40', { token: lister });
        assert.equal(own.status, 200);
        assert.equal(own.body.count, 3);
        assertError(await app.client.get('/api/conversations/?user_id=b1', { token: lister }), 403);
        assertError(await app.client.get('/api/conversations/?user_id=b40', { token: b1 }), 403);
      });

      test("admins see all, or one user's with user_id", async () => {
        const all = await app.client.get('/api/conversations/?page_size=100', { token: admin });
        assert.equal(all.body.count, (await rowCounts(app)).conversations);
        const updated = all.body.results.map((c: { updated_at: number }) => c.updated_at);
        assert.deepEqual(
          updated,
          [...updated].sort((a, b) => b - a),
        );
        const one = await app.client.get('/api/conversations/?user_id=b40', { token: admin });
        assert.equal(one.body.count, 3);
        const nobody = await app.client.get('/api/conversations/?user_id=a1', { token: admin });
        assert.deepEqual(nobody.body, { count: 0, results: [] });
      });
    });

    describe('GET /api/conversations/{id} and /detail', () => {
      test('participants and admins; others 404; message_count counts live messages', async () => {
        await app.addUser('m50', 'merchant');
        const m50 = await app.tokenFor('m50', 'merchant');
        const id = await openConversation(app, m50, 'm50', 'p1');
        await sendText(app, m50, id, 'one');
        await sendText(app, p1, id, 'two');
        for (const token of [m50, p1, admin]) {
          const one = await app.client.get(`/api/conversations/${id}`, { token });
          assert.equal(one.status, 200);
          assert.equal(one.body.last_seq, 2);
          assert.equal(one.body.last_message, 'two');
          assert.equal('message_count' in one.body, false);
          const detail = await app.client.get(`/api/conversations/${id}/detail`, { token });
          assert.equal(detail.status, 200);
          assert.equal(detail.body.message_count, 2);
          assert.equal(detail.body.id, id);
        }
        for (const token of [b1, m1]) {
          assertError(await app.client.get(`/api/conversations/${id}`, { token }), 404, 'conversation_not_found');
          assertError(await app.client.get(`/api/conversations/${id}/detail`, { token }), 404);
        }
        assertError(await app.client.get('/api/conversations/no-such-id', { token: admin }), 404);
      });
    });

    describe('GET /api/conversations/{id}/messages', () => {
      let id: string;
      let buyer: string;
      let merchant: string;
      const messageIds = new Map<number, string>();

      before(async () => {
        buyer = await app.addUser('b60', 'buyer');
        merchant = await app.addUser('m60', 'merchant');
        id = await openConversation(app, buyer, 'b60', 'm60');
        for (let n = 1; n <= 25; n++) {
          const sent = await sendText(app, n % 2 ? buyer : merchant, id, `message ${n}`);
          assert.equal(sent.seq, n);
          messageIds.set(n, sent.id);
        }
      });

      const history = async (query: string, token = buyer) => {
        const response = await app.client.get(`/api/conversations/${id}/messages?${query}`, { token });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        return response.body as { count: number; results: { seq: number; content: string }[] };
      };

      test('asc and desc pages', async () => {
        assert.deepEqual(seqs(await history('page_size=10')), range(1, 10));
        assert.deepEqual(seqs(await history('order=asc&page=2&page_size=10')), range(11, 20));
        assert.deepEqual(seqs(await history('order=asc&page=3&page_size=10')), range(21, 25));
        assert.deepEqual(seqs(await history('order=desc&page=1&page_size=10')), range(16, 25).reverse());
        assert.deepEqual(seqs(await history('order=desc&page=3&page_size=10')), range(1, 5).reverse());
        const beyond = await history('order=desc&page=4&page_size=10');
        assert.deepEqual(beyond, { count: 25, results: [] });
        const first = await history('order=asc&page_size=1');
        assert.equal(first.count, 25);
        assert.equal(first.results[0]?.content, 'message 1');
        // Default page size is 50.
        assert.equal((await history('')).results.length, 25);
      });

      test('after_seq returns exactly the messages after N in seq order', async () => {
        assert.deepEqual(seqs(await history('after_seq=0')), range(1, 25));
        assert.deepEqual(seqs(await history('after_seq=20')), range(21, 25));
        assert.deepEqual(seqs(await history('after_seq=20&limit=2')), [21, 22]);
        assert.deepEqual(seqs(await history('after_seq=25')), []);
        assert.deepEqual(seqs(await history('after_seq=1000')), []);
      });

      test('before_seq with limit: the newest ones before N', async () => {
        assert.deepEqual(seqs(await history('before_seq=6&limit=3')), [5, 4, 3]);
        assert.deepEqual(seqs(await history('before_seq=6&limit=3&order=asc')), [3, 4, 5]);
        assert.deepEqual(seqs(await history('before_seq=2&limit=10')), [1]);
        assert.deepEqual(seqs(await history('before_seq=1')), []);
      });

      test('admins read the history; others get 404', async () => {
        assert.equal((await history('page_size=5', admin)).count, 25);
        assertError(await app.client.get(`/api/conversations/${id}/messages`, { token: b1 }), 404);
      });

      test('after an admin deletes messages the pages stay exact: nothing skipped or repeated', async () => {
        const deleted = [1, 3, 10, 11, 25];
        for (const seq of deleted) {
          const response = await app.client.delete(`/api/messages/${messageIds.get(seq)}`, { token: admin });
          assert.equal(response.status, 200, JSON.stringify(response.body));
        }
        const live = range(1, 25).filter((seq) => !deleted.includes(seq));
        const detail = await app.client.get(`/api/conversations/${id}/detail`, { token: buyer });
        assert.equal(detail.body.message_count, live.length);
        assert.equal(detail.body.last_seq, 25);
        assert.equal(detail.body.last_message, 'message 24');

        for (const pageSize of [1, 3, 7, 10, 20, 100]) {
          for (const order of ['asc', 'desc'] as const) {
            const collected: number[] = [];
            for (let page = 1; ; page++) {
              const body = await history(`order=${order}&page=${page}&page_size=${pageSize}`);
              assert.equal(body.count, live.length);
              if (body.results.length === 0) break;
              assert.ok(body.results.length <= pageSize);
              collected.push(...seqs(body));
              assert.ok(page <= live.length + 1, 'paging terminates');
            }
            assert.deepEqual(collected, order === 'asc' ? live : [...live].reverse(), `${order} ${pageSize}`);
          }
        }
        assert.deepEqual(seqs(await history('after_seq=0&limit=3')), [2, 4, 5]);
        assert.deepEqual(seqs(await history('after_seq=9&limit=3')), [12, 13, 14]);
        assert.deepEqual(seqs(await history('before_seq=12&limit=2')), [9, 8]);
      });
    });

    describe('read-all and read', () => {
      let id: string;
      let buyer: string;
      let merchant: string;

      const state = async () => {
        const conversation = (await app.client.get(`/api/conversations/${id}`, { token: admin })).body;
        const messages = (await app.client.get(`/api/conversations/${id}/messages`, { token: admin })).body.results;
        const unreadOf = (user: string) =>
          conversation.participant1_id === user ? conversation.participant1_unread : conversation.participant2_unread;
        return {
          buyerUnread: unreadOf('b70'),
          merchantUnread: unreadOf('m70'),
          read: messages.map((m: { sender_id: string; is_read: boolean }) => `${m.sender_id}:${m.is_read}`),
        };
      };

      before(async () => {
        buyer = await app.addUser('b70', 'buyer');
        merchant = await app.addUser('m70', 'merchant');
        id = await openConversation(app, buyer, 'b70', 'm70');
        await sendText(app, buyer, id, 'b-1');
        await sendText(app, buyer, id, 'b-2');
        await sendText(app, merchant, id, 'm-1');
      });

      test('an admin reading marks nothing', async () => {
        const before = await state();
        assert.deepEqual(before, {
          buyerUnread: 1,
          merchantUnread: 2,
          read: ['b70:false', 'b70:false', 'm70:false'],
        });
        const readAll = await app.client.put(`/api/conversations/${id}/messages/read-all`, { token: admin });
        assert.deepEqual([readAll.status, readAll.body], [200, { status: 'success' }]);
        const read = await app.client.put(`/api/conversations/${id}/read`, { token: admin });
        assert.equal(read.status, 200);
        assert.deepEqual(await state(), before);
      });

      test('another reader_id or user_id is a 403 and marks nothing', async () => {
        const before = await state();
        assertError(
          await app.client.put(`/api/conversations/${id}/messages/read-all?reader_id=b70`, { token: merchant }),
          403,
        );
        assertError(await app.client.put(`/api/conversations/${id}/read?user_id=b70`, { token: merchant }), 403);
        assertError(await app.client.put(`/api/conversations/${id}/messages/read-all`, { token: b1 }), 404);
        assertError(await app.client.put(`/api/conversations/${id}/read`, { token: b1 }), 404);
        assert.deepEqual(await state(), before);
      });

      test("read zeroes the caller's count only; read-all also marks the other side's messages", async () => {
        const read = await app.client.put(`/api/conversations/${id}/read?user_id=m70`, { token: merchant });
        assert.deepEqual([read.status, read.body], [200, { status: 'success' }]);
        assert.deepEqual(await state(), {
          buyerUnread: 1,
          merchantUnread: 0,
          read: ['b70:false', 'b70:false', 'm70:false'],
        });
        const readAll = await app.client.put(`/api/conversations/${id}/messages/read-all?reader_id=b70`, {
          token: buyer,
        });
        assert.deepEqual([readAll.status, readAll.body], [200, { status: 'success' }]);
        assert.deepEqual(await state(), {
          buyerUnread: 0,
          merchantUnread: 0,
          read: ['b70:false', 'b70:false', 'm70:true'],
        });
      });
    });
  });
}
