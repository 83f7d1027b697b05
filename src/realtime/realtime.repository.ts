import type { ExpressionBuilder, Kysely } from 'kysely';
import type { Database, MessageRow, UserRow } from '../db/types.ts';
import { uuidv7Floor } from '../lib/ids.ts';
import { customerOf, rolesServing } from './presence-rule.ts';

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

export type PresenceSharing = 'not_shared' | 'shared_before' | 'shared_by_this_message';

/**
 * Whether a conversation shares presence, and whether `messageId` is what
 * made it so (the customer's first message in a conversation they did not
 * start), with who the customer is. Undefined when it or a participant is gone.
 */
export async function presenceSharing(
  db: Kysely<Database>,
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

/** How many same-looking recent messages are read to find a byte-for-byte equal one. */
const DUPLICATE_CANDIDATES = 20;

/**
 * The reference client POSTs a message and then sends the same text as a WS
 * frame without client_msg_id: the message that sender stored in the last
 * seconds since `since` with the same conversation, type, content and file
 * name, if any. Only a byte-for-byte equal message counts: the database may
 * compare more loosely (MySQL 5.7 has no NO PAD collation, so "pay 100" would
 * equal "pay 100   " there), so the candidates it finds are checked here. The
 * id bound turns this into a short range scan of the sender's newest messages
 * (messages_sender_type_index is (sender_id, message_type, id), ids are UUIDv7).
 */
export async function findRecentDuplicate(
  db: Kysely<Database>,
  match: {
    conversationId: string;
    senderId: string;
    messageType: MessageRow['message_type'];
    content: string;
    filename: string | null;
    since: number;
  },
): Promise<MessageRow | undefined> {
  const candidates = await db
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', '=', match.conversationId)
    .where('sender_id', '=', match.senderId)
    .where('id', '>=', uuidv7Floor(match.since * 1000))
    .where('message_type', '=', match.messageType)
    .where('content', '=', match.content)
    .where('created_at', '>=', match.since)
    .orderBy('seq', 'desc')
    .limit(DUPLICATE_CANDIDATES)
    .execute();
  return candidates.find((row) => row.content === match.content && row.filename === match.filename);
}
