import type { TeamReportRow } from './api.ts';

/**
 * How the reports view writes the API's figures (GET /api/reports/teams/…): counts as they are,
 * seconds and averages to one decimal, shares as percentages; null (nothing to measure) as a dash.
 */

/** The figures of a report row (every field but its key: the day or the agent). */
export type Figure = Exclude<keyof TeamReportRow, 'day' | 'agent_id' | 'agent_name'>;

/** Whether a figure is a column of the table; a Record, so a figure the contract adds fails the type check here. */
const SHOWN: Record<Figure, true> = {
  conversations: true,
  buyer_turns: true,
  answered: true,
  unanswered: true,
  team_messages: true,
  first_response_p50: true,
  first_response_p90: true,
  response_p50: true,
  response_p90: true,
  response_rate_3min: true,
  resolved: true,
  ratings: true,
  rating_average: true,
};
/** The table's columns, in the order of the API's CSV. */
export const FIGURE_COLUMNS = Object.keys(SHOWN) as Figure[];

const SHARES: ReadonlySet<Figure> = new Set(['response_rate_3min']);

export const NO_FIGURE = '—';

/** One figure as a table cell shows it. */
export function formatFigure(figure: Figure, value: number | null, locale: string): string {
  if (value === null) return NO_FIGURE;
  if (SHARES.has(figure)) {
    return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(value);
  }
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }).format(value);
}

/** YYYY-MM-DD of a moment in a time zone (the browser's when none is given). */
export function dayIn(moment: Date, timeZone?: string): string {
  // en-CA writes dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(
    moment,
  );
}

/**
 * The default range: the last seven days, today included, in the team's time zone (the API's
 * days are the team's local days, so a browser elsewhere still gets today's figures).
 */
export function lastSevenDays(now = new Date(), timeZone?: string): { from: string; to: string } {
  const to = dayIn(now, timeZone);
  const first = new Date(`${to}T00:00:00Z`);
  first.setUTCDate(first.getUTCDate() - 6);
  return { from: first.toISOString().slice(0, 10), to };
}
