import { connect, type Socket } from 'node:net';
import { nowMs, sleepUntil } from '../lib/clock.ts';
import { Histogram, type HistogramData } from '../lib/histogram.ts';
import { readLoopDelay, resetLoopDelay, serve } from './runtime.ts';

/**
 * A closed-loop HTTP/1.1 load generator on raw keep-alive sockets: each
 * connection writes a pre-built request, parses just enough of the response
 * (status, Content-Length), and sends the next. Far cheaper per request than
 * an HTTP client library, so the generator takes less of the machine from
 * the server it measures.
 */

/** What one run reports to the scenario that started it. */
export interface HttpLoadResult {
  completed: number;
  errors: number;
  firstErrors: string[];
  statuses: Record<string, number>;
  bytes: number;
  windowMs: number;
  latency: HistogramData;
  loopDelay: { p99: number; max: number };
}

interface RunArgs {
  host: string;
  port: number;
  localAddresses: string[];
  /** Requests in turn: path and extra headers. */
  requests: { path: string; headers?: Record<string, string> }[];
  connections: number;
  startAt: number;
  warmupMs: number;
  durationMs: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');

function buildRequest(host: string, port: number, path: string, headers: Record<string, string> = {}): Buffer {
  let text = `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: keep-alive\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  return Buffer.from(`${text}\r\n`);
}

interface ConnectionState {
  socket: Socket;
  buffer: Buffer;
  /** Bytes of body still expected, or -1 while reading headers. */
  bodyRemaining: number;
  status: number;
  sentAt: number;
}

async function run(args: RunArgs): Promise<HttpLoadResult> {
  const requests = args.requests.map((r) => buildRequest(args.host, args.port, r.path, r.headers));
  const window = { from: args.startAt + args.warmupMs, to: args.startAt + args.warmupMs + args.durationMs };
  const latency = new Histogram();
  const statuses: Record<string, number> = {};
  let completed = 0;
  let errors = 0;
  let bytes = 0;
  let k = 0;
  const firstErrors: string[] = [];

  const sockets = await Promise.all(
    Array.from(
      { length: args.connections },
      (_, i) =>
        new Promise<Socket>((resolve, reject) => {
          const localAddress = args.localAddresses[i % args.localAddresses.length];
          const socket = connect({ host: args.host, port: args.port, ...(localAddress ? { localAddress } : {}) });
          socket.setNoDelay(true);
          socket.once('connect', () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
  await sleepUntil(args.startAt);
  resetLoopDelay();

  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          const state: ConnectionState = { socket, buffer: Buffer.alloc(0), bodyRemaining: -1, status: 0, sentAt: 0 };
          const fail = (message: string) => {
            errors += 1;
            if (firstErrors.length < 3) firstErrors.push(message);
            socket.destroy();
            resolve();
          };
          const next = () => {
            if (nowMs() >= window.to) {
              socket.end();
              resolve();
              return;
            }
            state.sentAt = nowMs();
            socket.write(requests[k++ % requests.length] as Buffer);
          };
          const complete = () => {
            const done = nowMs();
            statuses[state.status] = (statuses[state.status] ?? 0) + 1;
            if (state.sentAt >= window.from && state.sentAt < window.to) {
              latency.recordMs(done - state.sentAt);
              completed += 1;
            }
            next();
          };
          socket.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            let data = state.buffer.length ? Buffer.concat([state.buffer, chunk]) : chunk;
            for (;;) {
              if (state.bodyRemaining < 0) {
                const end = data.indexOf(HEADER_END);
                if (end < 0) {
                  state.buffer = data;
                  return;
                }
                const head = data.subarray(0, end).toString('latin1');
                state.status = Number(head.slice(9, 12));
                const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
                if (!length) {
                  fail(`response without Content-Length (status ${state.status})`);
                  return;
                }
                state.bodyRemaining = Number(length[1]);
                data = data.subarray(end + 4);
              }
              if (data.length < state.bodyRemaining) {
                state.bodyRemaining -= data.length;
                state.buffer = Buffer.alloc(0);
                return;
              }
              data = data.subarray(state.bodyRemaining);
              state.bodyRemaining = -1;
              state.buffer = Buffer.alloc(0);
              complete();
              if (data.length === 0) return;
            }
          });
          socket.on('error', (error) => fail(error.message));
          socket.on('close', () => resolve());
          next();
        }),
    ),
  );
  return {
    completed,
    errors,
    firstErrors,
    statuses,
    bytes,
    windowMs: args.durationMs,
    latency: latency.toJSON(),
    loopDelay: readLoopDelay(),
  };
}

serve({ run });
