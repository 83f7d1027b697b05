import { type Kysely, sql } from 'kysely';
import { isMysql } from '../migration-helpers.ts';

// The search index leaves the send transaction (README, "Search"): a
// background indexer (src/modules/search/search-indexer.ts) writes
// message_search_terms after the commit, and each conversation records how far
// it got.
//
// - search_seq: the conversation's messages up to this seq are indexed.
// - search_behind: 1 while last_seq > search_seq, computed by the database
//   (a virtual column), with its index: the indexer's to-do list. The send
//   transaction's UPDATE of last_seq keeps it without one more statement, and
//   the indexer's commit of search_seq clears it: nothing committed can be
//   missed, across crashes and instances.
//
// Every message stored so far is indexed (migration 20261205100000 and the
// send transaction did it), so existing conversations start caught up.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('conversations')
    .addColumn('search_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.updateTable('conversations').set({ search_seq: sql`last_seq` }).execute();
  // VIRTUAL: SQLite can only add a virtual generated column; MySQL and MariaDB index it as well.
  await db.schema
    .alterTable('conversations')
    .addColumn('search_behind', 'integer', (c) => c.generatedAlwaysAs(sql`last_seq > search_seq`))
    .execute();
  await db.schema
    .createIndex('conversations_search_behind_index')
    .on('conversations')
    .columns(['search_behind', 'id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  const drop = db.schema.dropIndex('conversations_search_behind_index');
  await (isMysql(db) ? drop.on('conversations') : drop).execute();
  await db.schema.alterTable('conversations').dropColumn('search_behind').execute();
  await db.schema.alterTable('conversations').dropColumn('search_seq').execute();
}
