import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { type DatabaseHandle, openDatabase } from '../src/db/connection.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { inTransaction, type Tx } from '../src/db/transaction.ts';
import type { Database, UserRow } from '../src/db/types.ts';
import { findUserById } from '../src/modules/users/user.repository.ts';
import { type ScratchDatabase, testDialects } from './helpers/databases.ts';
import { type createTestServices, openChatFixture } from './helpers/services.ts';
import { insertTestUser } from './helpers/users.ts';

/**
 * A transaction a caller hands to services (src/db/transaction.ts): its
 * afterCommit tasks run once it commits, never when it rolls back, and a
 * service given one writes in it rather than in a transaction of its own.
 */

class Abandon extends Error {}

const descriptionOf = async (db: Kysely<Database>, id: string) =>
  (await db.selectFrom('users').select('description').where('id', '=', id).executeTakeFirstOrThrow()).description;

for (const dialect of testDialects) {
  describe(`caller transactions (${dialect.name})`, () => {
    let scratch: ScratchDatabase;
    let handle: DatabaseHandle;
    let db: Kysely<Database>;

    before(async () => {
      scratch = await dialect.create();
      handle = openDatabase(scratch.url);
      db = handle.db;
      await migrateToLatest(db);
      await insertTestUser(db, 'u1', 'buyer');
    });

    after(async () => {
      await handle.destroy();
      await scratch.drop();
    });

    const describeAs = (tx: Tx, text: string) =>
      tx.db.updateTable('users').set({ description: text }).where('id', '=', 'u1').execute();

    test('on commit the tasks run, in order, after the changes are durable', async () => {
      const events: string[] = [];
      const result = await inTransaction(db, undefined, async (tx) => {
        await describeAs(tx, 'committed');
        tx.afterCommit(() => events.push('first'));
        tx.afterCommit(() => events.push('second'));
        events.push('work done');
        return 42;
      });
      assert.equal(result, 42);
      assert.deepEqual(events, ['work done', 'first', 'second']);
      assert.equal(await descriptionOf(db, 'u1'), 'committed');
    });

    test('on rollback no task runs and the error reaches the caller', async () => {
      const events: string[] = [];
      const abandon = new Abandon();
      await assert.rejects(
        inTransaction(db, undefined, async (tx) => {
          await describeAs(tx, 'rolled back');
          tx.afterCommit(() => events.push('task'));
          throw abandon;
        }),
        (error) => error === abandon,
      );
      assert.deepEqual(events, []);
      assert.equal(await descriptionOf(db, 'u1'), 'committed');
    });

    test("nested, the inner work runs in the outer transaction and its tasks wait for the outer's commit", async () => {
      const events: string[] = [];
      await inTransaction(db, undefined, async (outer) => {
        await inTransaction(db, outer, async (inner) => {
          assert.equal(inner, outer, 'the same transaction, not one of its own');
          await describeAs(inner, 'nested');
          inner.afterCommit(() => events.push('inner task'));
        });
        events.push('inner returned');
        outer.afterCommit(() => events.push('outer task'));
      });
      assert.deepEqual(events, ['inner returned', 'inner task', 'outer task']);
      assert.equal(await descriptionOf(db, 'u1'), 'nested');

      // Rolled back by the outer caller after the inner work finished: the inner change goes too.
      await assert.rejects(
        inTransaction(db, undefined, async (outer) => {
          await inTransaction(db, outer, async (inner) => {
            await describeAs(inner, 'undone');
            inner.afterCommit(() => events.push('never'));
          });
          throw new Abandon();
        }),
        Abandon,
      );
      assert.equal(await descriptionOf(db, 'u1'), 'nested');
      assert.ok(!events.includes('never'));
    });

    test('a task that throws is reported, and neither undoes the commit nor stops the other tasks', async () => {
      const events: string[] = [];
      const warning = once(process, 'warning');
      const result = await inTransaction(db, undefined, async (tx) => {
        await describeAs(tx, 'kept');
        tx.afterCommit(() => {
          throw new Error('a broken task');
        });
        tx.afterCommit(() => events.push('next task'));
        return 'answer';
      });
      assert.equal(result, 'answer');
      assert.deepEqual(events, ['next task']);
      assert.equal(await descriptionOf(db, 'u1'), 'kept');
      const [reported] = (await warning) as [Error];
      assert.equal(reported.message, 'a broken task');
    });
  });

  describe(`services in one caller transaction (${dialect.name})`, () => {
    let close: () => Promise<void>;
    let handle: DatabaseHandle;
    let services: ReturnType<typeof createTestServices>;
    let buyer: UserRow;
    let merchant: UserRow;
    let admin: UserRow;
    let conversationId: string;
    let messageId: string;

    const origin = { skipConnectionId: null, echoToSender: true };
    const conversationRow = () =>
      handle.db.selectFrom('conversations').selectAll().where('id', '=', conversationId).executeTakeFirstOrThrow();
    const messageExists = async (id: string) =>
      (await handle.db.selectFrom('messages').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;

    before(async () => {
      ({ handle, services, buyer, merchant, admin, conversationId, close } = await openChatFixture(dialect));
      await services.messages.send(buyer, { conversation_id: conversationId, content: 'to be read' }, origin);
      const doomed = await services.messages.send(
        buyer,
        { conversation_id: conversationId, content: 'doomed' },
        origin,
      );
      messageId = doomed.message.id;
      services.pushes.length = 0;
    });

    after(() => close());

    test('a rollback undoes both services’ changes and pushes nothing', async () => {
      const before = await conversationRow();
      assert.equal(Number(before.participant2_unread), 2, 'the merchant has two unread');
      await assert.rejects(
        inTransaction(handle.db, undefined, async (tx) => {
          await services.messages.readAll(merchant, conversationId, undefined, tx);
          await services.messages.remove(admin, messageId, tx);
          // Both changes are visible inside the caller's transaction...
          const inside = await tx.db
            .selectFrom('conversations')
            .selectAll()
            .where('id', '=', conversationId)
            .executeTakeFirstOrThrow();
          assert.equal(Number(inside.participant2_unread), 0);
          assert.equal(Number(inside.message_count), 1);
          // ...and the caller then gives up.
          throw new Abandon();
        }),
        Abandon,
      );
      assert.deepEqual(await conversationRow(), before, 'the conversation is as it was');
      assert.ok(await messageExists(messageId), 'the message is still there');
      const unread = await handle.db
        .selectFrom('messages')
        .select('is_read')
        .where('conversation_id', '=', conversationId)
        .execute();
      assert.ok(
        unread.every((m) => Number(m.is_read) === 0),
        'no message was marked read',
      );
      assert.deepEqual(services.pushes, [], 'nobody was told of changes that never were');
    });

    test('opening a conversation and disabling a user roll back together', async () => {
      await insertTestUser(handle.db, 'm2', 'merchant');
      await assert.rejects(
        inTransaction(handle.db, undefined, async (tx) => {
          const opened = await services.conversations.open(buyer, { participant1_id: 'b1', participant2_id: 'm2' }, tx);
          assert.equal(opened.created, true);
          const disabled = await services.users.setStatus(admin, 'm2', 'inactive', tx);
          assert.equal(disabled.status, 'inactive', 'answered from inside the transaction');
          throw new Abandon();
        }),
        Abandon,
      );
      const pair = await handle.db
        .selectFrom('conversations')
        .select('id')
        .where('participant1_id', '=', 'b1')
        .where('participant2_id', '=', 'm2')
        .executeTakeFirst();
      assert.equal(pair, undefined, 'no conversation was opened');
      assert.equal((await findUserById(handle.db, 'm2'))?.status, 'active');
      assert.deepEqual(services.pushes, [], 'the user was not disconnected');
    });

    test('a commit keeps both changes, and the pushes come after it, in order', async () => {
      let pushedInside = -1;
      await inTransaction(handle.db, undefined, async (tx) => {
        await services.messages.readAll(merchant, conversationId, undefined, tx);
        await services.messages.remove(admin, messageId, tx);
        pushedInside = services.pushes.length;
      });
      assert.equal(pushedInside, 0, 'nothing pushed before the commit');
      assert.deepEqual(
        services.pushes.map((push) => push.kind),
        ['conversation.read', 'message.deleted'],
      );
      const after = await conversationRow();
      assert.equal(Number(after.participant2_unread), 0);
      assert.equal(Number(after.message_count), 1);
      assert.ok(!(await messageExists(messageId)));
    });
  });
}
