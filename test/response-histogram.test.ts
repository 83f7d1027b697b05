import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  bucketOf,
  decode,
  encode,
  type Histogram,
  HistogramSum,
  mergeInto,
  record,
} from '../src/modules/reports/response-histogram.ts';

/** The reports' histograms (README, "Response-time reports": the precision). */
describe('response-time histograms', () => {
  test('buckets: exact below 10 minutes, then 10 s, 1 min, 1 h; a wait over a year counts as a year', () => {
    const cases: [number, number][] = [
      [0, 0],
      [599, 599],
      [600, 600],
      [609, 600],
      [3_599, 3_590],
      [3_600, 3_600],
      [3_659, 3_600],
      [86_399, 86_340],
      [86_400, 86_400],
      [89_999, 86_400],
      [90_000, 90_000],
      [400 * 86_400, 86_400 + (24 * 365 - 1) * 3_600],
    ];
    for (const [seconds, bucket] of cases) assert.equal(bucketOf(seconds), bucket, `${seconds} s`);
  });

  test('a bucket is never more than 1.7 % below the wait between 10 minutes and a day', () => {
    fc.assert(
      fc.property(fc.integer({ min: 600, max: 86_399 }), (seconds) => {
        const bucket = bucketOf(seconds);
        return bucket <= seconds && (seconds - bucket) / seconds < 0.017;
      }),
    );
  });

  test('stored, summed over days, percentiles are the nearest rank of all the waits, bucketed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.nat({ max: 200_000 }), { maxLength: 30 }), { minLength: 1, maxLength: 8 }),
        (days) => {
          const sum = new HistogramSum();
          const all: number[] = [];
          for (const waits of days) {
            const histogram: Histogram = {};
            for (const wait of waits) record(histogram, wait);
            const merged: Histogram = {};
            mergeInto(merged, decode(encode(histogram)));
            assert.deepEqual(merged, histogram, 'encode and decode round-trip');
            sum.add(encode(histogram));
            all.push(...waits);
          }
          all.sort((a, b) => a - b);
          for (const p of [0.5, 0.9]) {
            const expected = all.length === 0 ? null : bucketOf(all[Math.ceil(p * all.length) - 1] as number);
            assert.equal(sum.percentile(p), expected);
          }
          sum.clear();
          assert.equal(sum.percentile(0.5), null, 'cleared');
        },
      ),
    );
  });
});
