import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { type DatabaseHandle, openDatabase } from '../src/db/connection.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { inTransaction } from '../src/db/transaction.ts';
import type { Database } from '../src/db/types.ts';
import { uuidv7 } from '../src/lib/ids.ts';
import { insertConversation } from '../src/modules/conversations/conversation.repository.ts';
import { createAppendBatcher } from '../src/modules/messages/append-batcher.ts';
import { type Append, unreadColumnOf } from '../src/modules/messages/message.repository.ts';
import {
  createSendTransactionHooks,
  type SendTransactionHookRegistry,
  type StoredMessage,
} from '../src/modules/messages/send-transaction.ts';
import { findUserById } from '../src/modules/users/user.repository.ts';
import { type ScratchDatabase, testDialects } from './helpers/databases.ts';
import { createTestServices } from './helpers/services.ts';
import { insertTestUser } from './helpers/users.ts';

/**
 * Other modules' statements in the send transaction (send-transaction.ts):
 * they commit with the message, roll it back when they throw, without failing
 * the rest of its batch, and see what the send wrote (the seq).
 */

const BUYER = 'buyer-1';
const MERCHANT = 'merchant-1';

/** A table of the test's own, standing for an outbox or index a module would write. */
async function createHookLog(db: Kysely<Database>): Promise<void> {
  await db.schema
    .createTable('hook_log')
    .addColumn('message_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('batch', 'integer')
    .execute();
}

interface HookLogRow {
  message_id: string;
  seq: number;
  batch: number | null;
}

/** The scratch table is not in Database: read and write it untyped. */
const hookLog = (db: Kysely<Database>) => db as unknown as Kysely<{ hook_log: HookLogRow }>;

class Refused extends Error {}

for (const dialect of testDialects) {
  describe(`send transaction hooks (${dialect.name})`, () => {
    let scratch: ScratchDatabase;
    let handle: DatabaseHandle;
    let conversation: { id: string; participant1_id: string; participant2_id: string };

    before(async () => {
      scratch = await dialect.create();
      handle = openDatabase(scratch.url);
      await migrateToLatest(handle.db);
      await createHookLog(handle.db);
      await insertTestUser(handle.db, BUYER, 'buyer');
      await insertTestUser(handle.db, MERCHANT, 'merchant');
      const [participant1_id, participant2_id] = [BUYER, MERCHANT].sort() as [string, string];
      conversation = { id: uuidv7(), participant1_id, participant2_id };
      await insertConversation(handle.db, { ...conversation, created_at: 1, updated_at: 1 });
    });

    after(async () => {
      await handle.destroy();
      await scratch.drop();
    });

    beforeEach(async () => {
      await hookLog(handle.db).deleteFrom('hook_log').execute();
    });

    let clock = 1_000;
    function appendOf(content: string): Append {
      clock += 1;
      return {
        message: {
          id: uuidv7(),
          conversation_id: conversation.id,
          sender_id: BUYER,
          content,
          message_type: 'text',
          filename: null,
          client_msg_id: null,
          created_at: clock,
        },
        recipientId: MERCHANT,
        recipientUnread: unreadColumnOf(conversation, MERCHANT),
        preview: content,
      };
    }

    /** One send transaction at a time: what is appended in one turn of the loop is one batch. */
    function batcherWith(hooks: SendTransactionHookRegistry, batches: number[] = []) {
      return createAppendBatcher(handle.db, { maxConcurrent: 1, maxBatch: 64, onBatch: (n) => batches.push(n) }, hooks);
    }

    const messageIds = async () =>
      (
        await handle.db.selectFrom('messages').select('id').where('conversation_id', '=', conversation.id).execute()
      ).map((row) => row.id);
    const loggedIds = async () =>
      (await hookLog(handle.db).selectFrom('hook_log').select('message_id').execute()).map((row) => row.message_id);

    /** A message hook that writes each message's id and seq, as an outbox row would. */
    const logMessage = (trx: Kysely<Database>, stored: StoredMessage) =>
      hookLog(trx)
        .insertInto('hook_log')
        .values({ message_id: stored.message.id, seq: stored.message.seq, batch: null })
        .execute()
        .then(() => undefined);

    test("a message hook's row commits with the message, and the hook sees its seq", async () => {
      const hooks = createSendTransactionHooks();
      hooks.registrar.onMessage(logMessage);
      const batches: number[] = [];
      const batcher = batcherWith(hooks, batches);
      const appends = Array.from({ length: 5 }, (_, i) => appendOf(`logged ${i}`));
      const seqs = await Promise.all(appends.map((append) => batcher.append(append)));
      assert.deepEqual(batches, [5], 'the five sends shared one transaction');

      const logged = await hookLog(handle.db).selectFrom('hook_log').selectAll().execute();
      const stored = await handle.db
        .selectFrom('messages')
        .select(['id', 'seq'])
        .where(
          'id',
          'in',
          appends.map((a) => a.message.id),
        )
        .execute();
      const bySeq = <R extends { seq: number }>(rows: R[]) => [...rows].sort((a, b) => Number(a.seq) - Number(b.seq));
      assert.deepEqual(
        bySeq(logged).map((row) => [row.message_id, Number(row.seq)]),
        appends.map((append, i) => [append.message.id, seqs[i]]),
      );
      assert.deepEqual(
        bySeq(stored).map((row) => [row.id, Number(row.seq)]),
        appends.map((append, i) => [append.message.id, seqs[i]]),
      );
    });

    test('a hook that throws rolls back its message alone: the send fails with its error, the batch commits', async () => {
      const hooks = createSendTransactionHooks();
      const refusal = new Refused('refused by the hook');
      hooks.registrar.onMessage(async (trx, stored) => {
        await logMessage(trx, stored);
        if (stored.message.content === 'refuse me') throw refusal;
      });
      const batches: number[] = [];
      const batcher = batcherWith(hooks, batches);
      const before = await messageIds();
      const appends = ['a', 'refuse me', 'b', 'c'].map(appendOf);
      const results = await Promise.allSettled(appends.map((append) => batcher.append(append)));
      assert.equal(batches[0], 4, 'the four sends were one batch first');

      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
      );
      assert.equal((results[1] as PromiseRejectedResult).reason, refusal, "the send fails with the hook's own error");
      const refused = appends[1]?.message.id as string;
      const ids = await messageIds();
      assert.equal(ids.length, before.length + 3);
      assert.ok(!ids.includes(refused), 'the refused message is not stored');
      assert.deepEqual(
        (await loggedIds()).sort(),
        [0, 2, 3].map((i) => appends[i]?.message.id).sort(),
        'hook rows committed only with their messages',
      );

      // The rollback took its seq and counters with it: gapless, and the count agrees with the rows.
      const seqs = (
        await handle.db
          .selectFrom('messages')
          .select('seq')
          .where('conversation_id', '=', conversation.id)
          .orderBy('seq')
          .execute()
      ).map((row) => Number(row.seq));
      assert.deepEqual(
        seqs,
        Array.from({ length: ids.length }, (_, i) => i + 1),
      );
      const after = await handle.db
        .selectFrom('conversations')
        .selectAll()
        .where('id', '=', conversation.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(after.message_count), ids.length);
      assert.equal(Number(after.last_seq), ids.length);
    });

    test('a lone send whose hook throws stores nothing and fails with the error', async () => {
      const hooks = createSendTransactionHooks();
      const refusal = new Refused('no');
      hooks.registrar.onMessage(async (trx, stored) => {
        await logMessage(trx, stored);
        throw refusal;
      });
      const before = await messageIds();
      const append = appendOf('alone');
      await assert.rejects(batcherWith(hooks).append(append), (error) => error === refusal);
      assert.deepEqual(await messageIds(), before);
      assert.deepEqual(await loggedIds(), []);
    });

    test('a batch hook runs once per transaction, after its messages, with all of them', async () => {
      const hooks = createSendTransactionHooks();
      const seen: { ids: string[]; seqs: number[] }[] = [];
      hooks.registrar.onMessage(logMessage);
      hooks.registrar.onBatch(async (trx, stored) => {
        // Every message of the transaction is written (and logged by the message hook) by now.
        const ids = stored.map((entry) => entry.message.id);
        const rows = await trx.selectFrom('messages').select('id').where('id', 'in', ids).execute();
        assert.equal(rows.length, ids.length);
        await hookLog(trx)
          .updateTable('hook_log')
          .set({ batch: seen.length + 1 })
          .where('message_id', 'in', ids)
          .execute();
        seen.push({ ids, seqs: stored.map((entry) => entry.message.seq) });
      });

      const batches: number[] = [];
      const first = Array.from({ length: 6 }, (_, i) => appendOf(`first ${i}`));
      const second = Array.from({ length: 3 }, (_, i) => appendOf(`second ${i}`));
      const waiting = Promise.withResolvers<Promise<number | undefined>[]>();
      const batcher = createAppendBatcher(
        handle.db,
        {
          maxConcurrent: 1,
          maxBatch: 64,
          onBatch: (n) => {
            // While the first transaction runs, three more arrive: they wait for the next one.
            if (batches.push(n) === 1) waiting.resolve(second.map((append) => batcher.append(append)));
          },
        },
        hooks,
      );
      const firstSeqs = await Promise.all(first.map((append) => batcher.append(append)));
      const seqs = [...firstSeqs, ...(await Promise.all(await waiting.promise))];
      const ordered = [...first, ...second];
      const seqOf = new Map(
        [...first.map((a, i) => [a.message.id, seqs[i]]), ...second.map((a, i) => [a.message.id, seqs[6 + i]])].map(
          ([id, seq]) => [id as string, seq as number],
        ),
      );
      assert.deepEqual(batches, [6, 3]);
      assert.deepEqual(
        seen.map((call) => call.ids),
        [first.map((a) => a.message.id), second.map((a) => a.message.id)],
        'one call per transaction, with its messages in order',
      );
      assert.deepEqual(
        seen.flatMap((call) => call.seqs),
        ordered.map((a) => seqOf.get(a.message.id)),
        'the batch hook sees the seqs the sends were told',
      );
      const logged = await hookLog(handle.db).selectFrom('hook_log').select(['message_id', 'batch']).execute();
      const batchOf = new Map(logged.map((row) => [row.message_id, Number(row.batch)]));
      assert.deepEqual(
        ordered.map((a) => batchOf.get(a.message.id)),
        [1, 1, 1, 1, 1, 1, 2, 2, 2],
      );
    });

    test('a prepared batch hook: prepared before the transaction, once per batch (kept for a retry), skipped at no cost when it wants nothing', async () => {
      const hooks = createSendTransactionHooks();
      let wanted = true;
      let prepares = 0;
      const inTransaction: boolean[] = [];
      const seenUnread: (number | undefined)[] = [];
      const refusal = new Refused('refused by the message hook');
      let open = false;
      hooks.registrar.onMessage(async (_trx, stored) => {
        open = true;
        seenUnread.push(stored.unread);
        if (stored.message.content === 'refuse me') throw refusal;
      });
      hooks.registrar.onBatch<number>({
        wants: () => wanted,
        readsUnread: true,
        async prepare(appends) {
          inTransaction.push(open);
          prepares += 1;
          return appends.length;
        },
        async write(trx, stored, preparedFor) {
          for (const entry of stored) {
            await hookLog(trx)
              .insertInto('hook_log')
              .values({ message_id: entry.message.id, seq: entry.message.seq, batch: preparedFor })
              .execute();
          }
          open = false;
        },
      });
      const batches: number[] = [];
      const batcher = batcherWith(hooks, batches);
      const counted = await handle.db
        .selectFrom('conversations')
        .select('participant2_unread')
        .where('id', '=', conversation.id)
        .executeTakeFirstOrThrow();
      const appends = ['a', 'refuse me', 'b'].map(appendOf);
      const results = await Promise.allSettled(appends.map((append) => batcher.append(append)));
      assert.deepEqual(batches, [3]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      // Prepared once, with no transaction open, for the batch of three; the retries alone kept it.
      assert.equal(prepares, 1);
      assert.deepEqual(inTransaction, [false]);
      const logged = await hookLog(handle.db).selectFrom('hook_log').select(['message_id', 'batch']).execute();
      assert.deepEqual(
        logged.map((row) => [row.message_id, Number(row.batch)]).sort(),
        [appends[0], appends[2]].map((append) => [append?.message.id, 3]).sort(),
      );
      // The recipient's counts were read for it: in the batch (up to the refusal), then each message alone.
      const unread = Number(counted.participant2_unread);
      assert.deepEqual(seenUnread.slice(0, 2), [unread + 1, unread + 2]);
      assert.equal(seenUnread.length, 5);
      assert.ok(seenUnread.every((n) => n !== undefined && n > unread && n <= unread + 3));

      // Wanting nothing: not prepared, not written, no count read.
      wanted = false;
      seenUnread.length = 0;
      await batcher.append(appendOf('unwanted'));
      assert.equal(prepares, 1);
      assert.deepEqual(seenUnread, [undefined]);
      assert.equal((await loggedIds()).length, 2);
    });

    test('through the message service: a registered hook refuses a send, which pushes nothing', async () => {
      const { messages, pushes } = createTestServices(handle.db, { batching: { maxConcurrent: 1, maxBatch: 64 } });
      const refusal = new Refused('not this one');
      messages.sendTransaction.onMessage(async (trx, stored) => {
        await logMessage(trx, stored);
        if (stored.message.content === 'refuse me') throw refusal;
      });
      const buyer = await findUserById(handle.db, BUYER);
      assert.ok(buyer);
      const origin = { skipConnectionId: null, echoToSender: true };
      const sent = await messages.send(buyer, { conversation_id: conversation.id, content: 'kept' }, origin);
      await assert.rejects(
        messages.send(buyer, { conversation_id: conversation.id, content: 'refuse me' }, origin),
        (error) => error === refusal,
      );
      assert.deepEqual(await loggedIds(), [sent.message.id]);
      const stored = await handle.db
        .selectFrom('messages')
        .select(sql<number>`count(*)`.as('n'))
        .where('content', '=', 'refuse me')
        .where('conversation_id', '=', conversation.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(stored.n), 0);
      assert.deepEqual(
        pushes.map((push) => push.kind),
        ['message.created'],
        'only the stored message was pushed',
      );
    });

    test("a server message: the hooks run in the caller's transaction, see it as stored; a refusal rolls the caller back", async () => {
      const { messages, pushes } = createTestServices(handle.db);
      const seen: StoredMessage[] = [];
      const refusal = new Refused('not this notice');
      messages.sendTransaction.onMessage(async (trx, stored) => {
        seen.push(stored);
        await logMessage(trx, stored);
        if (stored.message.content === 'refuse me') throw refusal;
      });
      const merchant = await findUserById(handle.db, MERCHANT);
      assert.ok(merchant);
      const notice = (content: string) => ({
        kind: 'system' as const,
        conversation: { ...conversation, team_id: null },
        sender: merchant,
        content,
        createdAt: 5_000,
      });
      const kept = await messages.prepareServerMessages([notice('kept')]);
      const [message] = await inTransaction(handle.db, undefined, (tx) => messages.writeServerMessages(tx, kept));
      assert.ok(message);
      // Stored read (a system message), for the other side.
      assert.deepEqual(
        seen.map((stored) => [stored.message.id, stored.message.is_read, stored.append.recipientId]),
        [[message.id, 1, BUYER]],
      );
      assert.deepEqual(await loggedIds(), [message.id]);
      assert.deepEqual(
        pushes.map((push) => push.kind),
        ['message.created'],
      );

      const refused = await messages.prepareServerMessages([notice('refuse me')]);
      await assert.rejects(
        inTransaction(handle.db, undefined, async (tx) => {
          await hookLog(tx.db)
            .insertInto('hook_log')
            .values({ message_id: 'the-callers-own-write', seq: 0, batch: null })
            .execute();
          await messages.writeServerMessages(tx, refused);
        }),
        (error) => error === refusal,
      );
      assert.deepEqual(await loggedIds(), [message.id], "the caller's own write rolled back with the message");
      const refusedId = refused.appends[0]?.append.message.id;
      assert.ok(refusedId);
      assert.equal((await messageIds()).includes(refusedId), false, 'the refused notice is not stored');
      assert.ok((await messageIds()).includes(message.id));
      assert.equal(pushes.length, 1, 'nothing pushed for it');
    });
  });
}
