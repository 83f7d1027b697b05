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

/** A bucket an attempt must not be held up by. */
export interface BucketCheck {
  key: string;
  policy: BucketPolicy;
}

/** A bucket an attempt is counted in; it disappears `ttlMs` after its latest failure. */
export interface BucketCharge {
  key: string;
  ttlMs: number;
}

/** Where the buckets live: this process, or Redis so every instance sees the same counts. */
export interface ThrottleStore {
  read(keys: readonly string[]): Promise<(BucketState | undefined)[]>;
  /**
   * In one atomic step: the longest wait (ms) the `checks` impose now, and
   * when there is none, a failure counted in each of `charges`. Counting an
   * attempt before its outcome is known is what stops a burst of concurrent
   * guesses from all passing a check none of them has been counted in yet.
   */
  charge(checks: readonly BucketCheck[], charges: readonly BucketCharge[], now: number): Promise<number>;
  /** Takes back one failure counted by `charge` (the attempt succeeded). */
  refund(key: string): Promise<void>;
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
  function fail(key: string, now: number, ttlMs: number): void {
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
  }
  return {
    async read(keys) {
      return keys.map(live);
    },
    // No await between the check and the count: atomic within this process.
    async charge(checks, charges, now) {
      const wait = Math.max(0, ...checks.map(({ key, policy }) => waitMs(live(key), policy, now)));
      if (wait === 0) for (const { key, ttlMs } of charges) fail(key, now, ttlMs);
      return wait;
    },
    async refund(key) {
      const bucket = live(key);
      if (bucket && bucket.failures > 0) bucket.failures -= 1;
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

/**
 * charge() in Redis: waitMs() for each checked bucket, then, when none makes
 * the attempt wait, a failure in each charged one. KEYS: the checked buckets,
 * then the charged ones; ARGV: now, the number of checks, free/base/max per
 * check, then a TTL per charge.
 */
const CHARGE_SCRIPT = `
local now = tonumber(ARGV[1])
local checks = tonumber(ARGV[2])
local wait = 0
for i = 1, checks do
  local state = redis.call('HMGET', KEYS[i], 'failures', 'last')
  local failures = tonumber(state[1])
  local free = tonumber(ARGV[3 * i])
  if failures and failures >= free then
    local backoff = math.min(tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 1]) * 2 ^ math.min(failures - free, 30))
    wait = math.max(wait, (tonumber(state[2]) or 0) + backoff - now)
  end
end
if wait > 0 then return math.ceil(wait) end
for i = checks + 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'failures', 1)
  redis.call('HSET', KEYS[i], 'last', now)
  redis.call('PEXPIRE', KEYS[i], ARGV[3 * checks + 3 + i - checks - 1])
end
return 0
`;

/** refund() in Redis: never creates a bucket (it would have no expiry) nor goes below zero. */
const REFUND_SCRIPT = `
if tonumber(redis.call('HGET', KEYS[1], 'failures') or '0') > 0 then redis.call('HINCRBY', KEYS[1], 'failures', -1) end
return 0
`;

/** Buckets as Redis hashes under `prefix`, shared by every instance of the deployment. */
export function createRedisThrottleStore(redis: Redis, prefix: string): ThrottleStore {
  const redisKey = (key: string) => `${prefix}login-throttle:${key}`;
  return {
    async charge(checks, charges, now) {
      const keys = [...checks.map((c) => redisKey(c.key)), ...charges.map((c) => redisKey(c.key))];
      const args = [
        now,
        checks.length,
        ...checks.flatMap(({ policy }) => [policy.free, policy.baseMs, policy.maxWaitMs]),
        ...charges.map((c) => c.ttlMs),
      ];
      return Number(await redis.eval(CHARGE_SCRIPT, keys.length, ...keys, ...args));
    },
    async refund(key) {
      await redis.eval(REFUND_SCRIPT, 1, redisKey(key));
    },
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
    charge: (checks, charges, now) => attempt((store) => store.charge(checks, charges, now)),
    refund: (key) => attempt((store) => store.refund(key)),
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
    /** Seconds to wait, or 0: then the attempt is counted as a failure (atomically with the check) until succeeded(). */
    async begin(subject: string): Promise<number> {
      const charge = { key: key(subject), ttlMs: policy.forgetAfterMs + policy.maxWaitMs };
      return Math.ceil((await store.charge([{ key: charge.key, policy }], [charge], clock())) / 1000);
    },
    async succeeded(subject: string): Promise<void> {
      await store.refund(key(subject));
    },
  };
}

export type FailureLimiter = ReturnType<typeof createFailureLimiter>;
