/**
 * Response-time histograms (README, "Response-time reports"): counts per bucket of
 * seconds, stored with each day's figures as JSON so a report merges days (and
 * members) by adding counts and reads percentiles without the turns.
 *
 * Buckets, named by their lower bound: exact seconds below 10 minutes, then 10 s
 * up to an hour, 1 min up to a day, 1 h beyond. A percentile is the bucket of the
 * nearest-rank turn, reported as the bucket's lower bound: exact below 600 s, and
 * never more than 10 s (under an hour), 1 min (under a day) or 1 h below the exact
 * figure; at most 1.7 % low between 10 minutes and a day.
 */
export type Histogram = Record<string, number>;

/** The bucket (its lower bound, in seconds) that `seconds` falls in. */
export function bucketOf(seconds: number): number {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 600) return s;
  if (s < 3_600) return s - (s % 10);
  if (s < 86_400) return s - (s % 60);
  return s - (s % 3_600);
}

/** Adds `count` turns of `seconds` to `histogram` (in place). */
export function record(histogram: Histogram, seconds: number, count = 1): void {
  const bucket = String(bucketOf(seconds));
  histogram[bucket] = (histogram[bucket] ?? 0) + count;
}

/** Adds every count of `from` to `into` (in place). */
export function mergeInto(into: Histogram, from: Histogram): void {
  for (const [bucket, count] of Object.entries(from)) into[bucket] = (into[bucket] ?? 0) + count;
}

/**
 * The nearest-rank `p` quantile (0 < p ≤ 1): the bucket of the ⌈p·n⌉-th smallest
 * time; null for an empty histogram.
 */
export function percentile(histogram: Histogram, p: number): number | null {
  const buckets = Object.entries(histogram)
    .map(([bucket, count]) => [Number(bucket), count] as const)
    .filter(([, count]) => count > 0)
    .sort((a, b) => a[0] - b[0]);
  const total = buckets.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (const [bucket, count] of buckets) {
    seen += count;
    if (seen >= rank) return bucket;
  }
  return null;
}
