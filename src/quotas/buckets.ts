/**
 * Token buckets by key (a user id, an address): `capacity` tokens at most,
 * refilled at `perSecond`. Idle keys are forgotten once full again, so memory
 * follows the active keys only.
 */
export function createKeyedBuckets(capacity: number, perSecond: number, now: () => number = Date.now) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const SWEEP_EVERY = 1024;
  let calls = 0;

  function refill(key: string, at: number): { tokens: number; at: number } {
    const bucket = buckets.get(key) ?? { tokens: capacity, at };
    bucket.tokens = Math.min(capacity, bucket.tokens + ((at - bucket.at) / 1000) * perSecond);
    bucket.at = at;
    buckets.set(key, bucket);
    return bucket;
  }

  function sweep(at: number): void {
    for (const [key, bucket] of buckets) {
      if (bucket.tokens + ((at - bucket.at) / 1000) * perSecond >= capacity) buckets.delete(key);
    }
  }

  return {
    /**
     * Takes `cost` tokens; returns 0 when taken, else the seconds until they
     * would be there (nothing is taken then). A cost above the capacity can never be met.
     */
    take(key: string, cost = 1): number {
      const at = now();
      if (++calls % SWEEP_EVERY === 0) sweep(at);
      const bucket = refill(key, at);
      if (bucket.tokens >= cost) {
        bucket.tokens -= cost;
        return 0;
      }
      if (cost > capacity) return Number.POSITIVE_INFINITY;
      return Math.max(1, Math.ceil((cost - bucket.tokens) / perSecond));
    },
    /**
     * For costs known only afterwards (an upload's bytes): 0 while the bucket
     * holds anything, else the seconds until it does. `charge` then takes the
     * real cost, which may overdraw the bucket once.
     */
    wait(key: string): number {
      const bucket = refill(key, now());
      return bucket.tokens > 0 ? 0 : Math.max(1, Math.ceil(-bucket.tokens / perSecond));
    },
    charge(key: string, cost: number): void {
      refill(key, now()).tokens -= cost;
    },
    /** Gives back tokens a refused or failed operation did not use. */
    refund(key: string, cost = 1): void {
      const bucket = refill(key, now());
      bucket.tokens = Math.min(capacity, bucket.tokens + cost);
    },
    get size(): number {
      return buckets.size;
    },
  };
}

export type KeyedBuckets = ReturnType<typeof createKeyedBuckets>;
