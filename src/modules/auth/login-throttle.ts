import { isIP } from 'node:net';
import {
  type BucketCheck,
  type BucketPolicy,
  createMemoryThrottleStore,
  MINUTE,
  type ThrottleStore,
  waitMs,
} from './throttle-store.ts';

/**
 * Failed sign-ins, counted in buckets with exponential backoff: after `free`
 * failures a bucket makes its key wait `baseMs × 2^(failures − free)`, at
 * most `maxWaitMs`; `forgetAfterMs` without a failure empties it.
 *
 * Four buckets, so that no one can lock an account's owner out for long:
 * - (account, address): strict. An attacker at one address is slowed to a
 *   handful of guesses an hour, and the owner elsewhere is not affected.
 * - account: looser and with a short ceiling. It only fills when many
 *   addresses guess one account; it never applies at an address the owner
 *   signed in from before (remembered for 30 days), and elsewhere the owner
 *   waits at most a minute.
 * - address, for usernames no account has: one address trying many names.
 * - address, for every failure, looser: one address trying one password on
 *   many real accounts (password spraying: merchant and service names are in
 *   the directory) fills no account's bucket, so it is counted here.
 * A locked address is refused for every username, so a 429 never tells
 * which usernames exist.
 */

export interface LoginThrottlePolicy {
  accountAddress: BucketPolicy;
  account: BucketPolicy;
  unknownAddress: BucketPolicy;
  address: BucketPolicy;
}

/**
 * (account, address): 5 free, then 30 s, 1 min, 2 min, … up to 15 min.
 * account: 20 free (many addresses), then 5 s, 10 s, … never more than 1 min.
 * address with unknown usernames: 30 free, then 30 s, 1 min, … up to 15 min.
 * address, any failure: 100 free, then 30 s, 1 min, … up to 15 min.
 */
export const DEFAULT_LOGIN_THROTTLE: LoginThrottlePolicy = {
  accountAddress: { free: 5, baseMs: 30_000, maxWaitMs: 15 * MINUTE, forgetAfterMs: 15 * MINUTE },
  account: { free: 20, baseMs: 5_000, maxWaitMs: MINUTE, forgetAfterMs: 15 * MINUTE },
  unknownAddress: { free: 30, baseMs: 30_000, maxWaitMs: 15 * MINUTE, forgetAfterMs: 15 * MINUTE },
  address: { free: 100, baseMs: 30_000, maxWaitMs: 15 * MINUTE, forgetAfterMs: 15 * MINUTE },
};

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

/**
 * The address a bucket is kept for. One IPv6 subscriber is given a whole /64
 * (2^64 addresses), so a per-address bucket keyed by the full address is
 * escaped by changing the last bits at each guess: IPv6 is counted per /64.
 * An IPv4-mapped address (::ffff:192.0.2.1) counts as its IPv4 address.
 */
export function addressBucket(address: string): string {
  if (isIP(address) !== 6) return address;
  const plain = address.replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(plain);
  if (mapped?.[1]) return mapped[1];
  const [head = '', tail] = plain.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const before = groups(head);
  const after = tail === undefined ? [] : groups(tail);
  const full = [...before, ...Array<string>(Math.max(0, 8 - before.length - after.length)).fill('0'), ...after];
  return `${full
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`;
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
  const keys = ({ address: client, username }: LoginAttempt) => {
    const name = throttleName(username);
    const address = addressBucket(client);
    return {
      accountAddress: `aa:${name}\u0000${address}`,
      knownAddress: `k:${name}\u0000${address}`,
      account: `a:${name}`,
      unknownAddress: `u:${address}`,
      address: `f:${address}`,
    };
  };
  const ttl = (bucket: BucketPolicy) => bucket.forgetAfterMs + bucket.maxWaitMs;
  /** The buckets that may hold an attempt up: the account's only away from an address its owner used. */
  const checks = (k: ReturnType<typeof keys>, knownAddress: boolean): BucketCheck[] => [
    { key: k.accountAddress, policy: policy.accountAddress },
    ...(knownAddress ? [] : [{ key: k.account, policy: policy.account }]),
    { key: k.unknownAddress, policy: policy.unknownAddress },
    { key: k.address, policy: policy.address },
  ];

  return {
    /** Seconds until this attempt may be made, or 0 when it may be made now (a look: nothing is counted). */
    async retryAfterSeconds(attempt: LoginAttempt): Promise<number> {
      const k = keys(attempt);
      const [known] = await store.read([k.knownAddress]);
      const checked = checks(k, known !== undefined);
      const states = await store.read(checked.map((c) => c.key));
      const now = clock();
      return Math.ceil(Math.max(0, ...checked.map((c, i) => waitMs(states[i], c.policy, now))) / 1000);
    },

    /**
     * Seconds this attempt must wait, or 0: then it is already counted as a
     * failure (in the same atomic step as the check, so concurrent guesses
     * cannot all slip through before any of them is counted), and only a
     * right password takes that back (recordSuccess). `accountExists`: an
     * active account has this username (else the address's bucket counts it).
     */
    async begin(attempt: LoginAttempt, accountExists: boolean): Promise<number> {
      const k = keys(attempt);
      // Only a success writes the mark, so reading it apart from the charge races with nothing.
      const [known] = await store.read([k.knownAddress]);
      const charges = [
        { key: k.accountAddress, ttlMs: ttl(policy.accountAddress) },
        accountExists
          ? { key: k.account, ttlMs: ttl(policy.account) }
          : { key: k.unknownAddress, ttlMs: ttl(policy.unknownAddress) },
        { key: k.address, ttlMs: ttl(policy.address) },
      ];
      return Math.ceil((await store.charge(checks(k, known !== undefined), charges, clock())) / 1000);
    },

    /**
     * The owner got in from this address: their own guesses there are
     * forgiven, this attempt no longer counts against the account, and a
     * siege of the account from elsewhere no longer holds them up here.
     */
    async recordSuccess(attempt: LoginAttempt): Promise<void> {
      const k = keys(attempt);
      await Promise.all([
        store.clear(k.accountAddress),
        store.refund(k.account),
        store.refund(k.address),
        store.mark(k.knownAddress, KNOWN_ADDRESS_MS),
      ]);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
