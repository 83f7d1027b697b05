import type { FloorRun } from '../scenarios/results.ts';
import type { HttpLoadResult } from '../workers/http-load.ts';
import { type BenchContext, SOURCE_ADDRESSES, type WindowMeasurement } from './context.ts';
import type { WorkerProcess } from './workers.ts';

/**
 * The two windows every read benchmark (history, search, reports) measures
 * side by side: the service answering GET requests one at a time, then the
 * bare SQL it runs for them on mysql2, one at a time, as its floor.
 */

/** A scenario's plan for each of its windows. */
export interface ReadWindow {
  warmupMs: number;
  durationMs: number;
}

/** `paths` (cycled) on one connection; throws when any answer is not 200. */
export async function serviceReadWindow(
  ctx: BenchContext,
  args: {
    loader: WorkerProcess;
    port: number;
    token: string;
    paths: readonly string[];
    /** What the requests are, for the error ("search requests failed: …"). */
    what: string;
    window: ReadWindow;
  },
): Promise<WindowMeasurement<HttpLoadResult>> {
  const { warmupMs, durationMs } = args.window;
  const svc = await ctx.window({ warmupMs, durationMs, pids: ctx.pids([args.loader]) }, (startAt) =>
    args.loader.call<HttpLoadResult>('run', {
      host: '127.0.0.1',
      port: args.port,
      localAddresses: SOURCE_ADDRESSES.slice(0, 1),
      requests: args.paths.map((path) => ({ path, headers: { authorization: `Bearer ${args.token}` } })),
      connections: 1,
      startAt,
      warmupMs,
      durationMs,
    }),
  );
  const bad = Object.entries(svc.result.statuses).filter(([status]) => status !== '200');
  if (bad.length || svc.result.errors) {
    throw new Error(
      `${args.what} failed: statuses ${JSON.stringify(svc.result.statuses)}, ${svc.result.firstErrors.join('; ')}`,
    );
  }
  return svc;
}

/** `sql` with each of `params` in turn (cycled), on one connection of the floor worker. */
export function bareQueryWindow(
  ctx: BenchContext,
  args: { floor: WorkerProcess; sql: string; params: readonly unknown[][]; window: ReadWindow },
): Promise<WindowMeasurement<FloorRun>> {
  const { warmupMs, durationMs } = args.window;
  return ctx.window({ warmupMs, durationMs, pids: ctx.pids([args.floor]) }, (startAt) =>
    args.floor.call<FloorRun>('query', {
      sql: args.sql,
      params: args.params,
      concurrency: 1,
      startAt,
      warmupMs,
      durationMs,
    }),
  );
}

/** EXPLAIN's row, as the results and the log name it. */
export function planLine(row: Record<string, unknown>): string {
  return `${row.type} on ${row.key}, ~${row.rows} rows estimated${row.Extra ? `, ${row.Extra}` : ''}`;
}
