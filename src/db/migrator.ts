import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Kysely, type Migration, type MigrationResultSet, Migrator } from 'kysely';
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
  return unwrapResult(await createMigrator(db).migrateDown());
}

/** Names of migrations not yet applied; the server refuses to start unless empty. */
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  return (await migrationStates(db)).filter((m) => m.appliedAt === null).map((m) => m.name);
}
