import type { TeamReportRow } from '@cs-chat/contracts/rest/report.schemas';
import type { ReportDailyTable } from '../../db/types.ts';
import { type Histogram, mergeInto, percentile } from './response-histogram.ts';
import { COUNTERS } from './turns.ts';

type StoredDay = Omit<ReportDailyTable, 'conversations' | (typeof COUNTERS)[number]> &
  Record<(typeof COUNTERS)[number], number | string>;

export type Figures = Omit<TeamReportRow, 'day' | 'agent_id' | 'agent_name'>;

/**
 * The report's figures from stored daily rows (README, "Response-time reports").
 * `team`: turns started and conversations begun; `agent`: what the member is credited
 * with (the turns they answered, the episodes they gave the first response of).
 */
export function figuresOf(rows: readonly StoredDay[], view: 'team' | 'agent'): Figures {
  const sum = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<(typeof COUNTERS)[number], number>;
  const first: Histogram = {};
  const response: Histogram = {};
  for (const row of rows) {
    for (const counter of COUNTERS) sum[counter] += Number(row[counter]);
    mergeInto(first, JSON.parse(row.first_histogram) as Histogram);
    mergeInto(response, JSON.parse(row.response_histogram) as Histogram);
  }
  return {
    conversations: view === 'team' ? sum.conversations : sum.first_responses,
    buyer_turns: view === 'team' ? sum.buyer_turns : sum.answered,
    answered: sum.answered,
    unanswered: view === 'team' ? Math.max(0, sum.buyer_turns - sum.answered) : null,
    team_messages: sum.team_messages,
    first_response_p50: percentile(first, 0.5),
    first_response_p90: percentile(first, 0.9),
    response_p50: percentile(response, 0.5),
    response_p90: percentile(response, 0.9),
    response_rate_3min: sum.answered === 0 ? null : round(sum.within_180 / sum.answered, 4),
    resolved: sum.resolved,
    ratings: sum.ratings,
    rating_average: sum.ratings === 0 ? null : round(sum.rating_sum / sum.ratings, 2),
  };
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
