import type { Kysely } from 'kysely';
import { tableOptions } from '../migration-helpers.ts';

// Auto replies (issue 14, README "Auto replies"). A team's welcome and away
// messages, time zone, weekly business hours, days off and keyword rules are
// settings on its row (the lists as JSON text, read whole, never queried).
// An auto reply is a message with `auto_reply` = 1: sent from the owner's
// account, it never answers a turn, claims or reopens. auto_reply_sends keeps,
// per conversation and rule ('welcome', 'away:closed', 'away:absent',
// 'keyword:<n>'), the period in which that rule last answered (`mark`: a time,
// or for away:absent the seq of the team's last human message): its primary
// key and conditional updates of `mark` make each reply happen once per period
// (welcome: ever; away: per away period; a keyword: per cooldown), also with
// several instances.

const TEAM_COLUMNS = [
  ['welcome_message', 'varchar(1000)'],
  ['away_message', 'varchar(1000)'],
  ['timezone', 'varchar(64)'],
  ['business_hours', 'text'],
  ['days_off', 'text'],
  ['keyword_replies', 'text'],
] as const;

export async function up(db: Kysely<any>): Promise<void> {
  // One ALTER per column: SQLite adds one column per statement.
  for (const [name, type] of TEAM_COLUMNS) {
    await db.schema.alterTable('teams').addColumn(name, type).execute();
  }
  await db.schema
    .alterTable('messages')
    .addColumn('auto_reply', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  await db.schema
    .createTable('auto_reply_sends')
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('rule', 'varchar(50)', (c) => c.notNull())
    .addColumn('mark', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('auto_reply_sends_primary', ['conversation_id', 'rule'])
    .$call(tableOptions(db))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('auto_reply_sends').execute();
  await db.schema.alterTable('messages').dropColumn('auto_reply').execute();
  for (const [name] of [...TEAM_COLUMNS].reverse()) {
    await db.schema.alterTable('teams').dropColumn(name).execute();
  }
}
