import type { Kysely } from 'kysely';
import { tableOptions } from '../migration-helpers.ts';

// Webhook endpoints registered by an admin (docs/WEBHOOKS.md). `events` is the
// comma-separated list of subscribed event names (a handful, read whole);
// `secret` is the Standard Webhooks `whsec_…` signing secret, kept in clear
// because signing needs it; after a rotation the previous one stays valid
// until `previous_secret_expires_at` (24 h). A disabled endpoint keeps its row
// with `is_active = 0` and, when the system disabled it, the reason.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhook_endpoints')
    .addColumn('id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('url', 'varchar(2000)', (c) => c.notNull())
    .addColumn('description', 'varchar(500)')
    .addColumn('events', 'varchar(500)', (c) => c.notNull())
    .addColumn('secret', 'varchar(100)', (c) => c.notNull())
    .addColumn('previous_secret', 'varchar(100)')
    .addColumn('previous_secret_expires_at', 'bigint')
    .addColumn('allow_private_network', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('is_active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('disabled_reason', 'varchar(200)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webhook_endpoints').execute();
}
