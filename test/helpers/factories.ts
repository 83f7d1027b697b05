import type { Kysely } from 'kysely';
import { type DatabaseHandle, openDatabase } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import type { ConversationRow, Database, MessageRow, NewUserRow, UserRow } from '../../src/db/types.ts';
import { uuidv7 } from '../../src/lib/ids.ts';
import { insertUser as insertUserRow } from '../../src/modules/users/user.repository.ts';
import type { TestDialect } from './databases.ts';

/**
 * Small factories for service-level tests: rows inserted straight into a
 * migrated scratch database with Kysely, no server and no HTTP. Each returns
 * the row as the database holds it; every field can be overridden.
 */

type Db = Kysely<Database>;

let counter = 0;
const next = () => ++counter;
const now = () => Math.floor(Date.now() / 1000);

/** A migrated scratch database of the dialect; `close` destroys the pool and drops it. */
export async function openScratchDatabase(
  dialect: TestDialect,
): Promise<{ db: Db; handle: DatabaseHandle; close(): Promise<void> }> {
  const scratch = await dialect.create();
  const handle = openDatabase(scratch.url);
  await migrateToLatest(handle.db);
  return {
    db: handle.db,
    handle,
    async close() {
      await handle.destroy();
      await scratch.drop();
    },
  };
}

/** An active buyer unless overridden; a fresh id and username each time. */
export async function insertUser(db: Db, overrides: Partial<NewUserRow> = {}): Promise<UserRow> {
  const n = next();
  const role = overrides.role ?? 'buyer';
  const id = overrides.id ?? `${role[0]}f${n}`;
  // Through the repository: a merchant or service account gets its team of one, as in the service.
  await insertUserRow(db, {
    id,
    username: `factory-${id}-${n}`,
    role,
    status: 'active',
    avatar: null,
    description: null,
    password_hash: null,
    created_at: now(),
    updated_at: now(),
    ...overrides,
  });
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** A conversation between `a` and `b` (stored in id order, as the service does), started by `a` unless overridden. */
export async function insertConversation(
  db: Db,
  a: Pick<UserRow, 'id'>,
  b: Pick<UserRow, 'id'>,
  overrides: Partial<Omit<ConversationRow, 'participant1_id' | 'participant2_id'>> = {},
): Promise<ConversationRow> {
  const [participant1_id, participant2_id] = a.id < b.id ? [a.id, b.id] : [b.id, a.id];
  const id = overrides.id ?? uuidv7();
  await db
    .insertInto('conversations')
    .values({
      id,
      participant1_id,
      participant2_id,
      started_by: a.id,
      created_at: now(),
      updated_at: now(),
      ...overrides,
    })
    .execute();
  return db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/**
 * A text message from `sender`, with the next seq of the conversation. Only
 * the row: the conversation's counters and preview are not kept (tests that
 * need those send through the message service).
 */
export async function insertMessage(
  db: Db,
  conversation: Pick<ConversationRow, 'id'>,
  sender: Pick<UserRow, 'id'>,
  overrides: Partial<Omit<MessageRow, 'conversation_id' | 'sender_id'>> = {},
): Promise<MessageRow> {
  const id = overrides.id ?? uuidv7();
  const last = await db
    .selectFrom('messages')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('conversation_id', '=', conversation.id)
    .executeTakeFirst();
  await db
    .insertInto('messages')
    .values({
      id,
      conversation_id: conversation.id,
      sender_id: sender.id,
      seq: Number(last?.seq ?? 0) + 1,
      content: `message ${next()}`,
      message_type: 'text',
      filename: null,
      client_msg_id: null,
      created_at: now(),
      ...overrides,
    })
    .execute();
  return db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}
