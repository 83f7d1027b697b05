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
    let more = false;
    running = round()
      .then((outcome) => {
        more = outcome.more;
      })
      .catch((error: unknown) => {
        onError(error);
      })
      .finally(() => {
        running = undefined;
        // A wake during a failed round still counts: the poll would leave its commits for a second or more.
        schedule(more || nudged ? options.batchMs : options.pollMs);
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

/**
 * Reads a job's work list (conversations flagged behind, in id order) a window
 * at a time, each window starting after the last one's end and wrapping
 * around. Always from the start, a job under steady load over more flagged
 * conversations than one window holds would never see the ones past it.
 * `read(after, limit)`: up to `limit` flagged rows with id > after (all from
 * the start when `after` is undefined), in id order.
 */
export function createRotatingWindow<T extends { id: string }>(
  read: (after: string | undefined, limit: number) => Promise<T[]>,
) {
  let cursor: string | undefined;
  return async function nextWindow(limit: number): Promise<T[]> {
    const from = cursor;
    const tail = await read(from, limit);
    let rows = tail;
    if (from !== undefined && tail.length < limit) {
      // Wrapped: the start, up to where this window began (the tail already holds what is after it).
      const head = (await read(undefined, limit - tail.length)).filter((row) => row.id <= from);
      rows = [...tail, ...head];
    }
    // A full window: the next starts after its last row; one that held every flagged row: from the start.
    cursor = rows.length === limit ? rows[rows.length - 1]?.id : undefined;
    return rows;
  };
}
