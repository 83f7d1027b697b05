import type { ExpressionBuilder, Kysely } from 'kysely';
import type { Database, UserRow } from '../../db/types.ts';
import { customerOf, rolesServing } from './presence-rule.ts';
import { teamRecipients } from './team-lines.ts';

/** The queries behind the access rules (access.policy.ts): facts about who relates to whom. */

type Db = Kysely<Database>;

/** True when the two users are the participants of one conversation. */
export async function shareConversation(db: Db, a: string, b: string): Promise<boolean> {
  const [p1, p2] = a < b ? [a, b] : [b, a];
  const row = await db
    .selectFrom('conversations')
    .select('id')
    .where('participant1_id', '=', p1)
    .where('participant2_id', '=', p2)
    .executeTakeFirst();
  return row !== undefined;
}

type Side =
  | { mine: 'c.participant1_id'; theirs: 'c.participant2_id' }
  | { mine: 'c.participant2_id'; theirs: 'c.participant1_id' };
type ContactScope = ExpressionBuilder<Database & { c: Database['conversations']; o: Database['users'] }, 'c' | 'o'>;

/** Who a user's presence reaches and whose presence the user sees (docs/REALTIME.md, "Presence", "Teams"). */
export interface PresenceLines {
  /** Both ways: they see this user's status, this user sees theirs. */
  mutual: string[];
  /** One way: a member sees these customers' status (the conversations the team's lines show them), not vice versa. */
  watched: string[];
  /**
   * One way: this customer's open or pending team conversations; their status reaches each one's team
   * side as the customer's messages do (teamRecipients with the queue), which realtime reads from its roster.
   */
  teamSides: { teamId: string; assigneeId: string | null }[];
}

type PresenceUser = Pick<UserRow, 'id' | 'role'> & Partial<Pick<UserRow, 'team_id' | 'team_role'>>;

/** A member's presence lines reach this many of their team's conversations at most (a supervisor of a big shop). */
export const WATCHED_CONVERSATIONS_LIMIT = 2000;

/**
 * The people who share presence with `user` both ways: the other participant
 * of each of their conversations in which the customer side took part, by
 * starting it or by writing in it, and the team lines' holder and customer.
 */
export async function contactsOf(db: Db, user: PresenceUser): Promise<string[]> {
  return (await presenceLinesOf(db, user)).mutual;
}

/**
 * Presence along the participants' rule and the team's lines. The participants:
 * the other participant of each of the user's conversations in which the
 * customer side took part, by starting it or by writing in it. A merchant or an
 * agent who opens a conversation with a buyer learns nothing of the buyer's
 * presence until the buyer writes. Those conversations, when another's team
 * answers them and they are not resolved, are the user's `teamSides`.
 *
 * Two index lookups (the pair key leads with participant1_id, and
 * conversations_p2_updated_index with participant2_id) joined by UNION; the
 * other participant's role by primary key; "has the customer written" is one
 * probe of the (conversation_id, sender_id, client_msg_id) key, so it costs the
 * same however many messages the other side sent. A team member (not the
 * owner) adds one query: their team's conversations by the team's lines.
 */
export async function presenceLinesOf(db: Db, user: PresenceUser): Promise<PresenceLines> {
  const serving = rolesServing(user.role);
  const side = ({ mine, theirs }: Side) =>
    db
      .selectFrom('conversations as c')
      .innerJoin('users as o', 'o.id', theirs)
      .select([`${theirs} as id`, 'c.team_id', 'c.assignee_id', 'c.status'])
      .where(mine, '=', user.id)
      .where((eb: ContactScope) => {
        const messagesHere = () =>
          eb.selectFrom('messages as m').select('m.id').whereRef('m.conversation_id', '=', 'c.id');
        // The other participant is the customer: they started it or wrote.
        const theyTookPart = eb.or([
          eb('c.started_by', '=', eb.ref(theirs)),
          eb.exists(messagesHere().whereRef('m.sender_id', '=', theirs)),
        ]);
        if (serving.length === 0) return theyTookPart;
        // This user is the customer: they started it or wrote.
        const iTookPart = eb.or([
          eb('c.started_by', '=', user.id),
          eb.exists(messagesHere().where('m.sender_id', '=', user.id)),
        ]);
        return eb.or([
          eb.and([eb('o.role', 'in', serving), iTookPart]),
          eb.and([eb('o.role', 'not in', serving), theyTookPart]),
        ]);
      });
  const rows = await side({ mine: 'c.participant1_id', theirs: 'c.participant2_id' })
    .union(side({ mine: 'c.participant2_id', theirs: 'c.participant1_id' }))
    .execute();
  const mutual = new Set(rows.map((row) => row.id));
  const teamSides: PresenceLines['teamSides'] = [];
  for (const row of rows) {
    // The other participant's team answers it: this user is its customer (the rule above made it shared).
    if (row.team_id === null || row.team_id !== row.id || row.status === 'resolved') continue;
    teamSides.push({ teamId: row.team_id, assigneeId: row.assignee_id });
    // Its holder and its customer see each other.
    if (row.assignee_id !== null) mutual.add(row.assignee_id);
  }
  const watched = new Set<string>();
  if (user.team_id && user.team_role && user.team_role !== 'owner') {
    const member = { id: user.id, role: user.team_role };
    for (const line of await memberLinesOf(db, user.team_id, member)) {
      // The customer writes to the team: the member hears it by the team's lines, so sees their presence.
      if (!teamRecipients(user.team_id, { members: [member], assigneeId: line.assigneeId }, true).includes(user.id)) {
        continue;
      }
      if (line.assigneeId === user.id) mutual.add(line.customerId);
      else watched.add(line.customerId);
    }
  }
  mutual.delete(user.id);
  for (const id of mutual) watched.delete(id);
  return { mutual: [...mutual], watched: [...watched], teamSides };
}

