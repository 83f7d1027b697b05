import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createConnection } from 'mysql2/promise';
import { COUNT_CAP } from '../src/db/capped-count.ts';
import { uuidv7 } from '../src/lib/ids.ts';
import { PER_CONVERSATION_MERGE_LIMIT } from '../src/modules/messages/message.repository.ts';
import { MYSQL_SKIP_REASON, testDialects } from './helpers/databases.ts';
import { scrape } from './helpers/metrics.ts';
import { assertError, openConversation } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Issue 12, item 3: list endpoints are bounded whatever the filters. One
 * user's flood of list requests gets 429 for what exceeds their share while
 * another user is served; counts stop at COUNT_CAP with `count_exact: false`;
 * pages past a capped count need the `before_id` cursor.
 */

const LIMIT = 2;

/** Every list endpoint, with every filter, as one buyer sees them. */
function listPaths(conversationId: string, self: string): string[] {
  return [
    '/api/messages/',
    '/api/messages/?page_size=1',
    '/api/messages/?message_type=text&page_size=1',
    `/api/messages/?sender_id=${self}`,
    `/api/messages/?sender_id=${self}&message_type=image`,
    `/api/messages/?conversation_id=${conversationId}`,
    `/api/messages/?conversation_id=${conversationId}&message_type=text`,
    `/api/messages/?conversation_id=${conversationId}&sender_id=${self}&message_type=text`,
    `/api/conversations/${conversationId}/messages?order=desc`,
    '/api/conversations/',
    `/api/conversations/?user_id=${self}`,
    '/api/users/',
    '/api/users/?role=merchant&q=SHOP',
    `/api/quick-replies/user/${self}`,
  ];
}

/** Stores `n` text messages from `sender` in a conversation straight into the database, seq after its last. */
async function insertMessages(app: TestApp, conversationId: string, sender: string, n: number): Promise<void> {
  const db = app.server.database.db;
  const conversation = await db
    .selectFrom('conversations')
    .selectAll()
    .where('id', '=', conversationId)
    .executeTakeFirstOrThrow();
  let seq = Number(conversation.last_seq);
  for (let done = 0; done < n; done += 500) {
    const rows = Array.from({ length: Math.min(500, n - done) }, (_, i) => ({
      id: uuidv7(),
      conversation_id: conversationId,
      seq: ++seq,
      sender_id: sender,
      content: `bulk ${done + i}`,
      message_type: 'text' as const,
      filename: null,
      client_msg_id: null,
      is_read: 1,
      created_at: 1_700_000_000,
    }));
    await db.insertInto('messages').values(rows).execute();
  }
  await db
    .updateTable('conversations')
    .set((eb) => ({ last_seq: seq, message_count: eb('message_count', '+', n) }))
    .where('id', '=', conversationId)
    .execute();
}

/** Runs requests one after another (a well-behaved client), collecting their responses. */
async function inTurn<T>(requests: (() => Promise<T>)[]): Promise<T[]> {
  const responses: T[] = [];
  for (const request of requests) responses.push(await request());
  return responses;
}

