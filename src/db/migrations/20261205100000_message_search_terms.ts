import { type Kysely, sql } from 'kysely';
import { searchTerms } from '../../lib/search-terms.ts';
import { isMysql, tableOptions } from '../migration-helpers.ts';

// Full-text search (GET /api/search/messages): an index table of the terms of
// every text message (src/lib/search-terms.ts: overlapping CJK bigrams plus
// Latin words and numbers, NFKC and lower-cased), the same on SQLite, MySQL
// and MariaDB. The send transaction adds a message's rows (a send-transaction
// hook, src/modules/search/); the search joins messages, so a deleted
// message is never found even though its rows stay.
//
// - (term, message_id): every message with a term, newest first (ids are UUIDv7).
// - (term, conversation_id, message_id): the same within given conversations.
//
// Existing text messages are indexed here, oldest first, 2,000 at a time, with
// progress on stderr. Stop the servers while it runs: a message stored by an
// older server after the backfill passed it is not indexed.

const BATCH = 2_000;
const INSERT_ROWS = 1_000;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('message_search_terms')
    .addColumn('term', 'varchar(32)', (c) => c.notNull())
    .addColumn('message_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull())
    .addPrimaryKeyConstraint('message_search_terms_pk', ['term', 'message_id'])
    // SQLite: the primary key is the table (no rowid and a second copy of the key beside it).
    .$call((table) => (isMysql(db) ? table : table.modifyEnd(sql`WITHOUT ROWID`)))
    .$call(tableOptions(db))
    .execute();
  await db.schema
    .createIndex('message_search_terms_conversation_index')
    .on('message_search_terms')
    .columns(['term', 'conversation_id', 'message_id'])
    .execute();
  await backfill(db);
}

async function backfill(db: Kysely<any>): Promise<void> {
  const { total } = await db
    .selectFrom('messages')
    .select((eb) => eb.fn.countAll<number>().as('total'))
    .where('message_type', '=', 'text')
    .executeTakeFirstOrThrow();
  if (Number(total) === 0) return;
  const started = Date.now();
  let after = '';
  let done = 0;
  for (;;) {
    const rows: Array<{ id: string; conversation_id: string; content: string }> = await db
      .selectFrom('messages')
      .select(['id', 'conversation_id', 'content'])
      .where('message_type', '=', 'text')
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    if (rows.length === 0) break;
    const terms = rows.flatMap((row) =>
      searchTerms(row.content).map((term) => ({ term, message_id: row.id, conversation_id: row.conversation_id })),
    );
    for (let i = 0; i < terms.length; i += INSERT_ROWS) {
      const insert = db.insertInto('message_search_terms').values(terms.slice(i, i + INSERT_ROWS));
      await (isMysql(db) ? insert.ignore() : insert.onConflict((oc) => oc.doNothing())).execute();
    }
    done += rows.length;
    after = rows.at(-1)?.id ?? after;
    const seconds = (Date.now() - started) / 1000;
    process.stderr.write(
      `search index: ${done}/${total} text messages (${Math.round((100 * done) / Number(total))}%, ${seconds.toFixed(0)} s)\n`,
    );
  }
  // MySQL/MariaDB: fresh statistics, so the optimizer picks the term indexes from the start.
  if (isMysql(db)) await sql`ANALYZE TABLE message_search_terms`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('message_search_terms').execute();
}
