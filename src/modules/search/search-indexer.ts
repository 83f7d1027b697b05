import type { Kysely } from 'kysely';
import { isMysql } from '../../db/dialect.ts';
import type { Database } from '../../db/types.ts';
import { createRotatingWindow, createRoundLoop, type RoundOutcome, randomSample } from '../../lib/round-loop.ts';
import type { SearchIndexMetrics } from '../../observability/metrics.ts';
import * as repo from './search.repository.ts';

export interface SearchIndexerOptions {
  /** How often the indexer looks for work without a nudge (other instances' sends, a failed round). */
  pollMs: number;
  /** After a nudge, how long to let more sends commit before a round: rounds of many messages cost less per message. */
  batchMs: number;
  /** Conversations one round indexes (at random in a window of `lookahead` behind ones that moves along the ids). */
  conversationsPerRound: number;
  lookahead: number;
  /** Messages one round reads at most (one transaction: on SQLite, sends wait for it). */
  messagesPerRound: number;
}

export const SEARCH_INDEXER_DEFAULTS: SearchIndexerOptions = {
  pollMs: 1_000,
  batchMs: 100,
  conversationsPerRound: 200,
  lookahead: 800,
  messagesPerRound: 1_000,
};

export interface IndexerLogger {
  warn(details: object, message: string): void;
}

/**
 * Keeps message_search_terms up to date off the send path (README, "Search").
 * The send transaction only moves conversations.last_seq, which it does
 * anyway; the database flags a conversation whose last_seq passed its
 * search_seq (the indexed, computed `search_behind` column). A round reads
 * some flagged conversations, the messages between their two seqs, writes
 * their terms, then moves search_seq: whatever committed is indexed, by
 * whichever instance gets to it, after any crash.
 *
 * Why this and not a queue table written by the send transaction: that is one
 * more statement (a round trip on MySQL) in every send transaction, to say
 * what last_seq says already. Why not one watermark over message ids: ids are
 * made before their transaction, and transactions commit out of order (group
 * commit, several instances), so a message could commit below a watermark
 * already past it; seqs of one conversation are handed out under its row lock,
 * so they commit in order and "everything up to search_seq" stays true.
 *
 * Instances do not claim conversations: two that index one range write the
 * same rows (duplicates ignored) and the same watermark (it never moves back);
 * each round picks at random among the behind ones, so they rarely meet.
 * Nudged after each local commit, polls for the rest; `stop` lets the running
 * round finish.
 */
export function createSearchIndexer(deps: {
  db: Kysely<Database>;
  logger: IndexerLogger;
  metrics?: SearchIndexMetrics | undefined;
  options?: Partial<SearchIndexerOptions> | undefined;
}) {
  const { db, logger, metrics } = deps;
  const options = { ...SEARCH_INDEXER_DEFAULTS, ...deps.options };
  const mysql = isMysql(db);
  const behindWindow = createRotatingWindow((after, limit) => repo.conversationsBehind(db, after, limit));

  async function round(): Promise<RoundOutcome> {
    const behind = await behindWindow(options.lookahead);
    if (behind.length === 0) {
      metrics?.searchIndexBacklog(0);
      return { more: false };
    }
    const chosen = randomSample(behind, options.conversationsPerRound);
    const perConversation = Math.max(1, Math.floor(options.messagesPerRound / chosen.length));
    const ranges = chosen.map((c) => ({
      conversationId: c.id,
      after: c.search_seq,
      upTo: Math.min(c.last_seq, c.search_seq + perConversation),
    }));
    // Read outside the transaction: every seq up to the last_seq just read is committed (it was
    // claimed under the conversation's row lock by a transaction that committed before last_seq showed).
    const messages = await repo.messagesInRanges(db, ranges);
    await db.transaction().execute(async (trx) => {
      await repo.indexMessages(trx, messages);
      // SQLite has one writer and no row locks: the watermarks commit with the rows.
      if (!mysql) await repo.advanceWatermarks(trx, ranges);
    });
    // MySQL/MariaDB: after the rows committed (a crash in between indexes the range again, the
    // duplicates ignored), one autocommit statement: its row locks last the statement, not a commit's
    // round trip. It takes them in key order as the send transaction does (no deadlock); a send may
    // wait for it while it waits for one send transaction on another of its rows, never longer.
    // (One statement per conversation would avoid even that, at one commit, and its log flush, each.)
    if (mysql) await repo.advanceWatermarks(db, ranges);
    // What is known to be left: the behind conversations not taken, and those taken only in part.
    const left = behind.length - chosen.filter((c, i) => (ranges[i] as repo.SeqRange).upTo === c.last_seq).length;
    metrics?.searchIndexBacklog(left);
    if (messages.length > 0) {
      const oldest = Math.min(...messages.map((m) => Number(m.created_at)));
      metrics?.searchIndexed(messages.length, Math.max(0, Date.now() / 1000 - oldest));
    }
    // A full window may have more flagged conversations past it.
    return { more: left > 0 || behind.length === options.lookahead };
  }

  return createRoundLoop({
    round,
    options,
    onError: (error) => logger.warn({ err: error }, 'search indexing failed'),
  });
}
export type SearchIndexer = ReturnType<typeof createSearchIndexer>;
