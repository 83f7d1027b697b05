import assert from 'node:assert/strict';
import { createServer } from 'node:net';

/**
 * Waiting for state a server reaches asynchronously (by polling, never by a
 * fixed sleep), and a free port for a server a test starts as a process.
 */

/** How long a test waits for an expected frame or state before failing. */
export const WAIT_MS = 5_000;

/** Retries an assertion until it holds (state the server reaches asynchronously); fails after WAIT_MS. */
export async function eventually(assertion: () => void | Promise<void>, label = 'condition'): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${label} never held`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Polls `attempt` every 25 ms until `done` holds for its result; fails after `ms` with `what` and the last result. */
export async function until<T>(
  attempt: () => T | Promise<T>,
  done: (value: T) => boolean,
  what: string,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await attempt();
    if (done(value)) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms (last: ${String(JSON.stringify(value))})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A port free on 127.0.0.1 now (for a child process or nginx to bind; a restart binds the same one). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}
