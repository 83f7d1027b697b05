import { type HistogramData, mergeHistograms } from '../lib/histogram.ts';

/** What the workers answer, and how the orchestrator adds several workers' answers up. */

export interface PairsRun {
  sent: number;
  /** Sends whose send time fell in the measured window. */
  sentInWindow: number;
  completed: number;
  windowMs: number;
  lost: number;
  errors: Record<string, number>;
  ack: HistogramData;
  deliver: HistogramData;
  deliverFromIntended: HistogramData;
  loopDelay: { p99: number; max: number };
}

export interface ListenRun {
  deliveries: number;
  windowMs: number;
  latency: HistogramData;
  loopDelay: { p99: number; max: number };
  open: number;
}

export interface FloorRun {
  completed: number;
  errors: number;
  windowMs: number;
  latency: HistogramData;
  transaction?: HistogramData;
  loopDelay: { p99: number; max: number };
  rows?: number;
}

export function combinePairs(runs: readonly PairsRun[]) {
  const windowMs = runs[0]?.windowMs ?? 1;
  const errors: Record<string, number> = {};
  for (const run of runs) for (const [k, v] of Object.entries(run.errors)) errors[k] = (errors[k] ?? 0) + v;
  return {
    sent: runs.reduce((s, r) => s + r.sent, 0),
    sentInWindow: runs.reduce((s, r) => s + r.sentInWindow, 0),
    completed: runs.reduce((s, r) => s + r.completed, 0),
    perSecond: runs.reduce((s, r) => s + r.completed, 0) / (windowMs / 1000),
    lost: runs.reduce((s, r) => s + r.lost, 0),
    errors,
    errorCount: Object.values(errors).reduce((s, v) => s + v, 0),
    ack: mergeHistograms(runs.map((r) => r.ack)).summary(),
    deliver: mergeHistograms(runs.map((r) => r.deliver)).summary(),
    deliverFromIntended: mergeHistograms(runs.map((r) => r.deliverFromIntended)).summary(),
    generatorLoopDelayP99: Math.max(0, ...runs.map((r) => r.loopDelay.p99)),
  };
}

export function combineListeners(runs: readonly ListenRun[]) {
  const windowMs = runs[0]?.windowMs ?? 1;
  return {
    deliveries: runs.reduce((s, r) => s + r.deliveries, 0),
    perSecond: runs.reduce((s, r) => s + r.deliveries, 0) / (windowMs / 1000),
    latency: mergeHistograms(runs.map((r) => r.latency)).summary(),
    open: runs.reduce((s, r) => s + r.open, 0),
    generatorLoopDelayP99: Math.max(0, ...runs.map((r) => r.loopDelay.p99)),
  };
}

/**
 * One steady stream of `rate` messages/s sent by `workers` processes: each
 * sends its share, offset by its phase (a fraction of its interval), so the
 * sends interleave evenly instead of leaving in bursts of one per worker.
 */
export function streamShares(rate: number, workers: number): { rate: number; phase: number }[] {
  return split(Math.round(rate * 1000), workers).map((share, i) => ({ rate: share / 1000, phase: i / workers }));
}

/** Splits an integer total over n parts as evenly as possible. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}
