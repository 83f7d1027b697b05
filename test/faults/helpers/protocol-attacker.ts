import { setTimeout as delay } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { buildPlans, expectedClose, expectedErrors, framesOf } from './protocol-hostile.ts';

/**
 * The hostile clients of case 8, in a worker thread: their own work (sending
 * 10,000 frames, reading as many errors) runs beside the server's event loop,
 * not on it, so the bystander's latency measured in the main thread is the
 * server's. Protocol with the parent: → `ready` once every socket is open;
 * ← `go`; → `done` with one outcome per socket.
 */

export interface AttackerInput {
  url: string;
  tokens: string[];
  conversations: string[];
  /** Milliseconds between one socket firing and the next. */
  spacingMs: number;
}

export interface SocketOutcome {
  errorTypes: string[];
  /** Error events without a non-empty detail. */
  withoutDetail: number;
  /** Events other than `error` after hello/online_users. */
  others: string[];
  closeCode: number | undefined;
  openAtEnd: boolean;
  timedOut: boolean;
}

const input = workerData as AttackerInput;
const port = parentPort;
if (!port) throw new Error('protocol-attacker.ts runs as a worker');

const plans = buildPlans(input.conversations);
const sockets: WebSocket[] = [];
const outcomes: SocketOutcome[] = plans.map(() => ({
  errorTypes: [],
  withoutDetail: 0,
  others: [],
  closeCode: undefined,
  openAtEnd: false,
  timedOut: false,
}));
const settle: (() => void)[] = [];
const settled = plans.map(
  (_, i) =>
    new Promise<void>((resolve) => {
      settle[i] = resolve;
    }),
);

function connect(i: number): Promise<void> {
  const { user, plan } = plans[i] as (typeof plans)[number];
  const outcome = outcomes[i] as SocketOutcome;
  const ws = new WebSocket(`${input.url.replace(/^http/, 'ws')}/api/ws/h${user}`, {
    headers: { authorization: `Bearer ${input.tokens[user]}` },
  });
  sockets[i] = ws;
  const wanted = expectedErrors(plan).length;
  const mustClose = expectedClose(plan) !== undefined;
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.on('message', (data) => {
      const event = JSON.parse(data.toString()) as { type: string; error_type?: string; detail?: unknown };
      if (event.type === 'online_users') return resolve();
      if (event.type === 'hello') return;
      if (event.type !== 'error') outcome.others.push(event.type);
      else {
        outcome.errorTypes.push(String(event.error_type));
        if (typeof event.detail !== 'string' || event.detail === '') outcome.withoutDetail += 1;
        if (!mustClose && outcome.errorTypes.length >= wanted) settle[i]?.();
      }
    });
    ws.on('close', (code) => {
      outcome.closeCode = code;
      settle[i]?.();
    });
  });
}

for (let i = 0; i < plans.length; i += 20) {
  await Promise.all(plans.slice(i, i + 20).map((_, k) => connect(i + k)));
}
port.postMessage({ type: 'ready', sockets: plans.length, frames: plans.reduce((n, p) => n + framesOf(p.plan), 0) });

await new Promise<void>((resolve) => port.once('message', () => resolve()));
const started = performance.now();
await Promise.all(
  plans.map(async ({ plan }, i) => {
    await delay(i * input.spacingMs);
    const ws = sockets[i] as WebSocket;
    for (const frame of plan.frames) ws.send(frame.data, { binary: frame.binary ?? false });
    if (plan.kind === 'utf8') ws.send(plan.fatal, { binary: false });
    if (plan.kind === 'oversize') {
      if (plan.fatal === 'single') ws.send('z'.repeat(64 * 1024 + 1));
      else {
        ws.send('z'.repeat(40 * 1024), { fin: false });
        ws.send('z'.repeat(40 * 1024), { fin: true });
      }
    }
    const timer = setTimeout(() => {
      (outcomes[i] as SocketOutcome).timedOut = true;
      settle[i]?.();
    }, 10_000);
    await settled[i];
    clearTimeout(timer);
  }),
);
const elapsedMs = performance.now() - started;
sockets.forEach((ws, i) => {
  (outcomes[i] as SocketOutcome).openAtEnd = ws.readyState === WebSocket.OPEN;
});
port.postMessage({ type: 'done', outcomes, elapsedMs });
for (const ws of sockets) ws.terminate();
port.close();
