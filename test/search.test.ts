import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMigrator, migrateToLatest, unwrapResult } from '../src/db/migrator.ts';
import { uuidv7 } from '../src/lib/ids.ts';
import { byRelevance, RARITY_CAP, rarity } from '../src/lib/search-relevance.ts';
import { matchRanges, parseQuery, searchTerms } from '../src/lib/search-terms.ts';
import {
  conversationsBehind as conversationsBehindAfter,
  findCandidates,
  indexMessages,
} from '../src/modules/search/search.repository.ts';
import { createSearchIndexer } from '../src/modules/search/search-indexer.ts';
import { testDialects } from './helpers/databases.ts';
import { scrape } from './helpers/metrics.ts';
import { until } from './helpers/polling.ts';
import { assertError, openConversation, sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/** Conversations with messages the search indexer has not indexed yet. */
async function conversationsBehind(app: TestApp): Promise<number> {
  const rows = await app.server.database.db
    .selectFrom('conversations')
    .select('id')
    .where('search_behind', '=', 1)
    .execute();
  return rows.length;
}

/** Resolves once the app's indexer, running after each send's commit, has indexed every committed message. */
const caughtUp = (app: TestApp) =>
  until(
    () => conversationsBehind(app),
    (n) => n === 0,
    'search index caught up',
  );

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
      await caughtUp(app);
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
      await caughtUp(app);
      const response = await search(tokens.b1 as string, `q=${encodeURIComponent('批量')}&page_size=100`);
      assert.equal(response.body.count, 20);
      assert.deepEqual(
        response.body.results.map((hit: { message: { id: string } }) => hit.message.id).sort(),
        sent.map((message) => message.id).sort(),
      );
      assert.deepEqual(await found(tokens.b1 as string, 'q=burst7'), [sent[7]?.id]);
    });

    test("the indexer's progress is in /metrics", async () => {
      const metrics = await scrape(app.server.url);
      assert.ok(metrics.value('chat_search_indexed_messages_total') >= 5, 'the sends above, indexed after commit');
      assert.equal(metrics.value('chat_search_index_backlog_conversations'), 0);
      assert.ok(metrics.value('chat_search_index_lag_seconds_count') >= 1);
    });

    test('a deleted message is no longer found', async () => {
      const message = await sendText(app, tokens.b1 as string, mine, '退货地址是哪里 return-9917');
      await caughtUp(app);
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

for (const dialect of testDialects) {
  describe(`search indexer (${dialect.name})`, () => {
    // An instance that runs no indexer: its sends are indexed by whichever indexer comes next.
    let app: TestApp;
    let tokens: Record<string, string>;

    const found = async (query: string): Promise<string[]> => {
      const response = await app.client.get(`/api/search/messages?q=${encodeURIComponent(query)}&page_size=100`, {
        token: tokens.a1 as string,
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.results.map((hit: { message: { id: string } }) => hit.message.id);
    };
    const indexer = (options = {}) =>
      createSearchIndexer({ db: app.server.database.db, logger: { warn: assert.fail }, options });

    before(async () => {
      app = await startTestApp(dialect, { server: { searchIndexer: { enabled: false } } });
      tokens = await app.addUsers({ b1: 'buyer', b2: 'buyer', m1: 'merchant', a1: 'admin' });
    });
    after(() => app?.close());

    test('a send writes no index row; a later indexer finds it from the database alone, in bounded rounds', async () => {
      const conversation = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
      const sent = [];
      for (let i = 0; i < 7; i++)
        sent.push((await sendText(app, tokens.b1 as string, conversation, `稍后索引 late${i}`)).id);
      const rows = await app.server.database.db
        .selectFrom('message_search_terms')
        .select('term')
        .where('conversation_id', '=', conversation)
        .execute();
      assert.deepEqual(rows, [], 'nothing indexed in the send transaction');
      assert.deepEqual(await found('稍后索引'), []);
      assert.equal(await conversationsBehind(app), 1);

      // Two messages a round: four rounds, each leaving the watermark where it stopped.
      await indexer({ messagesPerRound: 2, conversationsPerRound: 1 }).drain();
      assert.deepEqual((await found('稍后索引')).sort(), [...sent].sort());
      assert.deepEqual(await found('late6'), [sent[6]]);
      assert.equal(await conversationsBehind(app), 0);
      const row = await app.server.database.db
        .selectFrom('conversations')
        .select(['search_seq', 'last_seq'])
        .where('id', '=', conversation)
        .executeTakeFirstOrThrow();
      assert.equal(Number(row.search_seq), Number(row.last_seq));
    });

    test('the flagged conversations are read from where the last window ended (ids after it, in order)', async () => {
      const opened = await Promise.all([
        openConversation(app, tokens.b1 as string, 'b1', 'm1'),
        openConversation(app, tokens.b2 as string, 'b2', 'm1'),
      ]);
      for (const conversation of opened) await sendText(app, tokens.m1 as string, conversation, '窗口 window');
      const ids = [...opened].sort();
      const db = app.server.database.db;
      const mine = (rows: { id: string }[]) => rows.map((row) => row.id).filter((id) => ids.includes(id));
      assert.deepEqual(mine(await conversationsBehindAfter(db, undefined, 1_000)), ids);
      assert.deepEqual(mine(await conversationsBehindAfter(db, ids[0], 1_000)), [ids[1]]);
      assert.deepEqual(mine(await conversationsBehindAfter(db, ids[1], 1_000)), []);
      await indexer({ lookahead: 1, conversationsPerRound: 1 }).drain();
      assert.equal(await conversationsBehind(app), 0);
    });

    test('indexers of several instances index one backlog together, each row once', async () => {
      const conversations = await Promise.all([
        openConversation(app, tokens.b1 as string, 'b1', 'm1'),
        openConversation(app, tokens.b2 as string, 'b2', 'm1'),
      ]);
      const sent = [];
      for (let i = 0; i < 10; i++) {
        const conversation = conversations[i % 2] as string;
        sent.push((await sendText(app, tokens.m1 as string, conversation, `并行索引 both${i}`)).id);
      }
      await Promise.all([indexer({ messagesPerRound: 3 }).drain(), indexer({ messagesPerRound: 4 }).drain()]);
      assert.deepEqual((await found('并行索引')).sort(), [...sent].sort());
      const rows = await app.server.database.db
        .selectFrom('message_search_terms')
        .select(['term', 'message_id'])
        .where('message_id', 'in', sent)
        .execute();
      // 并行, 行索, 索引 and both<i>: four terms per message, none twice (the primary key would refuse it).
      assert.equal(rows.length, 4 * sent.length);
      assert.equal(await conversationsBehind(app), 0);
    });

    test('a message deleted before it is indexed, or while an indexer holds its text, is never found', async () => {
      const conversation = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
      const gone = await sendText(app, tokens.b1 as string, conversation, '删除竞态 race-4411');
      const kept = await sendText(app, tokens.b1 as string, conversation, '删除竞态 race-4412');
      // An indexer read the message's row, then the delete committed, then the indexer wrote its terms.
      const read = await app.server.database.db
        .selectFrom('messages')
        .selectAll()
        .where('id', '=', gone.id)
        .executeTakeFirstOrThrow();
      const deleted = await app.client.delete(`/api/messages/${gone.id}`, { token: tokens.a1 as string });
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      await app.server.database.db.transaction().execute((trx) => indexMessages(trx, [read]));
      await indexer().drain();
      assert.deepEqual(await found('删除竞态'), [kept.id]);
      assert.deepEqual(await found('race-4411'), []);
    });
  });
}

for (const dialect of testDialects) {
  describe(`conversation search (${dialect.name})`, () => {
    let app: TestApp;
    const tokens: Record<string, string> = {};
    const conversations: Record<string, string> = {};

    const names = async (token: string, q: string, extra = ''): Promise<string[]> => {
      const response = await app.client.get(`/api/search/conversations?q=${encodeURIComponent(q)}${extra}`, { token });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.count, response.body.results.length);
      return response.body.results.map((c: { id: string }) => c.id);
    };

    before(async () => {
      app = await startTestApp(dialect);
      const people: [string, 'buyer' | 'merchant' | 'admin', string][] = [
        ['b1', 'buyer', '小明 Ming'],
        ['b2', 'buyer', '小红_Hong'],
        ['m1', 'merchant', '旗舰店 FlagShip'],
        ['m2', 'merchant', '数码专营 Digital'],
        ['a1', 'admin', 'admin-one'],
      ];
      for (const [id, role, username] of people) tokens[id] = await app.addUser(id, role, { username });
      // Opened oldest first: b1–m1, b1–m2, b2–m1 (most recent).
      conversations.b1m1 = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
      conversations.b1m2 = await openConversation(app, tokens.b1 as string, 'b1', 'm2');
      conversations.b2m1 = await openConversation(app, tokens.b2 as string, 'b2', 'm1');
      await sendText(app, tokens.b2 as string, conversations.b2m1, '在吗');
    });
    after(() => app?.close());

    test("a participant finds their conversations by the other participant's name, case-folded and NFKC", async () => {
      assert.deepEqual(await names(tokens.b1 as string, '旗舰'), [conversations.b1m1]);
      assert.deepEqual(await names(tokens.b1 as string, 'flagship'), [conversations.b1m1]);
      assert.deepEqual(
        await names(tokens.b1 as string, 'ＤＩＧＩＴＡＬ'),
        [conversations.b1m2],
        'full-width folds to ASCII',
      );
      assert.deepEqual(await names(tokens.b1 as string, 'm'), [conversations.b1m2, conversations.b1m1], 'an id prefix');
      const response = await app.client.get('/api/search/conversations?q=flag', { token: tokens.b1 as string });
      const [hit] = response.body.results;
      assert.equal(hit.participant2.username, '旗舰店 FlagShip', 'conversations as GET /api/conversations shows them');
      assert.equal(hit.merchant_id, 'm1');
    });

    test('only their own conversations, and never by their own name', async () => {
      assert.deepEqual(await names(tokens.b2 as string, '旗舰'), [conversations.b2m1]);
      assert.deepEqual(await names(tokens.b2 as string, '数码'), [], "b1's merchant, not b2's");
      assert.deepEqual(await names(tokens.b1 as string, '小明'), [], 'the caller matches every one of theirs: no');
      assert.deepEqual(await names(tokens.m1 as string, '小'), [conversations.b2m1, conversations.b1m1]);
      assert.deepEqual(await names(tokens.m2 as string, '小红'), []);
    });

    test('admins search every conversation, by either participant, each once', async () => {
      assert.deepEqual(await names(tokens.a1 as string, '小明'), [conversations.b1m2, conversations.b1m1]);
      assert.deepEqual(await names(tokens.a1 as string, '旗舰'), [conversations.b2m1, conversations.b1m1]);
      // 'M' is in Ming and starts m1 and m2: the b1–m1 conversation matches on both participants.
      assert.deepEqual(await names(tokens.a1 as string, 'm'), [
        conversations.b2m1,
        conversations.b1m2,
        conversations.b1m1,
      ]);
    });

    test('LIKE wildcards are literal; pages; bad input', async () => {
      assert.deepEqual(await names(tokens.m1 as string, '_'), [conversations.b2m1], 'only 小红_Hong has an underscore');
      assert.deepEqual(await names(tokens.m1 as string, '%'), []);
      const page2 = await app.client.get('/api/search/conversations?q=m&page=2&page_size=2', {
        token: tokens.a1 as string,
      });
      assert.equal(page2.status, 200);
      assert.equal(page2.body.count, 3);
      assert.deepEqual(
        page2.body.results.map((c: { id: string }) => c.id),
        [conversations.b1m1],
      );
      assertError(await app.client.get('/api/search/conversations?q=', { token: tokens.b1 as string }), 422);
      assertError(
        await app.client.get('/api/search/conversations?q=%20%20', { token: tokens.b1 as string }),
        422,
        'search_query_too_short',
      );
      assertError(await app.client.get('/api/search/conversations?q=m'), 401);
    });
  });
}

describe('relevance (BM25 over the query parts)', () => {
  test('more occurrences, a shorter message and a rarer part rank higher; ties keep their order', () => {
    const items = [
      '很长的一段话，其中提到了一次退款，别的都是无关的内容，还有更多无关的内容',
      '我想退款',
      '退款退款，请尽快退款',
    ];
    const weights = new Map([['退款', rarity(5)]]);
    assert.deepEqual(
      byRelevance(items, (text) => text, weights),
      [items[2], items[1], items[0]],
    );
    const same = ['第一条退款', '第二条退款'];
    assert.deepEqual(
      byRelevance(same, (text) => text, weights),
      same,
      'equal scores: the given (newest) order',
    );
    const rareTwice = 'abc abc 退款.';
    const commonTwice = 'abc 退款 退款..';
    const twoParts = new Map([
      ['abc', rarity(2)],
      ['退款', rarity(500)],
    ]);
    assert.deepEqual(
      byRelevance([commonTwice, rareTwice], (text) => text, twoParts),
      [rareTwice, commonTwice],
    );
    assert.ok(rarity(RARITY_CAP) > 0 && rarity(RARITY_CAP) < 0.001 && rarity(1) > rarity(100));
  });
});

for (const dialect of testDialects) {
  describe(`search sort=relevance (${dialect.name})`, () => {
    let app: TestApp;
    let tokens: Record<string, string>;
    const sent: Record<string, string> = {};

    const ranked = async (q: string, sort = '&sort=relevance'): Promise<string[]> => {
      const response = await app.client.get(`/api/search/messages?q=${encodeURIComponent(q)}${sort}`, {
        token: tokens.b1 as string,
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.results.map((hit: { message: { id: string } }) => hit.message.id);
    };

    before(async () => {
      app = await startTestApp(dialect);
      tokens = await app.addUsers({ b1: 'buyer', m1: 'merchant' });
      const conversation = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
      const messages: [string, string][] = [
        ['once, long', '很长的一段话，其中提到了一次退款，别的都是无关的内容，还有更多无关的内容'],
        ['once, short', '我想退款'],
        ['three times', '退款退款，请尽快退款'],
        ['rare part twice', 'abc abc 退款.'],
        ['common part twice', 'abc 退款 退款..'],
        ['unrelated', '发货了吗'],
      ];
      for (const [name, content] of messages) {
        sent[name] = (await sendText(app, tokens.b1 as string, conversation, content)).id;
      }
      await caughtUp(app);
    });
    after(() => app?.close());

    test('one part: by occurrences and length, not by age', async () => {
      const newest = await ranked('退款', '');
      assert.deepEqual(newest.slice(0, 3), [sent['common part twice'], sent['rare part twice'], sent['three times']]);
      const best = await ranked('退款');
      assert.equal(best.length, newest.length, 'the same matches, in another order');
      assert.equal(best[0], sent['three times']);
      assert.ok(best.indexOf(sent['once, short'] as string) < best.indexOf(sent['once, long'] as string));
    });

    test('two parts: the rarer part counts more (abc is in 2 messages, 退款 in 5)', async () => {
      assert.deepEqual(await ranked('abc 退款'), [sent['rare part twice'], sent['common part twice']]);
      assert.deepEqual(await ranked('abc 退款', '&sort=newest'), [sent['common part twice'], sent['rare part twice']]);
      assertError(await app.client.get('/api/search/messages?q=abc&sort=oldest', { token: tokens.b1 as string }), 422);
    });
  });
}
