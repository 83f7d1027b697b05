import type { Transaction } from 'kysely';
import type { Database, MessageRow } from '../../db/types.ts';
import type { Append, Appended, Reopened } from './message.repository.ts';

/** A message as the send transaction wrote it: its row (seq included) and the append it came from. */
export interface StoredMessage {
  message: MessageRow;
  append: Append;
  /**
   * The recipient's unread count in the conversation including this message,
   * read by the append under the row lock when a hook wanted it
   * (`PreparedBatchHook.readsUnread`); undefined otherwise.
   */
  unread: number | undefined;
  /** Set on the customer message that reopened a pending or resolved conversation (rare): what it was. */
  reopened?: Reopened | undefined;
}

/** Queues work for once the send transaction commits (never run if it rolls back): a nudge, not a push. */
export type AfterCommit = (task: () => void) => void;

/** Runs the tasks hooks queued, once their transaction committed: the commit stands whatever they do. */
export function runCommitted(tasks: readonly (() => void)[]): void {
  for (const task of tasks) {
    try {
      task();
    } catch (error) {
      process.emitWarning(error instanceof Error ? error : String(error), 'AfterCommitTaskFailed');
    }
  }
}

/**
 * Runs in the send transaction after one message's row is written; throwing rolls the message back.
 * `afterCommit` queues what must wait for the commit (what a `Tx` offers other transactions).
 */
export type MessageHook = (
  trx: Transaction<Database>,
  stored: StoredMessage,
  afterCommit: AfterCommit,
) => Promise<void>;

/** Runs once per send transaction, after every message of it and their hooks; throwing rolls it back. */
export type BatchHook = (trx: Transaction<Database>, stored: readonly StoredMessage[]) => Promise<void>;

/**
 * A batch hook that says, before the transaction opens, whether it has work
 * and what it needs: so nothing it waits for is waited for while the
 * conversations' rows are locked, and a batch it has nothing to do for costs
 * nothing (no wait, no column, no statement).
 */
export interface PreparedBatchHook<P> {
  /** Asked as each batch is about to start; false: this hook sits the batch out. */
  wants(): boolean;
  /**
   * Before the transaction opens (no lock held): anything from elsewhere the
   * hook needs (a network lookup), for `write`. It should not throw: its
   * failure fails every send of the batch. A batch retried message by message
   * keeps what it prepared.
   */
  prepare(appends: readonly Append[]): Promise<P>;
  /** The append reads each recipient's unread count (StoredMessage.unread) for it. */
  readsUnread: boolean;
  /** In the transaction, as a BatchHook, with what `prepare` answered. */
  write(trx: Transaction<Database>, stored: readonly StoredMessage[], prepared: P): Promise<void>;
}

/** How a module adds statements to the send transaction (registered once, at composition time). */
export interface SendTransactionHooks {
  onMessage(hook: MessageHook): void;
  onBatch<P>(hook: BatchHook | PreparedBatchHook<P>): void;
}

/**
 * A hook's failure, carried through the transaction (so it rolls back) and
 * unwrapped before a send sees it: the batcher must tell it from the batch's
 * own failures, because a hook refuses one message, not its whole batch.
 */
export class HookFailure {
  readonly cause: unknown;
  constructor(cause: unknown) {
    this.cause = cause;
  }
}

/** What is decided for one batch before its transaction opens: the batch hooks that run, and what they prepared. */
export interface SendTransactionPlan {
  batch: readonly { hook: PreparedBatchHook<unknown>; prepared: unknown }[];
  /** Some hook wants StoredMessage.unread: appendMessages reads it. */
  readsUnread: boolean;
}

/** A plain BatchHook as one that always runs and prepares nothing. */
function alwaysRuns(hook: BatchHook): PreparedBatchHook<undefined> {
  return {
    wants: () => true,
    prepare: async () => undefined,
    readsUnread: false,
    write: (trx, stored) => hook(trx, stored),
  };
}

