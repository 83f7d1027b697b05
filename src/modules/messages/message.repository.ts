import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import { isMysql } from '../../db/dialect.ts';
import type { ConversationRow, Database, MessageRow } from '../../db/types.ts';
import { uuidv7Floor } from '../../lib/ids.ts';
import { conversationIdsOf } from '../conversations/conversation.repository.ts';
import type { IssuedUpload } from '../media/stored-uploads.ts';

type Db = Kysely<Database> | Transaction<Database>;

export function findMessageById(db: Db, id: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findByClientMsgId(
  db: Db,
  conversationId: string,
  senderId: string,
  clientMsgId: string,
): Promise<MessageRow | undefined> {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', '=', conversationId)
    .where('sender_id', '=', senderId)
    .where('client_msg_id', '=', clientMsgId)
    .executeTakeFirst();
}

export type UnreadColumn = 'participant1_unread' | 'participant2_unread';

export function unreadColumnOf(conversation: Pick<ConversationRow, 'participant1_id'>, userId: string): UnreadColumn {
  return conversation.participant1_id === userId ? 'participant1_unread' : 'participant2_unread';
}

/** One message to store with appendMessages: its row and what it changes in its conversation. */
export interface Append {
  message: Omit<MessageRow, 'seq' | 'is_read'>;
  recipientUnread: UnreadColumn;
  preview: string;
}

/** `CASE id WHEN <conversation> THEN <value> … END`: one value per conversation of a batch. */
function perConversation<T>(
  groups: ReadonlyMap<string, readonly Append[]>,
  value: (appends: readonly Append[]) => T,
): RawBuilder<T> {
  const branches = [...groups].map(([id, appends]) => sql`WHEN ${id} THEN ${value(appends)}`);
  return sql<T>`CASE ${sql.ref('id')} ${sql.join(branches, sql` `)} END`;
}

/**
 * The send transaction's writes, for one message or a batch (group commit):
 * one statement per step whatever the number of messages. Bumping last_seq
 * first takes the conversations' row locks, so concurrent sends to one
 * conversation queue here; one statement locks every conversation of a batch
 * in key order, so two batches cannot deadlock on them. Each conversation
 * claims its messages' seqs as one block, given out in the order of `appends`,
 * and the insert cannot collide on seq. The claim is learnt from the update
 * itself where the dialect can tell it (SQLite: RETURNING; MySQL, one
 * conversation: LAST_INSERT_ID(expr)), which keeps the locks held for one
 * round trip less; a MySQL batch over several conversations reads it back.
 * Returns each message's seq, or undefined where its conversation is gone.
 */
export async function appendMessages(
  trx: Transaction<Database>,
  appends: readonly Append[],
): Promise<(number | undefined)[]> {
  const groups = new Map<string, Append[]>();
  for (const append of appends) {
    const group = groups.get(append.message.conversation_id);
    if (group) group.push(append);
    else groups.set(append.message.conversation_id, [append]);
  }
  const ids = [...groups.keys()];
  const mysql = isMysql(trx);
  const oneConversation = groups.size === 1;
  const added = perConversation(groups, (group) => group.length);
  const lastTime = perConversation(groups, (group) => (group[group.length - 1] as Append).message.created_at);
  const unreadFor = (column: UnreadColumn) =>
    sql<number>`${sql.ref(column)} + ${perConversation(groups, (group) => group.filter((a) => a.recipientUnread === column).length)}`;
  const claim = trx
    .updateTable('conversations')
    .set({
      last_seq:
        mysql && oneConversation ? sql<number>`LAST_INSERT_ID(last_seq + ${added})` : sql<number>`last_seq + ${added}`,
      message_count: sql<number>`message_count + ${added}`,
      participant1_unread: unreadFor('participant1_unread'),
      participant2_unread: unreadFor('participant2_unread'),
      last_message: perConversation(groups, (group) => (group[group.length - 1] as Append).preview),
      last_message_time: lastTime,
      updated_at: lastTime,
    })
    .where('id', 'in', ids);

  let claimed: { id: string; last_seq: number }[];
  if (!mysql) {
    claimed = await claim.returning(['id', 'last_seq']).execute();
  } else if (oneConversation) {
    const result = await trx.executeQuery(claim.compile());
    claimed =
      Number(result.numAffectedRows ?? 0) > 0 ? [{ id: ids[0] as string, last_seq: Number(result.insertId) }] : [];
  } else {
    await claim.execute();
    // Read back under the row locks just taken: each conversation's new last_seq ends its block.
    claimed = await trx.selectFrom('conversations').select(['id', 'last_seq']).where('id', 'in', ids).execute();
  }

  const seqs = new Map<Append, number>();
  for (const { id, last_seq } of claimed) {
    const group = groups.get(id) ?? [];
    for (const [i, append] of group.entries()) seqs.set(append, Number(last_seq) - group.length + 1 + i);
  }
  const rows = appends.flatMap((append) => {
    const seq = seqs.get(append);
    return seq === undefined ? [] : [{ ...append.message, seq, is_read: 0 }];
  });
  if (rows.length > 0) await trx.insertInto('messages').values(rows).execute();
  return appends.map((append) => seqs.get(append));
}

/** Messages of one conversation in a seq range, via the (conversation_id, seq) key. */
export function messagesBySeq(
  db: Db,
  conversationId: string,
  range: { after?: number; atLeast?: number; before?: number; atMost?: number },
  order: 'asc' | 'desc',
  limit: number,
): Promise<MessageRow[]> {
  let query = db.selectFrom('messages').selectAll().where('conversation_id', '=', conversationId);
  if (range.after !== undefined) query = query.where('seq', '>', range.after);
  if (range.atLeast !== undefined) query = query.where('seq', '>=', range.atLeast);
  if (range.before !== undefined) query = query.where('seq', '<', range.before);
  if (range.atMost !== undefined) query = query.where('seq', '<=', range.atMost);
  return query.orderBy('seq', order).limit(limit).execute();
}

/** Seqs of moderated messages in a conversation, ascending. */
export async function deletedSeqs(db: Db, conversationId: string): Promise<number[]> {
  const rows = await db
    .selectFrom('deleted_messages')
    .select('seq')
    .where('conversation_id', '=', conversationId)
    .orderBy('seq')
    .execute();
  return rows.map((row) => Number(row.seq));
}

export interface MessageFilter {
  conversationId?: string;
  senderId?: string;
  messageType?: MessageRow['message_type'];
  /** Restrict to conversations this user takes part in. */
  participantId?: string;
}

function filtered(db: Db, filter: MessageFilter) {
  let query = db.selectFrom('messages');
  if (filter.conversationId) query = query.where('conversation_id', '=', filter.conversationId);
  if (filter.senderId) query = query.where('sender_id', '=', filter.senderId);
  if (filter.messageType) query = query.where('message_type', '=', filter.messageType);
  if (filter.participantId) query = query.where('conversation_id', 'in', conversationIdsOf(db, filter.participantId));
  return query;
}

/** Newest first. Ids are UUIDv7, so id order is creation order across conversations. */
export async function listMessages(
  db: Db,
  filter: MessageFilter,
  limit: number,
  offset: number,
): Promise<{ count: number; rows: MessageRow[] }> {
  const [countRow, rows] = await Promise.all([
    filtered(db, filter)
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow(),
    filtered(db, filter).selectAll().orderBy('id', 'desc').limit(limit).offset(offset).execute(),
  ]);
  return { count: Number(countRow.count), rows };
}

/**
 * Takes the conversation's row lock for the rest of the transaction (MySQL;
 * SQLite runs one transaction at a time anyway). Every writer of a
 * conversation's messages (send, read, read-all, delete) takes it before any
 * message's, so concurrent writers queue in one order, never deadlock, and
 * each sees the others' read flags as committed.
 */
async function lockConversation(trx: Transaction<Database>, conversationId: string): Promise<void> {
  if (!isMysql(trx)) return;
  await trx.selectFrom('conversations').select('id').where('id', '=', conversationId).forUpdate().execute();
}

/**
 * The recipient reads one message: their count drops by one if, and only if,
 * this flips its flag. Run in a transaction. Returns whether it was unread.
 */
export async function markMessageRead(
  trx: Transaction<Database>,
  message: Pick<MessageRow, 'id' | 'conversation_id'>,
  column: UnreadColumn,
): Promise<boolean> {
  await lockConversation(trx, message.conversation_id);
  const result = await trx
    .updateTable('messages')
    .set({ is_read: 1 })
    .where('id', '=', message.id)
    .where('is_read', '=', 0)
    .executeTakeFirst();
  const flipped = Number(result.numUpdatedRows) > 0;
  if (flipped) await decrementUnread(trx, message.conversation_id, column);
  return flipped;
}

/**
 * Marks every unread message the other participant sent in this conversation
 * and zeroes the reader's count, in that transaction. The count first, which
 * takes the conversation's lock (see lockConversation): marking first, a
 * concurrent send (which locks the conversation, then inserts) deadlocked.
 */
export async function markConversationRead(
  trx: Transaction<Database>,
  conversationId: string,
  senderId: string,
  readerColumn: UnreadColumn,
): Promise<void> {
  await trx
    .updateTable('conversations')
    .set({ [readerColumn]: 0 })
    .where('id', '=', conversationId)
    .execute();
  await trx
    .updateTable('messages')
    .set({ is_read: 1 })
    .where('conversation_id', '=', conversationId)
    .where('is_read', '=', 0)
    .where('sender_id', '=', senderId)
    .execute();
}

export async function decrementUnread(db: Db, conversationId: string, column: UnreadColumn): Promise<void> {
  await db
    .updateTable('conversations')
    .set((eb) => ({ [column]: eb(column, '-', 1) }))
    .where('id', '=', conversationId)
    .where(column, '>', 0)
    .execute();
}

/**
 * Hard-deletes a message, keeping the conversation's counters (the
 * recipient's unread count in `recipientUnread` included) and preview true.
 */
export async function deleteMessage(
  trx: Transaction<Database>,
  message: MessageRow,
  recipientUnread: UnreadColumn,
  deletedBy: string,
  now: number,
  previewOf: (row: MessageRow) => string,
): Promise<boolean> {
  // The conversation row is written first, as a send does: concurrent deletes (and sends) in
  // one conversation queue on it here. Written later, after deleted_messages (whose foreign-key
  // check takes a shared lock on it), two deletes each holding it shared deadlock (MySQL); and
  // the newest message below is read only once the ones before have committed.
  await trx
    .updateTable('conversations')
    .set((eb) => ({ message_count: eb('message_count', '-', 1) }))
    .where('id', '=', message.conversation_id)
    .execute();
  // Whether it was still unread is learnt from the delete itself (a current read under the
  // conversation's lock): the copy the caller read earlier may have been marked read since.
  const unread = await trx
    .deleteFrom('messages')
    .where('id', '=', message.id)
    .where('is_read', '=', 0)
    .executeTakeFirst();
  const wasUnread = Number(unread.numDeletedRows) > 0;
  const { numDeletedRows } = wasUnread
    ? unread
    : await trx.deleteFrom('messages').where('id', '=', message.id).executeTakeFirst();
  // A concurrent delete of the same message won: the caller rolls back (the count included).
  if (Number(numDeletedRows) === 0) return false;
  if (wasUnread) await decrementUnread(trx, message.conversation_id, recipientUnread);
  const [latest] = await messagesBySeq(trx, message.conversation_id, {}, 'desc', 1);
  await trx
    .updateTable('conversations')
    .set({
      last_message: latest ? previewOf(latest) : null,
      last_message_time: latest ? latest.created_at : null,
    })
    .where('id', '=', message.conversation_id)
    .execute();
  await trx
    .insertInto('deleted_messages')
    .values({
      conversation_id: message.conversation_id,
      seq: message.seq,
      message_id: message.id,
      deleted_by: deletedBy,
      deleted_at: now,
    })
    .execute();
  return true;
}

/** A day in ms: the margin for clocks that disagree on when an upload's day began. */
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Whether a live message (or a user's avatar) still refers to an upload. Only
 * messages sent since the upload's day can, and ids are UUIDv7, so the scan is
 * the primary key's range from that day on, not the whole table; moderation
 * is rare, and this runs once per deleted image or file.
 */
export async function uploadInUse(db: Db, upload: IssuedUpload): Promise<boolean> {
  const [message, user] = await Promise.all([
    db
      .selectFrom('messages')
      .select('id')
      .where('id', '>=', uuidv7Floor(upload.uploadedFrom - DAY_MS))
      .where('message_type', '!=', 'text')
      .where('content', '=', upload.path)
      .limit(1)
      .executeTakeFirst(),
    db.selectFrom('users').select('id').where('avatar', '=', upload.path).limit(1).executeTakeFirst(),
  ]);
  return message !== undefined || user !== undefined;
}
