/**
 * Response-time histograms (README, "Response-time reports"): counts per bucket of
 * seconds, stored with each day's figures so a report merges days (and members) by
 * adding counts and reads percentiles without the turns.
 *
 * Buckets, named by their lower bound: exact seconds below 10 minutes, then 10 s up
 * to an hour, 1 min up to a day, 1 h up to a year; a longer wait counts as a year. A
 * percentile is the bucket of the nearest-rank turn, reported as the bucket's lower
 * bound: exact below 600 s, and never more than 10 s (under an hour), 1 min (under a
 * day) or 1 h below the exact figure; at most 1.7 % low between 10 minutes and a day.
 *
 * Stored as JSON pairs `[lower bound, count, …]` in bucket order: a report parses
 * thousands of them per request, and flat arrays parse and add several times faster
 * than objects.
 */

/** Lower bound (seconds, as a string key) → count: a day's or a round's histogram in memory. */
export type Histogram = Record<string, number>;

const HOUR = 3_600;
const DAY = 86_400;
/** Buckets: 600 exact seconds, 300 of 10 s, 1,380 of 1 min, 8,760 of 1 h. */
const BUCKETS = 600 + 300 + 1_380 + 24 * 365;
const LONGEST = DAY + (24 * 365 - 1) * HOUR;

/** The bucket's index (0 … BUCKETS − 1) of a wait of `seconds`. */
function indexOf(seconds: number): number {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 600) return s;
  if (s < HOUR) return 600 + Math.floor((s - 600) / 10);
  if (s < DAY) return 900 + Math.floor((s - HOUR) / 60);
  return 2_280 + Math.min(24 * 365 - 1, Math.floor((s - DAY) / HOUR));
}

/** The lower bound (seconds) of the bucket at `index`. */
function lowerBoundOf(index: number): number {
  if (index < 600) return index;
  if (index < 900) return 600 + (index - 600) * 10;
  if (index < 2_280) return HOUR + (index - 900) * 60;
  return DAY + (index - 2_280) * HOUR;
}

/** The bucket (its lower bound, in seconds) that `seconds` falls in. */
export const bucketOf = (seconds: number): number => lowerBoundOf(indexOf(Math.min(seconds, LONGEST)));

/** Adds `count` turns of `seconds` to `histogram` (in place). */
export function record(histogram: Histogram, seconds: number, count = 1): void {
  const bucket = String(bucketOf(seconds));
  histogram[bucket] = (histogram[bucket] ?? 0) + count;
}

/** Adds every count of `from` to `into` (in place). */
export function mergeInto(into: Histogram, from: Histogram): void {
  for (const bucket in from) into[bucket] = (into[bucket] ?? 0) + (from[bucket] as number);
}

/** The stored form: `[lower bound, count, …]` in bucket order. */
export function encode(histogram: Histogram): string {
  const buckets = Object.keys(histogram)
    .map(Number)
    .sort((a, b) => a - b);
  return JSON.stringify(buckets.flatMap((bucket) => [bucket, histogram[String(bucket)] as number]));
}

export function decode(stored: string): Histogram {
  const pairs = JSON.parse(stored) as number[];
  const histogram: Histogram = {};
  for (let i = 0; i < pairs.length; i += 2) histogram[String(pairs[i])] = pairs[i + 1] as number;
  return histogram;
}

/**
 * A sum of stored histograms, for percentiles: counts in one array indexed by bucket,
 * reused between sums (`clear` resets only the buckets used).
 */
export class HistogramSum {
  private readonly counts = new Float64Array(BUCKETS);
  private readonly used: number[] = [];
  /** Whether `used` is in bucket order (sorted once for all the percentiles of a sum). */
  private sorted = true;
  private total = 0;

  clear(): void {
    for (const index of this.used) this.counts[index] = 0;
    this.used.length = 0;
    this.sorted = true;
    this.total = 0;
  }

  /** Adds a stored histogram (as stored, or its pairs already parsed: a report parses each row once). */
  add(stored: string | readonly number[]): void {
    const pairs = typeof stored === 'string' ? (JSON.parse(stored) as number[]) : stored;
    for (let i = 0; i < pairs.length; i += 2) {
      const index = indexOf(pairs[i] as number);
      const count = pairs[i + 1] as number;
      const before = this.counts[index] as number;
      if (before === 0) {
        this.used.push(index);
        this.sorted = false;
      }
      this.counts[index] = before + count;
      this.total += count;
    }
  }

  /** The nearest-rank `p` quantile (0 < p ≤ 1): the bucket of the ⌈p·n⌉-th smallest wait; null when empty. */
  percentile(p: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(p * this.total));
    if (!this.sorted) {
      this.used.sort((a, b) => a - b);
      this.sorted = true;
    }
    let seen = 0;
    for (const index of this.used) {
      seen += this.counts[index] as number;
      if (seen >= rank) return lowerBoundOf(index);
    }
    return null;
  }
}
