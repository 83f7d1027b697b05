import type { Kysely } from 'kysely';
import { tableOptions } from '../migration-helpers.ts';

// Satisfaction ratings (issue 14, docs/API.md "Ratings"). A conversation's
// `resolutions` counts the times it was resolved: each resolution is a rating
// episode (a reopen and a new resolve start the next), so the unique key
// (conversation_id, episode) lets the buyer rate each resolution once, also
// under concurrency. A rating keeps the team and the assignee of the moment,
// so the team's list never joins conversations. No foreign keys, as the
// other tables since the collation migration.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('conversations')
    .addColumn('resolutions', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // Conversations resolved before the column: their current resolution is the first.
  await db.updateTable('conversations').set({ resolutions: 1 }).where('status', '=', 'resolved').execute();

  await db.schema
    .createTable('conversation_ratings')
    .addColumn('id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('episode', 'integer', (c) => c.notNull())
    .addColumn('team_id', 'varchar(50)')
    .addColumn('assignee_id', 'varchar(50)')
    .addColumn('rater_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('score', 'integer', (c) => c.notNull())
    .addColumn('comment', 'varchar(1000)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();
  await db.schema
    .createIndex('conversation_ratings_episode_unique')
    .on('conversation_ratings')
    .columns(['conversation_id', 'episode'])
    .unique()
    .execute();
  // The team's ratings, newest first (ids are UUIDv7: time-ordered).
  await db.schema
    .createIndex('conversation_ratings_team_index')
    .on('conversation_ratings')
    .columns(['team_id', 'id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('conversation_ratings').execute();
  await db.schema.alterTable('conversations').dropColumn('resolutions').execute();
}
