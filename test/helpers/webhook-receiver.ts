import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One POST a receiver got. */
export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** Date.now() when the body was complete. */
  at: number;
}

/** What to answer a request: a status, or 'hang' (never answer). */
export type Answer = number | 'hang';

/**
 * A real HTTP webhook receiver on loopback: records every request, answers
 * what `respond` says, and can stop and start again on the same port (a
 * receiver that is down for a while).
 */
export async function startReceiver(port = 0) {
  const received: Received[] = [];
  const hanging = new Set<ServerResponse>();
  let respond: (request: Received, index: number) => Answer = () => 200;
  let waiters: (() => void)[] = [];
  let server: Server | undefined;

  async function listen(on: number): Promise<number> {
    const next = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const entry = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
        received.push(entry);
        const answer = respond(entry, received.length - 1);
        if (answer === 'hang') hanging.add(res);
        else {
          res.statusCode = answer;
          res.end();
        }
        const current = waiters;
        waiters = [];
        for (const wake of current) wake();
      });
    });
    await new Promise<void>((resolve) => next.listen(on, '127.0.0.1', () => resolve()));
    server = next;
    return (next.address() as AddressInfo).port;
  }

  const boundPort = await listen(port);
  return {
    url: `http://127.0.0.1:${boundPort}/hooks`,
    received,
    respondWith(answer: (request: Received, index: number) => Answer): void {
      respond = answer;
    },
    /** Resolves once `done(received)` holds, checked after every request; rejects after `ms`. */
    async waitFor(done: (all: readonly Received[]) => boolean, what: string, ms = 10_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!done(received)) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${what}: not within ${ms} ms (received ${received.length})`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    /** Stops listening (connections are refused) until `start`. */
    async stop(): Promise<void> {
      for (const res of hanging) res.destroy();
      hanging.clear();
      const closing = server;
      server = undefined;
      if (closing) {
        closing.closeAllConnections();
        await new Promise<void>((resolve) => closing.close(() => resolve()));
      }
    },
    async start(): Promise<void> {
      await listen(boundPort);
    },
  };
}
export type Receiver = Awaited<ReturnType<typeof startReceiver>>;
