/**
 * Counts failed sign-ins per (client address, username) and per address, in a
 * fixed window, so password guessing is slowed without locking a user out for
 * everyone. In-process: with several instances each keeps its own counts.
 */
export interface LoginThrottleOptions {
  maxFailuresPerAccount: number;
  maxFailuresPerAddress: number;
  windowMs: number;
  /** Bounds memory under an attack from many addresses. */
  maxTrackedKeys: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = {
  maxFailuresPerAccount: 5,
  maxFailuresPerAddress: 30,
  windowMs: 15 * 60_000,
  maxTrackedKeys: 100_000,
};

interface Window {
  failures: number;
  resetAt: number;
}

export function createLoginThrottle(options: LoginThrottleOptions = DEFAULT_LOGIN_THROTTLE, now = () => Date.now()) {
  const windows = new Map<string, Window>();

  const current = (key: string): Window | undefined => {
    const window = windows.get(key);
    if (window && window.resetAt <= now()) {
      windows.delete(key);
      return undefined;
    }
    return window;
  };

  const keys = (address: string, username: string) =>
    [
      [`account:${address}:${username.toLowerCase()}`, options.maxFailuresPerAccount],
      [`address:${address}`, options.maxFailuresPerAddress],
    ] as const;

  return {
    /** Seconds until the caller may try again, or 0 when allowed now. */
    retryAfterSeconds(address: string, username: string): number {
      let wait = 0;
      for (const [key, limit] of keys(address, username)) {
        const window = current(key);
        if (window && window.failures >= limit) wait = Math.max(wait, Math.ceil((window.resetAt - now()) / 1000));
      }
      return wait;
    },

    recordFailure(address: string, username: string): void {
      for (const [key] of keys(address, username)) {
        const window = current(key);
        if (window) {
          window.failures++;
          continue;
        }
        if (windows.size >= options.maxTrackedKeys) {
          const oldest = windows.keys().next().value;
          if (oldest !== undefined) windows.delete(oldest);
        }
        windows.set(key, { failures: 1, resetAt: now() + options.windowMs });
      }
    },

    recordSuccess(address: string, username: string): void {
      windows.delete(`account:${address}:${username.toLowerCase()}`);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
