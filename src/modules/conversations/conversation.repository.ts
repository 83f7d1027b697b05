import type { Kysely, Transaction } from 'kysely';
import type { ConversationRow, Database } from '../../db/types.ts';

type Db = Kysely<Database> | Transaction<Database>;

/** The canonical order of a pair: the unique key relies on participant1_id < participant2_id. */
export function orderedPair(a: string, b: string): [string, string] {
  return a < b ? [a, b] : [b, a];
}

export function findConversationById(db: Db, id: string): Promise<ConversationRow | undefined> {
  return db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findConversationByPair(db: Db, a: string, b: string): Promise<ConversationRow | undefined> {
  const [p1, p2] = orderedPair(a, b);
  return db
    .selectFrom('conversations')
    .selectAll()
    .where('participant1_id', '=', p1)
    .where('participant2_id', '=', p2)
    .executeTakeFirst();
}

export async function insertConversation(
  db: Db,
  row: { id: string; participant1_id: string; participant2_id: string; created_at: number; updated_at: number },
): Promise<void> {
  await db.insertInto('conversations').values(row).execute();
}

function involving(db: Db, userId: string | undefined) {
  const query = db.selectFrom('conversations');
  return userId === undefined
    ? query
    : query.where((eb) => eb.or([eb('participant1_id', '=', userId), eb('participant2_id', '=', userId)]));
}

/** Newest activity first; `userId` narrows to one participant's conversations. */
export async function listConversations(
  db: Db,
  userId: string | undefined,
  limit: number,
  offset: number,
): Promise<{ count: number; rows: ConversationRow[] }> {
  const [countRow, rows] = await Promise.all([
    involving(db, userId)
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow(),
    involving(db, userId)
      .selectAll()
      .orderBy('updated_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .offset(offset)
      .execute(),
  ]);
  return { count: Number(countRow.count), rows };
}

/** Ids of every conversation the user takes part in. */
export function conversationIdsOf(db: Db, userId: string) {
  return involving(db, userId).select('id');
}

export async function zeroUnread(db: Db, conversation: ConversationRow, userId: string): Promise<void> {
  const column = conversation.participant1_id === userId ? 'participant1_unread' : 'participant2_unread';
  await db
    .updateTable('conversations')
    .set({ [column]: 0 })
    .where('id', '=', conversation.id)
    .execute();
}
