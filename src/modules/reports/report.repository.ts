import type { BusinessHoursSlot } from '@cs-chat/contracts/rest/team.schemas';
import { type Insertable, type Kysely, sql, type Transaction } from 'kysely';
import { isMysql } from '../../db/dialect.ts';
import { advanceConversationSeq, inSeqRanges, type SeqRange } from '../../db/seq-ranges.ts';
import type { Database, ReportDailyTable } from '../../db/types.ts';
import { decode, encode, mergeInto } from './response-histogram.ts';
import {
  COUNTERS,
  type ConversationTurnState,
  type DailyDeltas,
  type FollowedMessage,
  INITIAL_TURN_STATE,
  type ReplyTurn,
  type ResolveMark,
  type TeamClock,
} from './turns.ts';

type Db = Kysely<Database> | Transaction<Database>;

/** The time zone of a team that set none (as the auto replies' DEFAULT_TIMEZONE). */
const DEFAULT_TIMEZONE = 'Asia/Shanghai';

export interface BehindConversation {
  id: string;
  last_seq: number;
  team_id: string | null;
  participant1_id: string;
  participant2_id: string;
}

/** Up to `limit` conversations whose last_seq passed their report_seq (the indexed flag). */
export async function conversationsBehind(
  db: Db,
  after: string | undefined,
  limit: number,
): Promise<BehindConversation[]> {
  const rows = await db
    .selectFrom('conversations')
    .select(['id', 'last_seq', 'team_id', 'participant1_id', 'participant2_id'])
    .where('report_behind', '=', 1)
    .$if(after !== undefined, (query) => query.where('id', '>', after as string))
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((row) => ({ ...row, last_seq: Number(row.last_seq) }));
}

