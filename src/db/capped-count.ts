import type { Kysely, SelectQueryBuilder } from 'kysely';
import { unprocessable } from '../lib/errors.ts';

/**
 * Lists count their matches exactly up to this many, and say `count_exact:
 * false` beyond it: an exact count of a large filtered set costs a scan of
 * every match (half a second for 300k messages on MariaDB), paid by every
 * page request. The same bound limits how deep `page` may go; further back,
 * a list's cursor (`before_id` for messages) pages without scanning.
 */
export const COUNT_CAP = 10_000;

export interface CappedCount {
  count: number;
  exact: boolean;
}

/**
 * Counts the matches of a list, reading at most COUNT_CAP + 1 of them:
 * `matches(n)` selects at most n matching rows (any columns).
 */
export async function cappedCount(
  db: Kysely<any>,
  matches: (limit: number) => SelectQueryBuilder<any, any, any>,
  cap = COUNT_CAP,
): Promise<CappedCount> {
  const row = await db
    .selectFrom(matches(cap + 1).as('capped'))
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  const count = Number(row.count);
  return count > cap ? { count: cap, exact: false } : { count, exact: true };
}

/**
 * Whether a page can be read by offset: false when it starts past the end of
 * an exact count (an empty page, as always); a 422 when it starts past a
 * capped count, where an offset would scan every row before it.
 */
export function pageIsReadable(counted: CappedCount, skipped: number): boolean {
  if (skipped < counted.count) return true;
  if (counted.exact) return false;
  throw unprocessable('page_too_deep', [`page: at most the first ${counted.count} matches can be paged by number`]);
}
