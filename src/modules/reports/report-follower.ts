import type { Kysely } from 'kysely';
import { isDeadlock } from '../../db/errors.ts';
import type { Database } from '../../db/types.ts';
import { createRotatingWindow, createRoundLoop, type RoundOutcome, randomSample } from '../../lib/round-loop.ts';
import * as repo from './report.repository.ts';
import { type ConversationTurnState, DailyDeltas, foldConversation, type ReplyTurn } from './turns.ts';

export interface ReportFollowerOptions {
  /** How often it looks for work without a nudge (other instances' sends, a failed round). */
  pollMs: number;
  /** After a nudge, how long to let more sends commit before a round. */
  batchMs: number;
  /** Conversations one round takes (at random in a window of `lookahead` behind ones that moves along the ids). */
  conversationsPerRound: number;
  lookahead: number;
  /** Messages one round reads at most. */
  messagesPerRound: number;
}

export const REPORT_FOLLOWER_DEFAULTS: ReportFollowerOptions = {
  // Local sends wake it; the poll only finds other instances' (reports need not be up to the second).
  pollMs: 5_000,
  batchMs: 250,
  // Few conversations, many messages each: what a round costs goes with its conversations (their
  // state, watermark and team day rows), so under steady sends over many conversations fewer per
  // round cost the sends less (send bench at c=64: within noise of the follower off, where 200 cost
  // several per cent). Up to 40 messages each; a conversation waits its turn a few seconds at most.
  conversationsPerRound: 50,
  lookahead: 800,
  messagesPerRound: 2_000,
};

export interface FollowerLogger {
  warn(details: object, message: string): void;
}

/** Another instance moved a watermark this round read: the round rolls back and is run again. */
class LostRace extends Error {}

/** What one round did: conversations it moved, and whether it knows of more work. */
export interface RoundResult extends RoundOutcome {
  conversations: number;
  messages: number;
}

/**
 * Keeps the response-time reports (README, "Response-time reports") off the send
 * path, as the search indexer keeps the index: the send's UPDATE of last_seq flags
 * the conversation (the computed, indexed `report_behind`); a round reads some
 * flagged conversations' new messages and the resolves between them, folds them
 * into turns (turns.ts), and in one transaction moves each conversation's
 * watermark (report_state.seq) with a conditional UPDATE, writes the answered
 * turns and adds to the daily figures. A watermark that moved meanwhile (another
 * instance took the range) rolls the whole round back: every range is counted
 * exactly once, after any crash, by whichever instance gets there. The
 * conversations' report_seq (which clears the flag) follows after the commit.
 */
export function createReportFollower(deps: {
  db: Kysely<Database>;
  logger: FollowerLogger;
  options?: Partial<ReportFollowerOptions> | undefined;
}) {
  const { db, logger } = deps;
  const options = { ...REPORT_FOLLOWER_DEFAULTS, ...deps.options };
  const behindWindow = createRotatingWindow((after, limit) => repo.conversationsBehind(db, after, limit));

  async function round(): Promise<RoundResult> {
    const behind = await behindWindow(options.lookahead);
    if (behind.length === 0) return { conversations: 0, messages: 0, more: false };
    const chosen = randomSample(behind, options.conversationsPerRound).sort((a, b) => (a.id < b.id ? -1 : 1));
    const ids = chosen.map((c) => c.id);
    await repo.ensureStates(db, ids);
    const states = await repo.statesOf(db, ids);
    const perConversation = Math.max(1, Math.floor(options.messagesPerRound / chosen.length));
    const ranges = chosen.map((c) => {
      const after = states.get(c.id)?.seq ?? 0;
      return { conversationId: c.id, after, upTo: Math.max(after, Math.min(c.last_seq, after + perConversation)) };
    });
    const moving = ranges.filter((r) => r.upTo > r.after);
    const messages = await repo.messagesInRanges(db, moving);
    const resolves = await repo.resolvesInRanges(db, moving);
    const clocks = await repo.clocksOf(db, [...new Set(chosen.flatMap((c) => (c.team_id ? [c.team_id] : [])))]);
    const deltas = new DailyDeltas();
    const turns: ReplyTurn[] = [];
    const newStates = new Map<string, ConversationTurnState>();
    let read = 0;
    for (const [i, range] of ranges.entries()) {
      const conversation = chosen[i] as repo.BehindConversation;
      const before = states.get(conversation.id)?.state;
      const list = messages.get(range.conversationId) ?? [];
      read += list.length;
      const teamId = conversation.team_id;
      if (!before || teamId === null || range.upTo === range.after) {
        if (before) newStates.set(conversation.id, before);
        continue;
      }
      const customerId =
        conversation.participant1_id === teamId ? conversation.participant2_id : conversation.participant1_id;
      const folded = foldConversation({
        conversationId: conversation.id,
        teamId,
        customerId,
        state: before,
        messages: list,
        resolves: resolves.get(range.conversationId) ?? [],
        clock: clocks.get(teamId) ?? repo.defaultClock(),
        deltas,
      });
      newStates.set(conversation.id, folded.state);
      turns.push(...folded.turns);
    }
    try {
      await db.transaction().execute(async (trx) => {
        // Locks in one order for every writer: the states (one statement), then the daily rows by key.
        const claims = moving.flatMap((range) => {
          const state = newStates.get(range.conversationId);
          return state ? [{ range, state }] : [];
        });
        if (!(await repo.claimRanges(trx, claims))) throw new LostRace();
        await repo.insertTurns(trx, turns);
        await repo.applyDeltas(trx, deltas);
      });
    } catch (error) {
      if (error instanceof LostRace || isDeadlock(error)) return { conversations: 0, messages: 0, more: true };
      throw error;
    }
    // After the commit (a crash in between leaves the flag up: the next round finds the state caught up).
    await repo.advanceHints(db, ranges);
    const partial = ranges.some((r, i) => r.upTo < (chosen[i] as repo.BehindConversation).last_seq);
    return {
      conversations: moving.length,
      messages: read,
      // A full window may have more flagged conversations past it.
      more: partial || behind.length > chosen.length || behind.length === options.lookahead,
    };
  }

  const loop = createRoundLoop({
    round,
    options,
    onError: (error) => logger.warn({ err: error }, 'report follower round failed'),
  });
  return {
    ...loop,
    /** One round, now (the backfill's loop; tests). */
    round,
  };
}
export type ReportFollower = ReturnType<typeof createReportFollower>;
