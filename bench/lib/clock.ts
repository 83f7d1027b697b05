import { performance } from 'node:perf_hooks';

/**
 * Wall-clock milliseconds with sub-millisecond resolution. Every process on
 * the machine derives it from the same clock, so a timestamp written by one
 * process (a sender) can be compared with the receipt time in another (an
 * admin); the error is the processes' time-origin skew, microseconds here.
 */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves at the given nowMs() instant (immediately when it has passed). */
export function sleepUntil(at: number): Promise<void> {
  return sleep(Math.max(0, at - nowMs()));
}
