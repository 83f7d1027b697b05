import { connect, createServer, type Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * How `cut` breaks the link:
 * - `reset`: open connections get RST (ECONNRESET), as when the host vanishes;
 * - `close`: open connections get FIN, as when the server process shuts down;
 *   in both, new connections are accepted and ended the same way at once;
 * - `hang`: nothing is closed, but no byte gets through either way and new
 *   connections are never answered, as in a network partition.
 */
export type CutMode = 'reset' | 'close' | 'hang';

/**
 * A TCP forwarder on 127.0.0.1 for simulating database outages: `cut` breaks
 * the link (see CutMode), `restore` forwards again (after `hang`, the
 * connections that survived carry on where they stopped). The port stays the
 * same throughout, so clients reconnect to the same address.
 */
export interface TcpProxy {
  port: number;
  /** Client connections currently open (forwarded, or held by `hang`). */
  readonly openConnections: number;
  /** Connections accepted since start (forwarded or refused). */
  readonly acceptedConnections: number;
  cut(mode?: CutMode): void;
  restore(): void;
  /**
   * Adds `ms` of latency to everything the target sends back, on open and new
   * connections alike (0 removes it), as a slow or distant database: each
   * request/answer round trip takes `ms` longer. Order and bytes are kept.
   */
  delay(ms: number): void;
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket | undefined;
  /** Between upstream and client: holds each chunk for the current latency. */
  latency: Transform;
}

/** Passes each chunk on `latency()` ms after it arrived, in order, without holding up the chunks behind it. */
function latencyStage(latency: () => number): Transform {
  const queue: { at: number; chunk: Buffer }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let flushed: TransformCallback | undefined;
  const stage = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const ms = latency();
      if (ms <= 0 && queue.length === 0) {
        callback(null, chunk);
        return;
      }
      queue.push({ at: Date.now() + ms, chunk });
      schedule();
      callback();
    },
    flush(callback) {
      if (queue.length === 0) callback();
      else flushed = callback;
    },
    destroy(error, callback) {
      clearTimeout(timer);
      queue.length = 0;
      callback(error);
    },
  });
  const schedule = () => {
    const head = queue[0];
    if (timer || !head) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        const now = Date.now();
        while (queue[0] && queue[0].at <= now) stage.push(queue.shift()?.chunk);
        if (queue.length > 0) schedule();
        else flushed?.();
      },
      Math.max(0, head.at - Date.now()),
    );
  };
  return stage;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const links = new Set<Link>();
  let down: CutMode | false = false;
  let accepted = 0;
  let latencyMs = 0;

  const drop = (link: Link) => {
    links.delete(link);
    link.client.destroy();
    link.upstream?.destroy();
    link.latency.destroy();
  };
  const end = (socket: Socket, mode: 'reset' | 'close') => {
    // A reset of a half-closed socket (its peer already sent FIN, as after Redis's QUIT)
    // never completes in Node 24 and keeps the process alive: plain close then.
    if (mode === 'reset' && socket.readyState === 'open') socket.resetAndDestroy();
    else socket.destroy();
  };
  const forward = (link: Link) => {
    if (!link.upstream) {
      // Half-open allowed: a FIN from the target must not close the link on its own. While
      // hung it waits unread, as in a partition; otherwise the pipe passes it on to the client.
      const upstream = connect({ port: target.port, host: target.host, allowHalfOpen: true });
      link.upstream = upstream;
      upstream.on('error', () => drop(link)).on('close', () => drop(link));
    }
    link.client.pipe(link.upstream);
    link.upstream.pipe(link.latency).pipe(link.client);
  };
  const freeze = (link: Link) => {
    link.client.unpipe();
    link.upstream?.unpipe();
    link.latency.unpipe();
    link.client.pause();
    link.upstream?.pause();
  };

  const server = createServer((client) => {
    accepted++;
    client.on('error', () => {});
    if (down === 'reset' || down === 'close') {
      end(client, down);
      return;
    }
    const link: Link = { client, upstream: undefined, latency: latencyStage(() => latencyMs) };
    links.add(link);
    client.on('close', () => drop(link));
    if (down === 'hang') client.pause();
    else forward(link);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');

  const cut = (mode: CutMode = 'reset') => {
    down = mode;
    for (const link of [...links]) {
      if (mode === 'hang') {
        freeze(link);
      } else {
        links.delete(link);
        end(link.client, mode);
        link.upstream?.destroy();
        link.latency.destroy();
      }
    }
  };

  return {
    port: address.port,
    get openConnections() {
      return links.size;
    },
    get acceptedConnections() {
      return accepted;
    },
    cut,
    restore() {
      const wasHanging = down === 'hang';
      down = false;
      if (wasHanging) for (const link of links) forward(link);
    },
    delay(ms) {
      latencyMs = ms;
    },
    async close() {
      cut('reset');
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A service URL (database, Redis) rewritten to reach the service through `proxy` instead of directly. */
export function throughProxy(serviceUrl: string, proxy: Pick<TcpProxy, 'port'>): string {
  const url = new URL(serviceUrl);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return url.toString();
}
