import type { Kysely } from 'kysely';
import { isDeadlock, isUniqueViolation } from '../../db/errors.ts';
import type { Database } from '../../db/types.ts';
import { type Append, type Appended, appendMessages, type ChainHead } from './message.repository.ts';
import {
  HookFailure,
  runCommitted,
  type SendTransactionHookRegistry,
  type SendTransactionPlan,
} from './send-transaction.ts';

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
  resolve(appended: Appended | undefined): void;
  reject(error: unknown): void;
}

/**
 * How many conversations' heads the batcher keeps: enough for every
 * conversation busy at once on an instance; past it, the least recently
 * written is forgotten (its next send reads its head under the lock first).
 */
export const KEPT_HEADS = 10_000;

/** A hook's failure is its cause to the send that sees it. */
const unwrap = (error: unknown): unknown => (error instanceof HookFailure ? error.cause : error);

/**
 * Group commit for sends. A send that arrives while fewer than maxConcurrent
 * send transactions run starts one at the end of the current turn of the event
 * loop, with every other send of that turn; otherwise it waits, and the next
 * transaction to finish takes everything waiting. Under light load each
 * message still has a transaction of its own and waits for nothing; under
 * heavy load the round trips and the commit (the flush to disk) are shared by
 * a batch. Every message is committed before its send resolves: nothing is
 * acknowledged that could be lost.
 *
 * `hooks` (send-transaction.ts) add other modules' statements to the same
 * transaction. A hook that throws rolls its transaction back; in a batch, the
 * messages are then stored one by one, as after a unique violation, so only the
 * message whose hook refused it fails (with the hook's error), and a batch hook
 * runs again for each of them alone. What a batch hook waits for outside the
 * database (presence, PreparedBatchHook.prepare) is waited for before the
 * transaction opens, with no row locked, once per batch.
 */
export function createAppendBatcher(
  db: Kysely<Database>,
  options: AppendBatcherOptions,
  hooks?: SendTransactionHookRegistry,
) {
  const waiting: Waiting[] = [];
  let running = 0;
  let startScheduled = false;
  /**
   * The last_seq and chain head each conversation was left with by this
   * batcher's commits, most recently written last: a send to one of them
   * writes its UPDATE from it without reading the row first (appendMessages
   * guards it with these values, so a stale one costs a read, never a wrong seq).
   */
  const heads = new Map<string, ChainHead>();
  function remember(written: ReadonlyMap<string, ChainHead>): void {
    for (const [id, head] of written) {
      heads.delete(id);
      heads.set(id, head);
    }
    for (const id of heads.keys()) {
      if (heads.size <= KEPT_HEADS) break;
      heads.delete(id);
    }
  }

  async function inOneTransaction(
    appends: readonly Append[],
    plan: SendTransactionPlan | undefined,
  ): Promise<(Appended | undefined)[]> {
    const committed: (() => void)[] = [];
    let left: ReadonlyMap<string, ChainHead> | undefined;
    const appended = await db.transaction().execute(async (trx) => {
      const written = await appendMessages(trx, appends, {
        unread: plan?.readsUnread === true,
        heads,
        written: (newHeads) => {
          left = newHeads;
        },
      });
      // No hook registered: not one statement more than the send's own.
      if (hooks && plan) await hooks.run(trx, plan, appends, written, (task) => committed.push(task));
      return written;
    });
    // Committed: only now are they the conversations' heads.
    if (left) remember(left);
    runCommitted(committed);
    return appended;
  }

  async function store(batch: readonly Waiting[]): Promise<void> {
    let plan: SendTransactionPlan | undefined;
    try {
      // What the hooks wait for (a presence lookup) is waited for here, before any row is locked.
      plan = hooks?.any ? await hooks.plan(batch.map((entry) => entry.append)) : undefined;
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    try {
      const appended = await inOneTransaction(
        batch.map((entry) => entry.append),
        plan,
      );
      for (const [i, entry] of batch.entries()) entry.resolve(appended[i]);
    } catch (error) {
      // The batch rolled back as a whole. A retry whose client_msg_id is taken, a deadlock, or a
      // hook refusing a message must not fail the others: each message is stored on its own
      // instead and gets its own answer, as without batching. Any other failure (an outage) is
      // everyone's answer. The plan stands for each of them: it was made for all of them.
      const oneMessagesFault = error instanceof HookFailure || isUniqueViolation(error) || isDeadlock(error);
      if (batch.length === 1 || !oneMessagesFault) {
        for (const entry of batch) entry.reject(unwrap(error));
        return;
      }
      await Promise.all(
        batch.map((entry) =>
          inOneTransaction([entry.append], plan).then(
            ([appended]) => entry.resolve(appended),
            (failure: unknown) => entry.reject(unwrap(failure)),
          ),
        ),
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

  /** Stores one message; resolves with what the append learnt (undefined when its conversation is gone) once committed. */
  function storeOne(append: Append): Promise<Appended | undefined> {
    return new Promise((resolve, reject) => {
      waiting.push({ append, resolve, reject });
      if (!startScheduled && running < options.maxConcurrent) {
        startScheduled = true;
        setImmediate(startBatches);
      }
    });
  }

  return {
    /** Stores one message; resolves with its seq (undefined when its conversation is gone) once committed. */
    async append(append: Append): Promise<number | undefined> {
      return (await storeOne(append))?.seq;
    },

    /** As `append`, with everything the append learnt (its seq, whether it reopened its conversation). */
    store: storeOne,
  };
}
