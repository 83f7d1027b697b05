import type { Kysely, SelectQueryBuilder, Transaction } from 'kysely';
import { type CappedCount, COUNT_CAP, cappedCount, pageIsReadable } from '../../db/capped-count.ts';
import { escapeLike, likeFolded } from '../../db/like.ts';
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
  /** The member it is assigned to, if any. */
  assignee: ParticipantRow | null;
}

type Person = 'u1' | 'u2' | 'ua';
/** The public columns of one joined person, aliased `<p>_<column>` (written out: Kysely types each alias). */
const profileColumns = <P extends Person>(p: P) =>
  [
    `${p}.id as ${p}_id`,
    `${p}.username as ${p}_username`,
    `${p}.role as ${p}_role`,
    `${p}.avatar as ${p}_avatar`,
    `${p}.description as ${p}_description`,
    `${p}.status as ${p}_status`,
    `${p}.created_at as ${p}_created_at`,
  ] as const;

/** Conversations with both participants' and the assignee's profiles joined: one round trip instead of three. */
function withParticipants(db: Db, userId: string | undefined) {
  return involving(db, userId)
    .leftJoin('users as u1', 'u1.id', 'conversations.participant1_id')
    .leftJoin('users as u2', 'u2.id', 'conversations.participant2_id')
    .leftJoin('users as ua', 'ua.id', 'conversations.assignee_id')
    .selectAll('conversations')
    .select([...profileColumns('u1'), ...profileColumns('u2'), ...profileColumns('ua')]);
}

type JoinedRow = Awaited<ReturnType<ReturnType<typeof withParticipants>['executeTakeFirstOrThrow']>>;

