import type { Kysely } from 'kysely';
import { isMysql, tableOptions } from '../migration-helpers.ts';

// Order and product cards (API.md, "Cards").
//
// - cards: each card's current state as the host platform last PUT it, as the
//   canonical JSON a `card` message carries (src/modules/cards/card-content.ts),
//   and, for orders, the users who may open a conversation about it. A card
//   message stores the card as it was sent; reading joins the current state
//   here by (kind, id), so history pages stay seq windows of `messages` and an
//   update is one row, however many conversations show the card.
// - card_refs: which conversations show which card, written in the send
//   transaction of a card message only, and when it was last shown there:
//   an update pushes `card_updated` to the most recently shown conversations
//   first, by the (kind, card_id, shown_at) index, never walking them all.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('cards')
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('id', 'varchar(50)', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('user_ids', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('cards_pk', ['kind', 'id'])
    .$call(tableOptions(db))
    .execute();
  await db.schema
    .createTable('card_refs')
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('card_id', 'varchar(50)', (c) => c.notNull())
    // No foreign key, as the teams' tables: conversations are never deleted, and the collation
    // migration's down/up (20261204130000) rebuilds only the foreign keys it knows of.
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('shown_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('card_refs_pk', ['kind', 'card_id', 'conversation_id'])
    .$call(tableOptions(db))
    .execute();
  await db.schema
    .createIndex('card_refs_shown_index')
    .on('card_refs')
    .columns(['kind', 'card_id', 'shown_at', 'conversation_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  const drop = db.schema.dropIndex('card_refs_shown_index');
  await (isMysql(db) ? drop.on('card_refs') : drop).execute();
  await db.schema.dropTable('card_refs').execute();
  await db.schema.dropTable('cards').execute();
}
