import type { Kysely } from 'kysely';
import { tableOptions } from '../migration-helpers.ts';

// The content guard (docs/API.md, "Content guard").
//
// guard_settings: one row (id 1) holding the rule table and the sensitive-word
// list as JSON, written whole by PUT /api/guard/rules; no row means the
// defaults (src/modules/guard/guard-rules.ts).
//
// guard_held_messages: messages a `hold` rule kept back, with the id they keep
// once approved. They are not in `messages` until then, so no history, list,
// preview, unread count or seq ever shows them to the recipient; approval
// appends them as a send does. `status`: pending, approved, rejected.
//
// guard_decisions: one row per finding in a message: its label, the sender's
// role (with the label, the rule that applied), the action, the matched text,
// and, for held messages, who reviewed it and how. `message_id` is null for a
// blocked message (nothing was stored).
//
// guard_strikes: per user, the messages the guard masked, blocked or (after
// review) rejected.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('guard_settings')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('rules', 'text', (c) => c.notNull())
    .addColumn('words', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'varchar(50)', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();

  await db.schema
    .createTable('guard_held_messages')
    .addColumn('id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('sender_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('sender_role', 'varchar(20)', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('deliver_content', 'text', (c) => c.notNull())
    .addColumn('message_type', 'varchar(20)', (c) => c.notNull())
    .addColumn('client_msg_id', 'varchar(64)')
    .addColumn('labels', 'varchar(200)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('reviewed_by', 'varchar(50)')
    .addColumn('reviewed_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();
  // The review queue: pending, oldest first.
  await db.schema
    .createIndex('guard_held_status_index')
    .on('guard_held_messages')
    .columns(['status', 'created_at'])
    .execute();
  // A send's retry (same client_msg_id) finds its held original; concurrent ones hold it once.
  await db.schema
    .createIndex('guard_held_client_msg_index')
    .unique()
    .on('guard_held_messages')
    .columns(['conversation_id', 'sender_id', 'client_msg_id'])
    .execute();
  // The reference client's WebSocket echo of a message it POSTed: the sender's recent held messages.
  await db.schema
    .createIndex('guard_held_sender_index')
    .on('guard_held_messages')
    .columns(['sender_id', 'created_at'])
    .execute();

  await db.schema
    .createTable('guard_decisions')
    .addColumn('id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('message_id', 'varchar(50)')
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('sender_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('sender_role', 'varchar(20)', (c) => c.notNull())
    .addColumn('label', 'varchar(20)', (c) => c.notNull())
    .addColumn('action', 'varchar(10)', (c) => c.notNull())
    .addColumn('excerpt', 'varchar(200)', (c) => c.notNull())
    .addColumn('reviewed_by', 'varchar(50)')
    .addColumn('review', 'varchar(10)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();
  await db.schema.createIndex('guard_decisions_message_index').on('guard_decisions').column('message_id').execute();
  await db.schema
    .createIndex('guard_decisions_sender_index')
    .on('guard_decisions')
    .columns(['sender_id', 'id'])
    .execute();

  await db.schema
    .createTable('guard_strikes')
    .addColumn('user_id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('strikes', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['guard_strikes', 'guard_decisions', 'guard_held_messages', 'guard_settings']) {
    await db.schema.dropTable(table).execute();
  }
}
