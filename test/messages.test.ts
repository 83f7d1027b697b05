import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { assertError, openConversation, rowCounts, sendText, tableSnapshot } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

for (const dialect of testDialects) {
  describe(`messages (${dialect.name})`, () => {
    let app: TestApp;
    let buyer: string;
    let merchant: string;
    let admin: string;
    let conversationId: string;

    before(async () => {
      app = await startTestApp(dialect);
      buyer = await app.addUser('b1', 'buyer');
      merchant = await app.addUser('m1', 'merchant');
      admin = await app.addUser('a1', 'admin');
      const created = await app.client.post('/api/conversations/', {
        token: buyer,
        body: { participant1_id: 'b1', participant2_id: 'm1' },
      });
      assert.equal(created.status, 201);
      conversationId = created.body.id;
    });
    after(() => app.close());

    test('a send stores the message, numbers it and updates the conversation', async () => {
      const sent = await app.client.post('/api/messages/', {
        token: buyer,
        body: { conversation_id: conversationId, content: 'hello' },
      });
      assert.equal(sent.status, 201);
      assert.equal(sent.body.seq, 1);
      assert.equal(sent.body.sender_id, 'b1');
      const conversation = await app.client.get(`/api/conversations/${conversationId}`, { token: merchant });
      assert.equal(conversation.body.last_message, 'hello');
      assert.equal(conversation.body.participant2_unread, 1);
      assert.equal(conversation.body.last_seq, 1);
    });

    test('the same client_msg_id sent 10 times at once stores one row', async () => {
      const sends = await Promise.all(
        Array.from({ length: 10 }, () =>
          app.client.post('/api/messages/', {
            token: merchant,
            body: { conversation_id: conversationId, content: 'once', client_msg_id: 'dup-1' },
          }),
        ),
      );
      const ids = new Set(sends.map((s) => s.body.id));
      assert.equal(ids.size, 1);
      assert.deepEqual(sends.map((s) => s.status).sort(), [200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
      const history = await app.client.get(`/api/conversations/${conversationId}/messages?after_seq=0`, {
        token: admin,
      });
      assert.equal(
        history.body.results.filter((m: { client_msg_id: string }) => m.client_msg_id === 'dup-1').length,
        1,
      );
    });

    test('30 different messages sent at once take 30 consecutive seqs, and the counters agree', async () => {
      const before = await app.client.get(`/api/conversations/${conversationId}/detail`, { token: admin });
      const sends = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          app.client.post('/api/messages/', {
            token: i % 2 === 0 ? buyer : merchant,
            body: { conversation_id: conversationId, content: `burst ${i}` },
          }),
        ),
      );
      assert.ok(sends.every((s) => s.status === 201));
      const seqs = sends.map((s) => s.body.seq as number).sort((a, b) => a - b);
      const first = before.body.last_seq + 1;
      assert.deepEqual(
        seqs,
        Array.from({ length: 30 }, (_, i) => first + i),
      );
      const after = await app.client.get(`/api/conversations/${conversationId}/detail`, { token: admin });
      assert.equal(after.body.last_seq, before.body.last_seq + 30);
      assert.equal(after.body.message_count, before.body.message_count + 30);
    });

    describe('send errors', () => {
      let outsider: string;

      before(async () => {
        outsider = await app.addUser('b2', 'buyer');
      });

      test('admins never send: 403 admin_read_only, nothing stored', async () => {
        const before = await tableSnapshot(app);
        assertError(
          await app.client.post('/api/messages/', {
            token: admin,
            body: { conversation_id: conversationId, content: 'x' },
          }),
          403,
          'admin_read_only',
        );
        assert.deepEqual(await tableSnapshot(app), before);
      });

      test('sender_id other than self is a 403; self is fine', async () => {
        const before = await tableSnapshot(app);
        assertError(
          await app.client.post('/api/messages/', {
            token: buyer,
            body: { conversation_id: conversationId, content: 'x', sender_id: 'm1' },
          }),
          403,
        );
        assert.deepEqual(await tableSnapshot(app), before);
        const own = await app.client.post('/api/messages/', {
          token: buyer,
          body: { conversation_id: conversationId, content: 'as myself', sender_id: 'b1' },
        });
        assert.equal(own.status, 201);
        assert.equal(own.body.sender_id, 'b1');
        assert.equal(own.body.sender.id, 'b1');
      });

      test('not a participant: 404, nothing stored', async () => {
        const before = await tableSnapshot(app);
        assertError(
          await app.client.post('/api/messages/', {
            token: outsider,
            body: { conversation_id: conversationId, content: 'let me in' },
          }),
          404,
          'conversation_not_found',
        );
        assertError(
          await app.client.post('/api/messages/', { token: buyer, body: { conversation_id: 'no-such', content: 'x' } }),
          404,
        );
        assert.deepEqual(await tableSnapshot(app), before);
      });

      test('the same client_msg_id with different content is a 409; a retry answers the original', async () => {
        const first = await app.client.post('/api/messages/', {
          token: buyer,
          body: { conversation_id: conversationId, content: 'pay now', client_msg_id: 'retry-7' },
        });
        assert.equal(first.status, 201);
        const before = await tableSnapshot(app);
        const retry = await app.client.post('/api/messages/', {
          token: buyer,
          body: { conversation_id: conversationId, content: 'pay now', client_msg_id: 'retry-7' },
        });
        assert.equal(retry.status, 200);
        assert.deepEqual(retry.body, first.body);
        assertError(
          await app.client.post('/api/messages/', {
            token: buyer,
            body: { conversation_id: conversationId, content: 'pay later', client_msg_id: 'retry-7' },
          }),
          409,
          'client_msg_id_conflict',
        );
        assertError(
          await app.client.post('/api/messages/', {
            token: buyer,
            body: {
              conversation_id: conversationId,
              content: 'pay now',
              client_msg_id: 'retry-7',
              message_type: 'file',
            },
          }),
          422,
        );
        assert.deepEqual(await tableSnapshot(app), before);
        // The key is per sender: the other participant may use the same id.
        const other = await app.client.post('/api/messages/', {
          token: merchant,
          body: { conversation_id: conversationId, content: 'pay later', client_msg_id: 'retry-7' },
        });
        assert.equal(other.status, 201);
        assert.notEqual(other.body.id, first.body.id);
      });
    });

    describe('image and file messages', () => {
      const relative = '/api/media/uploads/2026/01/02/abcdefghijklmnop1234.png';
      const pdf = '/api/media/uploads/2026/01/02/qrstuvwxyz_-123456.pdf';

      before(() => {
        const dir = join(app.config.MEDIA_DIR, 'uploads', '2026', '01', '02');
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'abcdefghijklmnop1234.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
        writeFileSync(join(dir, 'qrstuvwxyz_-123456.pdf'), '%PDF-1.4');
      });

      test('an issued image URL, relative or absolute, is stored relative and answered absolute', async () => {
        for (const content of [relative, `http://chat.test${relative}`]) {
          const sent = await app.client.post('/api/messages/', {
            token: buyer,
            body: { conversation_id: conversationId, content, message_type: 'image' },
          });
          assert.equal(sent.status, 201, JSON.stringify(sent.body));
          assert.equal(sent.body.content, `http://chat.test${relative}`);
          assert.equal(sent.body.filename, null);
          const row = await app.server.database.db
            .selectFrom('messages')
            .select('content')
            .where('id', '=', sent.body.id)
            .executeTakeFirstOrThrow();
          assert.equal(row.content, relative);
        }
        const conversation = await app.client.get(`/api/conversations/${conversationId}`, { token: buyer });
        assert.equal(conversation.body.last_message, '[图片]');
      });

      test('a file message "<name>|<url>" keeps the name apart and answers the URL alone', async () => {
        const sent = await app.client.post('/api/messages/', {
          token: merchant,
          body: {
            conversation_id: conversationId,
            content: `季度报价.pdf|http://chat.test${pdf}`,
            message_type: 'file',
          },
        });
        assert.equal(sent.status, 201, JSON.stringify(sent.body));
        assert.equal(sent.body.content, `http://chat.test${pdf}`);
        assert.equal(sent.body.filename, '季度报价.pdf');
        const conversation = await app.client.get(`/api/conversations/${conversationId}`, { token: buyer });
        assert.equal(conversation.body.last_message, '[文件]');
      });

      test('an image URL the server did not issue is a 422, nothing stored', async () => {
        const before = await rowCounts(app);
        for (const content of [
          'https://evil.test/x.png',
          `https://evil.test${relative}`,
          relative.replace('abcdefghijklmnop1234', 'abcdefghijklmnop9999'),
          '/api/media/avatars/buyer.png',
          'not a url',
        ]) {
          const response = await app.client.post('/api/messages/', {
            token: buyer,
            body: { conversation_id: conversationId, content, message_type: 'image' },
          });
          assertError(response, 422, 'invalid_media_url');
          assert.ok(Array.isArray(response.body.errors), content);
        }
        assert.deepEqual(await rowCounts(app), before);
      });
    });

    describe('PUT /api/messages/{id}/read', () => {
      test('by the recipient: marks it read and decrements their unread count once', async () => {
        const id = await openConversation(app, buyer, 'b1', 'm1');
        await app.client.put(`/api/conversations/${id}/messages/read-all`, { token: merchant });
        const first = await sendText(app, buyer, id, 'read me');
        await sendText(app, buyer, id, 'and me');
        const unread = async () => (await app.client.get(`/api/conversations/${id}`, { token: admin })).body;
        const column = (await unread()).participant1_id === 'm1' ? 'participant1_unread' : 'participant2_unread';
        assert.equal((await unread())[column], 2);

        const read = await app.client.put(`/api/messages/${first.id}/read`, { token: merchant });
        assert.deepEqual([read.status, read.body], [200, { status: 'success' }]);
        assert.equal((await unread())[column], 1);
        const again = await app.client.put(`/api/messages/${first.id}/read`, { token: merchant });
        assert.equal(again.status, 200);
        assert.equal((await unread())[column], 1);
        const history = await app.client.get(`/api/conversations/${id}/messages?after_seq=${first.seq - 1}&limit=1`, {
          token: buyer,
        });
        assert.equal(history.body.results[0].is_read, true);
      });

      test('by the sender or an admin: 403; by an outsider: 404; nothing changes', async () => {
        const message = await sendText(app, buyer, conversationId, 'mine');
        const before = await tableSnapshot(app);
        assertError(await app.client.put(`/api/messages/${message.id}/read`, { token: buyer }), 403);
        assertError(await app.client.put(`/api/messages/${message.id}/read`, { token: admin }), 403);
        assertError(
          await app.client.put(`/api/messages/${message.id}/read`, { token: await app.tokenFor('b2') }),
          404,
          'message_not_found',
        );
        assert.deepEqual(await tableSnapshot(app), before);
      });
    });

    describe('DELETE /api/messages/{id}', () => {
      test('admins delete: gone from history, counts and unread drop; non-admins 403', async () => {
        const message = await sendText(app, merchant, conversationId, 'to be moderated');
        const detail = async () =>
          (await app.client.get(`/api/conversations/${conversationId}/detail`, { token: admin })).body;
        const before = await detail();
        const buyerUnread = (d: any): number =>
          d.participant1_id === 'b1' ? d.participant1_unread : d.participant2_unread;

        for (const token of [buyer, merchant]) {
          assertError(await app.client.delete(`/api/messages/${message.id}`, { token }), 403);
        }
        assert.deepEqual(await detail(), before);

        const deleted = await app.client.delete(`/api/messages/${message.id}`, { token: admin });
        assert.equal(deleted.status, 200);
        assert.equal(deleted.body.status, 'success');
        const afterDelete = await detail();
        assert.equal(afterDelete.message_count, before.message_count - 1);
        assert.equal(buyerUnread(afterDelete), buyerUnread(before) - 1);
        assert.notEqual(afterDelete.last_message, 'to be moderated');
        const history = await app.client.get(
          `/api/conversations/${conversationId}/messages?after_seq=${message.seq - 1}`,
          {
            token: buyer,
          },
        );
        assert.ok(!history.body.results.some((m: { id: string }) => m.id === message.id));
        assertError(await app.client.delete(`/api/messages/${message.id}`, { token: admin }), 404);
        assertError(await app.client.put(`/api/messages/${message.id}/read`, { token: buyer }), 404);
      });
    });

    describe('GET /api/messages/', () => {
      let other: string;
      let service: string;

      before(async () => {
        service = await app.addUser('p1', 'service');
        other = await openConversation(app, service, 'p1', 'b2');
        await sendText(app, service, other, 'service to b2');
        await sendText(app, await app.tokenFor('b2'), other, 'b2 to service');
      });

      test('admins see every message, newest first, with a true count', async () => {
        const all = await app.client.get('/api/messages/?page_size=100', { token: admin });
        assert.equal(all.status, 200);
        assert.equal(all.body.count, (await rowCounts(app)).messages);
        assert.equal(all.body.results.length, all.body.count);
        assert.equal(all.body.results[0].content, 'b2 to service');
        const ids = all.body.results.map((m: { id: string }) => m.id);
        assert.deepEqual(ids, [...ids].sort().reverse());
      });

      test('others see only their conversations', async () => {
        const own = await app.client.get('/api/messages/?page_size=100', { token: service });
        assert.equal(own.body.count, 2);
        assert.ok(own.body.results.every((m: { conversation_id: string }) => m.conversation_id === other));
        const buyers = await app.client.get('/api/messages/?page_size=100', { token: buyer });
        assert.ok(buyers.body.count > 0);
        assert.ok(buyers.body.results.every((m: { conversation_id: string }) => m.conversation_id === conversationId));
        const peek = await app.client.get('/api/messages/?sender_id=p1', { token: buyer });
        assert.deepEqual(peek.body, { count: 0, results: [] });
        assertError(await app.client.get(`/api/messages/?conversation_id=${other}`, { token: buyer }), 404);
        assertError(
          await app.client.get(`/api/messages/?conversation_id=${other}&sender_id=p1`, { token: buyer }),
          404,
        );
      });

      test('filters: conversation_id, sender_id, message_type, and pages', async () => {
        const bySender = await app.client.get('/api/messages/?sender_id=p1', { token: admin });
        assert.deepEqual(
          bySender.body.results.map((m: { content: string }) => m.content),
          ['service to b2'],
        );
        const images = await app.client.get(`/api/messages/?conversation_id=${conversationId}&message_type=image`, {
          token: buyer,
        });
        assert.equal(images.body.count, 2);
        assert.ok(images.body.results.every((m: { message_type: string }) => m.message_type === 'image'));
        const inConversation = await app.client.get(`/api/messages/?conversation_id=${other}`, { token: service });
        assert.deepEqual(
          inConversation.body.results.map((m: { content: string }) => m.content),
          ['b2 to service', 'service to b2'],
        );
        const page2 = await app.client.get(`/api/messages/?conversation_id=${other}&page=2&page_size=1`, {
          token: service,
        });
        assert.deepEqual(
          { count: page2.body.count, contents: page2.body.results.map((m: { content: string }) => m.content) },
          { count: 2, contents: ['service to b2'] },
        );
        const beyond = await app.client.get('/api/messages/?sender_id=p1&page=5', { token: admin });
        assert.deepEqual(beyond.body, { count: 1, results: [] });
        assertError(await app.client.get('/api/messages/?message_type=video', { token: admin }), 422);
      });
    });
  });
}
