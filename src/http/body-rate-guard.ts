import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { rawErrorAnswer } from './error-handler.ts';
import { languageOf } from './messages.ts';

export interface BodyRateLimits {
  /** The slowest body accepted, averaged over each window of `bodyRateWindowMs`. */
  bodyMinBytesPerSecond: number;
  bodyRateWindowMs: number;
  /** The longest pause with no body byte at all. */
  bodyIdleTimeoutMs: number;
  /** How often the bodies in flight are looked at (the precision of both limits). */
  checkIntervalMs: number;
}

export type BodyTimeout = 'body_too_slow' | 'body_idle';

interface Watch {
  request: IncomingMessage;
  response: ServerResponse;
  socket: Socket;
  /** socket.bytesRead at the last check, at the start of the current window. */
  lastBytes: number;
  windowBytes: number;
  windowStartedAt: number;
  lastProgressAt: number;
}

/** Whether the request announced a body: a positive Content-Length or a chunked transfer. */
function announcesBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Cuts request bodies (uploads included) that arrive slower than a minimum rate
 * or stall, instead of a fixed total time: a large upload on a slow but working
 * link goes through, a client trickling a byte every few seconds to hold a
 * connection (and a parser, and an upload slot) does not. Measured on the
 * socket's bytes read; while the server itself is not reading (the socket is
 * paused because the body is not consumed yet, or because the upload's disk
 * write pushes back) the client is not blamed and the window starts again.
 * WebSocket upgrades never emit 'request', so long-lived sockets are untouched.
 */
export function guardRequestBodies(
  server: Server,
  limits: BodyRateLimits,
  onTimeout: (reason: BodyTimeout, request: IncomingMessage) => void,
): void {
  const watched = new Set<Watch>();
  let timer: NodeJS.Timeout | undefined;
  const minWindowBytes = (limits.bodyMinBytesPerSecond * limits.bodyRateWindowMs) / 1000;

  const stopWatching = (watch: Watch) => {
    watched.delete(watch);
    if (watched.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  const cut = (watch: Watch, reason: BodyTimeout) => {
    stopWatching(watch);
    onTimeout(reason, watch.request);
    const { socket } = watch;
    const language = languageOf(watch.request.headers['accept-language']);
    // Only when no answer has started: a 408 written into the middle of another would corrupt it.
    if (socket.writable && !watch.response.headersSent) socket.write(rawErrorAnswer(408, 'request_timeout', language));
    socket.destroy();
  };

  const check = () => {
    const now = performance.now();
    for (const watch of watched) {
      const { request, socket } = watch;
      if (request.complete || socket.destroyed) {
        stopWatching(watch);
        continue;
      }
      const bytes = socket.bytesRead;
      if (socket.isPaused()) {
        // The server is not reading: nothing the client does can show, so measure afresh once it reads again.
        Object.assign(watch, { lastBytes: bytes, windowBytes: bytes, windowStartedAt: now, lastProgressAt: now });
        continue;
      }
      if (bytes > watch.lastBytes) {
        watch.lastBytes = bytes;
        watch.lastProgressAt = now;
      } else if (now - watch.lastProgressAt >= limits.bodyIdleTimeoutMs) {
        cut(watch, 'body_idle');
        continue;
      }
      if (now - watch.windowStartedAt >= limits.bodyRateWindowMs) {
        if (bytes - watch.windowBytes < minWindowBytes) {
          cut(watch, 'body_too_slow');
          continue;
        }
        watch.windowBytes = bytes;
        watch.windowStartedAt = now;
      }
    }
  };

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (!announcesBody(request) || request.complete) return;
    const now = performance.now();
    const bytes = request.socket.bytesRead;
    const watch: Watch = {
      request,
      response,
      socket: request.socket,
      lastBytes: bytes,
      windowBytes: bytes,
      windowStartedAt: now,
      lastProgressAt: now,
    };
    watched.add(watch);
    // 'close': the body was read to its end (or discarded after the answer), or the connection went.
    request.once('close', () => stopWatching(watch));
    if (!timer) {
      timer = setInterval(check, limits.checkIntervalMs);
      timer.unref();
    }
  });
}
