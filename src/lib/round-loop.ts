import { outsideRequest } from '../http/logging.ts';

/** What a round tells the loop about the work it saw. */
export interface RoundOutcome {
  /** It knows of work it left (more behind than it took, ranges cut short). */
  more: boolean;
}

export interface RoundLoopOptions {
  /** How often it looks for work without a nudge (other instances' writes, a failed round). */
  pollMs: number;
  /** After a nudge, or a round that left work, how long to let more gather before the next round. */
  batchMs: number;
}

/**
 * Runs a background job's rounds (the search indexer, the report follower):
 * one at a time, woken by local commits, polling for the rest.
 *
 * The pacing is the point. Under steady sends there is always work left when
 * a round ends; run back to back, a job takes a few messages per round and
 * spends the CPU, the statements and the conversations' row locks the sends
 * need (measured on the send benchmark: a fifth of the durable send at c=64).
 * So the next round always waits `batchMs` and takes what gathered in one go,
 * even in a backlog: a round's own caps (conversations, messages) keep it
 * from growing without bound, and a capped round every batchMs still clears a
 * backlog faster than the sends can make one.
 */
export function createRoundLoop(deps: {
  round: () => Promise<RoundOutcome>;
  options: RoundLoopOptions;
  onError: (error: unknown) => void;
}) {
  const { round, options, onError } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let nudged = false;
  let stopping = false;

  function schedule(ms: number): void {
    clearTimeout(timer);
    // A send's request wakes it; the round it schedules is nobody's request (its log lines neither).
    if (!stopping) timer = outsideRequest(() => setTimeout(run, ms));
  }

  function run(): void {
    if (stopping || running) return;
    clearTimeout(timer);
    nudged = false;
    let next = options.pollMs;
    running = round()
      .then((outcome) => {
        if (outcome.more || nudged) next = options.batchMs;
      })
      .catch((error: unknown) => {
        onError(error);
      })
      .finally(() => {
        running = undefined;
        schedule(next);
      });
  }

  return {
    start(): void {
      schedule(0);
    },
    /** Work was committed: a round within batchMs, not at the next poll. */
    wake(): void {
      if (stopping) return;
      if (running) {
        nudged = true;
        return;
      }
      if (!nudged) {
        nudged = true;
        schedule(options.batchMs);
      }
    },
    /** Runs rounds until none knows of work left (tests, and tools that need the job complete now). */
    async drain(): Promise<void> {
      await running;
      while ((await round()).more) {}
    },
    /** No new round; waits for the running one (its transaction commits or rolls back, nothing half-done). */
    async stop(): Promise<void> {
      stopping = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/** A random sample of `n` of `items` (Fisher–Yates on a copy, stopped after `n`). */
export function randomSample<T>(items: readonly T[], n: number): T[] {
  const copy = [...items];
  const count = Math.min(n, copy.length);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(Math.random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy.slice(0, count);
}
