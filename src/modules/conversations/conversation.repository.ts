import type { Kysely, Transaction } from 'kysely';
import { type CappedCount, COUNT_CAP, cappedCount, pageIsReadable } from '../../db/capped-count.ts';
import type { ConversationRow, Database, UserRow } from '../../db/types.ts';

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
  row: {
    id: string;
    participant1_id: string;
    participant2_id: string;
    /** Left out: nobody started it as far as presence goes (the customer must write first). */
    started_by?: string;
    /** The served participant, whose team answers; left out: none (a test's bare pair). */
    team_id?: string;
    created_at: number;
    updated_at: number;
  },
): Promise<void> {
  await db.insertInto('conversations').values(row).execute();
}

function involving(db: Db, userId: string | undefined) {
  const query = db.selectFrom('conversations');
  return userId === undefined
    ? query
    : query.where((eb) => eb.or([eb('participant1_id', '=', userId), eb('participant2_id', '=', userId)]));
}

/** The public columns of a participant, read with the conversation in one query. */
export type ParticipantRow = Pick<
  UserRow,
  'id' | 'username' | 'role' | 'avatar' | 'description' | 'status' | 'created_at'
>;

export interface ConversationWithParticipants {
  conversation: ConversationRow;
  participant1: ParticipantRow | null;
  participant2: ParticipantRow | null;
}

/** Conversations with both participants' profiles joined: one round trip instead of two. */
function withParticipants(db: Db, userId: string | undefined) {
  return involving(db, userId)
    .leftJoin('users as u1', 'u1.id', 'conversations.participant1_id')
    .leftJoin('users as u2', 'u2.id', 'conversations.participant2_id')
    .selectAll('conversations')
    .select([
      'u1.id as u1_id',
      'u1.username as u1_username',
      'u1.role as u1_role',
      'u1.avatar as u1_avatar',
      'u1.description as u1_description',
      'u1.status as u1_status',
      'u1.created_at as u1_created_at',
      'u2.id as u2_id',
      'u2.username as u2_username',
      'u2.role as u2_role',
      'u2.avatar as u2_avatar',
      'u2.description as u2_description',
      'u2.status as u2_status',
      'u2.created_at as u2_created_at',
    ]);
}

type JoinedRow = Awaited<ReturnType<ReturnType<typeof withParticipants>['executeTakeFirstOrThrow']>>;

function splitJoined(row: JoinedRow): ConversationWithParticipants {
  const participant = (p: 'u1' | 'u2'): ParticipantRow | null => {
    const [id, username, role, status, createdAt] = [
      row[`${p}_id`],
      row[`${p}_username`],
      row[`${p}_role`],
      row[`${p}_status`],
      row[`${p}_created_at`],
    ];
    if (id === null || username === null || role === null || status === null || createdAt === null) return null;
    const [avatar, description] = [row[`${p}_avatar`], row[`${p}_description`]];
    return { id, username, role, avatar, description, status, created_at: createdAt };
  };
  const conversation: ConversationRow = {
    id: row.id,
    participant1_id: row.participant1_id,
    participant2_id: row.participant2_id,
    participant1_unread: row.participant1_unread,
    participant2_unread: row.participant2_unread,
    last_message: row.last_message,
    last_message_time: row.last_message_time,
    last_seq: row.last_seq,
    message_count: row.message_count,
    created_at: row.created_at,
    updated_at: row.updated_at,
    started_by: row.started_by,
    team_id: row.team_id,
    assignee_id: row.assignee_id,
    previous_assignee_id: row.previous_assignee_id,
    status: row.status,
    assigned_at: row.assigned_at,
    resolved_at: row.resolved_at,
    awaiting_reply_since: row.awaiting_reply_since,
    linked_conversation_id: row.linked_conversation_id,
  };
  return { conversation, participant1: participant('u1'), participant2: participant('u2') };
}

