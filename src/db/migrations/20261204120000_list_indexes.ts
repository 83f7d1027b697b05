import type { Kysely } from 'kysely';
import { isMysql } from '../migration-helpers.ts';

// Indexes that let every filter of GET /api/messages/ walk an index in id
// order (newest first) and stop after a page and a bounded count, instead of
// sorting or counting every match (item 3 of issue 12; EXPLAIN plans in
// docs/QUOTAS.md). (sender_id, id) and the primary key already exist.
const INDEXES: { name: string; columns: string[] }[] = [
  { name: 'messages_type_id_index', columns: ['message_type', 'id'] },
  { name: 'messages_conversation_id_index', columns: ['conversation_id', 'id'] },
  { name: 'messages_conversation_type_index', columns: ['conversation_id', 'message_type', 'id'] },
  { name: 'messages_conversation_sender_index', columns: ['conversation_id', 'sender_id', 'id'] },
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const { name, columns } of INDEXES) {
    await db.schema.createIndex(name).on('messages').columns(columns).execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const { name } of INDEXES) {
    // MySQL names the table of an index; SQLite refuses `ON` (index names are per database there).
    const drop = db.schema.dropIndex(name);
    await (isMysql(db) ? drop.on('messages') : drop).execute();
  }
}