for (const dialect of testDialects) {
  describe(`bounded lists (${dialect.name})`, () => {
    let app: TestApp;
    let flooder: string;
    let other: string;
    let admin: string;
    let floodConversation: string;

    before(async () => {
      app = await startTestApp(dialect, { server: { quotas: { listConcurrencyPerUser: LIMIT } } });
      let merchant: string;
      [flooder, other, merchant, admin] = await Promise.all([
        app.addUser('b1', 'buyer'),
        app.addUser('b2', 'buyer'),
        app.addUser('m1', 'merchant', { username: 'shop-one' }),
        app.addUser('a1', 'admin'),
      ]);
      floodConversation = await openConversation(app, flooder, 'b1', 'm1');
      await openConversation(app, other, 'b2', 'm1');
      await insertMessages(app, floodConversation, 'm1', COUNT_CAP + 60);
      void merchant;
    });
    after(() => app.close());

    test("a user holding their list slots gets 429 on every list endpoint; another user's lists are served", async () => {
      const held = Array.from({ length: LIMIT }, () => app.server.quotas.enterList('b1'));
      try {
        const [flood, served] = await Promise.all([
          Promise.all(listPaths(floodConversation, 'b1').map((path) => app.client.get(path, { token: flooder }))),
          inTurn(listPaths(floodConversation, 'b2').map((path) => () => app.client.get(path, { token: other }))),
        ]);
        for (const response of flood) {
          assertError(response, 429, 'too_many_list_requests');
          assert.equal(response.headers.get('retry-after'), '1');
        }
        // b2 may not see b1's conversation (404 on those paths); never 429 or 503.
        for (const response of served) assert.ok([200, 404].includes(response.status), JSON.stringify(response.body));
        assert.ok(served.filter((r) => r.status === 200).length >= 8);
      } finally {
        for (const release of held) release();
      }
      const again = await app.client.get('/api/messages/?message_type=text&page_size=1', { token: flooder });
      assert.equal(again.status, 200);
      const metrics = await scrape(app.server.url);
      assert.ok(metrics.value('chat_quota_refusals_total', { kind: 'list_concurrency' }) >= 14);
    });

    test('a concurrent flood from one user never turns into a 503 or 500, for them or anyone else', async () => {
      const paths = listPaths(floodConversation, 'b1');
      const [flood, served] = await Promise.all([
        Promise.all(
          Array.from({ length: 60 }, (_, i) => app.client.get(paths[i % paths.length] as string, { token: flooder })),
        ),
        inTurn(Array.from({ length: 10 }, () => () => app.client.get('/api/conversations/', { token: other }))),
      ]);
      for (const response of flood) assert.ok([200, 429].includes(response.status), JSON.stringify(response.body));
      for (const response of served) assert.equal(response.status, 200);
    });

    test('counts stop at the bound with count_exact: false; exact counts carry no flag', async () => {
      const capped = await app.client.get('/api/messages/?message_type=text&page_size=5', { token: flooder });
      assert.equal(capped.status, 200);
      assert.equal(capped.body.count, COUNT_CAP);
      assert.equal(capped.body.count_exact, false);
      assert.equal(capped.body.results.length, 5);
      const admins = await app.client.get('/api/messages/?page_size=5', { token: admin });
      assert.deepEqual([admins.body.count, admins.body.count_exact], [COUNT_CAP, false]);
      // One conversation alone keeps its maintained, exact count.
      const history = await app.client.get(`/api/messages/?conversation_id=${floodConversation}`, { token: flooder });
      assert.equal(history.body.count, COUNT_CAP + 60);
      assert.equal('count_exact' in history.body, false);
      const none = await app.client.get('/api/messages/?message_type=image', { token: flooder });
      assert.deepEqual(none.body, { count: 0, results: [] });
    });

    test("a participant's list merges their conversations newest first, with an exact count and a cursor", async () => {
      const buyer = await app.addUser('b3', 'buyer');
      await app.addUser('m2', 'merchant');
      const [one, two] = [
        await openConversation(app, buyer, 'b3', 'm1'),
        await openConversation(app, buyer, 'b3', 'm2'),
      ];
      const sent: string[] = [];
      for (let i = 0; i < 6; i++) {
        const response = await app.client.post('/api/messages/', {
          token: buyer,
          body: { conversation_id: i % 2 === 0 ? one : two, content: `merged ${i}` },
        });
        assert.equal(response.status, 201);
        sent.push(response.body.id);
      }
      const newestFirst = [...sent].sort().reverse();
      const all = await app.client.get('/api/messages/?page_size=4', { token: buyer });
      assert.equal(all.body.count, 6);
      assert.deepEqual(
        all.body.results.map((m: { id: string }) => m.id),
        newestFirst.slice(0, 4),
      );
      const rest = await app.client.get(`/api/messages/?page_size=4&before_id=${newestFirst[3]}`, { token: buyer });
      assert.deepEqual(
        rest.body.results.map((m: { id: string }) => m.id),
        newestFirst.slice(4),
      );
      const page2 = await app.client.get('/api/messages/?page=2&page_size=4&message_type=text', { token: buyer });
      assert.deepEqual(
        page2.body.results.map((m: { id: string }) => m.id),
        newestFirst.slice(4),
      );
      assert.equal(page2.body.count, 6);
    });

    test('a participant of more conversations than are merged is listed right, with every filter', async () => {
      const merchant = await app.addUser('m9', 'merchant');
      const buyers = Array.from({ length: PER_CONVERSATION_MERGE_LIMIT + 1 }, (_, i) => `bm${i}`);
      const db = app.server.database.db;
      for (const id of buyers) await app.addUser(id, 'buyer');
      const conversations = await Promise.all(buyers.map((id) => openConversation(app, merchant, 'm9', id)));
      for (const [i, conversation] of conversations.slice(0, 3).entries()) {
        await insertMessages(app, conversation, i === 1 ? (buyers[1] as string) : 'm9', 2);
      }
      await db
        .updateTable('messages')
        .set({ message_type: 'image' })
        .where('content', '=', 'bulk 0')
        .where('conversation_id', '=', conversations[2] as string)
        .execute();
      const ids = (body: { results: { id: string }[] }) => body.results.map((m) => m.id);
      const expected = await db
        .selectFrom('messages')
        .select(['id', 'sender_id', 'message_type'])
        .where('conversation_id', 'in', conversations.slice(0, 3))
        .orderBy('id', 'desc')
        .execute();
      const all = await app.client.get('/api/messages/?page_size=100', { token: merchant });
      assert.deepEqual([all.body.count, ids(all.body)], [6, expected.map((m) => m.id)]);
      const images = await app.client.get('/api/messages/?message_type=image', { token: merchant });
      assert.deepEqual(
        ids(images.body),
        expected.filter((m) => m.message_type === 'image').map((m) => m.id),
      );
      const fromBuyer = await app.client.get(`/api/messages/?sender_id=${buyers[1]}`, { token: merchant });
      assert.deepEqual(
        ids(fromBuyer.body),
        expected.filter((m) => m.sender_id === buyers[1]).map((m) => m.id),
      );
      const conversationsPage = await app.client.get('/api/conversations/?page_size=100', { token: merchant });
      assert.equal(conversationsPage.body.count, buyers.length);
      assert.equal(new Set(conversationsPage.body.results.map((c: { id: string }) => c.id)).size, buyers.length);
    });

    test('a page past a capped count is a 422 naming the cursor; before_id pages on without gaps', async () => {
      const deep = await app.client.get(`/api/messages/?message_type=text&page=${COUNT_CAP / 50 + 1}&page_size=50`, {
        token: flooder,
      });
      assertError(deep, 422, 'page_too_deep');
      assertError(await app.client.get('/api/messages/?before_id=a%2Fb', { token: flooder }), 422, 'validation_error');
      // Past the end of an exact count: an empty page, as always.
      const past = await app.client.get('/api/messages/?message_type=image&page=1000', { token: flooder });
      assert.deepEqual(past.body.results, []);

      const first = await app.client.get('/api/messages/?message_type=text&page_size=3', { token: flooder });
      const second = await app.client.get('/api/messages/?message_type=text&page=2&page_size=3', { token: flooder });
      const last = first.body.results.at(-1).id;
      const cursor = await app.client.get(`/api/messages/?message_type=text&page_size=3&before_id=${last}`, {
        token: flooder,
      });
      assert.equal(cursor.status, 200);
      assert.deepEqual(
        cursor.body.results.map((m: { id: string }) => m.id),
        second.body.results.map((m: { id: string }) => m.id),
      );
      // The oldest messages, reachable only through the cursor.
      const oldest = await app.server.database.db
        .selectFrom('messages')
        .select('id')
        .where('conversation_id', '=', floodConversation)
        .orderBy('id')
        .limit(2)
        .execute();
      const tail = await app.client.get(
        `/api/messages/?conversation_id=${floodConversation}&message_type=text&before_id=${oldest[1]?.id}`,
        { token: flooder },
      );
      assert.deepEqual(
        tail.body.results.map((m: { id: string }) => m.id),
        [oldest[0]?.id],
      );
    });
  });
}

