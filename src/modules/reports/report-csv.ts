import { REPORT_FIGURES, type TeamRanking, type TeamReport } from '@cs-chat/contracts/rest/report.schemas';

/** A byte-order mark first, so spreadsheets (Excel) read the file as UTF-8. */
const BOM = '\uFEFF';

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote or line break, quotes doubled.
 * A text starting with = + - @ (a formula to a spreadsheet) gets a leading apostrophe.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

const line = (fields: readonly (string | number | null)[]) => `${fields.map(csvField).join(',')}\r\n`;

/** A team's report as CSV: its rows, then a totals row (`total` in the first column). */
export function teamReportCsv(report: TeamReport): string {
  const keys = report.group === 'day' ? ['day'] : ['agent_id', 'agent_name'];
  const rows = [...report.rows, report.totals].map((row, i) => [
    ...(report.group === 'day'
      ? [i === report.rows.length ? 'total' : row.day]
      : [i === report.rows.length ? 'total' : row.agent_id, row.agent_name]),
    ...REPORT_FIGURES.map((figure) => row[figure]),
  ]);
  return BOM + line([...keys, ...REPORT_FIGURES]) + rows.map(line).join('');
}

/** The admins' ranking as CSV. */
export function rankingCsv(ranking: TeamRanking): string {
  const keys = ['rank', 'owner_id', 'owner_name', 'timezone'] as const;
  return (
    BOM +
    line([...keys, ...REPORT_FIGURES]) +
    ranking.rows.map((row) => line([...keys.map((k) => row[k]), ...REPORT_FIGURES.map((f) => row[f])])).join('')
  );
}
