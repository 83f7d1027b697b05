import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MIGRATIONS_DIR,
  migrateDownOne,
  migrateToLatest,
  migrationStates,
  missingMigrationFiles,
  pendingMigrations,
  rollbackPlan,
} from '../db/migrator.ts';
import { runCommand, UsageError, withDatabase } from './cli.ts';
import { seedDemoData } from './seed.ts';

const USAGE = `Database schema and data.

Usage:
  npm run db:migrate            apply every pending migration (upgrade to head)
  npm run db:rollback           revert the most recent migration (down one); reverting the
                                first one drops every table and needs: npm run db:rollback -- --force
  npm run db:status             list migrations, applied or pending, and the current one
  npm run db:new -- <name>      write a new migration file (name: letters, digits, _)
  npm run db:seed               insert the demo users and quick replies (idempotent)

Uses DATABASE_URL from .env or the environment. Back up a production database
(mysqldump) before migrating it.`;

const MIGRATION_TEMPLATE = `import type { Kysely } from 'kysely';

// Kysely<any>: a migration describes the schema at this point in history.
// Update src/db/types.ts to match, then run npm test (the drift check compares them).

export async function up(db: Kysely<any>): Promise<void> {
  // await db.schema.alterTable('users').addColumn('nickname', 'varchar(100)').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  // await db.schema.alterTable('users').dropColumn('nickname').execute();
}
`;

function timestamp(date = new Date()): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** Actions that take no argument: a stray one (`db:rollback -- 3`) is a mistake, not something to ignore. */
function noArguments(action: string, rest: string[]): void {
  if (rest.length > 0) throw new UsageError(`db ${action} takes no arguments (got ${rest.join(' ')}).`);
}

runCommand({
  usage: USAGE,
  async run([action, ...rest]) {
    switch (action) {
      case 'migrate':
        noArguments(action, rest);
        return withDatabase(async ({ db }) => {
          const started = Date.now();
          const pending = await pendingMigrations(db);
          if (pending.length > 0) console.log(`Applying ${pending.length} migration(s)...`);
          let stepStarted = Date.now();
          const applied = await migrateToLatest(db, (line) => {
            console.log(`${line} (${Date.now() - stepStarted} ms)`);
            stepStarted = Date.now();
          });
          console.log(applied.length === 0 ? 'Already at head.' : `At head (${Date.now() - started} ms).`);
        });
      case 'rollback': {
        const force = rest[0] === '--force';
        noArguments(action, force ? rest.slice(1) : rest);
        return withDatabase(async ({ db }) => {
          const plan = await rollbackPlan(db);
          if (plan.dropsTables.length > 0) {
            const what = `Rolling back ${plan.migration} drops every table: ${plan.dropsTables.join(', ')}.`;
            if (!force) {
              throw new Error(
                `${what}\nRefused: every row in them would be lost. Back up first; to go ahead anyway: npm run db:rollback -- --force`,
              );
            }
            console.log(`${what} (--force given)`);
          }
          const reverted = await migrateDownOne(db);
          console.log(reverted.length === 0 ? 'Nothing to roll back.' : reverted.join('\n'));
        });
      }
      case 'status':
        noArguments(action, rest);
        return withDatabase(async ({ db }) => {
          const [states, missing] = await Promise.all([migrationStates(db), missingMigrationFiles(db)]);
          for (const state of states) {
            console.log(
              `${state.appliedAt ? `applied ${state.appliedAt.toISOString()}` : 'pending                        '}  ${state.name}`,
            );
          }
          for (const name of missing) console.log(`applied, FILE MISSING             ${name}`);
          if (missing.length > 0) {
            console.log(
              `\n${missing.length} applied migration(s) have no file in src/db/migrations: this code is older than the database` +
                ' (or a file was renamed or deleted). Check out the code that has them; migrate and rollback refuse to run until then.',
            );
          }
          const current = states.filter((s) => s.appliedAt).at(-1);
          const pending = states.filter((s) => !s.appliedAt).length;
          console.log(
            `\ncurrent: ${current?.name ?? '(empty database)'}; ${pending === 0 ? 'at head' : `${pending} pending: run npm run db:migrate`}`,
          );
        });
      case 'new': {
        const name = rest[0];
        if (!name || !/^[a-z0-9_]+$/.test(name))
          throw new UsageError('db:new needs a name of lowercase letters, digits and _');
        if (rest.length > 1) throw new UsageError('db:new takes one name (use _ between words).');
        const file = join(MIGRATIONS_DIR, `${timestamp()}_${name}.ts`);
        await writeFile(file, MIGRATION_TEMPLATE, { flag: 'wx' });
        console.log(`Created ${file}`);
        return;
      }
      case 'seed':
        noArguments(action, rest);
        return withDatabase(async ({ db }) => {
          await seedDemoData(db, (line) => console.log(line));
          console.log('Demo data ready (admin / admin123).');
        });
      default:
        throw new UsageError(action ? `Unknown action "${action}".` : 'Missing action.');
    }
  },
});
