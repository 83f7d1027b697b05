import type WebSocket from 'ws';
import { nowMs, sleepUntil } from '../lib/clock.ts';
import { Histogram } from '../lib/histogram.ts';
import { emit, readLoopDelay, resetLoopDelay, serve, withConcurrency } from './runtime.ts';
import { openSocket, sentAtOf, tokenMinter } from './ws-common.ts';

/**
 * Many sockets that only listen: the admins of the fan-out and send
 * scenarios, and the idle connections. Counts the benchmark's messages each
 * socket receives (they carry their send time) and their delivery latency,
 * without parsing JSON, so the generator stays cheap per delivery.
 */

interface ConnectArgs {
  /** Service sockets: /api/ws/<user> with a token; bare: `count` sockets to `url`. */
  kind: 'service' | 'bare';
  wsBase?: string;
  secret?: string;
  users?: string[];
  role?: string;
  url?: string;
  count?: number;
  localAddresses: string[];
  concurrency: number;
}

const sockets: WebSocket[] = [];
let window = { from: Number.POSITIVE_INFINITY, to: Number.POSITIVE_INFINITY };
let deliveries = 0;
let otherFrames = 0;
const latency = new Histogram();

function onFrame(data: Buffer): void {
  const now = nowMs();
  const sentAt = sentAtOf(data);
  if (sentAt === undefined) {
    otherFrames += 1;
    return;
  }
  // Counted by send time: every delivery of a message sent in the window counts, whenever it
  // arrives before the report, so the count compares exactly with the messages sent in the window.
  if (sentAt >= window.from && sentAt < window.to) {
    deliveries += 1;
    latency.recordMs(now - sentAt);
  }
}

serve({
  async connect(args: ConnectArgs) {
    const started = nowMs();
    const mint = args.secret ? tokenMinter(args.secret) : undefined;
    const targets =
      args.kind === 'service'
        ? (args.users ?? []).map((user) => ({ user }))
        : Array.from({ length: args.count ?? 0 }, () => ({ user: '' }));
    let done = 0;
    let failed = 0;
    const firstErrors: string[] = [];
    await withConcurrency(targets, args.concurrency, async (target, i) => {
      try {
        const socket = await openSocket(
          args.kind === 'service'
            ? {
                url: `${args.wsBase}/api/ws/${target.user}`,
                token: await (mint as NonNullable<typeof mint>)(target.user, args.role ?? 'admin'),
                localAddress: args.localAddresses[i % args.localAddresses.length],
                waitForType: 'online_users',
                onMessage: onFrame,
                timeoutMs: 60_000,
              }
            : {
                url: args.url as string,
                localAddress: args.localAddresses[i % args.localAddresses.length],
                onMessage: onFrame,
                timeoutMs: 60_000,
              },
        );
        sockets.push(socket);
      } catch (error) {
        failed += 1;
        if (firstErrors.length < 3) firstErrors.push(error instanceof Error ? error.message : String(error));
      }
      if (++done % 1000 === 0) emit('progress', { connected: done, of: targets.length });
    });
    return { connected: targets.length - failed, failed, firstErrors, ms: Math.round(nowMs() - started) };
  },

  /** Counts deliveries of messages sent between startAt + warmupMs and the end of the window, with their latency. */
  async measure(args: { startAt: number; warmupMs: number; durationMs: number }) {
    window = { from: args.startAt + args.warmupMs, to: args.startAt + args.warmupMs + args.durationMs };
    deliveries = 0;
    latency.reset();
    await sleepUntil(window.from);
    resetLoopDelay();
    // Deliveries of messages sent in the window may still be on the way: wait a little past it.
    await sleepUntil(window.to + 500);
    return {
      deliveries,
      windowMs: args.durationMs,
      latency: latency.toJSON(),
      loopDelay: readLoopDelay(),
      open: sockets.filter((socket) => socket.readyState === 1).length,
    };
  },

  stats() {
    return {
      open: sockets.filter((socket) => socket.readyState === 1).length,
      otherFrames,
      memory: process.memoryUsage(),
    };
  },

  async close() {
    for (const socket of sockets) socket.terminate();
    const closed = sockets.length;
    sockets.length = 0;
    return { closed };
  },
});
