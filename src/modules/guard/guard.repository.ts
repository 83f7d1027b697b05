import { type Kysely, sql, type Transaction } from 'kysely';
import { isMysql } from '../../db/dialect.ts';
import type { Database, GuardSettingsTable, HeldMessageRow, HeldMessageStatus } from '../../db/types.ts';
import { uuidv7 } from '../../lib/ids.ts';
import type { ScreenVerdict } from '../messages/content-screen.ts';

type Db = Kysely<Database> | Transaction<Database>;

/** The settings live in one row. */
const SETTINGS_ID = 1;

export function loadSettings(db: Db): Promise<GuardSettingsTable | undefined> {
  return db.selectFrom('guard_settings').selectAll().where('id', '=', SETTINGS_ID).executeTakeFirst();
}

export async function saveSettings(db: Kysely<Database>, settings: Omit<GuardSettingsTable, 'id'>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('guard_settings').where('id', '=', SETTINGS_ID).execute();
    await trx
      .insertInto('guard_settings')
      .values({ id: SETTINGS_ID, ...settings })
      .execute();
  });
}

/** One row per finding of a message; `messageId` null when it was blocked. */
export async function insertDecisions(
  db: Db,
  message: { id: string | null; conversationId: string; senderId: string },
  verdict: ScreenVerdict,
  now: number,
): Promise<void> {
  await db
    .insertInto('guard_decisions')
    .values(
      verdict.findings.map((finding) => ({
        id: uuidv7(),
        message_id: message.id,
        conversation_id: message.conversationId,
        sender_id: message.senderId,
        sender_role: verdict.role,
        label: finding.label,
        action: finding.action,
        excerpt: finding.excerpt,
        reviewed_by: null,
        review: null,
        created_at: now,
      })),
    )
    .execute();
}

/** One strike more for the user (the row is created at the first). */
export async function addStrike(db: Db, userId: string, now: number): Promise<void> {
  const insert = db.insertInto('guard_strikes').values({ user_id: userId, strikes: 1, updated_at: now });
  const bump = { strikes: sql<number>`strikes + 1`, updated_at: now };
  await (isMysql(db)
    ? insert.onDuplicateKeyUpdate(bump)
    : insert.onConflict((conflict) => conflict.column('user_id').doUpdateSet(bump))
  ).execute();
}

export async function strikesOf(db: Db, userIds: readonly string[]): Promise<Map<string, number>> {
  if (userIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('guard_strikes')
    .select(['user_id', 'strikes'])
    .where('user_id', 'in', [...new Set(userIds)])
    .execute();
  return new Map(rows.map((row) => [row.user_id, Number(row.strikes)]));
}

/** Decisions newest first (ids are UUIDv7), one sender's or everyone's, before a cursor. */
export function listDecisions(
  db: Db,
  filter: { senderId?: string | undefined; beforeId?: string | undefined },
  limit: number,
) {
  let query = db.selectFrom('guard_decisions').selectAll();
  if (filter.senderId !== undefined) query = query.where('sender_id', '=', filter.senderId);
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
  return query.orderBy('id', 'desc').limit(limit).execute();
}

export async function insertHeld(db: Db, row: HeldMessageRow): Promise<void> {
  await db.insertInto('guard_held_messages').values(row).execute();
}

export function findHeld(db: Db, id: string): Promise<HeldMessageRow | undefined> {
  return db.selectFrom('guard_held_messages').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The sender's held message of this client_msg_id in this conversation (a retry's original). */
export function findHeldByClientMsgId(
  db: Db,
  match: { senderId: string; conversationId: string; clientMsgId: string },
): Promise<HeldMessageRow | undefined> {
  return db
    .selectFrom('guard_held_messages')
    .selectAll()
    .where('conversation_id', '=', match.conversationId)
    .where('sender_id', '=', match.senderId)
    .where('client_msg_id', '=', match.clientMsgId)
    .executeTakeFirst();
}

/** The sender's message held with this content in this conversation since `since`, newest first. */
export function findRecentHeld(
  db: Db,
  match: { senderId: string; conversationId: string; content: string; since: number },
): Promise<HeldMessageRow | undefined> {
  return db
    .selectFrom('guard_held_messages')
    .selectAll()
    .where('sender_id', '=', match.senderId)
    .where('created_at', '>=', match.since)
    .where('conversation_id', '=', match.conversationId)
    .where('content', '=', match.content)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** The queue: pending messages, oldest first, and how many wait. */
export async function pendingHeld(db: Db, limit: number): Promise<{ count: number; rows: HeldMessageRow[] }> {
  const [rows, counted] = await Promise.all([
    db
      .selectFrom('guard_held_messages')
      .selectAll()
      .where('status', '=', 'pending')
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .execute(),
    db
      .selectFrom('guard_held_messages')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('status', '=', 'pending')
      .executeTakeFirstOrThrow(),
  ]);
  return { count: Number(counted.count), rows };
}

/**
 * Moves a pending message to `status`, recording the review on the message
 * and on its decisions; false, with nothing changed, when it is not pending
 * (a concurrent review took it).
 */
export async function settleHeld(
  db: Db,
  id: string,
  status: Exclude<HeldMessageStatus, 'pending'>,
  reviewerId: string,
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable('guard_held_messages')
    .set({ status, reviewed_by: reviewerId, reviewed_at: now })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) return false;
  await db
    .updateTable('guard_decisions')
    .set({ reviewed_by: reviewerId, review: status })
    .where('message_id', '=', id)
    .execute();
  return true;
}
