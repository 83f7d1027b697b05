import type { MessageRow, ReplyTurnsTable } from '../../db/types.ts';
import { localDateOf, nextOpening, type Schedule } from '../auto-replies/business-hours.ts';
import { type Histogram, record } from './response-histogram.ts';

/**
 * Buyer turns, pure (README, "Response-time reports"): folds a conversation's
 * messages, in seq order, into the turns they answer and the daily figures they
 * add, carrying what is left open (the episode, an unanswered turn) from one
 * range to the next. The follower and the backfill run it; so does the property
 * test's brute force only in spirit (it recomputes everything its own way).
 *
 * - A buyer turn starts with a customer message when no turn is open; customer
 *   messages while one is open belong to it.
 * - The first human message of the team side answers it: not an auto reply, not a
 *   system message, not a platform post.
 * - An episode starts with the conversation and after each resolve; its first
 *   turn's answer is its first response. A resolve closes an open turn unanswered.
 * - A turn that starts while the team is closed counts from the next opening.
 * - Figures are credited to the local day (the team's time zone) the turn started
 *   on, or the message was written on; answers to the member who wrote them.
 */
export interface ConversationTurnState {
  /** Resolves passed: the episode is resolves + 1. */
  resolves: number;
  /** Whether the current episode has had a buyer turn (its first). */
  episodeStarted: boolean;
  /** The turn waiting for an answer. */
  turn: { startedAt: number; countedFrom: number; first: boolean; day: string } | null;
}

export const INITIAL_TURN_STATE: ConversationTurnState = { resolves: 0, episodeStarted: false, turn: null };

export type FollowedMessage = Pick<MessageRow, 'seq' | 'sender_id' | 'message_type' | 'created_at'> & {
  auto_reply: number;
};

/** A resolve, after message `after_seq`. */
export interface ResolveMark {
  after_seq: number;
}

/** What the fold needs of a team: its time zone (the days) and business hours (null: none, turns count from their start). */
export interface TeamClock {
  timezone: string;
  schedule: Schedule | null;
}

/** The additive figures of one (team, local day, member) row. */
export interface DailyFigures {
  conversations: number;
  buyer_turns: number;
  answered: number;
  within_180: number;
  first_responses: number;
  team_messages: number;
  resolved: number;
  ratings: number;
  rating_sum: number;
  first_histogram: Histogram;
  response_histogram: Histogram;
}

export const COUNTERS = [
  'conversations',
  'buyer_turns',
  'answered',
  'within_180',
  'first_responses',
  'team_messages',
  'resolved',
  'ratings',
  'rating_sum',
] as const satisfies readonly (keyof DailyFigures)[];

export const emptyFigures = (): DailyFigures => ({
  conversations: 0,
  buyer_turns: 0,
  answered: 0,
  within_180: 0,
  first_responses: 0,
  team_messages: 0,
  resolved: 0,
  ratings: 0,
  rating_sum: 0,
  first_histogram: {},
  response_histogram: {},
});

export interface DailyKey {
  team_id: string;
  local_day: string;
  /** '' for what no member is credited with (turns started, conversations). */
  agent_id: string;
}

/** Figures to add, per (team, day, member). */
export class DailyDeltas {
  readonly rows = new Map<string, { key: DailyKey; figures: DailyFigures }>();

  at(team_id: string, local_day: string, agent_id: string): DailyFigures {
    const id = `${team_id}\u0000${local_day}\u0000${agent_id}`;
    let row = this.rows.get(id);
    if (!row) {
      row = { key: { team_id, local_day, agent_id }, figures: emptyFigures() };
      this.rows.set(id, row);
    }
    return row.figures;
  }
}

/** An answer's wait counts as within 3 minutes up to and including this. */
export const RESPONSE_TARGET_SECONDS = 180;

const NOT_SPOKEN: ReadonlySet<string> = new Set(['system', 'platform']);

export interface FoldInput {
  conversationId: string;
  teamId: string;
  /** The participant the team answers. */
  customerId: string;
  state: ConversationTurnState;
  /** In seq order. */
  messages: readonly FollowedMessage[];
  /** The resolves this range passes (after_seq below the range's end), in order. */
  resolves: readonly ResolveMark[];
  clock: TeamClock;
  deltas: DailyDeltas;
}

export type ReplyTurn = ReplyTurnsTable;

/** Folds one range of a conversation; returns the state after it and the turns it answered. */
export function foldConversation(input: FoldInput): { state: ConversationTurnState; turns: ReplyTurn[] } {
  const { teamId, customerId, clock, deltas } = input;
  const state: ConversationTurnState = { ...input.state, turn: input.state.turn && { ...input.state.turn } };
  const turns: ReplyTurn[] = [];
  const dayOf = (at: number) => localDateOf(clock.timezone, at);
  let r = 0;
  const passResolvesBefore = (seq: number) => {
    for (; r < input.resolves.length && (input.resolves[r] as ResolveMark).after_seq < seq; r++) {
      state.resolves += 1;
      state.episodeStarted = false;
      state.turn = null;
    }
  };
  for (const message of input.messages) {
    passResolvesBefore(message.seq);
    if (NOT_SPOKEN.has(message.message_type)) continue;
    const at = Number(message.created_at);
    if (message.sender_id === customerId) {
      if (state.turn) continue;
      const day = dayOf(at);
      const first = !state.episodeStarted;
      state.turn = { startedAt: at, countedFrom: clock.schedule ? nextOpening(clock.schedule, at) : at, first, day };
      state.episodeStarted = true;
      const figures = deltas.at(teamId, day, '');
      figures.buyer_turns += 1;
      if (first) figures.conversations += 1;
      continue;
    }
    if (Number(message.auto_reply) === 1) continue;
    deltas.at(teamId, dayOf(at), message.sender_id).team_messages += 1;
    const turn = state.turn;
    if (!turn) continue;
    const seconds = Math.max(0, at - turn.countedFrom);
    const figures = deltas.at(teamId, turn.day, message.sender_id);
    figures.answered += 1;
    if (seconds <= RESPONSE_TARGET_SECONDS) figures.within_180 += 1;
    record(figures.response_histogram, seconds);
    if (turn.first) {
      figures.first_responses += 1;
      record(figures.first_histogram, seconds);
    }
    turns.push({
      conversation_id: input.conversationId,
      answer_seq: Number(message.seq),
      team_id: teamId,
      episode: state.resolves + 1,
      started_at: turn.startedAt,
      counted_from: turn.countedFrom,
      answered_at: at,
      answered_by: message.sender_id,
      seconds,
      is_first_of_episode: turn.first ? 1 : 0,
    });
    state.turn = null;
  }
  passResolvesBefore(Number.POSITIVE_INFINITY);
  return { state, turns };
}
