import type { Kysely } from 'kysely';

// Recall (docs/API.md, "Recall"): when the sender took the message back (Unix
// seconds), null for every other message. The row and its content stay, for
// the admins (who still see the original, marked recalled); participants get
// it without content. Never written by the send path, so a send's INSERT is
// unchanged.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('recalled_at', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('messages').dropColumn('recalled_at').execute();
}
