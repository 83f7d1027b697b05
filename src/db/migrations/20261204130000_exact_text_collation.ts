import { type Kysely, sql } from 'kysely';
import { exactCollation, isMysql, PAD_SPACE_BINARY_COLLATION } from '../migration-helpers.ts';

// Migrations take Kysely<any>: they describe the schema as it was at this
// point in history and must never depend on today's table types.

/**
 * MySQL/MariaDB: every application table (and so every text column: ids,
 * usernames, contents, client_msg_id, ...) moves from utf8mb4_bin, which is
 * PAD SPACE ("pay 100" = "pay 100   ", so the second was dropped as a
 * double-send and "admin   " signed in as admin), to the server's NO PAD
 * binary collation. A server without one (MySQL 5.7) keeps utf8mb4_bin and the
 * code compares exactly instead. SQLite compares bytes already: nothing to do.
 * Rebuilds each table (a copy): on a large messages table this takes a while.
 */
export async function up(db: Kysely<any>): Promise<void> {
  if (!isMysql(db)) return;
  const collation = await exactCollation(db);
  if (collation !== PAD_SPACE_BINARY_COLLATION) await convertTables(db, collation);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!isMysql(db)) return;
  await convertTables(db, PAD_SPACE_BINARY_COLLATION);
}

interface Table {
  name: string;
  /** Its default collation before the conversion: what a failed conversion puts back. */
  collation: string;
}

/** Application tables (Kysely's bookkeeping left alone) whose default collation is not `collation` yet. */
async function tablesToConvert(db: Kysely<any>, collation: string): Promise<Table[]> {
  const rows = await sql<Table>`
    SELECT TABLE_NAME AS name, TABLE_COLLATION AS collation FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'
      AND TABLE_NAME NOT LIKE 'kysely\\_%' AND TABLE_COLLATION <> ${collation}
    ORDER BY TABLE_NAME`.execute(db);
  return rows.rows;
}

interface ForeignKey {
  name: string;
  table: string;
  columns: string[];
  referencedTable: string;
  referencedColumns: string[];
  onDelete: string;
  onUpdate: string;
}

/** Every foreign key of the schema, with what it takes to create it again. */
async function foreignKeys(db: Kysely<any>): Promise<ForeignKey[]> {
  const rows = await sql<{
    name: string;
    table_name: string;
    column_name: string;
    referenced_table: string;
    referenced_column: string;
    delete_rule: string;
    update_rule: string;
  }>`
    SELECT rc.CONSTRAINT_NAME AS name, rc.TABLE_NAME AS table_name, k.COLUMN_NAME AS column_name,
      rc.REFERENCED_TABLE_NAME AS referenced_table, k.REFERENCED_COLUMN_NAME AS referenced_column,
      rc.DELETE_RULE AS delete_rule, rc.UPDATE_RULE AS update_rule
    FROM information_schema.REFERENTIAL_CONSTRAINTS rc
    JOIN information_schema.KEY_COLUMN_USAGE k ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA
      AND k.TABLE_NAME = rc.TABLE_NAME AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME
    WHERE rc.CONSTRAINT_SCHEMA = DATABASE()
    ORDER BY rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.ORDINAL_POSITION`.execute(db);
  const keys = new Map<string, ForeignKey>();
  for (const row of rows.rows) {
    const id = `${row.table_name}.${row.name}`;
    let key = keys.get(id);
    if (!key) {
      key = {
        name: row.name,
        table: row.table_name,
        columns: [],
        referencedTable: row.referenced_table,
        referencedColumns: [],
        onDelete: row.delete_rule,
        onUpdate: row.update_rule,
      };
      keys.set(id, key);
    }
    key.columns.push(row.column_name);
    key.referencedColumns.push(row.referenced_column);
  }
  return [...keys.values()];
}

/** ON DELETE / ON UPDATE rules as information_schema spells them, the only words put into the DDL raw. */
const RULES = new Set(['CASCADE', 'SET NULL', 'SET DEFAULT', 'RESTRICT', 'NO ACTION']);

/**
 * The clause that recreates a rule. RESTRICT is what MariaDB reports for a
 * key declared without one, and is InnoDB's default: the clause is left out,
 * so the key is declared again exactly as the earlier migration declared it.
 */
function rule(event: 'DELETE' | 'UPDATE', action: string) {
  if (!RULES.has(action)) throw new Error(`unexpected foreign key rule ${action}`);
  return action === 'RESTRICT' ? sql`` : sql`ON ${sql.raw(event)} ${sql.raw(action)}`;
}

async function convertTable(db: Kysely<any>, table: string, collation: string): Promise<void> {
  await sql`ALTER TABLE ${sql.table(table)} CONVERT TO CHARACTER SET utf8mb4 COLLATE ${sql.raw(collation)}`.execute(db);
}

async function addForeignKey(db: Kysely<any>, key: ForeignKey): Promise<void> {
  const columns = sql.join(key.columns.map((column) => sql.ref(column)));
  const referenced = sql.join(key.referencedColumns.map((column) => sql.ref(column)));
  await sql`ALTER TABLE ${sql.table(key.table)} ADD CONSTRAINT ${sql.ref(key.name)} FOREIGN KEY (${columns})
    REFERENCES ${sql.table(key.referencedTable)} (${referenced}) ${rule('DELETE', key.onDelete)} ${rule('UPDATE', key.onUpdate)}`.execute(
    db,
  );
}

/**
 * Converts the tables. MariaDB refuses to change the collation of a column a
 * foreign key joins, even with FOREIGN_KEY_CHECKS off, so the keys are
 * dropped, the tables converted, and the keys created again as they were
 * (checks off meanwhile: the rows do not change, only how they compare; the
 * migrator runs every step on one connection, so the setting is this step's).
 * DDL is not transactional: if a table cannot be converted (going back to PAD
 * SPACE, "pad" and "pad   " break a unique key; a full disk), the tables done
 * so far are put back and the keys created again before the error is thrown,
 * so the schema is left as it was and the step can simply run again. Dropped
 * keys not recreated would be lost for good: a second run no longer sees them.
 */
async function convertTables(db: Kysely<any>, collation: string): Promise<void> {
  const tables = await tablesToConvert(db, collation);
  if (tables.length === 0) return;
  const keys = await foreignKeys(db);
  await sql`SET FOREIGN_KEY_CHECKS = 0`.execute(db);
  try {
    for (const key of keys) {
      await sql`ALTER TABLE ${sql.table(key.table)} DROP FOREIGN KEY ${sql.ref(key.name)}`.execute(db);
    }
    const converted: Table[] = [];
    try {
      for (const table of tables) {
        await convertTable(db, table.name, collation);
        converted.push(table);
      }
    } catch (error) {
      for (const table of converted.reverse()) await convertTable(db, table.name, table.collation);
      for (const key of keys) await addForeignKey(db, key);
      throw error;
    }
    for (const key of keys) await addForeignKey(db, key);
  } finally {
    await sql`SET FOREIGN_KEY_CHECKS = 1`.execute(db);
  }
}
