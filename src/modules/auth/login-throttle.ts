import type { Redis } from 'ioredis';

/**
 * Failed sign-ins, counted in buckets with exponential backoff: after `free`
 * failures a bucket makes its key wait `baseMs × 2^(failures − free)`, at
 * most `maxWaitMs`; `forgetAfterMs` without a failure empties it.
 *
 * Three buckets, so that no one can lock an account's owner out for long:
 * - (account, address): strict. An attacker at one address is slowed to a
 *   handful of guesses an hour, and the owner elsewhere is not affected.
 * - account: looser and with a short ceiling. It only fills when many
 *   addresses guess one account; it never applies at an address the owner
 *   signed in from before (remembered for 30 days), and elsewhere the owner
 *   waits at most a minute.
 * - address, for usernames no account has: one address trying many names.
 * A locked address is refused for every username, so a 429 never tells
 * which usernames exist.
 */
const MINUTE = 60_000;

export interface BucketPolicy {
  free: number;
  baseMs: number;
  maxWaitMs: number;
  forgetAfterMs: number;
}

export interface LoginThrottlePolicy {
  accountAddress: BucketPolicy;
  account: BucketPolicy;
  unknownAddress: BucketPolicy;
}

/**
 * (account, address): 5 free, then 30 s, 1 min, 2 min, … up to 15 min.
 * account: 20 free (many addresses), then 5 s, 10 s, … never more than 1 min.
 * address with unknown usernames: 30 free, then 30 s, 1 min, … up to 15 min.
 */
export const DEFAULT_LOGIN_THROTTLE: LoginThrottlePolicy = {
  accountAddress: { free: 5, baseMs: 30_000, maxWaitMs: 15 * MINUTE, forgetAfterMs: 15 * MINUTE },
  account: { free: 20, baseMs: 5_000, maxWaitMs: MINUTE, forgetAfterMs: 15 * MINUTE },
  unknownAddress: { free: 30, baseMs: 30_000, maxWaitMs: 15 * MINUTE, forgetAfterMs: 15 * MINUTE },
};

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

/** How long an address the owner signed in from stays exempt from the per-account bucket. */
export const KNOWN_ADDRESS_MS = 30 * 24 * 60 * MINUTE;

/**
 * The bucket key of a username: NFKC, trimmed and lower-cased, so "admin",
 * "Admin", "admin   " and "ａｄｍｉｎ" share one bucket whichever of them the
 * database would match.
 */
export function throttleName(username: string): string {
  return username.normalize('NFKC').trim().toLowerCase();
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

export interface LoginAttempt {
  /** The client address (request.ip: behind TRUSTED_PROXIES, the address the proxy saw). */
  address: string;
  username: string;
}

export function createLoginThrottle(
  store: ThrottleStore = createMemoryThrottleStore(),
  policy: LoginThrottlePolicy = DEFAULT_LOGIN_THROTTLE,
  clock = () => Date.now(),
) {
  const keys = ({ address, username }: LoginAttempt) => {
    const name = throttleName(username);
    return {
      accountAddress: `aa:${name}\u0000${address}`,
      knownAddress: `k:${name}\u0000${address}`,
      account: `a:${name}`,
      unknownAddress: `u:${address}`,
    };
  };
  const ttl = (bucket: BucketPolicy) => bucket.forgetAfterMs + bucket.maxWaitMs;

  return {
    /** Seconds until this attempt may be made, or 0 when it may be made now. */
    async retryAfterSeconds(attempt: LoginAttempt): Promise<number> {
      const k = keys(attempt);
      const [pair, known, account, address] = await store.read([
        k.accountAddress,
        k.knownAddress,
        k.account,
        k.unknownAddress,
      ]);
      const now = clock();
      const wait = Math.max(
        waitMs(pair, policy.accountAddress, now),
        known ? 0 : waitMs(account, policy.account, now),
        waitMs(address, policy.unknownAddress, now),
      );
      return Math.ceil(wait / 1000);
    },

    /** A wrong password, or a username no active account has (`accountExists` false). */
    async recordFailure(attempt: LoginAttempt, accountExists: boolean): Promise<void> {
      const k = keys(attempt);
      const now = clock();
      await Promise.all([
        store.fail(k.accountAddress, now, ttl(policy.accountAddress)),
        accountExists
          ? store.fail(k.account, now, ttl(policy.account))
          : store.fail(k.unknownAddress, now, ttl(policy.unknownAddress)),
      ]);
    },

    /**
     * The owner got in from this address: their own guesses there are
     * forgiven, and a siege of the account from elsewhere no longer holds them up here.
     */
    async recordSuccess(attempt: LoginAttempt): Promise<void> {
      const k = keys(attempt);
      await Promise.all([store.clear(k.accountAddress), store.mark(k.knownAddress, KNOWN_ADDRESS_MS)]);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;

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

/** Renames onto a taken username: 10 free an hour, then 30 s, 1 min, … up to 15 min. */
export const USERNAME_CHECK_POLICY: BucketPolicy = {
  free: 10,
  baseMs: 30_000,
  maxWaitMs: 15 * MINUTE,
  forgetAfterMs: 60 * MINUTE,
};
