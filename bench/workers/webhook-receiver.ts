import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { nowMs, sleep } from '../lib/clock.ts';
import { Histogram } from '../lib/histogram.ts';
import { readLoopDelay, resetLoopDelay, serve } from './runtime.ts';

/**
 * A webhook receiver over HTTPS on loopback (its certificate is the one the
 * service trusts through NODE_EXTRA_CA_CERTS), answering 204 at once. For
 * each `message.created` it records the time from the event's `timestamp`
 * (taken in the send transaction, just before its commit) to the receipt of
 * the whole body: commit → receipt, on one machine's clock. It does not
 * verify signatures (that is the tests' job; here it would only cost CPU).
 */

let received = 0;
let latency = new Histogram();
let measuring: { from: number; to: number } | null = null;
let inWindow = 0;
const seen = new Set<string>();
let duplicates = 0;
/** nowMs() of the latest receipt, and of the first since `mark`. */
let lastAt = 0;
let firstAt = 0;

serve({
  async init(args: { keyPath: string; certPath: string }) {
    const server = createServer({ key: readFileSync(args.keyPath), cert: readFileSync(args.certPath) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const at = nowMs();
        lastAt = at;
        if (firstAt === 0) firstAt = at;
        res.statusCode = 204;
        res.end();
        const id = String(req.headers['webhook-id']);
        if (seen.has(id)) duplicates += 1;
        else seen.add(id);
        received += 1;
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type: string; timestamp: string };
        if (body.type !== 'message.created' || !measuring) return;
        if (at >= measuring.from && at < measuring.to) {
          inWindow += 1;
          latency.recordMs(Math.max(0, at - Date.parse(body.timestamp)));
        }
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return { port: (server.address() as AddressInfo).port };
  },

  /** Counts and times what arrives between startAt + warmupMs and the window's end. */
  measure(args: { startAt: number; warmupMs: number; durationMs: number }) {
    latency = new Histogram();
    inWindow = 0;
    measuring = { from: args.startAt + args.warmupMs, to: args.startAt + args.warmupMs + args.durationMs };
    resetLoopDelay();
    return null;
  },

  /** What arrived in the window set by `measure`. */
  report() {
    return {
      inWindow,
      windowMs: measuring ? measuring.to - measuring.from : 0,
      latency: latency.toJSON(),
      received,
      duplicates,
      loopDelay: readLoopDelay(),
    };
  },

  /** The next receipt is the first of a new batch (see waitFor's firstAt). */
  mark() {
    firstAt = 0;
    return null;
  },

  /** Resolves once `count` events arrived in all (or `maxMs` passed): how many did, the first since `mark`, the last. */
  async waitFor(args: { count: number; maxMs: number }) {
    const deadline = nowMs() + args.maxMs;
    while (received < args.count && nowMs() < deadline) await sleep(5);
    return { received, firstAt, lastAt };
  },
});
