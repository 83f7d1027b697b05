/**
 * A mergeable latency histogram in microseconds with log-linear buckets
 * (exact below 256 µs, then 128 sub-buckets per power of two: under 0.8 %
 * error), so load generators in several processes can send theirs over IPC
 * and the orchestrator adds them up before taking percentiles.
 */

const LINEAR = 256;
const SUB = 128;
const MAX_BUCKETS = LINEAR + 40 * SUB;

export interface HistogramData {
  /** Sparse [bucket, count] pairs. */
  buckets: [number, number][];
  count: number;
  sum: number;
  min: number;
  max: number;
}

function bucketOf(us: number): number {
  const v = Math.max(0, Math.floor(us));
  if (v < LINEAR) return v;
  const e = Math.floor(Math.log2(v)) - 7;
  const m = Math.floor(v / 2 ** e);
  return Math.min(MAX_BUCKETS - 1, LINEAR + (e - 1) * SUB + (m - SUB));
}

/** The middle of a bucket's value range. */
function middleOf(bucket: number): number {
  if (bucket < LINEAR) return bucket + 0.5;
  const e = Math.floor((bucket - LINEAR) / SUB) + 1;
  const m = ((bucket - LINEAR) % SUB) + SUB;
  return (m + 0.5) * 2 ** e;
}

export class Histogram {
  readonly counts = new Float64Array(MAX_BUCKETS);
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;

  /** Records a duration given in milliseconds. */
  recordMs(ms: number): void {
    this.recordUs(ms * 1000);
  }

  recordUs(us: number): void {
    const v = Math.max(us, 0);
    const bucket = bucketOf(v);
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.count += 1;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = 0;
  }

  toJSON(): HistogramData {
    const buckets: [number, number][] = [];
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i] ?? 0;
      if (c > 0) buckets.push([i, c]);
    }
    return { buckets, count: this.count, sum: this.sum, min: this.count ? this.min : 0, max: this.max };
  }

  static from(data: HistogramData | undefined): Histogram {
    const h = new Histogram();
    if (data) h.merge(data);
    return h;
  }

  merge(data: HistogramData | Histogram): this {
    const other = data instanceof Histogram ? data.toJSON() : data;
    for (const [bucket, count] of other.buckets) this.counts[bucket] = (this.counts[bucket] ?? 0) + count;
    this.count += other.count;
    this.sum += other.sum;
    if (other.count > 0) {
      this.min = Math.min(this.min, other.min);
      this.max = Math.max(this.max, other.max);
    }
    return this;
  }

  /** The q-quantile (0..1) in microseconds, clamped to the observed min and max. */
  quantileUs(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, middleOf(i)));
    }
    return this.max;
  }

  /** Milliseconds summary, the shape results carry. */
  summary(): LatencySummary {
    const ms = (us: number) => round(us / 1000, 3);
    return {
      count: this.count,
      mean: this.count ? ms(this.sum / this.count) : null,
      p50: this.count ? ms(this.quantileUs(0.5)) : null,
      p90: this.count ? ms(this.quantileUs(0.9)) : null,
      p99: this.count ? ms(this.quantileUs(0.99)) : null,
      p999: this.count ? ms(this.quantileUs(0.999)) : null,
      max: this.count ? ms(this.max) : null,
    };
  }
}

/** Latency percentiles in milliseconds; null when nothing was measured. */
export interface LatencySummary {
  count: number;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function mergeHistograms(list: readonly (HistogramData | undefined)[]): Histogram {
  const h = new Histogram();
  for (const data of list) if (data) h.merge(data);
  return h;
}
