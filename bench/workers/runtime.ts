import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * The worker side of lib/workers.ts: answers the orchestrator's calls, and
 * ends the process when its deadline passes or the orchestrator disappears.
 */

type Handler = (args: any) => unknown;

export const workerName = process.env.BENCH_WORKER_NAME ?? 'worker';

const deadline = Number(process.env.BENCH_WORKER_DEADLINE_MS ?? 600_000);
setTimeout(() => {
  console.error(`${workerName}: deadline of ${deadline} ms passed; exiting`);
  process.exit(3);
}, deadline).unref();
process.on('disconnect', () => process.exit(0));

/** This worker's own event-loop delay: a saturated generator shows here, not as server latency. */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

export function resetLoopDelay(): void {
  loopDelay.reset();
}

export function readLoopDelay(): { p99: number; max: number } {
  return {
    p99: Math.round(loopDelay.percentile(99) / 1e4) / 100,
    max: Math.round(loopDelay.max / 1e4) / 100,
  };
}

export function emit(event: string, data: unknown): void {
  process.send?.({ event, data });
}

export function serve(handlers: Record<string, Handler>): void {
  process.on('message', (raw) => {
    const { id, cmd, args } = raw as { id: number; cmd: string; args: unknown };
    if (cmd === '__exit') {
      Promise.resolve(handlers.__exit?.(args)).finally(() => process.exit(0));
      return;
    }
    const handler = handlers[cmd];
    if (!handler) {
      process.send?.({ id, ok: false, error: `unknown command ${cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(args))
      .then(
        (result) => process.send?.({ id, ok: true, result }),
        (error: unknown) =>
          process.send?.({
            id,
            ok: false,
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          }),
      );
  });
}

/** Runs `tasks` with at most `limit` in flight. */
export async function withConcurrency<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (;;) {
      const index = next++;
      if (index >= items.length) return;
      await task(items[index] as T, index);
    }
  });
  await Promise.all(runners);
}

/** Calls `tick` on a ~1 ms timer until it returns false (open-loop pacing). */
export function pace(tick: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const step = () => {
      if (tick()) setTimeout(step, 1);
      else resolve();
    };
    step();
  });
}
