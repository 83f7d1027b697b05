import type { Kysely } from 'kysely';
import { isDeadlock, isUniqueViolation } from '../../db/errors.ts';
import type { Database } from '../../db/types.ts';
import { type Append, appendMessages } from './message.repository.ts';

export interface AppendBatcherOptions {
  /** Send transactions running at once; sends arriving meanwhile wait for the next one to start. */
  maxConcurrent: number;
  /** Messages in one transaction at most. */
  maxBatch: number;
  /** Told the size of every batch as it starts (the metrics; tests). */
  onBatch?: ((messages: number) => void) | undefined;
}

/** Leaves most of the pool (10 by default) to reads while sends are heavy. */
export const DEFAULT_APPEND_BATCHING: AppendBatcherOptions = { maxConcurrent: 4, maxBatch: 64 };

interface Waiting {
  append: Append;
  resolve(seq: number | undefined): void;
  reject(error: unknown): void;
}

/**
 * Group commit for sends. A send that arrives while fewer than maxConcurrent
 * send transactions run starts one at the end of the current turn of the event
 * loop, with every other send of that turn; otherwise it waits, and the next
 * transaction to finish takes everything waiting. Under light load each
 * message still has a transaction of its own and waits for nothing; under
 * heavy load the round trips and the commit (the flush to disk) are shared by
 * a batch. Every message is committed before its send resolves: nothing is
 * acknowledged that could be lost.
 */
export function createAppendBatcher(db: Kysely<Database>, options: AppendBatcherOptions) {
  const waiting: Waiting[] = [];
  let running = 0;
  let startScheduled = false;

  function inOneTransaction(appends: readonly Append[]): Promise<(number | undefined)[]> {
    return db.transaction().execute((trx) => appendMessages(trx, appends));
  }

  async function store(batch: readonly Waiting[]): Promise<void> {
    try {
      const seqs = await inOneTransaction(batch.map((entry) => entry.append));
      for (const [i, entry] of batch.entries()) entry.resolve(seqs[i]);
    } catch (error) {
      // The batch rolled back as a whole. A retry whose client_msg_id is taken, or a deadlock,
      // must not fail the others: each message is stored on its own instead and gets its own
      // answer, as without batching. Any other failure (an outage) is everyone's answer.
      if (batch.length === 1 || (!isUniqueViolation(error) && !isDeadlock(error))) {
        for (const entry of batch) entry.reject(error);
        return;
      }
      await Promise.all(
        batch.map((entry) => inOneTransaction([entry.append]).then(([seq]) => entry.resolve(seq), entry.reject)),
      );
    }
  }

  function startBatches(): void {
    startScheduled = false;
    while (running < options.maxConcurrent && waiting.length > 0) {
      running += 1;
      const batch = waiting.splice(0, options.maxBatch);
      options.onBatch?.(batch.length);
      void store(batch).finally(() => {
        running -= 1;
        startBatches();
      });
    }
  }

  return {
    /** Stores one message; resolves with its seq (undefined when its conversation is gone) once committed. */
    append(append: Append): Promise<number | undefined> {
      return new Promise((resolve, reject) => {
        waiting.push({ append, resolve, reject });
        if (!startScheduled && running < options.maxConcurrent) {
          startScheduled = true;
          setImmediate(startBatches);
        }
      });
    },
  };
}
