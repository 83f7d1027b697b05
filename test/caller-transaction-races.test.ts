import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DatabaseHandle } from '../src/db/connection.ts';
import { inTransaction } from '../src/db/transaction.ts';
import type { UserRow } from '../src/db/types.ts';
import { DomainError } from '../src/lib/errors.ts';
import { MYSQL_SKIP_REASON, testDialects } from './helpers/databases.ts';
import { type createTestServices, openChatFixture } from './helpers/services.ts';

/**
 * A service that loses a race inside a caller's transaction throws, and the
 * caller may catch that and commit its other work: whatever the service wrote
 * before it found out must not survive that commit.
 */

// MariaDB only: SQLite runs one transaction at a time, so nobody can delete the message while the caller's is open.
const mysql = testDialects.find((dialect) => dialect.name === 'mysql');

describe('losing a race in a caller transaction (mysql)', { skip: MYSQL_SKIP_REASON }, () => {
  let close: () => Promise<void>;
  let handle: DatabaseHandle;
  let services: ReturnType<typeof createTestServices>;
  let buyer: UserRow;
  let admin: UserRow;
  let conversationId: string;

  const origin = { skipConnectionId: null, echoToSender: true };
  const messageCount = async () =>
    Number(
      (
        await handle.db
          .selectFrom('conversations')
          .select('message_count')
          .where('id', '=', conversationId)
          .executeTakeFirstOrThrow()
      ).message_count,
    );

  before(async () => {
    assert.ok(mysql);
    ({ handle, services, buyer, admin, conversationId, close } = await openChatFixture(mysql));
  });

  after(() => close());

  test('a delete that another request won changes no count, even when the caller commits', async () => {
    await services.messages.send(buyer, { conversation_id: conversationId, content: 'stays' }, origin);
    const doomed = await services.messages.send(buyer, { conversation_id: conversationId, content: 'doomed' }, origin);
    assert.equal(await messageCount(), 2);
    services.pushes.length = 0;

    await inTransaction(handle.db, undefined, async (tx) => {
      // The caller's snapshot is taken now, while the message still exists...
      await tx.db.selectFrom('messages').select('id').where('conversation_id', '=', conversationId).execute();
      // ...another request deletes it and commits...
      await services.messages.remove(admin, doomed.message.id);
      // ...and the caller, still seeing it, deletes it too: 404, which this caller takes as "already gone".
      await assert.rejects(services.messages.remove(admin, doomed.message.id, tx), (error: unknown) => {
        assert.ok(error instanceof DomainError);
        assert.equal(error.kind, 'not_found');
        return true;
      });
    });

    assert.equal(await messageCount(), 1, 'one message left, and the count says so');
    assert.deepEqual(
      services.pushes.map((push) => push.kind),
      ['message.deleted'],
      'only the delete that happened was pushed',
    );
  });
});
