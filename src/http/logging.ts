import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import pino, { type DestinationStream, type Logger } from 'pino';

/** Query parameters whose value is a credential: `token`, `access_token`, `ticket`, and kin. */
const SECRET_PARAM = /token|ticket|secret|password|api[-_]?key/;

/**
 * A query parameter's name as a server would read it: percent-decoding (more
 * than once, for names encoded twice), `+` as a space, case folded. A lone
 * malformed escape does not stop the others from being decoded.
 */
function paramName(raw: string): string {
  let name = raw.replace(/\+/g, ' ');
  for (let round = 0; round < 3; round++) {
    const decoded = name.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    if (decoded === name) break;
    name = decoded;
  }
  return name.toLowerCase();
}

/**
 * Removes credentials from a URL before it reaches a log line: the value of
 * every query parameter whose name, once decoded, mentions a token or ticket
 * (`?token=`, `?%74oken=`, `?TOKEN=`, `?access_token=`, `;ticket=` ...).
 * Over-redacting a harmless parameter costs nothing; missing one leaks a session.
 */
export function redactUrl(url: string): string {
  const start = url.indexOf('?');
  if (start < 0) return url;
  const end = url.indexOf('#', start);
  const query = url.slice(start + 1, end < 0 ? undefined : end);
  const redacted = query
    .split(/([&;])/)
    .map((part, i) => {
      if (i % 2 === 1) return part;
      const eq = part.indexOf('=');
      const name = eq < 0 ? part : part.slice(0, eq);
      if (!SECRET_PARAM.test(paramName(name))) return part;
      return `${name}=[REDACTED]`;
    })
    .join('');
  return `${url.slice(0, start + 1)}${redacted}${end < 0 ? '' : '#[REDACTED]'}`;
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

/**
 * Runs `work` outside the request being served, for background work a request
 * merely wakes (the search indexer, the webhook worker): what it schedules and
 * logs then belongs to no request, rather than to whichever request woke it.
 */
export function outsideRequest<T>(work: () => T): T {
  return requestLoggers.exit(work);
}

/** The logger of the request being served, or `fallback` outside any request. */
export function currentLogger(fallback: FastifyBaseLogger | Logger): FastifyBaseLogger | Logger {
  return requestLoggers.getStore() ?? fallback;
}
