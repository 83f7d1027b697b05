import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { tableOptions } from '../migration-helpers.ts';

// The tamper-evident transcript (docs/API.md, "Transcript"; src/lib/transcript-chain.ts).
//
// Each conversation's messages and events form a hash chain: every entry's hash
// is SHA-256(previous hash ‖ canonical JSON of the entry).
//
// - conversations.chain_head: the newest entry's hash (null: no entry yet). The
//   send transaction reads it under the row lock it takes anyway and writes the
//   new head in the UPDATE it makes anyway.
// - messages.chain_hash: the message's entry hash (null only for messages older
//   than the chain).
// - deleted_messages.chain_hash: a moderated message's hash, kept when its row
//   goes, so the chain still verifies and shows where something was removed.
// - transcript_events: the other entries (recall, moderation delete), each after
//   the conversation's last_seq at the time (after_seq) and numbered among the
//   events after that seq (ordinal, from 1): chain order is (seq, 0) for a
//   message and (after_seq, ordinal) for an event. `body` is the entry's
//   canonical JSON exactly as hashed.
// - transcript_keys: the Ed25519 key that signs exports, generated here (PEM;
//   the newest row signs).

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('conversations').addColumn('chain_head', 'varchar(64)').execute();
  await db.schema.alterTable('messages').addColumn('chain_hash', 'varchar(64)').execute();
  await db.schema.alterTable('deleted_messages').addColumn('chain_hash', 'varchar(64)').execute();

  await db.schema
    .createTable('transcript_events')
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('after_seq', 'bigint', (c) => c.notNull())
    .addColumn('ordinal', 'integer', (c) => c.notNull())
    .addColumn('kind', 'varchar(20)', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('transcript_events_pkey', ['conversation_id', 'after_seq', 'ordinal'])
    .$call(tableOptions(db))
    .execute();

  await db.schema
    .createTable('transcript_keys')
    .addColumn('id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('private_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();
  const { publicKey, privateKey } = generateKeyPairSync('ed25519', {
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  await db
    .insertInto('transcript_keys')
    .values({
      id: randomUUID(),
      public_key: publicKey,
      private_key: privateKey,
      created_at: Math.floor(Date.now() / 1000),
    })
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('transcript_keys').execute();
  await db.schema.dropTable('transcript_events').execute();
  await db.schema.alterTable('deleted_messages').dropColumn('chain_hash').execute();
  await db.schema.alterTable('messages').dropColumn('chain_hash').execute();
  await db.schema.alterTable('conversations').dropColumn('chain_head').execute();
}
