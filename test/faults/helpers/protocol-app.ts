import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../../helpers/test-app.ts';

/**
 * A test app on any dialect that also speaks WebSocket: every app of the one
 * harness (test/helpers/test-app.ts) does now, so these are its names for it.
 */
export type ProtocolApp = TestApp;
export const startProtocolApp = startTestApp;

/** The p-th percentile (0..100) of samples, nearest-rank. */
export function percentile(samples: readonly number[], p: number): number {
  assert.ok(samples.length > 0, 'no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

/** Resident set size of this process, in bytes. */
export function rss(): number {
  return process.memoryUsage().rss;
}
