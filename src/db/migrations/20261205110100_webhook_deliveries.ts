import type { Kysely } from 'kysely';
import { isMysql } from '../dialect.ts';
import { tableOptions } from '../migration-helpers.ts';

// The webhook outbox (docs/WEBHOOKS.md, "Delivery"): one row per event and
// subscribed endpoint, written in the transaction of the change it describes
// (for sends, inside the group-commit batch), then claimed and delivered by
// the instances' delivery workers. `position` is assigned at insert, under the
// conversation's row lock for messages, so it is the commit order of one
// conversation's events: the order they are delivered in to each endpoint.
// `event_id` is the Standard Webhooks `webhook-id`, the same for every
// attempt. `lease_until` (ms) and `lease_owner` mark a row an instance is delivering
// right now.
// Delivered rows are pruned after 7 days, failed ones after 30.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('position', isMysql(db) ? 'bigint' : 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('event_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('endpoint_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('event_type', 'varchar(50)', (c) => c.notNull())
    .addColumn('conversation_id', 'varchar(50)')
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('lease_until', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'varchar(50)')
    .addColumn('last_status_code', 'integer')
    .addColumn('last_error', 'varchar(500)')
    .addColumn('last_duration_ms', 'integer')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('delivered_at', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_event_index')
    .unique()
    .on('webhook_deliveries')
    .columns(['endpoint_id', 'event_id'])
    .execute();
  // The workers' scan: pending rows due now.
  await db.schema
    .createIndex('webhook_deliveries_due_index')
    .on('webhook_deliveries')
    .columns(['status', 'next_attempt_at'])
    .execute();
  // "Is an earlier event of this conversation still pending for this endpoint?"
  await db.schema
    .createIndex('webhook_deliveries_order_index')
    .on('webhook_deliveries')
    .columns(['endpoint_id', 'conversation_id', 'status', 'position'])
    .execute();
  // Since when the endpoint's deliveries have failed without a success in between (ms); a day disables it.
  await db.schema.alterTable('webhook_endpoints').addColumn('failing_since', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webhook_endpoints').dropColumn('failing_since').execute();
  await db.schema.dropTable('webhook_deliveries').execute();
}
