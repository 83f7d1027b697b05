import type { TeamReportRow } from '@cs-chat/contracts/rest/report.schemas';
import type { ReportDailyTable } from '../../db/types.ts';
import { HistogramSum } from './response-histogram.ts';
import { COUNTERS } from './turns.ts';

type StoredDay = Omit<ReportDailyTable, 'conversations' | (typeof COUNTERS)[number]> &
  Record<(typeof COUNTERS)[number], number | string>;

/** A stored day with its histograms parsed, once: a report adds each row to its group and to the totals. */
export type ParsedDay = Omit<StoredDay, 'first_histogram' | 'response_histogram'> & {
  first_histogram: readonly number[];
  response_histogram: readonly number[];
};

export function parseDays(rows: readonly StoredDay[]): ParsedDay[] {
  return rows.map((row) => ({
    ...row,
    first_histogram: JSON.parse(row.first_histogram) as number[],
    response_histogram: JSON.parse(row.response_histogram) as number[],
  }));
}

export type Figures = Omit<TeamReportRow, 'day' | 'agent_id' | 'agent_name'>;

/**
 * The report's figures from stored daily rows (README, "Response-time reports").
 * `team`: turns started and conversations begun; `agent`: what the member is credited
 * with (the turns they answered, the episodes they gave the first response of).
 */
/** Reused by every call (synchronous: one at a time): no allocation per row group. */
const first = new HistogramSum();
const response = new HistogramSum();

export function figuresOf(rows: readonly ParsedDay[], view: 'team' | 'agent'): Figures {
  const sum = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<(typeof COUNTERS)[number], number>;
  first.clear();
  response.clear();
  for (const row of rows) {
    for (const counter of COUNTERS) sum[counter] += Number(row[counter]);
    first.add(row.first_histogram);
    response.add(row.response_histogram);
  }
  return {
    conversations: view === 'team' ? sum.conversations : sum.first_responses,
    buyer_turns: view === 'team' ? sum.buyer_turns : sum.answered,
    answered: sum.answered,
    unanswered: view === 'team' ? Math.max(0, sum.buyer_turns - sum.answered) : null,
    team_messages: sum.team_messages,
    first_response_p50: first.percentile(0.5),
    first_response_p90: first.percentile(0.9),
    response_p50: response.percentile(0.5),
    response_p90: response.percentile(0.9),
    response_rate_3min: sum.answered === 0 ? null : round(sum.within_180 / sum.answered, 4),
    resolved: sum.resolved,
    ratings: sum.ratings,
    rating_average: sum.ratings === 0 ? null : round(sum.rating_sum / sum.ratings, 2),
  };
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
