/**
 * History pages are windows of seq. Seqs are dense except where a moderator
 * hard-deleted a message, so the k-th live message is found from the short
 * list of deleted seqs instead of counting rows: a deep page costs the same
 * index range read as the first one.
 */

/** The seq of the k-th (1-based) live message, given the deleted seqs in ascending order. */
export function seqOfRank(rank: number, deletedAscending: readonly number[]): number {
  let seq = rank;
  for (const deleted of deletedAscending) {
    if (deleted > seq) break;
    seq++;
  }
  return seq;
}

export type HistoryWindow =
  | { kind: 'empty' }
  | { kind: 'range'; range: { atLeast: number; atMost: number }; order: 'asc' | 'desc' };

/**
 * The seq range holding page `page` of `pageSize` in the given order, for a
 * conversation with `liveCount` messages. `deleted` is consulted only when
 * some message was deleted (the caller passes a loader to skip the query otherwise).
 * Both ends are bounded: with only one, MariaDB may walk the index from the
 * conversation's far end and discard rows until it reaches the page.
 */
export async function pageWindow(
  page: number,
  pageSize: number,
  order: 'asc' | 'desc',
  liveCount: number,
  loadDeleted: () => Promise<readonly number[]>,
  hasDeletions: boolean,
): Promise<HistoryWindow> {
  const skipped = (page - 1) * pageSize;
  if (skipped >= liveCount) return { kind: 'empty' };
  const deleted = hasDeletions ? await loadDeleted() : [];
  // Ranks (1-based, oldest first) of the page's first and last live message.
  const [low, high] =
    order === 'asc'
      ? [skipped + 1, Math.min(skipped + pageSize, liveCount)]
      : [Math.max(liveCount - skipped - pageSize + 1, 1), liveCount - skipped];
  return { kind: 'range', range: { atLeast: seqOfRank(low, deleted), atMost: seqOfRank(high, deleted) }, order };
}
