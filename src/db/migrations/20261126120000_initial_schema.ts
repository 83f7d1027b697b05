import { type Kysely, sql } from 'kysely';
import { tableOptions } from '../migration-helpers.ts';

// Migrations take Kysely<any>: they describe the schema as it was at this
// point in history and must never depend on today's table types.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('username', 'varchar(100)', (c) => c.notNull())
    .addColumn('password_hash', 'varchar(255)')
    .addColumn('role', 'varchar(20)', (c) => c.notNull())
    .addColumn('avatar', 'varchar(500)')
    .addColumn('description', 'varchar(1000)')
    .addColumn('status', 'varchar(20)', (c) => c.notNull().defaultTo('active'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('users_username_unique', ['username'])
    .$call(tableOptions(db))
    .execute();
  await db.schema.createIndex('users_role_index').on('users').columns(['role', 'id']).execute();

  await db.schema
    .createTable('conversations')
    .addColumn('id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('participant1_id', 'varchar(50)', (c) => c.notNull().references('users.id'))
    .addColumn('participant2_id', 'varchar(50)', (c) => c.notNull().references('users.id'))
    .addColumn('participant1_unread', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('participant2_unread', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_message', 'varchar(255)')
    .addColumn('last_message_time', 'bigint')
    .addColumn('last_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('message_count', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    // The pair is stored in a canonical order, so this key makes it unordered-unique.
    .addUniqueConstraint('conversations_pair_unique', ['participant1_id', 'participant2_id'])
    .addCheckConstraint('conversations_pair_ordered', sql`participant1_id < participant2_id`)
    .$call(tableOptions(db))
    .execute();
  await db.schema
    .createIndex('conversations_p1_updated_index')
    .on('conversations')
    .columns(['participant1_id', 'updated_at'])
    .execute();
  await db.schema
    .createIndex('conversations_p2_updated_index')
    .on('conversations')
    .columns(['participant2_id', 'updated_at'])
    .execute();
  await db.schema.createIndex('conversations_updated_index').on('conversations').columns(['updated_at']).execute();

  await db.schema
    .createTable('messages')
    .addColumn('id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull().references('conversations.id').onDelete('cascade'))
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('sender_id', 'varchar(50)', (c) => c.notNull().references('users.id'))
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('message_type', 'varchar(10)', (c) => c.notNull())
    .addColumn('filename', 'varchar(255)')
    .addColumn('client_msg_id', 'varchar(64)')
    .addColumn('is_read', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    // History is paged by seq within a conversation: this key is also that index.
    .addUniqueConstraint('messages_conversation_seq_unique', ['conversation_id', 'seq'])
    // Idempotent sends: one row per (conversation, sender, client_msg_id); NULLs never collide.
    .addUniqueConstraint('messages_client_msg_unique', ['conversation_id', 'sender_id', 'client_msg_id'])
    .$call(tableOptions(db))
    .execute();
  await db.schema.createIndex('messages_sender_index').on('messages').columns(['sender_id', 'id']).execute();
  // read-all marks the other side's unread messages without walking the whole history.
  await db.schema
    .createIndex('messages_unread_index')
    .on('messages')
    .columns(['conversation_id', 'is_read', 'sender_id'])
    .execute();

  // Moderation log; also lets history pages stay exact seq windows after a hard delete.
  await db.schema
    .createTable('deleted_messages')
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull().references('conversations.id').onDelete('cascade'))
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('message_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('deleted_by', 'varchar(50)', (c) => c.notNull())
    .addColumn('deleted_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('deleted_messages_pk', ['conversation_id', 'seq'])
    .$call(tableOptions(db))
    .execute();

  await db.schema
    .createTable('quick_replies')
    .addColumn('id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(50)', (c) => c.notNull().references('users.id'))
    .addColumn('content', 'varchar(500)', (c) => c.notNull())
    .addColumn('sort_order', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('is_active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();
  await db.schema
    .createIndex('quick_replies_user_index')
    .on('quick_replies')
    .columns(['user_id', 'is_active', 'sort_order'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('quick_replies').execute();
  await db.schema.dropTable('deleted_messages').execute();
  await db.schema.dropTable('messages').execute();
  await db.schema.dropTable('conversations').execute();
  await db.schema.dropTable('users').execute();
}
