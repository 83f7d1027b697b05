import { type ExpressionBuilder, type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from './types.ts';

/**
 * A conversation's messages with after < seq <= upTo: what one round of a
 * background job that follows the messages (the search indexer, the report
 * follower) takes of it. Seqs, not ids, mark their progress: one
 * conversation's seqs are handed out under its row lock and commit in order.
 */
export interface SeqRange {
  conversationId: string;
  after: number;
  upTo: number;
}

/** `messages` rows inside any of the ranges (one index range of (conversation_id, seq) each). */
export function inSeqRanges(ranges: readonly SeqRange[]) {
  return (eb: ExpressionBuilder<Database, 'messages'>) =>
    eb.or(
      ranges.map((range) =>
        eb.and([
          eb('conversation_id', '=', range.conversationId),
          eb('seq', '>', range.after),
          eb('seq', '<=', range.upTo),
        ]),
      ),
    );
}

/**
 * Moves a job's watermark on each range's conversation to the range's `upTo`,
 * never back (an instance that did the same range later changes nothing),
 * which clears the conversation's computed "behind" flag once caught up. One
 * statement; it takes the conversations' row locks in key order, as the send
 * transaction does, so the two cannot deadlock.
 */
export async function advanceConversationSeq(
  db: Kysely<Database> | Transaction<Database>,
  column: 'search_seq' | 'report_seq',
  ranges: readonly SeqRange[],
): Promise<void> {
  if (ranges.length === 0) return;
  const target = sql<number>`CASE ${sql.ref('id')} ${sql.join(
    ranges.map((range) => sql`WHEN ${range.conversationId} THEN ${range.upTo}`),
    sql` `,
  )} END`;
  const current = sql.ref(column);
  await db
    .updateTable('conversations')
    .set({ [column]: sql<number>`CASE WHEN ${current} < ${target} THEN ${target} ELSE ${current} END` })
    .where(
      'id',
      'in',
      ranges.map((range) => range.conversationId),
    )
    .execute();
}
