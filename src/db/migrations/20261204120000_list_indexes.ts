import type { Kysely } from 'kysely';
import { isMysql } from '../migration-helpers.ts';

// Indexes that let every filter of GET /api/messages/ walk an index in id
// order (newest first) and stop after a page and a bounded count, instead of
// sorting or counting every match (item 3 of issue 12; EXPLAIN plans in
// docs/QUOTAS.md). (sender_id, id) and the primary key already exist.
//
// Every secondary index of `messages` is one more write in the send
// transaction, the hottest path there is (four new ones cost ~1.4 ms of send
// latency at 2500 msg/s), so this adds one index and widens another:
// - (message_type, id): the only id-ordered walk of one type across
//   conversations (admins, participants of many conversations).
// - the unread index (conversation_id, is_read, sender_id) becomes
//   (conversation_id, is_read, sender_id, message_type, id): read-all still
//   uses its prefix, and with every equality column fixed it is an id-ordered
//   range, so a conversation's list is a UNION ALL over the few (is_read,
//   participant, type) ranges, each stopping at the page (message.repository.ts).
//   InnoDB already ends every secondary index with the primary key, so naming
//   id costs nothing there; SQLite needs it named.
// - (sender_id, id) becomes (sender_id, message_type, id): a sender's list is
//   a merge of one range per type, and a sender's rare type is a short range
//   rather than a walk of all their messages.
const INDEXES: { name: string; columns: string[] }[] = [
  { name: 'messages_type_id_index', columns: ['message_type', 'id'] },
  {
    name: 'messages_unread_list_index',
    columns: ['conversation_id', 'is_read', 'sender_id', 'message_type', 'id'],
  },
  { name: 'messages_sender_type_index', columns: ['sender_id', 'message_type', 'id'] },
];

/** Indexes of the initial schema that the ones above supersede (same leading columns), as they were. */
const SUPERSEDED: { name: string; columns: string[] }[] = [
  { name: 'messages_unread_index', columns: ['conversation_id', 'is_read', 'sender_id'] },
  { name: 'messages_sender_index', columns: ['sender_id', 'id'] },
];

async function dropIndex(db: Kysely<any>, name: string): Promise<void> {
  // MySQL names the table of an index; SQLite refuses `ON` (index names are per database there).
  const drop = db.schema.dropIndex(name);
  await (isMysql(db) ? drop.on('messages') : drop).execute();
}

export async function up(db: Kysely<any>): Promise<void> {
  for (const { name, columns } of INDEXES) {
    await db.schema.createIndex(name).on('messages').columns(columns).execute();
  }
  // Dropped after their successors exist, so the foreign keys on their first column always have an index.
  for (const { name } of SUPERSEDED) await dropIndex(db, name);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const { name, columns } of SUPERSEDED) {
    await db.schema.createIndex(name).on('messages').columns(columns).execute();
  }
  for (const { name } of INDEXES) await dropIndex(db, name);
}