/** The hooks registered so far, and the calls the batcher makes to run them. */
export function createSendTransactionHooks() {
  const messageHooks: MessageHook[] = [];
  const batchHooks: PreparedBatchHook<unknown>[] = [];

  return {
    registrar: {
      onMessage: (hook) => void messageHooks.push(hook),
      onBatch: <P>(hook: BatchHook | PreparedBatchHook<P>) =>
        void batchHooks.push((typeof hook === 'function' ? alwaysRuns(hook) : hook) as PreparedBatchHook<unknown>),
    } satisfies SendTransactionHooks,

    /** False until a hook is registered: the send transaction then runs exactly its own statements. */
    get any(): boolean {
      return messageHooks.length > 0 || batchHooks.length > 0;
    },

    /**
     * Before a batch's transaction: asks each batch hook whether it has work
     * and runs the prepare steps of those that do, together.
     */
    async plan(appends: readonly Append[]): Promise<SendTransactionPlan> {
      const wanting = batchHooks.filter((hook) => hook.wants());
      const answers = await Promise.all(wanting.map((hook) => hook.prepare(appends)));
      return {
        batch: wanting.map((hook, i) => ({ hook, prepared: answers[i] })),
        readsUnread: wanting.some((hook) => hook.readsUnread),
      };
    },

    /**
     * Runs the hooks for the messages just written (`appended` as
     * appendMessages answered; a message whose conversation is gone was not
     * written and is skipped), one at a time in the batch's order: one
     * connection runs one statement at a time anyway, and the order stays the
     * seq order.
     */
    async run(
      trx: Transaction<Database>,
      plan: SendTransactionPlan,
      appends: readonly Append[],
      appended: readonly (Appended | undefined)[],
      afterCommit: AfterCommit,
    ) {
      const stored: StoredMessage[] = [];
      for (const [i, append] of appends.entries()) {
        const done = appended[i];
        if (done !== undefined) {
          stored.push({
            // As written: a system message is stored read.
            message: { ...append.message, seq: done.seq, is_read: append.read ? 1 : 0, recalled_at: null },
            append,
            unread: done.unread,
            reopened: done.reopened,
          });
        }
      }
      try {
        for (const entry of stored) for (const hook of messageHooks) await hook(trx, entry, afterCommit);
        if (stored.length > 0) for (const { hook, prepared } of plan.batch) await hook.write(trx, stored, prepared);
      } catch (error) {
        throw new HookFailure(error);
      }
    },
  };
}

export type SendTransactionHookRegistry = ReturnType<typeof createSendTransactionHooks>;

/** Runs in a moderator's delete transaction after the message's row is gone; throwing rolls the delete back. */
export type DeleteHook = (trx: Transaction<Database>, message: MessageRow) => Promise<void>;

/** How a module adds statements to the delete transaction (registered once, at composition time). */
export interface DeleteTransactionHooks {
  onDelete(hook: DeleteHook): void;
}

/** Hooks on one message's row, run in registration order. */
function createRowHooks() {
  const hooks: DeleteHook[] = [];
  return {
    add: (hook: DeleteHook) => void hooks.push(hook),
    async run(trx: Transaction<Database>, message: MessageRow): Promise<void> {
      for (const hook of hooks) await hook(trx, message);
    },
  };
}

/** The delete hooks registered so far, and the call the delete makes to run them, in registration order. */
export function createDeleteTransactionHooks() {
  const hooks = createRowHooks();
  return { registrar: { onDelete: hooks.add } satisfies DeleteTransactionHooks, run: hooks.run };
}

/** Runs in a recall's transaction after the message is marked recalled; throwing rolls the recall back. */
export type RecallHook = DeleteHook;

/** How a module adds statements to the recall transaction (an index row's removal). */
export interface RecallTransactionHooks {
  onRecall(hook: RecallHook): void;
}

export function createRecallTransactionHooks() {
  const hooks = createRowHooks();
  return { registrar: { onRecall: hooks.add } satisfies RecallTransactionHooks, run: hooks.run };
}
