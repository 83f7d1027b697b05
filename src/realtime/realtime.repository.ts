import type { ExpressionBuilder, Kysely } from 'kysely';
import type { Database, MessageRow, UserRow } from '../db/types.ts';

/**
 * Roles from the customer side outwards: in a conversation, the participant
 * whose role comes first is the customer (a buyer with a merchant or a service
 * agent; a merchant with a service agent).
 */
const CUSTOMER_FIRST: readonly UserRow['role'][] = ['buyer', 'merchant', 'service'];

/** The roles a user of `role` is the customer of. */
function rolesServing(role: UserRow['role']): UserRow['role'][] {
  const rank = CUSTOMER_FIRST.indexOf(role);
  return rank < 0 ? [] : CUSTOMER_FIRST.slice(rank + 1);
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
export async function contactsOf(db: Kysely<Database>, user: Pick<UserRow, 'id' | 'role'>): Promise<string[]> {
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
  return rows.map((row) => row.id);
}

/** The smallest UUIDv7 of a millisecond: message ids sort by creation time, so this bounds a recent range. */
export function uuidv7Floor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

/**
 * The reference client POSTs a message and then sends the same text as a WS
 * frame without client_msg_id: the message that sender stored in the last
 * seconds since `since` with the same conversation, type and content, if
 * any. The id bound turns this into a short range scan of the sender's
 * newest messages (messages_sender_index is (sender_id, id), ids are UUIDv7).
 */
export function findRecentDuplicate(
  db: Kysely<Database>,
  match: {
    conversationId: string;
    senderId: string;
    messageType: MessageRow['message_type'];
    content: string;
    since: number;
  },
): Promise<MessageRow | undefined> {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', '=', match.conversationId)
    .where('sender_id', '=', match.senderId)
    .where('id', '>=', uuidv7Floor(match.since * 1000))
    .where('message_type', '=', match.messageType)
    .where('content', '=', match.content)
    .where('created_at', '>=', match.since)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
}
