import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { addressKey } from './client-address.ts';
import { rawErrorAnswer } from './error-handler.ts';

export interface ConnectionGateOptions {
  /** Open TCP connections one client address may hold (HTTP keep-alive and WebSocket alike). */
  maxPerAddress: number;
  /** Peers never capped: the reverse proxies every client's traffic arrives through. */
  exempt: (address: string) => boolean;
  /** Told of each refused connection (metrics, a debug log line). */
  onRefused: (address: string) => void;
}

/** Seconds a refused client is told to wait: long enough for its other connections to finish. */
const RETRY_AFTER_SECONDS = '5';

/**
 * Caps concurrent TCP connections per client address, so one address cannot
 * hold thousands of sockets (each a file descriptor and parser state) open.
 * The gate sits in front of the HTTP server's own connection handling: a
 * refused socket gets a 429 in the standard body and is closed without its
 * bytes ever reaching the HTTP parser.
 */
export function limitConnectionsPerAddress(server: Server, options: ConnectionGateOptions): void {
  const open = new Map<string, number>();
  // Node's HTTP server (and anything registered so far) handles a connection in its 'connection'
  // listeners: they run only for admitted sockets.
  const handlers = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');

  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    if (address === '' || options.exempt(address)) {
      for (const handler of handlers) handler.call(server, socket);
      return;
    }
    const key = addressKey(address);
    const count = open.get(key) ?? 0;
    if (count >= options.maxPerAddress) {
      options.onRefused(address);
      socket.on('error', () => {});
      socket.end(rawErrorAnswer(429, 'too_many_connections', 'zh', { 'Retry-After': RETRY_AFTER_SECONDS }), () =>
        socket.destroy(),
      );
      return;
    }
    open.set(key, count + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left === 0) open.delete(key);
      else open.set(key, left);
    });
    for (const handler of handlers) handler.call(server, socket);
  });
}
