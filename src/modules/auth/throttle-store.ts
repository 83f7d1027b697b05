import type { Redis } from 'ioredis';

/**
 * Buckets of failures with exponential backoff, and where they live: this
 * process, or Redis so every instance of a deployment sees the same counts.
 * The login throttle (login-throttle.ts) and the username-check limit use them.
 */

export const MINUTE = 60_000;

export interface BucketPolicy {
  free: number;
  baseMs: number;
  maxWaitMs: number;
  forgetAfterMs: number;
}

/** One bucket's state: failures so far and when the latest happened (ms). */
export interface BucketState {
  failures: number;
  lastFailureAt: number;
}

/** Where the buckets live: this process, or Redis so every instance sees the same counts. */
export interface ThrottleStore {
  read(keys: readonly string[]): Promise<(BucketState | undefined)[]>;
  /** Counts a failure now; the bucket disappears `ttlMs` after its latest failure. */
  fail(key: string, now: number, ttlMs: number): Promise<void>;
  clear(key: string): Promise<void>;
  /** Keeps an empty bucket for `ttlMs`: a mark that something happened (a sign-in from an address). */
  mark(key: string, ttlMs: number): Promise<void>;
}

export function waitMs(state: BucketState | undefined, policy: BucketPolicy, now: number): number {
  if (!state || state.failures < policy.free) return 0;
  const backoff = Math.min(policy.maxWaitMs, policy.baseMs * 2 ** Math.min(state.failures - policy.free, 30));
  return Math.max(0, state.lastFailureAt + backoff - now);
}

export function createMemoryThrottleStore(maxKeys = 100_000, clock = () => Date.now()): ThrottleStore {
  const buckets = new Map<string, BucketState & { expiresAt: number }>();
  const live = (key: string) => {
    const bucket = buckets.get(key);
    if (bucket && bucket.expiresAt <= clock()) {
      buckets.delete(key);
      return undefined;
    }
    return bucket;
  };
  return {
    async read(keys) {
      return keys.map(live);
    },
    async fail(key, now, ttlMs) {
      const bucket = live(key);
      if (bucket) {
        bucket.failures += 1;
        bucket.lastFailureAt = now;
        bucket.expiresAt = now + ttlMs;
        return;
      }
      // Bounds memory under an attack from many addresses: the oldest bucket goes.
      if (buckets.size >= maxKeys) {
        const oldest = buckets.keys().next().value;
        if (oldest !== undefined) buckets.delete(oldest);
      }
      buckets.set(key, { failures: 1, lastFailureAt: now, expiresAt: now + ttlMs });
    },
    async clear(key) {
      buckets.delete(key);
    },
    async mark(key, ttlMs) {
      buckets.delete(key);
      buckets.set(key, { failures: 0, lastFailureAt: 0, expiresAt: clock() + ttlMs });
    },
  };
}

/** Buckets as Redis hashes under `prefix`, shared by every instance of the deployment. */
export function createRedisThrottleStore(redis: Redis, prefix: string): ThrottleStore {
  const redisKey = (key: string) => `${prefix}login-throttle:${key}`;
  return {
    async read(keys) {
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.hmget(redisKey(key), 'failures', 'last');
      const results = (await pipeline.exec()) ?? [];
      return keys.map((_, i) => {
        const [error, value] = results[i] ?? [new Error('no reply'), null];
        if (error) throw error;
        const [failures, last] = value as [string | null, string | null];
        return failures === null ? undefined : { failures: Number(failures), lastFailureAt: Number(last ?? 0) };
      });
    },
    async fail(key, now, ttlMs) {
      const k = redisKey(key);
      await redis.multi().hincrby(k, 'failures', 1).hset(k, 'last', now).pexpire(k, ttlMs).exec();
    },
    async clear(key) {
      await redis.del(redisKey(key));
    },
    async mark(key, ttlMs) {
      const k = redisKey(key);
      await redis.multi().del(k).hset(k, 'failures', 0, 'last', 0).pexpire(k, ttlMs).exec();
    },
  };
}

export interface ThrottleLogger {
  warn(object: object, message: string): void;
}

/**
 * Redis when configured, this process's memory while Redis does not answer:
 * a sign-in never fails because Redis is away (counts are then per instance
 * until it returns, and the switch is logged once per outage).
 */
export function withMemoryFallback(
  primary: ThrottleStore,
  fallback: ThrottleStore,
  logger: ThrottleLogger,
): ThrottleStore {
  let degraded = false;
  async function attempt<T>(work: (store: ThrottleStore) => Promise<T>): Promise<T> {
    try {
      const result = await work(primary);
      degraded = false;
      return result;
    } catch (error) {
      if (!degraded) logger.warn({ err: error }, 'login throttle: redis unavailable, counting in this process');
      degraded = true;
      return work(fallback);
    }
  }
  return {
    read: (keys) => attempt((store) => store.read(keys)),
    fail: (key, now, ttl) => attempt((store) => store.fail(key, now, ttl)),
    clear: (key) => attempt((store) => store.clear(key)),
    mark: (key, ttl) => attempt((store) => store.mark(key, ttl)),
  };
}

/**
 * One bucket per key with the same backoff, for other guesses worth slowing:
 * whether a username is taken (a 409 on a rename tells), per caller.
 */
export function createFailureLimiter(
  store: ThrottleStore,
  policy: BucketPolicy,
  name: string,
  clock = () => Date.now(),
) {
  const key = (subject: string) => `${name}:${subject}`;
  return {
    async retryAfterSeconds(subject: string): Promise<number> {
      const [state] = await store.read([key(subject)]);
      return Math.ceil(waitMs(state, policy, clock()) / 1000);
    },
    async recordFailure(subject: string): Promise<void> {
      await store.fail(key(subject), clock(), policy.forgetAfterMs + policy.maxWaitMs);
    },
  };
}

export type FailureLimiter = ReturnType<typeof createFailureLimiter>;
