import WebSocket from 'ws';
import { createTokenIssuer } from '../../src/modules/auth/tokens.ts';

/** What every WebSocket worker shares: token minting and opening an authenticated socket. */

export function tokenMinter(secret: string) {
  const issuer = createTokenIssuer({ secret, algorithm: 'HS256', expireDays: 1 });
  return async (userId: string, role: string) => (await issuer.issue(userId, role)).token;
}

export interface OpenOptions {
  url: string;
  token?: string;
  localAddress?: string;
  /** Resolve once this event type arrived (service sockets: online_users); else on open. */
  waitForType?: string;
  timeoutMs?: number;
  onMessage?: (data: Buffer) => void;
}

/**
 * The address a simulated client connects from, as its proxy reports it. The
 * service trusts loopback as its proxy (bench/lib/service.ts), so each token
 * (one per simulated user) counts as its own client address, as real users
 * behind a load balancer do: per-address quotas apply per user, not to the
 * whole benchmark at once.
 */
function clientAddressOf(token: string): string {
  let hash = 2166136261;
  for (let i = 0; i < token.length; i++) hash = Math.imul(hash ^ token.charCodeAt(i), 16777619);
  return `10.${(hash >>> 16) & 255}.${(hash >>> 8) & 255}.${hash & 255}`;
}

/** Opens one socket; resolves when it is usable, rejects on refusal or timeout. */
export function openSocket(options: OpenOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(options.url, {
      perMessageDeflate: false,
      ...(options.token
        ? {
            headers: {
              authorization: `Bearer ${options.token}`,
              'x-forwarded-for': clientAddressOf(options.token),
            },
          }
        : {}),
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      handshakeTimeout: options.timeoutMs ?? 30_000,
    });
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`timed out opening ${options.url}`)), options.timeoutMs ?? 30_000);
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        ws.terminate();
        reject(error);
      } else resolve(ws);
    };
    const waitFor = options.waitForType ? `"type":"${options.waitForType}"` : undefined;
    ws.on('message', (data: Buffer) => {
      if (!settled && waitFor && data.includes(waitFor)) finish();
      options.onMessage?.(data);
    });
    ws.once('open', () => {
      if (!waitFor) finish();
    });
    ws.once('unexpected-response', (_request, response) =>
      finish(new Error(`upgrade refused: ${response.statusCode}`)),
    );
    ws.once('error', (error) => finish(error));
    ws.once('close', (code) => finish(new Error(`closed (${code}) while opening`)));
  });
}

/** Reads the send timestamp the benchmark puts at the start of a message's content: `"content":"t=<ms>;`. */
const MARKER = Buffer.from('"content":"t=');

export function sentAtOf(data: Buffer): number | undefined {
  const at = data.indexOf(MARKER);
  if (at < 0) return undefined;
  let value = 0;
  let scale = 0;
  for (let i = at + MARKER.length; i < data.length; i++) {
    const c = data[i] as number;
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      if (scale) scale *= 10;
    } else if (c === 46) scale = 1;
    else break;
  }
  return scale ? value / scale : value;
}

/** Content of a benchmark message: the send time, an id, and padding to a typical chat-message size. */
export function contentFor(sentAt: number, id: string, size = 64): string {
  const head = `t=${sentAt.toFixed(3)};${id};`;
  return head.length >= size ? head : head + 'x'.repeat(size - head.length);
}
