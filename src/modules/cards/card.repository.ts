import type { Kysely } from 'kysely';
import { isMysql } from '../../db/dialect.ts';
import type { CardRow, Database } from '../../db/types.ts';
import { type CardKey, cardKeyString } from './card-content.ts';

type Db = Kysely<Database>;

export async function findCard(db: Db, key: CardKey): Promise<CardRow | undefined> {
  return db.selectFrom('cards').selectAll().where('kind', '=', key.kind).where('id', '=', key.id).executeTakeFirst();
}

/** The current state of each of `keys` the platform stored, by cardKeyString; one query whatever their number. */
export async function findCardStates(db: Db, keys: readonly CardKey[]): Promise<Map<string, string>> {
  const states = new Map<string, string>();
  if (keys.length === 0) return states;
  const byKind = Map.groupBy(keys, (key) => key.kind);
  const rows = await db
    .selectFrom('cards')
    .select(['kind', 'id', 'state'])
    .where((eb) =>
      eb.or(
        [...byKind].map(([kind, group]) =>
          eb.and([
            eb('kind', '=', kind),
            eb(
              'id',
              'in',
              group.map((k) => k.id),
            ),
          ]),
        ),
      ),
    )
    .execute();
  for (const row of rows) states.set(cardKeyString(row), row.state);
  return states;
}

/** Inserts or replaces a card's state (the primary key settles concurrent PUTs: the last one wins). */
export async function upsertCard(db: Db, row: CardRow): Promise<void> {
  const { kind, id, ...changes } = row;
  const insert = db.insertInto('cards').values(row);
  await (isMysql(db)
    ? insert.onDuplicateKeyUpdate(changes)
    : insert.onConflict((oc) => oc.columns(['kind', 'id']).doUpdateSet(changes))
  ).execute();
}

/** Records that a conversation shows a card (again: `shown_at` moves up). In the send transaction, cards only. */
export async function recordCardShown(db: Db, key: CardKey, conversationId: string, shownAt: number): Promise<void> {
  const insert = db
    .insertInto('card_refs')
    .values({ kind: key.kind, card_id: key.id, conversation_id: conversationId, shown_at: shownAt });
  await (isMysql(db)
    ? insert.onDuplicateKeyUpdate({ shown_at: shownAt })
    : insert.onConflict((oc) => oc.columns(['kind', 'card_id', 'conversation_id']).doUpdateSet({ shown_at: shownAt }))
  ).execute();
}

export async function isCardShownIn(db: Db, key: CardKey, conversationId: string): Promise<boolean> {
  const row = await db
    .selectFrom('card_refs')
    .select('conversation_id')
    .where('kind', '=', key.kind)
    .where('card_id', '=', key.id)
    .where('conversation_id', '=', conversationId)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * The conversations showing a card, most recently shown first, at most
 * `limit` (card_refs_shown_index: a bounded walk of one card's entries, not
 * of every conversation that ever showed it), with their participants and answering team.
 */
export async function conversationsShowing(db: Db, key: CardKey, limit: number) {
  return db
    .selectFrom('card_refs as r')
    .innerJoin('conversations as c', 'c.id', 'r.conversation_id')
    .select(['c.id', 'c.participant1_id', 'c.participant2_id', 'c.team_id'])
    .where('r.kind', '=', key.kind)
    .where('r.card_id', '=', key.id)
    .orderBy('r.shown_at', 'desc')
    .orderBy('r.conversation_id', 'desc')
    .limit(limit)
    .execute();
}