describe('a real flood held in the database (MySQL)', { skip: MYSQL_SKIP_REASON }, () => {
  let app: TestApp;
  let flooder: string;
  let other: string;

  before(async () => {
    const [mysql] = testDialects.filter((d) => d.name === 'mysql');
    assert.ok(mysql);
    app = await startTestApp(mysql, { server: { quotas: { listConcurrencyPerUser: LIMIT } } });
    [flooder, other] = await Promise.all([app.addUser('b1', 'buyer'), app.addUser('b2', 'buyer')]);
    await app.addUser('m1', 'merchant');
    await openConversation(app, flooder, 'b1', 'm1');
  });
  after(() => app.close());

  test("while one user's lists wait on the database, their excess gets 429 at once and another user is served", async () => {
    // A write lock on messages from another session: the flooder's message lists wait on it, in flight.
    const locker = await createConnection(app.scratch.urlString);
    await locker.query('LOCK TABLES messages WRITE');
    const early: number[] = [];
    let unlocked = false;
    let fourAnswered: () => void = () => {};
    const answered = new Promise<void>((resolve) => {
      fourAnswered = resolve;
    });
    try {
      const flood = Array.from({ length: LIMIT + 4 }, () =>
        app.client.get('/api/messages/?message_type=text&page_size=1', { token: flooder }).then((response) => {
          if (!unlocked && early.push(response.status) === 4) fourAnswered();
          return response;
        }),
      );
      // Wait for 4 answers (an event, not a time): they come while the database still holds the others.
      await answered;
      assert.deepEqual(early, [429, 429, 429, 429]);
      // Another user's request is served while the flooder's two are still held.
      const served = await app.client.get('/api/users/', { token: other });
      assert.equal(served.status, 200);
      unlocked = true;
      await locker.query('UNLOCK TABLES');
      const statuses = (await Promise.all(flood)).map((response) => response.status).sort();
      assert.deepEqual(statuses, [200, 200, 429, 429, 429, 429]);
    } finally {
      await locker.query('UNLOCK TABLES').catch(() => {});
      await locker.end();
    }
  });
});
