import type { Kysely, Transaction } from 'kysely';
import type { Database } from './types.ts';

/**
 * A transaction a caller hands to a service, so that changes of several
 * modules commit or roll back together (the controller → service(trx)
 * pattern). Whatever must only happen once the changes are durable (pushing
 * events to clients) is queued with afterCommit, never run inline: if the
 * caller's transaction rolls back, nobody is told of changes that never were.
 */
export interface Tx {
  readonly db: Transaction<Database>;
  /** Runs `task` after the outermost transaction commits; never if it rolls back. */
  afterCommit(task: () => void): void;
}

/**
 * Runs `work` in `outer` when a caller passed one (its afterCommit tasks join
 * the caller's, who commits), else in a transaction of its own: commits, then
 * runs the tasks in the order queued. A task that throws is reported and
 * skipped: the commit stands and the other tasks still run.
 */
export async function inTransaction<T>(
  db: Kysely<Database>,
  outer: Tx | undefined,
  work: (tx: Tx) => Promise<T>,
): Promise<T> {
  if (outer) return work(outer);
  const tasks: (() => void)[] = [];
  const result = await db.transaction().execute((trx) => work({ db: trx, afterCommit: (task) => tasks.push(task) }));
  for (const task of tasks) {
    try {
      task();
    } catch (error) {
      // Tasks are pushes and cache notices, which must not throw; one that does is a bug to see, not to
      // answer the committed request with.
      process.emitWarning(error instanceof Error ? error : String(error), 'AfterCommitTaskFailed');
    }
  }
  return result;
}
