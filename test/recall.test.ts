import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccessService } from '../src/modules/access/access.service.ts';
import type { ConversationService } from '../src/modules/conversations/conversation.service.ts';
import {
  createMessageService,
  RECALL_WINDOW_SECONDS,
  RECALLED_PREVIEW,
} from '../src/modules/messages/message.service.ts';
import { createSearchService } from '../src/modules/search/search.service.ts';
import { createSearchIndexer } from '../src/modules/search/search-indexer.ts';
import { testDialects } from './helpers/databases.ts';
import { insertUser, openScratchDatabase } from './helpers/factories.ts';
import { assertError } from './helpers/rest.ts';
import { createTestServices } from './helpers/services.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

for (const dialect of testDialects) {
  describe(`recall: the window (${dialect.name})`, () => {
    let scratch: Awaited<ReturnType<typeof openScratchDatabase>>;
    before(async () => {
      scratch = await openScratchDatabase(dialect);
    });
    after(() => scratch.close());

    test(`a message can be recalled up to ${RECALL_WINDOW_SECONDS} s after it was sent, the edge included, not a second later`, async () => {
      const { db } = scratch;
      const [buyer, merchant] = [
        await insertUser(db, { id: 'wb1', role: 'buyer' }),
        await insertUser(db, { id: 'wm1', role: 'merchant' }),
      ];
      let now = 0;
      const services = createTestServices(db, { clock: () => now });
      const { conversation } = await services.conversations.open(buyer, {
        participant1_id: buyer.id,
        participant2_id: merchant.id,
      });
      const origin = { skipConnectionId: null, echoToSender: true };
      const send = async (content: string) =>
        (await services.messages.send(buyer, { conversation_id: conversation.id, content }, origin)).message;

      const onEdge = await send('on the edge');
      now = onEdge.created_at + RECALL_WINDOW_SECONDS;
      const recalled = await services.messages.recall(buyer, onEdge.id);
      assert.equal(recalled.recalled_at, now);
      assert.equal(recalled.content, '');

      const late = await send('a second too late');
      now = late.created_at + RECALL_WINDOW_SECONDS + 1;
      await assert.rejects(services.messages.recall(buyer, late.id), { code: 'recall_window_passed' });
      const row = await db.selectFrom('messages').select('recalled_at').where('id', '=', late.id).executeTakeFirst();
      assert.equal(row?.recalled_at, null);

      // Already recalled: the same answer, however late, and no second event.
      const events = services.pushes.filter((p) => p.kind === 'message.recalled').length;
      now += 3600;
      assert.equal((await services.messages.recall(buyer, onEdge.id)).recalled_at, recalled.recalled_at);
      assert.equal(services.pushes.filter((p) => p.kind === 'message.recalled').length, events);
    });

    test('a recalled message is no longer found by search', async () => {
      const { db } = scratch;
      const [buyer, merchant] = [
        await insertUser(db, { id: 'sb1', role: 'buyer' }),
        await insertUser(db, { id: 'sm1', role: 'merchant' }),
      ];
      const services = createTestServices(db);
      const access = createAccessService(db);
      const search = createSearchService({
        db,
        access,
        conversations: services.conversations,
        messages: services.messages,
      });
      const { conversation } = await services.conversations.open(buyer, {
        participant1_id: buyer.id,
        participant2_id: merchant.id,
      });
      const origin = { skipConnectionId: null, echoToSender: true };
      const sent = await services.messages.send(
        buyer,
        { conversation_id: conversation.id, content: '阿莫西林胶囊' },
        origin,
      );
      const find = () => search.searchMessages(merchant, { q: '阿莫西林' }, { page: 1, pageSize: 20 });
      // Indexing runs after the send's commit (src/modules/search/search-indexer.ts): index it now.
      await createSearchIndexer({ db, logger: { warn: assert.fail } }).drain();
      assert.equal((await find()).count, 1);
      await services.messages.recall(buyer, sent.message.id);
      assert.equal((await find()).count, 0);
    });

    test('a message recalled before the indexer reached it is never indexed', async () => {
      const { db } = scratch;
      const buyer = await insertUser(db, { id: 'rb2', role: 'buyer' });
      const merchant = await insertUser(db, { id: 'rm2', role: 'merchant' });
      const services = createTestServices(db);
      const search = createSearchService({
        db,
        access: createAccessService(db),
        conversations: services.conversations,
        messages: services.messages,
      });
      const { conversation } = await services.conversations.open(buyer, {
        participant1_id: buyer.id,
        participant2_id: merchant.id,
      });
      const sent = await services.messages.send(
        buyer,
        { conversation_id: conversation.id, content: '布洛芬缓释胶囊' },
        { skipConnectionId: null, echoToSender: true },
      );
      await services.messages.recall(buyer, sent.message.id);
      await createSearchIndexer({ db, logger: { warn: assert.fail } }).drain();
      const found = await search.searchMessages(merchant, { q: '布洛芬' }, { page: 1, pageSize: 20 });
      assert.equal(found.count, 0);
    });

    test('a message a moderator deletes while its recall is under way: the recall answers 404 and tells nobody', async () => {
      const { db } = scratch;
      const buyer = await insertUser(db, { id: 'db1', role: 'buyer' });
      const merchant = await insertUser(db, { id: 'dm1', role: 'merchant' });
      const admin = await insertUser(db, { id: 'da1', role: 'admin' });
      const services = createTestServices(db);
      const { conversation } = await services.conversations.open(buyer, {
        participant1_id: buyer.id,
        participant2_id: merchant.id,
      });
      const sent = await services.messages.send(
        buyer,
        { conversation_id: conversation.id, content: '马上撤回' },
        { skipConnectionId: null, echoToSender: true },
      );
      // The recall has read the message; the moderator's delete commits before the recall writes.
      const published: string[] = [];
      const recaller = createMessageService({
        db,
        users: services.users,
        access: createAccessService(db),
        events: { publish: (kind) => void published.push(kind) },
        transactionEvents: services.transactionEvents,
        baseUrl: 'http://chat.test',
        mediaDir: '/nonexistent-media',
        conversations: {
          ...services.conversations,
          async visible(...args: Parameters<ConversationService['visible']>) {
            const found = await services.conversations.visible(...args);
            await services.messages.remove(admin, sent.message.id);
            return found;
          },
        },
      });
      await assert.rejects(recaller.recall(buyer, sent.message.id), { code: 'message_not_found' });
      assert.deepEqual(published, []);
    });
  });

  describe(`recall over REST and WebSocket (${dialect.name})`, () => {
    let app: TestApp;
    let tokens: Record<string, string>;
    let chat: string;

    before(async () => {
      app = await startTestApp(dialect);
      tokens = await app.addUsers({ b1: 'buyer', m1: 'merchant', a1: 'admin', b2: 'buyer' });
      chat = await app.conversation(tokens.b1 as string, 'b1', 'm1');
    });
    after(() => app.close());

    const send = async (token: string, content: string) => {
      const response = await app.client.post('/api/messages/', { token, body: { conversation_id: chat, content } });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body as { id: string; seq: number; created_at: number };
    };
    const recall = (token: string, id: string) => app.client.post(`/api/messages/${id}/recall`, { token });
    const conversation = async (token: string) => (await app.client.get(`/api/conversations/${chat}`, { token })).body;
    const historyAs = async (token: string) =>
      (await app.client.get(`/api/conversations/${chat}/messages`, { token })).body.results as {
        id: string;
        content: string;
        recalled_at?: number;
      }[];

    test('participants see it recalled (no content), admins the original marked recalled; unread and preview corrected; everyone told', async () => {
      const [merchant, admin] = [
        await app.connect('m1', tokens.m1 as string),
        await app.connect('a1', tokens.a1 as string),
      ];
      try {
        const before = await conversation(tokens.m1 as string);
        const sent = await send(tokens.b1 as string, '这条发错了 13800138000');
        assert.equal((await conversation(tokens.m1 as string)).merchant_unread_count, before.merchant_unread_count + 1);

        const response = await recall(tokens.b1 as string, sent.id);
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(response.body.content, '');
        assert.equal(typeof response.body.recalled_at, 'number');

        for (const socket of [merchant, admin]) {
          const event = await socket.waitFor('message_recalled');
          assert.deepEqual(event, {
            type: 'message_recalled',
            id: sent.id,
            conversation_id: chat,
            recalled_at: response.body.recalled_at,
          });
        }
        const seenBy = async (token: string) => (await historyAs(token)).find((m) => m.id === sent.id);
        for (const token of [tokens.b1, tokens.m1] as string[]) {
          assert.deepEqual(
            { content: (await seenBy(token))?.content, recalled_at: (await seenBy(token))?.recalled_at },
            { content: '', recalled_at: response.body.recalled_at },
          );
        }
        // The guard masked the number when it was sent; the admins see the original as stored.
        assert.equal((await seenBy(tokens.a1 as string))?.content, '这条发错了 ***');
        assert.equal((await seenBy(tokens.a1 as string))?.recalled_at, response.body.recalled_at);
        const listed = await app.client.get(`/api/messages/?sender_id=b1`, { token: tokens.m1 });
        assert.equal(listed.body.results.find((m: { id: string }) => m.id === sent.id)?.content, '');

        const afterwards = await conversation(tokens.m1 as string);
        assert.equal(afterwards.merchant_unread_count, before.merchant_unread_count);
        assert.equal(afterwards.last_message, RECALLED_PREVIEW);
        // Counted read once: reading everything later does not take it off again.
        await app.client.post(`/api/conversations/${chat}/read`, { token: tokens.m1 });
        assert.equal((await conversation(tokens.m1 as string)).merchant_unread_count, 0);
      } finally {
        await merchant.close();
        await admin.close();
      }
    });

    test('a message already read: the count stays; an older one recalled leaves the preview alone', async () => {
      const older = await send(tokens.b1 as string, '旧消息');
      await app.client.put(`/api/messages/${older.id}/read`, { token: tokens.m1 });
      await send(tokens.b1 as string, '新消息');
      const before = await conversation(tokens.m1 as string);
      assert.equal((await recall(tokens.b1 as string, older.id)).status, 200);
      const afterwards = await conversation(tokens.m1 as string);
      assert.equal(afterwards.merchant_unread_count, before.merchant_unread_count);
      assert.equal(afterwards.last_message, '新消息');
    });

    test('only its sender: the other participant 403, an admin 403 admin_read_only, a stranger 404; past the window 422', async () => {
      const sent = await send(tokens.b1 as string, '只能我撤回');
      assertError(await recall(tokens.m1 as string, sent.id), 403, 'forbidden');
      assertError(await recall(tokens.a1 as string, sent.id), 403, 'admin_read_only');
      assertError(await recall(tokens.b2 as string, sent.id), 404, 'message_not_found');
      assertError(await recall(tokens.b1 as string, 'no-such-message'), 404, 'message_not_found');

      await app.server.database.db
        .updateTable('messages')
        .set({ created_at: sent.created_at - RECALL_WINDOW_SECONDS - 5 })
        .where('id', '=', sent.id)
        .execute();
      assertError(await recall(tokens.b1 as string, sent.id), 422, 'recall_window_passed');
      assert.equal((await historyAs(tokens.m1 as string)).find((m) => m.id === sent.id)?.content, '只能我撤回');
    });
  });
}