function splitJoined(row: JoinedRow): ConversationWithParticipants {
  const participant = (p: Person): ParticipantRow | null => {
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
    resolutions: row.resolutions,
    slow_alert_since: row.slow_alert_since,
    slow_alert_level: row.slow_alert_level,
  };
  return {
    conversation,
    participant1: participant('u1'),
    participant2: participant('u2'),
    assignee: participant('ua'),
  };
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
function ofViewer(db: Db, viewer: Viewer, filter: ConversationFilter, window: number) {
  const newestFirst = <Q extends SelectQueryBuilder<Database, 'conversations', { id: string; updated_at: number }>>(
    query: Q,
    name: string,
  ) =>
    db
      .selectFrom(filtered(query, filter).orderBy('updated_at', 'desc').orderBy('id', 'desc').limit(window).as(name))
      .selectAll();
  const base = () => db.selectFrom('conversations').select(['id', 'updated_at']);
  // participant1_id < participant2_id: one row never matches both branches.
  let branches = newestFirst(base().where('participant1_id', '=', viewer.id), 'as_first').unionAll(
    newestFirst(base().where('participant2_id', '=', viewer.id), 'as_second'),
  );
  // A member who is not the owner is no participant of the team's conversations: a third branch.
  const team = teamView(viewer);
  if (team) {
    let ofTeam = base().where('team_id', '=', team.teamId);
    const { agentId } = team;
    if (agentId !== undefined) {
      ofTeam = ofTeam.where((eb) => eb.or([eb('assignee_id', 'is', null), eb('assignee_id', '=', agentId)]));
    }
    branches = branches.unionAll(newestFirst(ofTeam, 'as_member'));
  }
  return db.selectFrom(branches.as('mine')).selectAll().orderBy('updated_at', 'desc').orderBy('id', 'desc');
}

/** The conversations of a page of ids, in the page's order, with their participants joined. */
async function joinedInOrder(db: Db, page: readonly { id: string }[]): Promise<ConversationWithParticipants[]> {
  if (page.length === 0) return [];
  const rows = await withParticipants(db, undefined)
    .where(
      'conversations.id',
      'in',
      page.map((row) => row.id),
    )
    .execute();
  const byId = new Map(rows.map((row) => [row.id, splitJoined(row)]));
  return page.flatMap((row) => byId.get(row.id) ?? []);
}

/**
 * Conversations with a participant named like `text`: username containing
 * it or id starting with it, case-folded (likeFolded). For a viewer, the other
 * participant's name: one branch per participant column, each through its own
 * index, then a primary-key probe of the other user; a team member who is not
 * its owner also searches the team's conversations they see (teamView) by
 * their customer's name. For everyone's (admins, `viewer` undefined), either
 * participant's: the two joins of every conversation with its users (a scan,
 * as the users list's `q` is). Newest activity first, counted up to COUNT_CAP.
 */
export async function listConversationsByName(
  db: Db,
  viewer: Viewer | undefined,
  text: string,
  limit: number,
  offset: number,
): Promise<CappedCount & { rows: ConversationWithParticipants[] }> {
  const pattern = escapeLike(text);
  const userId = viewer?.id;
  const named = <Q extends SelectQueryBuilder<Database, 'conversations' | 'users', object>>(query: Q) =>
    query
      .select(['conversations.id', 'conversations.updated_at'])
      .where((eb) => eb.or([likeFolded('users.id', `${pattern}%`), likeFolded('users.username', `%${pattern}%`)]));
  const branch = (column: 'participant1_id' | 'participant2_id') => {
    const other = column === 'participant1_id' ? 'participant2_id' : 'participant1_id';
    const query = named(
      db
        .selectFrom('conversations')
        .innerJoin('users', 'users.id', userId === undefined ? `conversations.${column}` : `conversations.${other}`),
    );
    return userId === undefined ? query : query.where(`conversations.${column}`, '=', userId);
  };
  let branches = branch('participant1_id').union(branch('participant2_id'));
  const team = viewer && teamView(viewer);
  if (team) {
    // The customer: the participant who is not the team's owner.
    let ofTeam = named(
      db
        .selectFrom('conversations')
        .innerJoin('users', (join) =>
          join
            .on((eb) =>
              eb.or([
                eb('users.id', '=', eb.ref('conversations.participant1_id')),
                eb('users.id', '=', eb.ref('conversations.participant2_id')),
              ]),
            )
            .onRef('users.id', '!=', 'conversations.team_id'),
        ),
    ).where('conversations.team_id', '=', team.teamId);
    const { agentId } = team;
    if (agentId !== undefined) {
      ofTeam = ofTeam.where((eb) =>
        eb.or([eb('conversations.assignee_id', 'is', null), eb('conversations.assignee_id', '=', agentId)]),
      );
    }
    branches = branches.union(ofTeam);
  }
  // UNION, not UNION ALL: an admin's match on both participants is one conversation.
  const matches = () => db.selectFrom(branches.as('named'));
  const counted = await cappedCount(db, (n) => matches().select('named.id').limit(n));
  if (!pageIsReadable(counted, offset)) return { ...counted, rows: [] };
  const page = await matches()
    .select('named.id')
    .orderBy('named.updated_at', 'desc')
    .orderBy('named.id', 'desc')
    .limit(limit)
    .offset(offset)
    .execute();
  return { ...counted, rows: await joinedInOrder(db, page) };
}

/** GET /api/conversations/ filters (issue 13): status, assignee (`none`: the queue), answering team. */
export interface ConversationFilter {
  status?: ConversationRow['status'];
  assignee?: { kind: 'none' } | { kind: 'id'; id: string };
  teamId?: string;
}

function filtered<Q extends SelectQueryBuilder<Database, 'conversations', any>>(
  query: Q,
  filter: ConversationFilter,
): Q {
  let q = query;
  if (filter.status !== undefined) q = q.where('conversations.status', '=', filter.status) as Q;
  if (filter.teamId !== undefined) q = q.where('conversations.team_id', '=', filter.teamId) as Q;
  const { assignee } = filter;
  if (assignee?.kind === 'none') q = q.where('conversations.assignee_id', 'is', null) as Q;
  if (assignee?.kind === 'id') q = q.where('conversations.assignee_id', '=', assignee.id) as Q;
  return q;
}

/**
 * Newest activity first: everyone's (`viewer` undefined: admins), or the conversations the
 * viewer sees (theirs; for a team member, the team's they see). Counted up to COUNT_CAP.
 */
export async function listConversations(
  db: Db,
  viewer: Viewer | undefined,
  filter: ConversationFilter,
  limit: number,
  offset: number,
): Promise<CappedCount & { rows: ConversationWithParticipants[] }> {
  if (viewer !== undefined) {
    const counted = await cappedCount(db, (n) => ofViewer(db, viewer, filter, n).limit(n));
    if (!pageIsReadable(counted, offset)) return { ...counted, rows: [] };
    const page = await ofViewer(db, viewer, filter, offset + limit)
      .limit(limit)
      .offset(offset)
      .execute();
    return { ...counted, rows: await joinedInOrder(db, page) };
  }
  const matches = (n: number) => filtered(db.selectFrom('conversations').select('id'), filter).limit(n);
  const capped = (n: number) =>
    db.selectFrom(matches(n).as('capped')).select((eb) => eb.fn.countAll<number>().as('count'));
  // Everyone's (admins): the (capped) total rides on every row as an uncorrelated subquery (evaluated
  // once), so a page is one round trip; only a page past the end asks for the count alone.
  const rows = await filtered(withParticipants(db, undefined), filter)
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

/** Who looks at conversations: a team member sees more than their own (access.policy.ts, conversation.view). */
export type Viewer = Pick<UserRow, 'id' | 'team_id' | 'team_role'>;

/**
 * The team conversations a member who is not its owner sees beyond their own: all of the team's
 * for supervisors, those assigned to them or to nobody for agents. Undefined for everyone else
 * (an owner is a participant of all of them).
 */
export function teamView(viewer: Viewer): { teamId: string; agentId?: string } | undefined {
  if (!viewer.team_id || viewer.team_role === 'owner' || !viewer.team_role) return undefined;
  return viewer.team_role === 'agent' ? { teamId: viewer.team_id, agentId: viewer.id } : { teamId: viewer.team_id };
}

/** Ids of every conversation the viewer sees (admins aside): theirs, and for team members the team's they see. */
export function visibleConversationIds(db: Db, viewer: Viewer) {
  const own = conversationIdsOf(db, viewer.id);
  const team = teamView(viewer);
  if (!team) return own;
  let ofTeam = db.selectFrom('conversations').select('id').where('team_id', '=', team.teamId);
  const { agentId } = team;
  if (agentId !== undefined) {
    ofTeam = ofTeam.where((eb) => eb.or([eb('assignee_id', 'is', null), eb('assignee_id', '=', agentId)]));
  }
  return own.unionAll(ofTeam);
}

export async function zeroUnread(db: Db, conversation: ConversationRow, userId: string): Promise<void> {
  const column = conversation.participant1_id === userId ? 'participant1_unread' : 'participant2_unread';
  await db
    .updateTable('conversations')
    .set({ [column]: 0 })
    .where('id', '=', conversation.id)
    .execute();
}
