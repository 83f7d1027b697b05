import type WebSocket from 'ws';
import { nowMs, sleep, sleepUntil } from '../lib/clock.ts';
import { Histogram } from '../lib/histogram.ts';
import { emit, pace, readLoopDelay, resetLoopDelay, serve, withConcurrency, workerName } from './runtime.ts';
import { contentFor, openSocket, tokenMinter } from './ws-common.ts';

/**
 * Buyer–merchant pairs on WebSockets: each pair's two users are connected
 * in this process, so a message's send time and its receipt by the other
 * side are read from one clock. Sends are `message` frames with a
 * client_msg_id, answered by `ack`; the recipient gets the `message` push.
 * Closed loop (a fixed number of sends in flight) or open loop (a fixed rate).
 */

interface Pair {
  conversationId: string;
  buyer: string;
  merchant: string;
}

interface InitArgs {
  wsBase: string;
  secret: string;
  pairs: Pair[];
  localAddresses: string[];
  /** Connect the merchants too (they then receive, and send every other message). */
  connectMerchants: boolean;
  contentBytes: number;
  connectConcurrency: number;
}

interface Pending {
  sentAt: number;
  intendedAt: number;
  ackAt: number;
  deliveredAt: number;
  needsDelivery: boolean;
  measured: boolean;
  resolve: () => void;
}

interface RunArgs {
  startAt: number;
  warmupMs: number;
  durationMs: number;
}

let init: InitArgs;
const buyers: WebSocket[] = [];
const merchants: WebSocket[] = [];
const pending = new Map<string, Pending>();
const errors: Record<string, number> = {};
let counter = 0;
let window = { from: 0, to: 0 };
let completedInWindow = 0;
let sentInWindow = 0;
let lost = 0;
const ack = new Histogram();
const deliver = new Histogram();
const deliverFromIntended = new Histogram();
const prefix = `${workerName}-${Math.random().toString(36).slice(2, 8)}`;

function settle(id: string, entry: Pending): void {
  if (entry.ackAt === 0 || (entry.needsDelivery && entry.deliveredAt === 0)) return;
  pending.delete(id);
  const doneAt = Math.max(entry.ackAt, entry.deliveredAt);
  if (doneAt >= window.from && doneAt < window.to) completedInWindow += 1;
  if (entry.measured) {
    ack.recordMs(entry.ackAt - entry.sentAt);
    if (entry.needsDelivery) {
      deliver.recordMs(entry.deliveredAt - entry.sentAt);
      deliverFromIntended.recordMs(entry.deliveredAt - entry.intendedAt);
    }
  }
  entry.resolve();
}

function onFrame(data: Buffer): void {
  const event = JSON.parse(data.toString()) as { type: string; client_msg_id?: string | null; error_type?: string };
  if (event.type === 'ack' || event.type === 'message') {
    const id = event.client_msg_id;
    if (!id) return;
    const entry = pending.get(id);
    if (!entry) return;
    if (event.type === 'ack') entry.ackAt = nowMs();
    else entry.deliveredAt = nowMs();
    settle(id, entry);
  } else if (event.type === 'error') {
    const type = event.error_type ?? 'unknown';
    errors[type] = (errors[type] ?? 0) + 1;
    const id = event.client_msg_id;
    const entry = id ? pending.get(id) : undefined;
    if (id && entry) {
      pending.delete(id);
      entry.resolve();
    }
  }
}

/** Sends the next message (pairs in turn; buyers and merchants alternate per round when both are connected). */
function sendNext(intendedAt: number): Promise<void> {
  const k = counter++;
  const n = init.pairs.length;
  const index = k % n;
  const pair = init.pairs[index] as Pair;
  const fromMerchant = init.connectMerchants && Math.floor(k / n) % 2 === 1;
  const socket = (fromMerchant ? merchants[index] : buyers[index]) as WebSocket;
  const id = `${prefix}-${k}`;
  const sentAt = nowMs();
  const measured = sentAt >= window.from && sentAt < window.to;
  if (measured) sentInWindow += 1;
  return new Promise<void>((resolve) => {
    pending.set(id, {
      sentAt,
      intendedAt,
      ackAt: 0,
      deliveredAt: 0,
      needsDelivery: init.connectMerchants,
      measured,
      resolve,
    });
    socket.send(
      JSON.stringify({
        type: 'message',
        conversation_id: pair.conversationId,
        content: contentFor(sentAt, id, init.contentBytes),
        client_msg_id: id,
      }),
    );
  });
}

