import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Load generators and reference servers run as child processes (never in the
 * server's process or the orchestrator's), talk to the orchestrator over IPC,
 * and exit on their own when their deadline passes or the orchestrator goes.
 */

export interface WorkerOptions {
  /** The worker kills itself after this long, whatever happens (bounded in time). */
  deadlineMs: number;
  execArgv?: string[];
  env?: Record<string, string>;
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export class WorkerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>();
  readonly exited: Promise<number | null>;
  readonly #events = new Set<(event: string, data: unknown) => void>();

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    child.on('message', (raw) => {
      const message = raw as Reply | { event: string; data: unknown };
      if ('event' in message) {
        for (const listener of this.#events) listener(message.event, message.data);
        return;
      }
      const waiter = this.#pending.get(message.id);
      if (!waiter) return;
      this.#pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`${this.name}: ${message.error}`));
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        for (const waiter of this.#pending.values()) {
          waiter.reject(new Error(`${this.name} exited (code ${code}, signal ${signal}) during a call`));
        }
        this.#pending.clear();
        resolve(code);
      });
    });
  }

  /** Forks bench/<script> (a path relative to bench/). */
  static start(name: string, script: string, options: WorkerOptions): WorkerProcess {
    const path = fileURLToPath(new URL(`../${script}`, import.meta.url));
    const child = fork(path, [], {
      execArgv: options.execArgv ?? [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: {
        ...process.env,
        ...options.env,
        BENCH_WORKER_NAME: name,
        BENCH_WORKER_DEADLINE_MS: String(Math.round(options.deadlineMs)),
      },
      serialization: 'advanced',
    });
    return new WorkerProcess(name, child);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  call<T = any>(cmd: string, args: unknown = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      if (!this.child.connected) {
        reject(new Error(`${this.name} is not running`));
        return;
      }
      this.#pending.set(id, { resolve, reject });
      // With a callback a closed channel is this call's error, not an unhandled 'error' event on the child.
      this.child.send({ id, cmd, args }, (error) => {
        if (!error || !this.#pending.delete(id)) return;
        reject(new Error(`${this.name}: ${error.message}`));
      });
    });
  }

  onEvent(listener: (event: string, data: unknown) => void): void {
    this.#events.add(listener);
  }

  /** Asks the worker to exit; kills it if it has not within `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    // The worker may be exiting on its own (its deadline): a send that finds the channel closed is fine.
    if (this.child.connected) this.child.send({ id: 0, cmd: '__exit', args: {} }, () => {});
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Calls the same command on every worker and waits for all. */
export function callAll<T>(
  workers: readonly WorkerProcess[],
  cmd: string,
  args: (index: number) => unknown,
): Promise<T[]> {
  return Promise.all(workers.map((worker, index) => worker.call<T>(cmd, args(index))));
}

export async function stopAll(workers: readonly WorkerProcess[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.stop()));
}
