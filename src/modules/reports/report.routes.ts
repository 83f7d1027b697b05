import { errorResponses } from '@cs-chat/contracts/rest/common.schemas';
import { TeamRanking, TeamRankingQuery, TeamReport, TeamReportQuery } from '@cs-chat/contracts/rest/report.schemas';
import { OwnerIdParams } from '@cs-chat/contracts/rest/team.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { contentDisposition } from '../media/file-types.ts';
import type { ReportService } from './report.service.ts';
import { rankingCsv, teamReportCsv } from './report-csv.ts';

/** Sends `csv` as a download named `name`. */
function sendCsv(reply: FastifyReply, name: string, csv: string) {
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', contentDisposition('attachment', name))
    .send(csv);
}

/** Response-time reports (issue 14), under /api/reports. */
export const reportRoutes: FastifyPluginAsyncTypebox<{ reports: ReportService }> = async (app, { reports }) => {
  const tags = ['quality'];

  app.get(
    '/teams/:owner_id',
    {
      schema: {
        tags,
        operationId: 'getTeamReport',
        summary:
          "A team's response-time report over a range of its local days, per day or per member, with totals; format=csv for a spreadsheet (the owner, supervisors, admins)",
        params: OwnerIdParams,
        querystring: TeamReportQuery,
        response: { 200: TeamReport, ...errorResponses(400, 401, 403, 404, 422, 503) },
      },
    },
    async (request, reply) => {
      const report = await reports.teamReport(request.caller, request.params.owner_id, request.query);
      if (request.query.format !== 'csv') return report;
      return sendCsv(
        reply,
        `report-${report.owner_id}-${report.from}-${report.to}-${report.group}.csv`,
        teamReportCsv(report),
      );
    },
  );

  app.get(
    '/teams',
    {
      schema: {
        tags,
        operationId: 'rankTeams',
        summary:
          'Every team over a range of days, ranked by 3-minute response rate, then median response time; format=csv for a spreadsheet (admins)',
        querystring: TeamRankingQuery,
        response: { 200: TeamRanking, ...errorResponses(400, 401, 403, 422, 503) },
      },
    },
    async (request, reply) => {
      const ranking = await reports.ranking(request.caller, request.query);
      if (request.query.format !== 'csv') return ranking;
      return sendCsv(reply, `team-ranking-${ranking.from}-${ranking.to}.csv`, rankingCsv(ranking));
    },
  );
};
