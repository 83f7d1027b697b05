import { type Kysely, sql } from 'kysely';
import { isMysql, tableOptions } from '../migration-helpers.ts';

// Response-time reports (issue 14, README "Response-time reports"), kept off the
// send path by a follower (src/modules/reports/report-follower.ts), as the search
// indexer is:
//
// - conversations.report_seq / report_behind: how far the follower got (a hint,
//   moved after its commit) and the database-computed, indexed "last_seq passed it"
//   flag: its to-do list, kept by the send's UPDATE of last_seq at no extra statement.
// - report_state: per conversation, the authoritative watermark (`seq`, claimed with a
//   conditional UPDATE, so two instances never count one range twice) and what the
//   messages up to it left open (the episode, an unanswered turn), as JSON.
// - reply_turns: one row per answered buyer turn.
// - report_daily: the figures per team, local day (the team's time zone) and member
//   ('' for what no member is credited with), with the response-time histograms
//   as JSON, so a report reads (days × members) rows and never a message.
// - conversation_resolves: each resolve, at the seq it came after (the conversation's
//   last_seq, read under its row lock): where an episode ends, in message order.
//
// Existing conversations start at report_seq 0: the follower (or
// `npm run reports:backfill`) reads their history once. Resolves from before this
// migration were not recorded: that history is one episode per conversation.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('conversations')
    .addColumn('report_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('conversations')
    .addColumn('report_behind', 'integer', (c) => c.generatedAlwaysAs(sql`last_seq > report_seq`))
    .execute();
  await db.schema
    .createIndex('conversations_report_behind_index')
    .on('conversations')
    .columns(['report_behind', 'id'])
    .execute();

  await db.schema
    .createTable('report_state')
    .addColumn('conversation_id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();

  await db.schema
    .createTable('reply_turns')
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('answer_seq', 'bigint', (c) => c.notNull())
    .addColumn('team_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('episode', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('counted_from', 'bigint', (c) => c.notNull())
    .addColumn('answered_at', 'bigint', (c) => c.notNull())
    .addColumn('answered_by', 'varchar(50)', (c) => c.notNull())
    .addColumn('seconds', 'bigint', (c) => c.notNull())
    .addColumn('is_first_of_episode', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('reply_turns_pk', ['conversation_id', 'answer_seq'])
    .$call(tableOptions(db))
    .execute();
  await db.schema.createIndex('reply_turns_team_index').on('reply_turns').columns(['team_id', 'started_at']).execute();

  await db.schema
    .createTable('report_daily')
    .addColumn('team_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('local_day', 'varchar(10)', (c) => c.notNull())
    .addColumn('agent_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('conversations', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('buyer_turns', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('answered', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('within_180', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('first_responses', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('team_messages', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('resolved', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('ratings', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rating_sum', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('first_histogram', 'text', (c) => c.notNull())
    .addColumn('response_histogram', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('report_daily_pk', ['team_id', 'local_day', 'agent_id'])
    .$call(tableOptions(db))
    .execute();
  // The admins' ranking reads every team's days of a range.
  await db.schema.createIndex('report_daily_day_index').on('report_daily').columns(['local_day']).execute();

  await db.schema
    .createTable('conversation_resolves')
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('resolution', 'integer', (c) => c.notNull())
    .addColumn('after_seq', 'bigint', (c) => c.notNull())
    .addColumn('resolved_by', 'varchar(50)')
    .addColumn('resolved_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('conversation_resolves_pk', ['conversation_id', 'resolution'])
    .$call(tableOptions(db))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['conversation_resolves', 'report_daily', 'reply_turns', 'report_state']) {
    await db.schema.dropTable(table).execute();
  }
  const drop = db.schema.dropIndex('conversations_report_behind_index');
  await (isMysql(db) ? drop.on('conversations') : drop).execute();
  await db.schema.alterTable('conversations').dropColumn('report_behind').execute();
  await db.schema.alterTable('conversations').dropColumn('report_seq').execute();
}
