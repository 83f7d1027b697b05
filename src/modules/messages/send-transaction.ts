import type { Transaction } from 'kysely';
import type { Database, MessageRow } from '../../db/types.ts';
import type { Append } from './message.repository.ts';

/** A message as the send transaction wrote it: its row (seq included) and the append it came from. */
export interface StoredMessage {
  message: MessageRow;
  append: Append;
}

/** Runs in the send transaction after one message's row is written; throwing rolls the message back. */
export type MessageHook = (trx: Transaction<Database>, stored: StoredMessage) => Promise<void>;

/** Runs once per send transaction, after every message of it and their hooks; throwing rolls it back. */
export type BatchHook = (trx: Transaction<Database>, stored: readonly StoredMessage[]) => Promise<void>;

/** How a module adds statements to the send transaction (registered once, at composition time). */
export interface SendTransactionHooks {
  onMessage(hook: MessageHook): void;
  onBatch(hook: BatchHook): void;
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

/** The hooks registered so far, and the one call the batcher makes to run them. */
export function createSendTransactionHooks() {
  const messageHooks: MessageHook[] = [];
  const batchHooks: BatchHook[] = [];

  return {
    registrar: {
      onMessage: (hook) => void messageHooks.push(hook),
      onBatch: (hook) => void batchHooks.push(hook),
    } satisfies SendTransactionHooks,

    /** False until a hook is registered: the send transaction then runs exactly its own statements. */
    get any(): boolean {
      return messageHooks.length > 0 || batchHooks.length > 0;
    },

    /**
     * Runs the hooks for the messages just written (`seqs` as appendMessages
     * answered; a message whose conversation is gone was not written and is
     * skipped), one at a time in the batch's order: one connection runs one
     * statement at a time anyway, and the order stays the seq order.
     */
    async run(trx: Transaction<Database>, appends: readonly Append[], seqs: readonly (number | undefined)[]) {
      const stored: StoredMessage[] = [];
      for (const [i, append] of appends.entries()) {
        const seq = seqs[i];
        if (seq !== undefined)
          stored.push({ message: { ...append.message, seq, is_read: 0, recalled_at: null }, append });
      }
      try {
        for (const entry of stored) for (const hook of messageHooks) await hook(trx, entry);
        if (stored.length > 0) for (const hook of batchHooks) await hook(trx, stored);
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
