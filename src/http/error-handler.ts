import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from '../db/errors.ts';
import { DomainError, type ErrorKind, UNAVAILABLE_RETRY_SECONDS } from '../lib/errors.ts';
import { type Language, languageOf, type MessageKey, translate } from './messages.ts';

// Not `import { STATUS_CODES } from 'node:http'`: an ES import of node:http builds its
// namespace from every export, which loads undici for http.WebSocket (about 1 MB of heap
// and 1 MB of external memory an idle server never uses). The CommonJS exports object has no such cost.
const { STATUS_CODES } = process.getBuiltinModule('node:http');

const RETRY_AFTER_SECONDS = String(UNAVAILABLE_RETRY_SECONDS);

/** The status each kind of domain error (src/lib/errors.ts) is answered with. */
const STATUS_OF_KIND: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported: 415,
  unsatisfiable: 416,
  unprocessable: 422,
  too_many: 429,
  unavailable: 503,
};

/** A domain error's status and the headers that go with it (the Bearer challenge of a 401, Retry-After). */
export function httpAnswerOf(error: DomainError): { status: number; headers: Record<string, string> } {
  const headers: Record<string, string> =
    error.kind === 'unauthenticated'
      ? { 'www-authenticate': 'Bearer' }
      : error.retryAfterSeconds !== undefined
        ? { 'retry-after': String(error.retryAfterSeconds) }
        : {};
  return { status: STATUS_OF_KIND[error.kind], headers };
}

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/** "body.content: is required", one line per failed rule and field, without repeats. */
export function describeValidation(issues: readonly ValidationIssue[], context: string | undefined): string[] {
  const lines = issues.flatMap((issue) => {
    const path = (issue.instancePath ?? '').split('/').filter(Boolean);
    const at = (...more: string[]) => [context, ...path, ...more].filter(Boolean).join('.') || 'request';
    const list = (value: unknown) =>
      Array.isArray(value) ? value.map(String) : typeof value === 'string' ? [value] : [];
    switch (issue.keyword) {
      case 'required':
        return list(issue.params?.requiredProperties ?? issue.params?.missingProperty).map(
          (f) => `${at(f)}: is required`,
        );
      case 'additionalProperties':
        return list(issue.params?.additionalProperties ?? issue.params?.additionalProperty).map(
          (f) => `${at(f)}: unknown field`,
        );
      case 'boolean':
        // TypeBox repeats each unknown field as "schema is false"; the line above already says it.
        return [];
      default:
        return [`${at()}: ${issue.message ?? 'is invalid'}`];
    }
  });
  return [...new Set(lines)];
}

/** Fastify's own 4xx errors (body parsing and the like) mapped to our stable codes. */
const FASTIFY_CODES: Record<string, { status: number; type: MessageKey }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, type: 'invalid_json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, type: 'invalid_json' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, type: 'payload_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, type: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, type: 'bad_request' },
};

export function installErrorHandling(app: FastifyInstance, options: { debug: boolean }): void {
  app.setNotFoundHandler((request, reply) => {
    const language = languageOf(request.headers['accept-language']);
    reply.code(404).send({ detail: translate('route_not_found', language), error_type: 'route_not_found' });
  });

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const language = languageOf(request.headers['accept-language']);
    const send = (status: number, type: MessageKey, extra: Record<string, unknown> = {}) =>
      reply.code(status).send({ detail: translate(type, language), error_type: type, ...extra });

    if (error instanceof DomainError) {
      const { status, headers } = httpAnswerOf(error);
      reply.headers(headers);
      return send(status, error.code, error.errors ? { errors: error.errors } : {});
    }
    if (error.validation) {
      return send(422, 'validation_error', { errors: describeValidation(error.validation, error.validationContext) });
    }
    const known = error.code ? FASTIFY_CODES[error.code] : undefined;
    if (known) return send(known.status, known.type);
    if (error instanceof SyntaxError && error.statusCode === 400) return send(400, 'invalid_json');
    if (isDatabaseUnavailable(error)) {
      request.log.warn({ err: error }, 'database unavailable');
      reply.header('retry-after', RETRY_AFTER_SECONDS);
      return send(503, 'database_unavailable');
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ detail: error.message, error_type: error.code ?? 'bad_request' });
    }

    request.log.error({ err: error }, 'unhandled error');
    if (options.debug) {
      return reply.code(500).send({
        detail: translate('internal_error_debug', language),
        error_type: error.name || 'Error',
        error_message: error.message,
        traceback: (error.stack ?? '').split('\n').map((line) => line.trim()),
      });
    }
    return send(500, 'internal_error');
  });
}

/**
 * Fastify's `frameworkErrors`: what the router refuses before any route (so
 * before the error handler) — a path parameter over its 100-character limit,
 * a path that is not valid percent-encoded UTF-8 — in the standard error body.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const language = languageOf(request.headers['accept-language']);
  const type: MessageKey = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'uri_too_long' : 'bad_request';
  reply.code(type === 'uri_too_long' ? 414 : 400).send({ detail: translate(type, language), error_type: type });
}

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refuses (headers
 * or URL over 16 KiB, a request that never finished arriving, bytes that are
 * not HTTP), answered on the raw socket in the standard error body (Chinese:
 * the headers, Accept-Language included, were never parsed).
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, type]: [number, MessageKey] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout']
        : [400, 'bad_request'];
  if (socket.writable) socket.write(rawErrorAnswer(status, type));
  socket.destroy(error);
}

/**
 * A complete HTTP/1.1 error answer in the standard body, for code that answers on
 * the raw socket (no request was parsed, or the request is being cut off).
 */
export function rawErrorAnswer(
  status: number,
  type: MessageKey,
  language: Language = 'zh',
  headers: Record<string, string> = {},
): string {
  const body = JSON.stringify({ detail: translate(type, language), error_type: type });
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Content-Type: application/json; charset=utf-8\r\n${extra}Connection: close\r\n\r\n${body}`
  );
}
