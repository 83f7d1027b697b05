import { type Kysely, sql } from 'kysely';
import { isMysql } from '../migration-helpers.ts';

// MySQL/MariaDB: guard_settings.words holds the sensitive-word list as JSON,
// up to 5,000 words of 50 characters (MAX_GUARD_WORDS, MAX_GUARD_WORD_LENGTH):
// in Chinese, 750 kB of UTF-8. TEXT stops at 65,535 bytes, so a list of about
// 2,000 short Chinese words was refused by the database (a 500 in strict mode,
// a truncated list that no longer parses otherwise). MEDIUMTEXT holds 16 MB.
// The column keeps the table's collation. SQLite's TEXT has no such limit.

export async function up(db: Kysely<any>): Promise<void> {
  if (!isMysql(db)) return;
  await sql`ALTER TABLE guard_settings MODIFY words MEDIUMTEXT NOT NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!isMysql(db)) return;
  await sql`ALTER TABLE guard_settings MODIFY words TEXT NOT NULL`.execute(db);
}
