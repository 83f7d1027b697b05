import { type WebSocket, WebSocketServer } from 'ws';
import { nowMs, sleep, sleepUntil } from '../lib/clock.ts';
import { pace, serve } from '../workers/runtime.ts';
import { contentFor } from '../workers/ws-common.ts';

/**
 * The WebSocket floor: a bare `ws` server (the library the service uses)
 * with no authentication, no registry and no database. It broadcasts each
 * message as one pre-serialised buffer to every client, and pings every
 * client on the same 30 s heartbeat as the service, dropping those that
 * missed the previous ping.
 */

const HEARTBEAT_MS = Number(process.env.BENCH_HEARTBEAT_MS ?? 30_000);
let wss: WebSocketServer | undefined;
const alive = new WeakMap<WebSocket, boolean>();

function server(): WebSocketServer {
  if (!wss) throw new Error('not listening');
  return wss;
}

setInterval(() => {
  if (!wss) return;
  for (const client of wss.clients) {
    if (alive.get(client) === false) {
      client.terminate();
      continue;
    }
    alive.set(client, false);
    client.ping();
  }
}, HEARTBEAT_MS).unref();

serve({
  async listen(args: { host: string }) {
    wss = new WebSocketServer({ host: args.host, port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 });
    wss.on('connection', (socket) => {
      alive.set(socket, true);
      socket.on('pong', () => alive.set(socket, true));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server().once('listening', () => resolve()));
    const address = server().address();
    return { port: typeof address === 'object' && address ? address.port : 0 };
  },

  /**
   * Broadcasts `rate` messages/s from startAt for warmup + duration. Each is
   * `template` (a message event as the service sends it) with `__CONTENT__`
   * replaced by content carrying the send time, serialised once to a Buffer.
   */
  async stream(args: { rate: number; startAt: number; warmupMs: number; durationMs: number; template: string }) {
    const stopAt = args.startAt + args.warmupMs + args.durationMs;
    const intervalMs = 1000 / args.rate;
    let sent = 0;
    let sentInWindow = 0;
    let deliveries = 0;
    const windowFrom = args.startAt + args.warmupMs;
    const [before, after] = args.template.split('__CONTENT__') as [string, string];
    await sleepUntil(args.startAt);
    await pace(() => {
      const now = nowMs();
      if (now >= stopAt) return false;
      const due = Math.floor((now - args.startAt) / intervalMs) + 1;
      while (sent < due) {
        const sentAt = nowMs();
        if (sentAt >= windowFrom && sentAt < stopAt) sentInWindow += 1;
        const buffer = Buffer.from(before + contentFor(sentAt, `bare-${sent}`) + after);
        for (const client of server().clients) {
          if (client.readyState === 1) {
            client.send(buffer);
            deliveries += 1;
          }
        }
        sent += 1;
      }
      return true;
    });
    return { sent, sentInWindow, deliveries };
  },

  /** CPU time used so far by this process (all threads), microseconds. */
  cpu() {
    return process.cpuUsage();
  },

  clients() {
    return { clients: server().clients.size };
  },

  /** Memory after full collections (the process runs with --expose-gc). */
  async memory() {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    await sleep(50);
    gc?.();
    return process.memoryUsage();
  },

  async closeClients() {
    for (const client of server().clients) client.terminate();
    return { ok: true };
  },
});
