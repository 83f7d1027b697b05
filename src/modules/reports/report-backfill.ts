import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/types.ts';
import { localDateOf } from '../auto-replies/business-hours.ts';
import { applyDeltas, clocksOf, countBehind, defaultClock } from './report.repository.ts';
import { createReportFollower, type ReportFollowerOptions } from './report-follower.ts';
import { DailyDeltas } from './turns.ts';

export interface BackfillProgress {
  /** Conversations moved, messages read so far. */
  conversations: number;
  messages: number;
  /** Conversations still behind (at most the follower's look-ahead is known exactly: a count). */
  behind: number;
}

/**
 * `npm run reports:backfill` (README, "Response-time reports"): the follower's own
 * rounds, run in the foreground until no conversation is behind, so the figures of
 * existing messages are the ones the live follower would have written. Idempotent
 * (a caught-up database has nothing to do) and resumable (each round commits with
 * its watermarks; a stopped run continues where it stopped), also beside running
 * servers (the watermarks are claimed: nothing counts twice).
 *
 * `rebuild` first forgets every figure (turns, daily rows, watermarks) and counts
 * the recorded resolves and ratings again: for a change of definitions or buckets.
 * Resolves and ratings made while it runs may be counted twice or not at all: run
 * it with the servers stopped.
 */
export async function backfillReports(
  db: Kysely<Database>,
  options: {
    rebuild?: boolean;
    follower?: Partial<ReportFollowerOptions>;
    onProgress?: (progress: BackfillProgress) => void;
  } = {},
): Promise<BackfillProgress> {
  if (options.rebuild) await forgetAndRecount(db);
  const follower = createReportFollower({
    db,
    logger: { warn: (details, message) => console.warn(message, details) },
    options: options.follower,
  });
  const progress: BackfillProgress = { conversations: 0, messages: 0, behind: await countBehind(db) };
  options.onProgress?.(progress);
  for (;;) {
    const round = await follower.round();
    progress.conversations += round.conversations;
    progress.messages += round.messages;
    if (!round.more) break;
    progress.behind = await countBehind(db);
    options.onProgress?.(progress);
  }
  progress.behind = await countBehind(db);
  options.onProgress?.(progress);
  return progress;
}

/** Empties the figures and counts the stored resolves and ratings again, on their team's days. */
async function forgetAndRecount(db: Kysely<Database>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const table of ['reply_turns', 'report_daily', 'report_state'] as const) await trx.deleteFrom(table).execute();
    await trx.updateTable('conversations').set({ report_seq: sql<number>`0` }).execute();
    const resolves = await trx
      .selectFrom('conversation_resolves as r')
      .innerJoin('conversations as c', 'c.id', 'r.conversation_id')
      .select(['c.team_id', 'r.resolved_by', 'r.resolved_at'])
      .where('c.team_id', 'is not', null)
      .execute();
    const ratings = await trx
      .selectFrom('conversation_ratings')
      .select(['team_id', 'assignee_id', 'score', 'created_at'])
      .where('team_id', 'is not', null)
      .execute();
    const teamIds = [...new Set([...resolves, ...ratings].map((row) => row.team_id as string))];
    const clocks = await clocksOf(trx, teamIds);
    const dayOf = (teamId: string, at: number) =>
      localDateOf((clocks.get(teamId) ?? defaultClock()).timezone, Number(at));
    const deltas = new DailyDeltas();
    for (const row of resolves) {
      const teamId = row.team_id as string;
      deltas.at(teamId, dayOf(teamId, row.resolved_at), row.resolved_by ?? '').resolved += 1;
    }
    for (const row of ratings) {
      const teamId = row.team_id as string;
      const figures = deltas.at(teamId, dayOf(teamId, row.created_at), row.assignee_id ?? '');
      figures.ratings += 1;
      figures.rating_sum += Number(row.score);
    }
    await applyDeltas(trx, deltas);
  });
}
