import type { Kysely } from 'kysely';
import type { Database } from '../../db/types.ts';
import type { EventPublisher } from '../../events/hub.ts';
import { nowSeconds } from '../../lib/time.ts';

/** How often each instance sweeps for slow replies. */
export const SLOW_REPLY_SWEEP_MS = 5_000;
/** The most conversations one sweep alerts for (the oldest waits first; the next sweep goes on). */
const SWEEP_BATCH = 500;

export interface SlowReplyDeps {
  db: Kysely<Database>;
  events: EventPublisher;
  logger: { warn(object: unknown, message: string): void };
  /** The clock (tests fix it). */
  now?: () => number;
}

export type SlowReplyAlerts = ReturnType<typeof createSlowReplyAlerts>;

/**
 * Slow-reply alerts (issue 14), scheduled from the database so a restart
 * loses none: every instance sweeps the conversations whose customer has
 * waited (awaiting_reply_since) past their team's `slow_reply_seconds` (the
 * first alert) or `slow_reply_escalation_seconds` (the supervisors' alert).
 * Each alert is claimed by a conditional UPDATE of the conversation
 * (slow_alert_since = the turn, slow_alert_level), so it goes out once per
 * threshold per turn whichever instance sweeps first; a human answer ends the
 * turn (awaiting_reply_since null) and the claim then matches nothing.
 */
export function createSlowReplyAlerts({ db, events, logger, now = nowSeconds }: SlowReplyDeps) {
  /** Claims `level` for the turn that began at `since`; false when another instance did or the turn ended. */
  async function claim(id: string, since: number, level: 1 | 2): Promise<boolean> {
    const result = await db
      .updateTable('conversations')
      .set({ slow_alert_since: since, slow_alert_level: level })
      .where('id', '=', id)
      .where('awaiting_reply_since', '=', since)
      .where((eb) =>
        level === 1
          ? eb.or([
              eb('slow_alert_since', 'is', null),
              eb('slow_alert_since', '!=', since),
              eb('slow_alert_level', '<', 1),
            ])
          : eb.and([eb('slow_alert_since', '=', since), eb('slow_alert_level', '=', 1)]),
      )
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** One sweep: alerts for every threshold passed and not yet alerted in the current turn. Returns the alerts sent. */
  async function sweep(): Promise<number> {
    const at = now();
    const rows = await db
      .selectFrom('conversations as c')
      .innerJoin('teams as t', 't.owner_id', 'c.team_id')
      .select([
        'c.id',
        'c.participant1_id',
        'c.participant2_id',
        'c.team_id',
        'c.assignee_id',
        'c.status',
        'c.linked_conversation_id',
        'c.awaiting_reply_since',
        'c.slow_alert_since',
        'c.slow_alert_level',
        't.slow_reply_seconds',
        't.slow_reply_escalation_seconds',
      ])
      .where('c.awaiting_reply_since', '<=', at - 1)
      .where('c.status', '!=', 'resolved')
      .where((eb) =>
        eb.or([
          eb('c.slow_alert_since', 'is', null),
          eb('c.slow_alert_since', '!=', eb.ref('c.awaiting_reply_since')),
          eb('c.slow_alert_level', '<', 2),
        ]),
      )
      .orderBy('c.awaiting_reply_since')
      .limit(SWEEP_BATCH)
      .execute();
    let sent = 0;
    for (const row of rows) {
      if (row.awaiting_reply_since === null) continue;
      const since = Number(row.awaiting_reply_since);
      const waited = at - since;
      const level =
        row.slow_alert_since !== null && Number(row.slow_alert_since) === since ? Number(row.slow_alert_level) : 0;
      const thresholds = { 1: Number(row.slow_reply_seconds), 2: Number(row.slow_reply_escalation_seconds) };
      for (const next of [1, 2] as const) {
        const threshold = thresholds[next];
        if (level >= next || waited < threshold || !(await claim(row.id, since, next))) continue;
        sent++;
        events.publish('conversation.slow_reply', {
          conversation: {
            id: row.id,
            participants: [row.participant1_id, row.participant2_id],
            teamId: row.team_id,
            assigneeId: row.assignee_id,
            status: row.status,
            linkedConversationId: row.linked_conversation_id,
          },
          level: next,
          waitingSince: since,
          waitedSeconds: waited,
          thresholdSeconds: threshold,
        });
      }
    }
    return sent;
  }

  return {
    sweep,

    /** Sweeps every `intervalMs` until the returned function is called. */
    start(intervalMs = SLOW_REPLY_SWEEP_MS): () => void {
      const timer = setInterval(() => {
        sweep().catch((error: unknown) => logger.warn({ err: error }, 'slow-reply sweep failed'));
      }, intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
