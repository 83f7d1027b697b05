import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KyselyPlugin } from 'kysely';
import { type DatabaseHandle, openDatabase } from '../src/db/connection.ts';
import { isUniqueViolation } from '../src/db/errors.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import type { MessageRow } from '../src/db/types.ts';
import { uuidv7 } from '../src/lib/ids.ts';
import { canonicalJson, chainHash, genesisHash, messageEntry } from '../src/lib/transcript-chain.ts';
import { insertConversation } from '../src/modules/conversations/conversation.repository.ts';
import { createAppendBatcher } from '../src/modules/messages/append-batcher.ts';
import { type Append, appendMessages, unreadColumnOf } from '../src/modules/messages/message.repository.ts';
import { type ScratchDatabase, testDialects } from './helpers/databases.ts';
import { insertTestUser } from './helpers/users.ts';

/**
 * Sends that share a transaction (group commit) must leave exactly what the
 * same sends one at a time leave: consecutive seqs per conversation in the
 * order given, the counters, the preview, and one answer per message even
 * when one message of the batch is refused.
 */

const BUYERS = ['buyer-1', 'buyer-2', 'buyer-3'];
const MERCHANT = 'merchant-1';

for (const dialect of testDialects) {
  describe(`send batching (${dialect.name})`, () => {
    let scratch: ScratchDatabase;
    let handle: DatabaseHandle;
    const conversations: { id: string; participant1_id: string; participant2_id: string }[] = [];

    before(async () => {
      scratch = await dialect.create();
      handle = openDatabase(scratch.url);
      await migrateToLatest(handle.db);
      await insertTestUser(handle.db, MERCHANT, 'merchant');
      for (const buyer of BUYERS) {
        await insertTestUser(handle.db, buyer, 'buyer');
        const [participant1_id, participant2_id] = [buyer, MERCHANT].sort() as [string, string];
        const row = { id: uuidv7(), participant1_id, participant2_id, created_at: 1, updated_at: 1 };
        await insertConversation(handle.db, row);
        conversations.push(row);
      }
    });

    after(async () => {
      await handle.destroy();
      await scratch.drop();
    });

    let clock = 1_000;
    function appendFor(
      conversation: (typeof conversations)[number],
      sender: string,
      content: string,
      clientMsgId: string | null = null,
    ): Append {
      clock += 1;
      const recipient =
        conversation.participant1_id === sender ? conversation.participant2_id : conversation.participant1_id;
      return {
        message: {
          id: uuidv7(),
          conversation_id: conversation.id,
          sender_id: sender,
          content,
          message_type: 'text',
          filename: null,
          client_msg_id: clientMsgId,
          created_at: clock,
        },
        recipientId: recipient,
        recipientUnread: unreadColumnOf(conversation, recipient),
        preview: content,
      };
    }

    async function stored(conversationId: string): Promise<MessageRow[]> {
      return handle.db
        .selectFrom('messages')
        .selectAll()
        .where('conversation_id', '=', conversationId)
        .orderBy('seq')
        .execute();
    }

    test('one batch: per-conversation seq blocks in order, counters and preview as one at a time', async () => {
      // One transaction at a time: everything appended in this turn of the loop is one batch.
      const batches: number[] = [];
      const batcher = createAppendBatcher(handle.db, {
        maxConcurrent: 1,
        maxBatch: 64,
        onBatch: (size) => batches.push(size),
      });
      const appends: Append[] = [];
      for (let i = 0; i < 30; i++) {
        const conversation = conversations[i % 3] as (typeof conversations)[number];
        const buyer = BUYERS[i % 3] as string;
        appends.push(appendFor(conversation, i % 2 === 0 ? buyer : MERCHANT, `m${i}`));
      }
      const seqs = await Promise.all(appends.map((append) => batcher.append(append)));
      assert.deepEqual(batches, [30], 'one transaction for the 30 sends');

      for (const [c, conversation] of conversations.entries()) {
        const mine = appends.filter((append) => append.message.conversation_id === conversation.id);
        // Seqs 1..10 in the order the sends were made, each send told its own.
        assert.deepEqual(
          mine.map((append) => seqs[appends.indexOf(append)]),
          Array.from({ length: 10 }, (_, i) => i + 1),
        );
        const rows = await stored(conversation.id);
        assert.deepEqual(
          rows.map((row) => [Number(row.seq), row.content]),
          mine.map((append, i) => [i + 1, append.message.content]),
        );
        const after = await handle.db
          .selectFrom('conversations')
          .selectAll()
          .where('id', '=', conversation.id)
          .executeTakeFirstOrThrow();
        const last = mine[mine.length - 1] as Append;
        assert.equal(Number(after.last_seq), 10);
        assert.equal(Number(after.message_count), 10);
        assert.equal(after.last_message, last.message.content);
        assert.equal(Number(after.last_message_time), last.message.created_at);
        const unreadOf = (user: string) => mine.filter((append) => append.message.sender_id !== user).length;
        assert.equal(Number(after.participant1_unread), unreadOf(conversation.participant1_id), `conversation ${c}`);
        assert.equal(Number(after.participant2_unread), unreadOf(conversation.participant2_id), `conversation ${c}`);
      }
    });

    test('a refused message fails alone: the rest of its batch is stored, seqs stay gapless', async () => {
      const batcher = createAppendBatcher(handle.db, { maxConcurrent: 1, maxBatch: 64 });
      const conversation = conversations[0] as (typeof conversations)[number];
      const before = (await stored(conversation.id)).length;
      const first = await batcher.append(appendFor(conversation, MERCHANT, 'original', 'retry-me'));
      assert.equal(first, before + 1);

      const results = await Promise.allSettled([
        batcher.append(appendFor(conversation, MERCHANT, 'a')),
        // The same client_msg_id again: the unique key refuses it, which rolls back its batch.
        batcher.append(appendFor(conversation, MERCHANT, 'original', 'retry-me')),
        batcher.append(appendFor(conversations[1] as (typeof conversations)[number], MERCHANT, 'b')),
        batcher.append(appendFor(conversation, BUYERS[0] as string, 'c')),
      ]);
      assert.equal(results[1]?.status, 'rejected');
      assert.ok(isUniqueViolation((results[1] as PromiseRejectedResult).reason));
      for (const i of [0, 2, 3]) assert.equal(results[i]?.status, 'fulfilled', `send ${i}`);

      const rows = await stored(conversation.id);
      assert.deepEqual(
        rows.map((row) => Number(row.seq)),
        Array.from({ length: before + 3 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        rows
          .slice(-2)
          .map((row) => row.content)
          .sort(),
        ['a', 'c'],
      );
    });

    test('a message to a conversation that is gone resolves undefined; its batch-mates are stored', async () => {
      const batcher = createAppendBatcher(handle.db, { maxConcurrent: 1, maxBatch: 64 });
      const gone = { id: uuidv7(), participant1_id: BUYERS[0] as string, participant2_id: MERCHANT };
      const kept = conversations[2] as (typeof conversations)[number];
      const before = (await stored(kept.id)).length;
      const [lost, storedSeq] = await Promise.all([
        batcher.append(appendFor(gone, MERCHANT, 'nowhere')),
        batcher.append(appendFor(kept, MERCHANT, 'somewhere')),
      ]);
      assert.equal(lost, undefined);
      assert.equal(storedSeq, before + 1);
      assert.equal((await stored(gone.id)).length, 0);
    });

    test('more sends than one batch holds: every one stored once, in order per conversation', async () => {
      const batches: number[] = [];
      const batcher = createAppendBatcher(handle.db, {
        maxConcurrent: 2,
        maxBatch: 5,
        onBatch: (size) => batches.push(size),
      });
      const conversation = conversations[1] as (typeof conversations)[number];
      const before = (await stored(conversation.id)).length;
      const appends = Array.from({ length: 23 }, (_, i) => appendFor(conversation, MERCHANT, `n${i}`));
      const seqs = await Promise.all(appends.map((append) => batcher.append(append)));
      assert.deepEqual(batches, [5, 5, 5, 5, 3]);
      // Two transactions at once may commit in either order, but each send's seq is its row's.
      const rows = await stored(conversation.id);
      assert.equal(rows.length, before + 23);
      assert.deepEqual(
        rows.map((row) => Number(row.seq)),
        Array.from({ length: before + 23 }, (_, i) => i + 1),
      );
      const seqOf = new Map(rows.map((row) => [row.id, Number(row.seq)]));
      for (const [i, append] of appends.entries()) assert.equal(seqs[i], seqOf.get(append.message.id));
    });

    test("asked for, each message learns its recipient's unread count including it, read under the row lock", async () => {
      const counts = async () => {
        const rows = await handle.db.selectFrom('conversations').selectAll().execute();
        return new Map(
          rows.flatMap((row) => [
            [`${row.id}:participant1_unread`, Number(row.participant1_unread)],
            [`${row.id}:participant2_unread`, Number(row.participant2_unread)],
          ]),
        );
      };
      /** What one-at-a-time sends would tell each message: its recipient's count once it is stored. */
      const expected = (before: Map<string, number>, appends: readonly Append[]) =>
        appends.map((append) => {
          const key = `${append.message.conversation_id}:${append.recipientUnread}`;
          before.set(key, (before.get(key) ?? 0) + 1);
          return before.get(key);
        });
      const append = (appends: readonly Append[], unread: boolean) =>
        handle.db.transaction().execute((trx) => appendMessages(trx, appends, { unread }));

      // A batch over three conversations, both directions interleaved (MySQL reads several back)…
      const batch: Append[] = [];
      for (let i = 0; i < 12; i++) {
        const conversation = conversations[i % 3] as (typeof conversations)[number];
        batch.push(appendFor(conversation, i % 4 < 2 ? (BUYERS[i % 3] as string) : MERCHANT, `u${i}`));
      }
      const want = expected(await counts(), batch);
      const told = await append(batch, true);
      assert.deepEqual(
        told.map((entry) => entry?.unread),
        want,
      );
      // …and one message alone (MySQL learns a lone claim from its insert id unless asked for the count).
      const conversation = conversations[0] as (typeof conversations)[number];
      const lone = appendFor(conversation, MERCHANT, 'alone');
      const [wantLone] = expected(await counts(), [lone]);
      const [alone] = await append([lone], true);
      assert.equal(alone?.unread, wantLone);
      assert.equal(alone?.seq, (await stored(conversation.id)).length);
      // Not asked: not read.
      const [quiet] = await append([appendFor(conversation, MERCHANT, 'quiet')], false);
      assert.equal(quiet?.unread, undefined);
      assert.equal(quiet?.seq, (await stored(conversation.id)).length);
    });

    test('seqs past 2^32 and counts in the millions come back exact (read under the row lock, never packed or cut)', async () => {
      await insertTestUser(handle.db, 'buyer-big', 'buyer');
      const [participant1_id, participant2_id] = ['buyer-big', MERCHANT].sort() as [string, string];
      const conversation = { id: uuidv7(), participant1_id, participant2_id };
      await insertConversation(handle.db, { ...conversation, created_at: 1, updated_at: 1 });
      const column = unreadColumnOf(conversation, MERCHANT);
      const [lastSeq, unread] = [2 ** 33, 2 ** 23 - 3];
      await handle.db
        .updateTable('conversations')
        .set({ last_seq: lastSeq, [column]: unread })
        .where('id', '=', conversation.id)
        .execute();
      const told: (number | undefined)[][] = [];
      for (let i = 1; i <= 3; i++) {
        const [entry] = await handle.db
          .transaction()
          .execute((trx) => appendMessages(trx, [appendFor(conversation, 'buyer-big', `big ${i}`)], { unread: true }));
        told.push([entry?.seq, entry?.unread]);
      }
      assert.deepEqual(told, [
        [lastSeq + 1, unread + 1],
        [lastSeq + 2, unread + 2],
        [lastSeq + 3, unread + 3],
      ]);
      const after = await handle.db
        .selectFrom('conversations')
        .selectAll()
        .where('id', '=', conversation.id)
        .executeTakeFirstOrThrow();
      assert.deepEqual([Number(after.last_seq), Number(after[column])], [lastSeq + 3, unread + 3]);
      assert.deepEqual(
        (await stored(conversation.id)).map((row) => Number(row.seq)),
        [lastSeq + 1, lastSeq + 2, lastSeq + 3],
      );
    });

    test('a batcher writes from the heads its commits left, without a read; a head moved elsewhere costs a read, never a wrong seq or hash', async () => {
      const fresh: (typeof conversations)[number][] = [];
      for (const buyer of ['buyer-heads-1', 'buyer-heads-2']) {
        await insertTestUser(handle.db, buyer, 'buyer');
        const [participant1_id, participant2_id] = [buyer, MERCHANT].sort() as [string, string];
        const row = { id: uuidv7(), participant1_id, participant2_id, created_at: 1, updated_at: 1 };
        await insertConversation(handle.db, row);
        fresh.push(row);
      }
      const [one, two] = fresh as [(typeof fresh)[number], (typeof fresh)[number]];
      // Statements by kind, as this instance's batcher issues them.
      const issued: string[] = [];
      const counting: KyselyPlugin = {
        transformQuery: ({ node }) => {
          issued.push(node.kind);
          return node;
        },
        transformResult: async ({ result }) => result,
      };
      const here = createAppendBatcher(handle.db.withPlugin(counting), { maxConcurrent: 1, maxBatch: 64 });
      const elsewhere = createAppendBatcher(handle.db, { maxConcurrent: 1, maxBatch: 64 });
      const send = async (batcher: typeof here, targets: (typeof fresh)[number][]) => {
        issued.length = 0;
        const seqs = await Promise.all(targets.map((c) => batcher.append(appendFor(c, MERCHANT, `to ${c.id}`))));
        return { seqs, issued: [...issued] };
      };
      const READ_FIRST = ['SelectQueryNode', 'UpdateQueryNode', 'InsertQueryNode'];

      assert.deepEqual(await send(here, [one, two]), { seqs: [1, 1], issued: READ_FIRST });
      assert.deepEqual(await send(here, [one, two]), { seqs: [2, 2], issued: ['UpdateQueryNode', 'InsertQueryNode'] });
      // Another instance writes to `two`: the guarded UPDATE advances `one` alone, `two` is read and advanced.
      await send(elsewhere, [two]);
      assert.deepEqual(await send(here, [one, two]), { seqs: [3, 4], issued: ['UpdateQueryNode', ...READ_FIRST] });
      // A change that moves the head alone (a recall's entry; last_seq stays): read again.
      const moved = 'f'.repeat(64);
      await handle.db.updateTable('conversations').set({ chain_head: moved }).where('id', '=', one.id).execute();
      assert.deepEqual(await send(here, [one]), { seqs: [4], issued: ['UpdateQueryNode', ...READ_FIRST] });
      assert.deepEqual(await send(here, [one, two]), { seqs: [5, 5], issued: ['UpdateQueryNode', 'InsertQueryNode'] });

      for (const conversation of fresh) {
        const rows = await stored(conversation.id);
        assert.deepEqual(
          rows.map((row) => Number(row.seq)),
          Array.from({ length: rows.length }, (_, i) => i + 1),
        );
        const head = await handle.db
          .selectFrom('conversations')
          .select(['last_seq', 'chain_head'])
          .where('id', '=', conversation.id)
          .executeTakeFirstOrThrow();
        // Each hash extends the head its row's conversation had: recomputed here from the rows.
        let expected: string = genesisHash(conversation.id);
        for (const row of rows) {
          if (conversation === one && Number(row.seq) === 4) expected = moved;
          expected = chainHash(expected, canonicalJson(messageEntry(row)));
          assert.equal(row.chain_hash, expected, `seq ${row.seq}`);
        }
        assert.deepEqual([Number(head.last_seq), head.chain_head], [rows.length, expected]);
      }
    });
  });
}