/**
 * A member's team conversations, open or pending, in which the customer took part (started it or
 * wrote): every one for a supervisor, the held and the queued ones for an agent; their customer.
 */
async function memberLinesOf(
  db: Db,
  teamId: string,
  member: { id: string; role: 'supervisor' | 'agent' },
): Promise<{ customerId: string; assigneeId: string | null }[]> {
  const rows = await db
    .selectFrom('conversations as c')
    .select(['c.participant1_id', 'c.participant2_id', 'c.assignee_id'])
    .where('c.team_id', '=', teamId)
    .where('c.status', '!=', 'resolved')
    .$if(member.role === 'agent', (query) =>
      query.where((eb) => eb.or([eb('c.assignee_id', '=', member.id), eb('c.assignee_id', 'is', null)])),
    )
    .where((eb) => {
      const customer = eb
        .case()
        .when('c.participant1_id', '=', teamId)
        .then(eb.ref('c.participant2_id'))
        .else(eb.ref('c.participant1_id'))
        .end();
      return eb.or([
        eb('c.started_by', '=', customer),
        eb.exists(
          eb
            .selectFrom('messages as m')
            .select('m.id')
            .whereRef('m.conversation_id', '=', 'c.id')
            .where('m.sender_id', '=', customer),
        ),
      ]);
    })
    .orderBy('c.updated_at', 'desc')
    .limit(WATCHED_CONVERSATIONS_LIMIT)
    .execute();
  return rows.map((row) => ({
    customerId: row.participant1_id === teamId ? row.participant2_id : row.participant1_id,
    assigneeId: row.assignee_id,
  }));
}

export type PresenceSharing = 'not_shared' | 'shared_before' | 'shared_by_this_message';

/**
 * Whether a conversation shares presence, and whether `messageId` is what
 * made it so (the customer's first message in a conversation they did not
 * start), with who the customer is. Undefined when it or a participant is gone.
 */
export async function presenceSharing(
  db: Db,
  conversationId: string,
  messageId: string,
): Promise<{ customerId: string; state: PresenceSharing } | undefined> {
  const row = await db
    .selectFrom('conversations as c')
    .innerJoin('users as u1', 'u1.id', 'c.participant1_id')
    .innerJoin('users as u2', 'u2.id', 'c.participant2_id')
    .select(['c.started_by', 'u1.id as id1', 'u1.role as role1', 'u2.id as id2', 'u2.role as role2'])
    .where('c.id', '=', conversationId)
    .executeTakeFirst();
  if (!row) return undefined;
  const customerId = customerOf({ id: row.id1, role: row.role1 }, { id: row.id2, role: row.role2 }).id;
  if (row.started_by === customerId) return { customerId, state: 'shared_before' };
  // Two at most, through the (conversation_id, sender_id, client_msg_id) key.
  const written = await db
    .selectFrom('messages')
    .select('id')
    .where('conversation_id', '=', conversationId)
    .where('sender_id', '=', customerId)
    .limit(2)
    .execute();
  if (written.some((message) => message.id !== messageId)) return { customerId, state: 'shared_before' };
  return { customerId, state: written.length > 0 ? 'shared_by_this_message' : 'not_shared' };
}

/** The presence queries bound to a database, as realtime takes them (RealtimeOptions). */
export function presenceQueries(db: Db) {
  return {
    contactsOf: (user: PresenceUser) => presenceLinesOf(db, user),
    presenceSharing: (conversationId: string, messageId: string) => presenceSharing(db, conversationId, messageId),
  };
}
