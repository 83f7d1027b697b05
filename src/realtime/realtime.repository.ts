import type { Kysely } from 'kysely';
import type { Database, MessageRow } from '../db/types.ts';
import { uuidv7Floor } from '../lib/ids.ts';

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
