import type { ExpressionBuilder, Kysely } from 'kysely';
import type { Database, UserRow } from '../../db/types.ts';
import { canBeCustomer, customerOf, rolesServing } from './presence-rule.ts';

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

/**
 * The people who share presence with `user`: the other participant of each of
 * their conversations in which the customer side took part, by starting it or
 * by writing in it. A merchant or an agent who opens a conversation with a
 * buyer learns nothing of the buyer's presence until the buyer writes.
 *
 * Two index lookups (the pair key leads with participant1_id, and
 * conversations_p2_updated_index with participant2_id) joined by UNION; the
 * other participant's role by primary key; "has the customer written" is one
 * probe of the (conversation_id, sender_id, client_msg_id) key, so it costs the
 * same however many messages the other side sent.
 */
export async function contactsOf(
  db: Db,
  user: Pick<UserRow, 'id' | 'role'> & Partial<Pick<UserRow, 'team_id' | 'team_role'>>,
): Promise<string[]> {
  const serving = rolesServing(user.role);
  const side = ({ mine, theirs }: Side) =>
    db
      .selectFrom('conversations as c')
      .innerJoin('users as o', 'o.id', theirs)
      .select(`${theirs} as id`)
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
  return [...new Set([...rows.map((row) => row.id), ...(await teamContactsOf(db, user))])];
}

/**
 * Presence along the team lines (issue 13): a member who is not the owner
 * shares it with the customers of the conversations they hold, and a
 * customer with the members holding theirs. (The owner is a participant: the
 * rule above covers it.) Only open and pending conversations count.
 */
async function teamContactsOf(
  db: Db,
  user: Pick<UserRow, 'id' | 'role'> & Partial<Pick<UserRow, 'team_id' | 'team_role'>>,
) {
  if (user.team_id && user.team_role && user.team_role !== 'owner') {
    const held = await db
      .selectFrom('conversations')
      .select(['participant1_id', 'participant2_id', 'team_id'])
      .where('assignee_id', '=', user.id)
      .where('status', '!=', 'resolved')
      .execute();
    return held.map((c) => (c.participant1_id === c.team_id ? c.participant2_id : c.participant1_id));
  }
  if (!canBeCustomer(user.role)) return [];
  const holders = (column: 'participant1_id' | 'participant2_id') =>
    db
      .selectFrom('conversations')
      .select('assignee_id')
      .where(column, '=', user.id)
      .where('assignee_id', 'is not', null)
      .where('status', '!=', 'resolved')
      .where('team_id', '!=', user.id);
  const rows = await holders('participant1_id').unionAll(holders('participant2_id')).execute();
  return rows.flatMap((row) => (row.assignee_id === null ? [] : [row.assignee_id]));
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
    contactsOf: (user: Pick<UserRow, 'id' | 'role'> & Partial<Pick<UserRow, 'team_id' | 'team_role'>>) =>
      contactsOf(db, user),
    presenceSharing: (conversationId: string, messageId: string) => presenceSharing(db, conversationId, messageId),
  };
}
