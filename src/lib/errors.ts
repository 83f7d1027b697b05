import type { ErrorCode } from '@cs-chat/contracts/error-codes';

/**
 * What went wrong, in the caller's terms rather than a transport's: the HTTP
 * error handler maps each kind to a status code (src/http/error-handler.ts),
 * the WebSocket gateway answers with the code alone, and a worker or CLI can
 * act on the kind without knowing either.
 */
export type ErrorKind =
  /** The request is malformed (400). */
  | 'invalid'
  /** No valid credential: sign in again (401). */
  | 'unauthenticated'
  /** The caller is known but may not do this (403). */
  | 'forbidden'
  | 'not_found'
  /** It clashes with what exists (409). */
  | 'conflict'
  /** The body is over a size limit (413). */
  | 'too_large'
  /** The body's type is not one accepted here (415). */
  | 'unsupported'
  /** The requested byte range lies outside the file (416). */
  | 'unsatisfiable'
  /** Well-formed, but a field breaks a rule (422). */
  | 'unprocessable'
  /** A limit on attempts or rate; retry after a while (429). */
  | 'too_many'
  /** Something this depends on is away or the process is closing; retry after a while (503). */
  | 'unavailable';

export interface DomainErrorDetails {
  /** "field: message" lines, like schema validation errors. */
  errors?: readonly string[] | undefined;
  /** When a retry may succeed (too_many, unavailable). */
  retryAfterSeconds?: number | undefined;
}

/**
 * An error a service raises on purpose: a kind and a stable code (the wire's
 * `error_type`) whose human message is looked up in the client's language
 * when it is rendered.
 */
export class DomainError extends Error {
  readonly kind: ErrorKind;
  readonly code: ErrorCode;
  readonly errors: readonly string[] | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(kind: ErrorKind, code: ErrorCode, details: DomainErrorDetails = {}) {
    super(code);
    this.name = 'DomainError';
    this.kind = kind;
    this.code = code;
    this.errors = details.errors;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

/** How long a client waits before retrying when something it needs is away. */
export const UNAVAILABLE_RETRY_SECONDS = 5;

export const badRequest = (code: ErrorCode) => new DomainError('invalid', code);
export const unauthorized = (code: ErrorCode = 'not_authenticated') => new DomainError('unauthenticated', code);
export const forbidden = (code: ErrorCode = 'forbidden') => new DomainError('forbidden', code);
export const notFound = (code: ErrorCode = 'not_found') => new DomainError('not_found', code);
export const conflict = (code: ErrorCode) => new DomainError('conflict', code);
export const unprocessable = (code: ErrorCode, errors: readonly string[]) =>
  new DomainError('unprocessable', code, { errors });
export const tooMany = (code: ErrorCode, retryAfterSeconds: number) =>
  new DomainError('too_many', code, { retryAfterSeconds });
export const unavailable = (code: ErrorCode = 'service_unavailable') =>
  new DomainError('unavailable', code, { retryAfterSeconds: UNAVAILABLE_RETRY_SECONDS });
