import { type CreateTableBuilder, type Kysely, sql } from 'kysely';
import { isMysql } from './dialect.ts';

export { isMysql };

/**
 * The binary collations that compare strings byte for byte, trailing spaces
 * included (NO PAD), best first: MariaDB's and MySQL 8's. `utf8mb4_bin` is
 * PAD SPACE ("pay 100" equals "pay 100   "), the fallback only where the
 * server has neither (MySQL 5.7): there the code compares exactly itself.
 */
export const NO_PAD_COLLATIONS = ['utf8mb4_nopad_bin', 'utf8mb4_0900_bin'] as const;
export const PAD_SPACE_BINARY_COLLATION = 'utf8mb4_bin';

/** The exact binary collation this MySQL/MariaDB server offers (see NO_PAD_COLLATIONS). */
export async function exactCollation(db: Kysely<any>): Promise<string> {
  const rows = await sql<{ name: string }>`
    SELECT COLLATION_NAME AS name FROM information_schema.COLLATIONS
    WHERE COLLATION_NAME IN (${sql.join(NO_PAD_COLLATIONS)})`.execute(db);
  const offered = new Set(rows.rows.map((row) => row.name));
  return NO_PAD_COLLATIONS.find((name) => offered.has(name)) ?? PAD_SPACE_BINARY_COLLATION;
}

/**
 * The collation each migration's handle creates tables with, learnt from the
 * server by prepareMigration before the migration runs (the migrator does it
 * for every migration), so tableOptions stays a plain synchronous helper.
 */
const tableCollations = new WeakMap<Kysely<any>, string>();

/** Called by the migrator with the handle a migration is about to get. */
export async function prepareMigration(db: Kysely<any>): Promise<void> {
  if (isMysql(db)) tableCollations.set(db, await exactCollation(db));
}

/**
 * Table options for MySQL: InnoDB and utf8mb4 with a NO PAD binary collation
 * where the server has one, so ids, usernames and contents compare exactly as
 * they do on SQLite ("B1" is not "b1", "admin   " is not "admin").
 */
export function tableOptions(db: Kysely<any>) {
  return <T extends string, C extends string>(builder: CreateTableBuilder<T, C>) => {
    if (!isMysql(db)) return builder;
    const collation = tableCollations.get(db) ?? PAD_SPACE_BINARY_COLLATION;
    return builder.modifyEnd(sql`ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${sql.raw(collation)}`);
  };
}
