import type { Kysely } from 'kysely';
import { isMysql } from '../migration-helpers.ts';

// Slow-reply alerts (issue 14, README "Slow-reply alerts"), scheduled from the
// database: every instance sweeps the conversations whose customer has waited
// (awaiting_reply_since, indexed here) past a threshold of their team. The
// alert is claimed by a conditional UPDATE of `slow_alert_since` (the turn it
// was sent for: that turn's awaiting_reply_since) and `slow_alert_level`
// (1: the first alert, 2: the supervisors' one), so each threshold alerts once
// per turn, whichever instance sweeps first.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('conversations').addColumn('slow_alert_since', 'bigint').execute();
  await db.schema
    .alterTable('conversations')
    .addColumn('slow_alert_level', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createIndex('conversations_awaiting_index')
    .on('conversations')
    .columns(['awaiting_reply_since'])
    .execute();
  await db.schema
    .alterTable('teams')
    .addColumn('slow_reply_seconds', 'integer', (c) => c.notNull().defaultTo(100))
    .execute();
  await db.schema
    .alterTable('teams')
    .addColumn('slow_reply_escalation_seconds', 'integer', (c) => c.notNull().defaultTo(180))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('teams').dropColumn('slow_reply_escalation_seconds').execute();
  await db.schema.alterTable('teams').dropColumn('slow_reply_seconds').execute();
  const drop = db.schema.dropIndex('conversations_awaiting_index');
  await (isMysql(db) ? drop.on('conversations') : drop).execute();
  await db.schema.alterTable('conversations').dropColumn('slow_alert_level').execute();
  await db.schema.alterTable('conversations').dropColumn('slow_alert_since').execute();
}