/** How many conversations are behind (the backfill's progress). */
export async function countBehind(db: Db): Promise<number> {
  const row = await db
    .selectFrom('conversations')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('report_behind', '=', 1)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The follower's state of each conversation: the authoritative watermark and what is left open. */
export async function statesOf(
  db: Db,
  ids: readonly string[],
): Promise<Map<string, { seq: number; state: ConversationTurnState }>> {
  const states = new Map<string, { seq: number; state: ConversationTurnState }>();
  if (ids.length === 0) return states;
  const rows = await db.selectFrom('report_state').selectAll().where('conversation_id', 'in', ids).execute();
  for (const row of rows) {
    states.set(row.conversation_id, { seq: Number(row.seq), state: JSON.parse(row.state) as ConversationTurnState });
  }
  return states;
}

/** A conversation's range of one round: its messages with after < seq <= upTo. */
export type ReportRange = SeqRange;

/** The messages in the ranges (recalled ones included: an answer was given; deleted ones are gone). */
export async function messagesInRanges(
  db: Db,
  ranges: readonly ReportRange[],
): Promise<Map<string, FollowedMessage[]>> {
  const byConversation = new Map<string, FollowedMessage[]>(ranges.map((r) => [r.conversationId, []]));
  if (ranges.length === 0) return byConversation;
  const rows = await db
    .selectFrom('messages')
    .select(['conversation_id', 'seq', 'sender_id', 'message_type', 'created_at', 'auto_reply'])
    .where(inSeqRanges(ranges))
    .execute();
  for (const row of rows) {
    byConversation.get(row.conversation_id)?.push({
      seq: Number(row.seq),
      sender_id: row.sender_id,
      message_type: row.message_type,
      created_at: Number(row.created_at),
      auto_reply: Number(row.auto_reply),
    });
  }
  for (const list of byConversation.values()) list.sort((a, b) => a.seq - b.seq);
  return byConversation;
}

/** The resolves a range passes: after message `after` (a previous range's end) up to before its last. */
export async function resolvesInRanges(db: Db, ranges: readonly ReportRange[]): Promise<Map<string, ResolveMark[]>> {
  const byConversation = new Map<string, ResolveMark[]>(ranges.map((r) => [r.conversationId, []]));
  if (ranges.length === 0) return byConversation;
  const rows = await db
    .selectFrom('conversation_resolves')
    .select(['conversation_id', 'after_seq', 'resolution'])
    .where((eb) =>
      eb.or(
        ranges.map((r) =>
          eb.and([
            eb('conversation_id', '=', r.conversationId),
            eb('after_seq', '>=', r.after),
            eb('after_seq', '<', r.upTo),
          ]),
        ),
      ),
    )
    .orderBy('resolution')
    .execute();
  for (const row of rows) byConversation.get(row.conversation_id)?.push({ after_seq: Number(row.after_seq) });
  return byConversation;
}

/** The clocks (time zone, business hours) of the teams. */
export async function clocksOf(db: Db, teamIds: readonly string[]): Promise<Map<string, TeamClock>> {
  const clocks = new Map<string, TeamClock>();
  if (teamIds.length === 0) return clocks;
  const rows = await db
    .selectFrom('teams')
    .select(['owner_id', 'timezone', 'business_hours', 'days_off'])
    .where('owner_id', 'in', teamIds)
    .execute();
  for (const row of rows) clocks.set(row.owner_id, clockOf(row));
  return clocks;
}

/** A team's clock from its row (a team without business hours or days off: no schedule). */
export function clockOf(row: { timezone: string | null; business_hours: string | null; days_off: string | null }) {
  const timezone = row.timezone ?? DEFAULT_TIMEZONE;
  const hours = row.business_hours === null ? [] : (JSON.parse(row.business_hours) as BusinessHoursSlot[]);
  const daysOff = row.days_off === null ? [] : (JSON.parse(row.days_off) as string[]);
  return { timezone, schedule: hours.length === 0 && daysOff.length === 0 ? null : { timezone, hours, daysOff } };
}

export const defaultClock = (): TeamClock => ({ timezone: DEFAULT_TIMEZONE, schedule: null });

/** Creates the missing states at seq 0 (a conversation the follower meets for the first time). */
export async function ensureStates(db: Db, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const initial = JSON.stringify(INITIAL_TURN_STATE);
  const insert = db
    .insertInto('report_state')
    .values(ids.map((conversation_id) => ({ conversation_id, seq: 0, state: initial })));
  await (isMysql(db) ? insert.ignore() : insert.onConflict((oc) => oc.doNothing())).execute();
}

/**
 * Moves each conversation's watermark from `after` to `upTo` with its new state, in one
 * statement, only where nobody moved it meanwhile: false when another instance took one
 * of the ranges (the caller rolls its round back, so every range is counted once).
 */
export async function claimRanges(
  trx: Db,
  claims: readonly { range: ReportRange; state: ConversationTurnState }[],
): Promise<boolean> {
  if (claims.length === 0) return true;
  const byConversation = (value: (claim: (typeof claims)[number]) => unknown) =>
    sql`CASE ${sql.ref('conversation_id')} ${sql.join(
      claims.map((claim) => sql`WHEN ${claim.range.conversationId} THEN ${value(claim)}`),
      sql` `,
    )} END`;
  const result = await trx
    .updateTable('report_state')
    .set({
      seq: byConversation((claim) => claim.range.upTo) as never,
      state: byConversation((claim) => JSON.stringify(claim.state)) as never,
    })
    .where(
      'conversation_id',
      'in',
      claims.map((claim) => claim.range.conversationId),
    )
    .where(
      sql.ref('seq'),
      '=',
      byConversation((claim) => claim.range.after),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === claims.length;
}

export async function insertTurns(trx: Db, turns: readonly ReplyTurn[]): Promise<void> {
  for (let i = 0; i < turns.length; i += 500) {
    await trx
      .insertInto('reply_turns')
      .values(turns.slice(i, i + 500))
      .execute();
  }
}

/**
 * Adds the deltas to report_daily, rows locked in key order (two writers never wait on each
 * other in a circle): missing rows are created empty, then read under lock (MySQL; SQLite
 * has one writer), then written back whole in one upsert: counters added, histograms merged.
 * Three statements per 200 rows, however many rows.
 */
export async function applyDeltas(trx: Db, deltas: DailyDeltas): Promise<void> {
  const rows = [...deltas.rows.values()].sort((a, b) => compareKeys(a.key, b.key));
  if (rows.length === 0) return;
  const mysql = isMysql(trx);
  for (let i = 0; i < rows.length; i += 200) {
    const chunk = rows.slice(i, i + 200);
    const insert = trx
      .insertInto('report_daily')
      .values(chunk.map(({ key }) => ({ ...key, first_histogram: '[]', response_histogram: '[]' })));
    await (mysql ? insert.ignore() : insert.onConflict((oc) => oc.doNothing())).execute();
    const read = trx
      .selectFrom('report_daily')
      .selectAll()
      .where((eb) =>
        eb.or(
          chunk.map(({ key }) =>
            eb.and([
              eb('team_id', '=', key.team_id),
              eb('local_day', '=', key.local_day),
              eb('agent_id', '=', key.agent_id),
            ]),
          ),
        ),
      );
    const current = new Map((await (mysql ? read.forUpdate() : read).execute()).map((row) => [keyString(row), row]));
    const merged = chunk.map(({ key, figures }) => {
      const stored = current.get(keyString(key));
      const row: Record<string, unknown> = { ...key };
      for (const counter of COUNTERS) row[counter] = Number(stored?.[counter] ?? 0) + figures[counter];
      for (const column of ['first_histogram', 'response_histogram'] as const) {
        const histogram = decode(stored?.[column] ?? '[]');
        mergeInto(histogram, figures[column]);
        row[column] = encode(histogram);
      }
      return row as unknown as Insertable<ReportDailyTable>;
    });
    const columns = [...COUNTERS, 'first_histogram', 'response_histogram'] as const;
    const upsert = trx.insertInto('report_daily').values(merged);
    await (mysql
      ? upsert.onDuplicateKeyUpdate(Object.fromEntries(columns.map((c) => [c, sql`VALUES(${sql.ref(c)})`])))
      : upsert.onConflict((oc) =>
          oc
            .columns(['team_id', 'local_day', 'agent_id'])
            .doUpdateSet(Object.fromEntries(columns.map((c) => [c, sql.ref(`excluded.${c}`)]))),
        )
    ).execute();
  }
}

type Key = Pick<ReportDailyTable, 'team_id' | 'local_day' | 'agent_id'>;
const keyString = (key: Key) => `${key.team_id}\u0000${key.local_day}\u0000${key.agent_id}`;
function compareKeys(a: Key, b: Key): number {
  const x = keyString(a);
  const y = keyString(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** After a round's commit: the conversations' report_seq hint (clears report_behind); never moves back. */
export function advanceHints(db: Db, ranges: readonly ReportRange[]): Promise<void> {
  return advanceConversationSeq(db, 'report_seq', ranges);
}

/** The stored daily rows of one team (or every team) over local days from..to (both included). */
export function dailyRows(db: Db, range: { teamId?: string; from: string; to: string }) {
  return db
    .selectFrom('report_daily')
    .selectAll()
    .$if(range.teamId !== undefined, (q) => q.where('team_id', '=', range.teamId as string))
    .where('local_day', '>=', range.from)
    .where('local_day', '<=', range.to)
    .execute();
}
