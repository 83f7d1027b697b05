import type { Kysely, Transaction } from 'kysely';
import { isMysql } from '../../db/dialect.ts';
import type { Database } from '../../db/types.ts';
import { canonicalJson, chainHash, genesisHash, type Json } from '../../lib/transcript-chain.ts';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Extends a conversation's chain with an entry that is not a message (a
 * recall, a moderation delete), in the transaction that makes the change:
 * under the conversation's row lock (taken here if the caller has not yet),
 * after its last_seq, numbered after the events already there. Rare, so a few
 * statements; the send path never runs this.
 */
export async function appendEvent(
  trx: Transaction<Database>,
  conversationId: string,
  entry: { kind: string } & { [key: string]: Json },
  now: number,
): Promise<void> {
  const read = trx.selectFrom('conversations').select(['last_seq', 'chain_head']).where('id', '=', conversationId);
  const conversation = await (isMysql(trx) ? read.forUpdate() : read).executeTakeFirst();
  if (!conversation) return;
  const afterSeq = Number(conversation.last_seq);
  const last = await trx
    .selectFrom('transcript_events')
    .select((eb) => eb.fn.max('ordinal').as('ordinal'))
    .where('conversation_id', '=', conversationId)
    .where('after_seq', '=', afterSeq)
    .executeTakeFirst();
  const body = canonicalJson(entry);
  const hash = chainHash(conversation.chain_head ?? genesisHash(conversationId), body);
  await trx
    .insertInto('transcript_events')
    .values({
      conversation_id: conversationId,
      after_seq: afterSeq,
      ordinal: Number(last?.ordinal ?? 0) + 1,
      kind: entry.kind,
      body,
      hash,
      created_at: now,
    })
    .execute();
  await trx.updateTable('conversations').set({ chain_head: hash }).where('id', '=', conversationId).execute();
}

/** When a message was recalled (in the recall's transaction, just after). */
export async function recalledAt(trx: Transaction<Database>, messageId: string): Promise<number> {
  const row = await trx
    .selectFrom('messages')
    .select('recalled_at')
    .where('id', '=', messageId)
    .executeTakeFirstOrThrow();
  return Number(row.recalled_at);
}

/** Who deleted a message and when (in the delete's transaction, just after). */
export async function deletion(
  trx: Transaction<Database>,
  message: { conversation_id: string; seq: number },
): Promise<{ by: string; at: number }> {
  const row = await trx
    .selectFrom('deleted_messages')
    .select(['deleted_by', 'deleted_at'])
    .where('conversation_id', '=', message.conversation_id)
    .where('seq', '=', message.seq)
    .executeTakeFirstOrThrow();
  return { by: row.deleted_by, at: Number(row.deleted_at) };
}

/** Everything a conversation's transcript is made of, read in one transaction (one snapshot). */
export function readChain(db: Kysely<Database>, conversationId: string) {
  return db.transaction().execute(async (trx) => {
    const conversation = await trx
      .selectFrom('conversations')
      .select(['chain_head'])
      .where('id', '=', conversationId)
      .executeTakeFirst();
    const messages = await trx
      .selectFrom('messages')
      .select([
        'id',
        'seq',
        'sender_id',
        'message_type',
        'content',
        'filename',
        'client_msg_id',
        'created_at',
        'recalled_at',
        'chain_hash',
      ])
      .where('conversation_id', '=', conversationId)
      .orderBy('seq')
      .execute();
    const deleted = await trx
      .selectFrom('deleted_messages')
      .select(['seq', 'chain_hash'])
      .where('conversation_id', '=', conversationId)
      .orderBy('seq')
      .execute();
    const events = await trx
      .selectFrom('transcript_events')
      .select(['after_seq', 'body', 'hash'])
      .where('conversation_id', '=', conversationId)
      .orderBy('after_seq')
      .orderBy('ordinal')
      .execute();
    return { head: conversation?.chain_head ?? null, messages, deleted, events };
  });
}

export type StoredChain = Awaited<ReturnType<typeof readChain>>;

/** The newest signing key (the migration made one). */
export function newestKey(db: Db) {
  return db.selectFrom('transcript_keys').selectAll().orderBy('created_at', 'desc').limit(1).executeTakeFirstOrThrow();
}
