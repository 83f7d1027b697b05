import type { Kysely } from 'kysely';

// Offline grace across instances and restarts (issue 13): when a team member's
// last connection in the cluster closes, `offline_since` (milliseconds) is set;
// their first connection clears it. Every instance's sweep compares it with the
// grace, so the member's conversations awaiting a reply go back through
// assignment once, whichever instance sweeps and whether or not the instance
// that saw them leave is still running.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('offline_since', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('offline_since').execute();
}
