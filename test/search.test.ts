import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMigrator, migrateToLatest, unwrapResult } from '../src/db/migrator.ts';
import { uuidv7 } from '../src/lib/ids.ts';
import { matchRanges, parseQuery, searchTerms } from '../src/lib/search-terms.ts';
import { findCandidates } from '../src/modules/search/search.repository.ts';
import { testDialects } from './helpers/databases.ts';
import { assertError, openConversation, sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/** The migration the search index's comes after. */
const BEFORE_SEARCH_INDEX = '20261204140000_conversation_started_by';
/**
 * Issue 17: full-text search of messages, Chinese included, on every database:
 * two-character Chinese substrings, Latin words and numbers (NFKC, case-folded),
 * only in conversations the caller may see, never a deleted message, and
 * messages stored before the index existed found after the migration's backfill.
 */

describe('search terms', () => {
  test('CJK runs give overlapping bigrams; words and numbers are folded whole', () => {
    assert.deepEqual(searchTerms('请问阿莫西林有货吗？'), [
      '请问',
      '问阿',
      '阿莫',
      '莫西',
      '西林',
      '林有',
      '有货',
      '货吗',
    ]);
    assert.deepEqual(searchTerms('订单ＡＢＣ１２３, Order-42 Café'), ['订单', 'abc123', 'order', '42', 'café']);
    assert.deepEqual(searchTerms('好'), [], 'a lone CJK character gives no term');
  });

  test('a query is checked against the content as folded, with highlights in the original', () => {
    const query = parseQuery('阿莫西林 abc123');
    assert.deepEqual(query.terms, ['阿莫', '莫西', '西林', 'abc123']);
    assert.deepEqual(matchRanges('请问阿莫西林有货吗？订单ＡＢＣ１２３', query.parts), [
      [2, 6],
      [12, 18],
    ]);
    assert.equal(
      matchRanges('阿莫 莫西 西林 abc123', query.parts),
      undefined,
      'the bigrams are there, not side by side',
    );
  });
});

for (const dialect of testDialects) {
  describe(`search (${dialect.name})`, () => {
    let app: TestApp;
    let tokens: Record<string, string>;
    let mine: string;
    let theirs: string;
    const ids: Record<string, string> = {};

    const search = (token: string, query: string) => app.client.get(`/api/search/messages?${query}`, { token });
    const found = async (token: string, query: string): Promise<string[]> => {
      const response = await search(token, query);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.results.map((hit: { message: { id: string } }) => hit.message.id);
    };

    before(async () => {
      app = await startTestApp(dialect);
      tokens = await app.addUsers({ b1: 'buyer', b2: 'buyer', m1: 'merchant', a1: 'admin' });
      mine = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
      theirs = await openConversation(app, tokens.b2 as string, 'b2', 'm1');
      const send = async (name: string, token: string, conversation: string, content: string) => {
        ids[name] = (await sendText(app, token, conversation, content)).id;
      };
      await send('amoxicillin', tokens.b1 as string, mine, '请问阿莫西林有货吗？');
      await send('order', tokens.m1 as string, mine, '您的订单 ORD-20261205-7781 已发货 Shipped');
      await send('fullwidth', tokens.b1 as string, mine, '订单ＡＢＣ１２３到了吗');
      await send('scattered', tokens.b1 as string, mine, '阿莫 莫西 西林');
      await send('other', tokens.b2 as string, theirs, '阿莫西林多少钱');
    });
    after(() => app?.close());

    test('a Chinese substring of two or more characters finds its message, with highlights', async () => {
      const response = await search(tokens.b1 as string, `q=${encodeURIComponent('阿莫西林')}`);
      assert.equal(response.status, 200);
      assert.equal(response.body.count, 1, 'the scattered bigrams are no match');
      const [hit] = response.body.results;
      assert.equal(hit.message.id, ids.amoxicillin);
      assert.equal(hit.conversation_id, mine);
      assert.deepEqual(hit.highlights, [{ start: 2, end: 6 }]);
      assert.deepEqual(await found(tokens.b1 as string, `q=${encodeURIComponent('有货')}`), [ids.amoxicillin]);
    });

    test('Latin words and numbers, case-folded and NFKC, alone and mixed with Chinese', async () => {
      assert.deepEqual(await found(tokens.b1 as string, 'q=shipped'), [ids.order]);
      assert.deepEqual(await found(tokens.b1 as string, 'q=7781'), [ids.order]);
      assert.deepEqual(await found(tokens.b1 as string, 'q=ord-20261205'), [ids.order]);
      assert.deepEqual(await found(tokens.b1 as string, 'q=ABC123'), [ids.fullwidth]);
      assert.deepEqual(await found(tokens.b1 as string, `q=${encodeURIComponent('订单abc123')}`), [ids.fullwidth]);
      // Newest first: both contain 订单.
      assert.deepEqual(await found(tokens.b1 as string, `q=${encodeURIComponent('订单')}`), [ids.fullwidth, ids.order]);
      assert.deepEqual(await found(tokens.b1 as string, `q=${encodeURIComponent('订单 7781')}`), [ids.order]);
    });

    test('filters: conversation, sender, time', async () => {
      const q = `q=${encodeURIComponent('订单')}`;
      assert.deepEqual(await found(tokens.b1 as string, `${q}&sender_id=m1`), [ids.order]);
      assert.deepEqual(await found(tokens.b1 as string, `${q}&conversation_id=${mine}&page_size=1`), [ids.fullwidth]);
      assert.deepEqual(await found(tokens.b1 as string, `${q}&to=1000`), []);
      assert.equal((await found(tokens.b1 as string, `${q}&from=1000`)).length, 2);
    });

    test('only conversations the caller may see; admins see every one', async () => {
      const q = `q=${encodeURIComponent('阿莫西林')}`;
      assert.deepEqual(await found(tokens.b2 as string, q), [ids.other]);
      assert.deepEqual(await found(tokens.m1 as string, q), [ids.other, ids.amoxicillin]);
      assert.deepEqual(await found(tokens.a1 as string, q), [ids.other, ids.amoxicillin]);
      assertError(await search(tokens.b2 as string, `${q}&conversation_id=${mine}`), 404, 'conversation_not_found');
      assertError(await search('', q), 401);
    });

    test('a participant of many conversations: the index joined with their conversations', async () => {
      // The service names up to 1,000 conversations; past that it asks by participant (this scope).
      const db = app.server.database.db;
      const candidates = async (id: string) =>
        (
          await findCandidates(
            db,
            parseQuery('阿莫西林').terms,
            { kind: 'participant', viewer: { id, team_id: null, team_role: null } },
            {},
            10,
          )
        ).map((m) => m.id);
      assert.deepEqual(await candidates('b2'), [ids.other]);
      assert.deepEqual((await candidates('b1')).sort(), [ids.amoxicillin, ids.scattered].sort());
      assert.deepEqual((await candidates('m1')).length, 3);
      assert.deepEqual(await candidates('a1'), []);
    });

    test('a query with nothing to look up is refused, not scanned', async () => {
      assertError(await search(tokens.b1 as string, `q=${encodeURIComponent('林')}`), 422, 'search_query_too_short');
      assertError(await search(tokens.b1 as string, `q=${encodeURIComponent('？！')}`), 422, 'search_query_too_short');
      assertError(await search(tokens.b1 as string, 'q='), 422);
    });

    test('sends that share a transaction are all indexed', async () => {
      const conversation = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
      const sent = await Promise.all(
        Array.from({ length: 20 }, (_, i) => sendText(app, tokens.b1 as string, conversation, `批量测试 burst${i}`)),
      );
      const response = await search(tokens.b1 as string, `q=${encodeURIComponent('批量')}&page_size=100`);
      assert.equal(response.body.count, 20);
      assert.deepEqual(
        response.body.results.map((hit: { message: { id: string } }) => hit.message.id).sort(),
        sent.map((message) => message.id).sort(),
      );
      assert.deepEqual(await found(tokens.b1 as string, 'q=burst7'), [sent[7]?.id]);
    });

    test('a deleted message is no longer found', async () => {
      const message = await sendText(app, tokens.b1 as string, mine, '退货地址是哪里 return-9917');
      assert.deepEqual(await found(tokens.b1 as string, 'q=return-9917'), [message.id]);
      const deleted = await app.client.delete(`/api/messages/${message.id}`, { token: tokens.a1 as string });
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      assert.deepEqual(await found(tokens.b1 as string, 'q=return-9917'), []);
      assert.deepEqual(await found(tokens.a1 as string, `q=${encodeURIComponent('退货地址')}`), []);
      const left = await app.server.database.db
        .selectFrom('message_search_terms')
        .select('term')
        .where('message_id', '=', message.id)
        .execute();
      assert.deepEqual(left, [], "the delete's transaction removed its index rows");
    });

    test('messages stored before the index existed are found after the migration', async () => {
      const db = app.server.database.db;
      // Back to the schema before the index (later migrations are reverted first, and reapplied below).
      const reverted = unwrapResult(await createMigrator(db).migrateTo(BEFORE_SEARCH_INDEX));
      assert.equal(reverted.at(-1), 'reverted 20261205100000_message_search_terms');
      const conversation = await db
        .selectFrom('conversations')
        .selectAll()
        .where('id', '=', mine)
        .executeTakeFirstOrThrow();
      const old = uuidv7();
      await db
        .insertInto('messages')
        .values({
          id: old,
          conversation_id: mine,
          seq: Number(conversation.last_seq) + 1,
          sender_id: 'b1',
          content: '很久以前的旧消息 legacy-5150',
          message_type: 'text',
          filename: null,
          client_msg_id: null,
          is_read: 0,
          created_at: 1_700_000_000,
        })
        .execute();
      await db
        .updateTable('conversations')
        .set({ last_seq: Number(conversation.last_seq) + 1 })
        .where('id', '=', mine)
        .execute();
      assert.deepEqual(
        await migrateToLatest(db),
        reverted.map((line) => line.replace('reverted', 'applied')).reverse(),
      );
      assert.deepEqual(await found(tokens.b1 as string, `q=${encodeURIComponent('旧消息')}`), [old]);
      assert.deepEqual(await found(tokens.b1 as string, 'q=legacy-5150'), [old]);
      assert.deepEqual(await found(tokens.b1 as string, `q=${encodeURIComponent('阿莫西林')}`), [ids.amoxicillin]);
    });
  });
}