function resetMeasurement(args: RunArgs): void {
  window = { from: args.startAt + args.warmupMs, to: args.startAt + args.warmupMs + args.durationMs };
  completedInWindow = 0;
  sentInWindow = 0;
  lost = 0;
  for (const key of Object.keys(errors)) delete errors[key];
  ack.reset();
  deliver.reset();
  deliverFromIntended.reset();
}

/** Sends still unanswered this long count as lost (and free their slot). */
const LOST_AFTER_MS = 10_000;
setInterval(() => {
  const now = nowMs();
  for (const [id, entry] of pending) {
    if (now - entry.sentAt > LOST_AFTER_MS) {
      pending.delete(id);
      lost += 1;
      entry.resolve();
    }
  }
}, 1000).unref();

async function finishRun(startedSends: number) {
  // Let the sends of the window finish (bounded), then report.
  const deadline = nowMs() + 3_000;
  while (pending.size > 0 && nowMs() < deadline) await sleep(20);
  return {
    sent: startedSends,
    sentInWindow,
    completed: completedInWindow,
    windowMs: window.to - window.from,
    lost: lost + pending.size,
    errors: { ...errors },
    ack: ack.toJSON(),
    deliver: deliver.toJSON(),
    deliverFromIntended: deliverFromIntended.toJSON(),
    loopDelay: readLoopDelay(),
  };
}

serve({
  async init(args: InitArgs) {
    init = args;
    const mint = tokenMinter(args.secret);
    const started = nowMs();
    const targets: { user: string; role: string; list: WebSocket[]; index: number }[] = [];
    args.pairs.forEach((pair, index) => {
      targets.push({ user: pair.buyer, role: 'buyer', list: buyers, index });
      if (args.connectMerchants) targets.push({ user: pair.merchant, role: 'merchant', list: merchants, index });
    });
    let done = 0;
    await withConcurrency(targets, args.connectConcurrency, async (target, i) => {
      const socket = await openSocket({
        url: `${args.wsBase}/api/ws/${target.user}`,
        token: await mint(target.user, target.role),
        localAddress: args.localAddresses[i % args.localAddresses.length],
        waitForType: 'online_users',
        onMessage: onFrame,
      });
      target.list[target.index] = socket;
      if (++done % 500 === 0) emit('progress', { connected: done, of: targets.length });
    });
    return { connected: targets.length, ms: Math.round(nowMs() - started) };
  },

  /** A fixed number of sends in flight; each slot sends again as soon as its message is acked and delivered. */
  async closed(args: RunArgs & { concurrency: number }) {
    resetMeasurement(args);
    await sleepUntil(args.startAt);
    resetLoopDelay();
    const stopAt = window.to;
    const before = counter;
    await Promise.all(
      Array.from({ length: args.concurrency }, async () => {
        while (nowMs() < stopAt) await sendNext(nowMs());
      }),
    );
    return finishRun(counter - before);
  },

  /**
   * A fixed rate (messages/s from this worker), latency measured from each
   * send's intended time too. `phase` (0..1, a fraction of the interval)
   * delays the first send, so several workers' streams interleave.
   */
  async open(args: RunArgs & { rate: number; phase?: number }) {
    resetMeasurement(args);
    await sleepUntil(args.startAt);
    resetLoopDelay();
    const stopAt = window.to;
    const intervalMs = 1000 / args.rate;
    const firstAt = args.startAt + (args.phase ?? 0) * intervalMs;
    let sent = 0;
    await pace(() => {
      const now = nowMs();
      if (now >= stopAt) return false;
      const due = now < firstAt ? 0 : Math.floor((now - firstAt) / intervalMs) + 1;
      while (sent < due) {
        void sendNext(firstAt + sent * intervalMs);
        sent += 1;
      }
      return true;
    });
    return finishRun(sent);
  },

  memory() {
    return process.memoryUsage();
  },

  async close() {
    for (const socket of [...buyers, ...merchants]) socket?.terminate();
    return { closed: buyers.length + merchants.length };
  },
});
