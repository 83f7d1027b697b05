import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/types.ts';
import { localDateOf } from '../auto-replies/business-hours.ts';
import { applyDeltas, clocksOf, defaultClock } from './report.repository.ts';
import { DailyDeltas } from './turns.ts';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * What the reports count where it happens, in the writer's transaction (resolves,
 * ratings: never on the send path). Messages are counted by the follower.
 */

export interface Resolve {
  conversationId: string;
  teamId: string | null;
  /** The conversation's last_seq, read under its row lock: the resolve comes after that message. */
  afterSeq: number;
  /** The conversation's `resolutions` after this resolve. */
  resolution: number;
  /** Who resolved it; null: automatically (auto_resolve_hours). */
  resolvedBy: string | null;
}

/** Marks where each conversation's episode ends (the follower's episodes) and counts the resolves per team day. */
export async function recordResolves(db: Db, resolves: readonly Resolve[], at: number): Promise<void> {
  if (resolves.length === 0) return;
  await db
    .insertInto('conversation_resolves')
    .values(
      resolves.map((r) => ({
        conversation_id: r.conversationId,
        resolution: r.resolution,
        after_seq: r.afterSeq,
        resolved_by: r.resolvedBy,
        resolved_at: at,
      })),
    )
    .execute();
  const teamIds = [...new Set(resolves.flatMap((r) => (r.teamId === null ? [] : [r.teamId])))];
  const clocks = await clocksOf(db, teamIds);
  const deltas = new DailyDeltas();
  for (const r of resolves) {
    if (r.teamId === null) continue;
    const day = localDateOf((clocks.get(r.teamId) ?? defaultClock()).timezone, at);
    deltas.at(r.teamId, day, r.resolvedBy ?? '').resolved += 1;
  }
  await applyDeltas(db, deltas);
}

/** Counts a rating on its team's day, credited to the member who held the conversation ('' : nobody). */
export async function recordRating(
  db: Db,
  rating: { team_id: string | null; assignee_id: string | null; score: number; created_at: number },
): Promise<void> {
  if (rating.team_id === null) return;
  const clock = (await clocksOf(db, [rating.team_id])).get(rating.team_id) ?? defaultClock();
  const deltas = new DailyDeltas();
  const figures = deltas.at(rating.team_id, localDateOf(clock.timezone, rating.created_at), rating.assignee_id ?? '');
  figures.ratings += 1;
  figures.rating_sum += rating.score;
  await applyDeltas(db, deltas);
}