export async function findConversationWithParticipants(
  db: Db,
  id: string,
): Promise<ConversationWithParticipants | undefined> {
  const row = await withParticipants(db, undefined).where('conversations.id', '=', id).executeTakeFirst();
  return row ? splitJoined(row) : undefined;
}

/**
 * One participant's conversations, `id` and `updated_at`, newest activity
 * first: one branch per participant column, each walking its own
 * (participantN_id, updated_at) index and stopping at `window`; an OR over the
 * two columns makes MariaDB scan the whole table and sort it.
 */
function ofParticipant(db: Db, userId: string, window: number) {
  const branch = (column: 'participant1_id' | 'participant2_id') =>
    db
      .selectFrom(
        db
          .selectFrom('conversations')
          .select(['id', 'updated_at'])
          .where(column, '=', userId)
          .orderBy('updated_at', 'desc')
          .orderBy('id', 'desc')
          .limit(window)
          .as(column === 'participant1_id' ? 'as_first' : 'as_second'),
      )
      .selectAll();
  // participant1_id < participant2_id: one row never matches both branches.
  return db
    .selectFrom(branch('participant1_id').unionAll(branch('participant2_id')).as('mine'))
    .selectAll()
    .orderBy('updated_at', 'desc')
    .orderBy('id', 'desc');
}

/** Newest activity first; `userId` narrows to one participant's conversations. Counted up to COUNT_CAP. */
export async function listConversations(
  db: Db,
  userId: string | undefined,
  limit: number,
  offset: number,
): Promise<CappedCount & { rows: ConversationWithParticipants[] }> {
  if (userId !== undefined) {
    const counted = await cappedCount(db, (n) => ofParticipant(db, userId, n).limit(n));
    if (!pageIsReadable(counted, offset)) return { ...counted, rows: [] };
    const page = await ofParticipant(db, userId, offset + limit)
      .limit(limit)
      .offset(offset)
      .execute();
    if (page.length === 0) return { ...counted, rows: [] };
    const rows = await withParticipants(db, undefined)
      .where(
        'conversations.id',
        'in',
        page.map((row) => row.id),
      )
      .execute();
    const byId = new Map(rows.map((row) => [row.id, splitJoined(row)]));
    return { ...counted, rows: page.flatMap((row) => byId.get(row.id) ?? []) };
  }
  const matches = (n: number) => db.selectFrom('conversations').select('id').limit(n);
  const capped = (n: number) =>
    db.selectFrom(matches(n).as('capped')).select((eb) => eb.fn.countAll<number>().as('count'));
  // Everyone's (admins): the (capped) total rides on every row as an uncorrelated subquery (evaluated
  // once), so a page is one round trip; only a page past the end asks for the count alone.
  const rows = await withParticipants(db, undefined)
    .select(capped(COUNT_CAP + 1).as('total_count'))
    .orderBy('conversations.updated_at', 'desc')
    .orderBy('conversations.id', 'desc')
    .limit(limit)
    .offset(Math.min(offset, COUNT_CAP))
    .execute();
  const first = rows[0];
  const counted = first
    ? { count: Math.min(Number(first.total_count), COUNT_CAP), exact: Number(first.total_count) <= COUNT_CAP }
    : await cappedCount(db, matches);
  if (!pageIsReadable(counted, offset)) return { ...counted, rows: [] };
  return { ...counted, rows: rows.map(splitJoined) };
}

/** Ids of every conversation the user takes part in: each participant column through its own index. */
export function conversationIdsOf(db: Db, userId: string) {
  const of = (column: 'participant1_id' | 'participant2_id') =>
    db.selectFrom('conversations').select('id').where(column, '=', userId);
  return of('participant1_id').unionAll(of('participant2_id'));
}

export async function zeroUnread(db: Db, conversation: ConversationRow, userId: string): Promise<void> {
  const column = conversation.participant1_id === userId ? 'participant1_unread' : 'participant2_unread';
  await db
    .updateTable('conversations')
    .set({ [column]: 0 })
    .where('id', '=', conversation.id)
    .execute();
}
