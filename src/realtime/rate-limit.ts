export interface RateLimitOptions {
  /** Frames a connection may send at once after being quiet. */
  burst: number;
  /** Frames per second refilled. */
  perSecond: number;
  /** Rejected frames within `strikeWindowMs` after which the connection is closed (1008). */
  maxStrikes: number;
  strikeWindowMs: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = {
  burst: 30,
  perSecond: 10,
  maxStrikes: 20,
  strikeWindowMs: 10_000,
};

export type RateDecision = 'allow' | 'reject' | 'disconnect';

/**
 * A token bucket per connection. An empty bucket rejects the frame (the
 * client gets an `error`); too many rejections in a window mean the client
 * ignores those errors, and the connection is closed.
 */
export function createRateLimiter(options: RateLimitOptions, now: () => number = Date.now) {
  let tokens = options.burst;
  let refilledAt = now();
  let strikes = 0;
  let firstStrikeAt = 0;

  return {
    take(): RateDecision {
      const at = now();
      tokens = Math.min(options.burst, tokens + ((at - refilledAt) / 1000) * options.perSecond);
      refilledAt = at;
      if (tokens >= 1) {
        tokens -= 1;
        return 'allow';
      }
      if (strikes === 0 || at - firstStrikeAt > options.strikeWindowMs) {
        strikes = 0;
        firstStrikeAt = at;
      }
      strikes += 1;
      return strikes >= options.maxStrikes ? 'disconnect' : 'reject';
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
