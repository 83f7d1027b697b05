import type { Insertable, Kysely, Transaction } from 'kysely';
import type { Database, QuickRepliesTable, QuickReplyRow } from '../../db/types.ts';

type Db = Kysely<Database> | Transaction<Database>;

export function activeQuickReplies(db: Db, userId: string): Promise<QuickReplyRow[]> {
  return db
    .selectFrom('quick_replies')
    .selectAll()
    .where('user_id', '=', userId)
    .where('is_active', '=', 1)
    .orderBy('sort_order')
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

export function findActiveQuickReply(db: Db, id: string): Promise<QuickReplyRow | undefined> {
  return db.selectFrom('quick_replies').selectAll().where('id', '=', id).where('is_active', '=', 1).executeTakeFirst();
}

export async function countActive(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom('quick_replies')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('user_id', '=', userId)
    .where('is_active', '=', 1)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Takes the user's row lock so concurrent creates cannot both pass the limit check. */
export async function lockOwner(trx: Transaction<Database>, userId: string): Promise<void> {
  await trx
    .updateTable('users')
    .set((eb) => ({ updated_at: eb.ref('updated_at') }))
    .where('id', '=', userId)
    .execute();
}

export async function insertQuickReply(db: Db, row: Insertable<QuickRepliesTable>): Promise<void> {
  await db.insertInto('quick_replies').values(row).execute();
}

export async function updateQuickReply(
  db: Db,
  id: string,
  changes: { content?: string; sort_order?: number; is_active?: number; updated_at: number },
): Promise<void> {
  await db.updateTable('quick_replies').set(changes).where('id', '=', id).execute();
}
