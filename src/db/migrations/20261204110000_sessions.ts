import type { Kysely } from 'kysely';
import { tableOptions } from '../migration-helpers.ts';

/**
 * Sessions that can end. `users.tokens_valid_after` (milliseconds) refuses
 * every token of a user issued before it: bumped on a password change, a
 * deactivation or deletion, and "log out everywhere". It rides on the cached
 * user row, so checking it costs no query. `revoked_sessions` holds the
 * sessions ended one at a time (POST /api/auth/logout) until their tokens
 * would have expired anyway; each instance keeps them in memory.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('tokens_valid_after', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('revoked_sessions')
    .addColumn('session_id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();
  // Start-up loads the unexpired ones; the periodic refresh reads those revoked since its last look.
  await db.schema
    .createIndex('revoked_sessions_revoked_index')
    .on('revoked_sessions')
    .columns(['revoked_at'])
    .execute();
  // Expired rows are deleted by whichever instance refreshes.
  await db.schema
    .createIndex('revoked_sessions_expires_index')
    .on('revoked_sessions')
    .columns(['expires_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('revoked_sessions').execute();
  await db.schema.alterTable('users').dropColumn('tokens_valid_after').execute();
}
