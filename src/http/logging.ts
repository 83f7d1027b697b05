import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import pino, { type DestinationStream, type Logger } from 'pino';

/** Removes credentials from a URL before it reaches a log line (?token= on WebSocket upgrades). */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token)=)[^&#]*/gi, '$1[REDACTED]');
}

export interface LoggerOptions {
  level?: string;
  /** Where the JSON lines go (default stdout); tests capture them with a stream. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const settings: pino.LoggerOptions = {
    level: options.level ?? 'info',
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["x-api-key"]',
        'res.headers["set-cookie"]',
      ],
      censor: '[REDACTED]',
    },
    serializers: {
      req: (req: { method: string; url: string; ip?: string; id?: string }) => ({
        method: req.method,
        url: redactUrl(req.url),
        remoteAddress: req.ip,
      }),
    },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a caller's X-Request-Id when it is safe to log, else makes one. */
export function requestIdFor(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}

const requestLoggers = new AsyncLocalStorage<FastifyBaseLogger>();

/**
 * Makes the request's own logger (a pino child carrying its reqId) reachable
 * from code that only holds the process logger, such as the DEBUG_SQL query
 * log: every line written while serving a request names the request.
 * Fastify keeps the async context through body parsing.
 */
export function bindRequestLoggers(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => requestLoggers.run(request.log, done));
}

/** The logger of the request being served, or `fallback` outside any request. */
export function currentLogger(fallback: FastifyBaseLogger | Logger): FastifyBaseLogger | Logger {
  return requestLoggers.getStore() ?? fallback;
}
