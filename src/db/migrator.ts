import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEFAULT_MIGRATION_TABLE, type Kysely, type Migration, type MigrationResultSet, Migrator, sql } from 'kysely';
import { prepareMigration } from './migration-helpers.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const MIGRATION_FILE = /^\d{14}_[a-z0-9_]+\.ts$/;

/**
 * Migrations are the files in src/db/migrations, applied in file-name order.
 * Each step first learns what the server offers (prepareMigration: the exact
 * collation tableOptions creates tables with) on the handle it is given.
 */
async function loadMigrations(dir: string): Promise<Record<string, Migration>> {
  const files = (await readdir(dir)).filter((file) => MIGRATION_FILE.test(file)).sort();
  const migrations: Record<string, Migration> = {};
  for (const file of files) {
    const migration = (await import(pathToFileURL(join(dir, file)).href)) as Migration;
    const { down } = migration;
    migrations[file.replace(/\.ts$/, '')] = {
      up: async (db) => {
        await prepareMigration(db);
        await migration.up(db);
      },
      ...(down
        ? {
            down: async (db: Kysely<any>) => {
              await prepareMigration(db);
              await down(db);
            },
          }
        : {}),
    };
  }
  return migrations;
}

export function createMigrator(db: Kysely<any>, dir = MIGRATIONS_DIR): Migrator {
  return new Migrator({ db, provider: { getMigrations: () => loadMigrations(dir) } });
}

export interface MigrationState {
  name: string;
  appliedAt: Date | null;
}

export async function migrationStates(db: Kysely<any>): Promise<MigrationState[]> {
  const infos = await createMigrator(db).getMigrations();
  return infos.map((info) => ({ name: info.name, appliedAt: info.executedAt ?? null }));
}

/** Throws with the failing migration's name and cause, so callers report it plainly. */
export function unwrapResult(resultSet: MigrationResultSet): string[] {
  if (resultSet.error) {
    const failed = resultSet.results?.find((r) => r.status === 'Error');
    const cause = resultSet.error instanceof Error ? resultSet.error.message : String(resultSet.error);
    throw new Error(failed ? `migration ${failed.migrationName} failed: ${cause}` : cause, {
      cause: resultSet.error,
    });
  }
  return (resultSet.results ?? []).map((r) => `${r.direction === 'Up' ? 'applied' : 'reverted'} ${r.migrationName}`);
}

/**
 * Applies every pending migration. With `onApplied`, one at a time, reporting
 * each as it lands (a long ALTER on a big table shows where it is); each
 * step commits on its own, so a failure keeps the migrations before it.
 */
export async function migrateToLatest(db: Kysely<any>, onApplied?: (line: string) => void): Promise<string[]> {
  await refuseMissingFiles(db);
  const migrator = createMigrator(db);
  if (!onApplied) return unwrapResult(await migrator.migrateToLatest());
  const applied: string[] = [];
  for (;;) {
    const step = unwrapResult(await migrator.migrateUp());
    if (step.length === 0) return applied;
    for (const line of step) {
      applied.push(line);
      onApplied(line);
    }
  }
}

export async function migrateDownOne(db: Kysely<any>): Promise<string[]> {
  await refuseMissingFiles(db);
  return unwrapResult(await createMigrator(db).migrateDown());
}

/** Names of migrations not yet applied; the server refuses to start unless empty. */
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  return (await migrationStates(db)).filter((m) => m.appliedAt === null).map((m) => m.name);
}

/**
 * The database records migrations as applied whose files are not in
 * src/db/migrations: the code is older than the database (or a file was
 * renamed or deleted). Kysely only says "corrupted migrations"; this says
 * what to do.
 */
export class MissingMigrationFilesError extends Error {
  constructor(missing: readonly string[]) {
    super(
      `The database has ${missing.length} applied migration(s) whose file is missing from src/db/migrations: ${missing.join(', ')}.\n` +
        'This code is older than the database, or a migration file was renamed or deleted. Check out the version of ' +
        'the code that has these files (or restore them), then run the command again; `npm run db:status` lists them.',
    );
    this.name = 'MissingMigrationFilesError';
  }
}

/** Names recorded as applied in the database, oldest first ([] before the first migration). */
async function appliedMigrationNames(db: Kysely<any>): Promise<string[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((table) => table.name === DEFAULT_MIGRATION_TABLE)) return [];
  const rows = await sql<{
    name: string;
  }>`select name from ${sql.table(DEFAULT_MIGRATION_TABLE)} order by name`.execute(db);
  return rows.rows.map((row) => row.name);
}

/** Applied migrations that have no file (db:status lists them; migrate and rollback refuse to run). */
export async function missingMigrationFiles(db: Kysely<any>): Promise<string[]> {
  const [applied, states] = await Promise.all([appliedMigrationNames(db), migrationStates(db)]);
  const known = new Set(states.map((state) => state.name));
  return applied.filter((name) => !known.has(name));
}

async function refuseMissingFiles(db: Kysely<any>): Promise<void> {
  const missing = await missingMigrationFiles(db);
  if (missing.length > 0) throw new MissingMigrationFilesError(missing);
}

export interface RollbackPlan {
  /** The migration `db:rollback` would revert, or null when none is applied. */
  migration: string | null;
  /**
   * The tables that would be dropped when that migration is the first one
   * (its `down` empties the database); [] otherwise.
   */
  dropsTables: string[];
}

/** What reverting the newest migration would do, so `db:rollback` can refuse to empty a database by accident. */
export async function rollbackPlan(db: Kysely<any>): Promise<RollbackPlan> {
  await refuseMissingFiles(db);
  const applied = (await migrationStates(db)).filter((state) => state.appliedAt !== null);
  const latest = applied.at(-1);
  if (!latest) return { migration: null, dropsTables: [] };
  if (applied.length > 1) return { migration: latest.name, dropsTables: [] };
  const tables = await db.introspection.getTables();
  return { migration: latest.name, dropsTables: tables.map((table) => table.name).sort() };
}
