import {
  MAX_REPORT_DAYS,
  type TeamRanking,
  type TeamRankingQuery,
  type TeamReport,
  type TeamReportQuery,
  type TeamReportRow,
} from '@cs-chat/contracts/rest/report.schemas';
import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../../db/types.ts';
import { badRequest, notFound } from '../../lib/errors.ts';
import type { AccessService } from '../access/access.service.ts';
import { findUsersByIds } from '../users/user.repository.ts';
import { clockOf, dailyRows } from './report.repository.ts';
import { figuresOf, parseDays } from './report-figures.ts';

export interface ReportDeps {
  db: Kysely<Database>;
  access: Pick<AccessService, 'require'>;
}

const DAY_MS = 86_400_000;

/** The days from..to (YYYY-MM-DD, both included); 400 invalid_report_range for unreal dates, a reversed or too long range. */
export function daysOf(from: string, to: string): string[] {
  const start = Date.parse(`${from}T00:00:00Z`);
  const end = Date.parse(`${to}T00:00:00Z`);
  const real = (at: number, date: string) => !Number.isNaN(at) && new Date(at).toISOString().slice(0, 10) === date;
  if (!real(start, from) || !real(end, to) || end < start || (end - start) / DAY_MS + 1 > MAX_REPORT_DAYS) {
    throw badRequest('invalid_report_range');
  }
  return Array.from({ length: (end - start) / DAY_MS + 1 }, (_, i) =>
    new Date(start + i * DAY_MS).toISOString().slice(0, 10),
  );
}

const keyless = { day: null, agent_id: null, agent_name: null };

/** Response-time reports (issue 14): read from the daily figures the follower keeps, never from messages. */
export function createReportService({ db, access }: ReportDeps) {
  return {
    /** GET /api/reports/teams/{owner_id}: a team's days or members over a range, with totals. */
    async teamReport(caller: UserRow, ownerId: string, query: TeamReportQuery): Promise<TeamReport> {
      access.require(caller, 'team.view_report', { teamId: ownerId });
      const days = daysOf(query.from, query.to);
      const team = await db
        .selectFrom('teams')
        .select(['owner_id', 'timezone', 'business_hours', 'days_off'])
        .where('owner_id', '=', ownerId)
        .executeTakeFirst();
      if (!team) throw notFound('team_not_found');
      const clock = clockOf(team);
      const stored = parseDays(await dailyRows(db, { teamId: ownerId, from: query.from, to: query.to }));
      const group = query.group ?? 'day';
      let rows: TeamReportRow[];
      if (group === 'day') {
        const byDay = Map.groupBy(stored, (row) => row.local_day);
        rows = days.map((day) => ({ ...keyless, day, ...figuresOf(byDay.get(day) ?? [], 'team') }));
      } else {
        const byAgent = Map.groupBy(stored, (row) => row.agent_id);
        const agentIds = [...new Set(stored.map((row) => row.agent_id).filter((id) => id !== ''))];
        const names = new Map((await findUsersByIds(db, agentIds)).map((user) => [user.id, user.username]));
        rows = agentIds
          .map((agentId) => ({
            ...keyless,
            agent_id: agentId,
            agent_name: names.get(agentId) ?? null,
            ...figuresOf(byAgent.get(agentId) ?? [], 'agent'),
          }))
          .sort((a, b) => (a.agent_name ?? a.agent_id).localeCompare(b.agent_name ?? b.agent_id, 'zh'));
      }
      return {
        owner_id: ownerId,
        timezone: clock.timezone,
        from: query.from,
        to: query.to,
        group,
        business_hours_adjusted: clock.schedule !== null,
        rows,
        totals: { ...keyless, ...figuresOf(stored, 'team') },
      };
    },

    /** GET /api/reports/teams: every team over a range, best 3-minute rate first (admins). */
    async ranking(caller: UserRow, query: TeamRankingQuery): Promise<TeamRanking> {
      access.require(caller, 'report.rank_teams', {});
      daysOf(query.from, query.to);
      const [stored, teams] = await Promise.all([
        dailyRows(db, { from: query.from, to: query.to }).then(parseDays),
        db.selectFrom('teams').select(['owner_id', 'timezone', 'business_hours', 'days_off']).execute(),
      ]);
      const names = new Map(
        (
          await findUsersByIds(
            db,
            teams.map((t) => t.owner_id),
          )
        ).map((user) => [user.id, user.username]),
      );
      const byTeam = Map.groupBy(stored, (row) => row.team_id);
      const rows = teams.map((team) => ({
        owner_id: team.owner_id,
        owner_name: names.get(team.owner_id) ?? team.owner_id,
        timezone: clockOf(team).timezone,
        ...figuresOf(byTeam.get(team.owner_id) ?? [], 'team'),
      }));
      rows.sort(
        (a, b) =>
          (b.response_rate_3min ?? -1) - (a.response_rate_3min ?? -1) ||
          (a.response_p50 ?? Number.POSITIVE_INFINITY) - (b.response_p50 ?? Number.POSITIVE_INFINITY) ||
          a.owner_name.localeCompare(b.owner_name, 'zh'),
      );
      return { from: query.from, to: query.to, rows: rows.map((row, i) => ({ rank: i + 1, ...row })) };
    },
  };
}
export type ReportService = ReturnType<typeof createReportService>;
