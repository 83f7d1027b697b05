import type { Kysely } from 'kysely';

// Presence is shared only where the customer side took part (docs/REALTIME.md,
// "Presence"): it started the conversation or wrote in it. Who wrote is in
// the messages; who started it is recorded nowhere else, so it is kept here.
// Written once when the conversation is created, never by the send path.
// Conversations created before this migration have NULL: their customer must
// write before presence is shared (nobody can tell who opened them).

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('conversations').addColumn('started_by', 'varchar(50)').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('conversations').dropColumn('started_by').execute();
}
