import type { MessageKey } from './messages.ts';

/**
 * An error a service raises on purpose: an HTTP status and a stable code whose
 * human message is looked up in the client's language when it is rendered.
 */
export class AppError extends Error {
  readonly statusCode: number;
  readonly errorType: MessageKey;
  readonly headers: Record<string, string>;
  /** For 422s: "field: message" lines, like schema validation errors. */
  readonly errors: readonly string[] | undefined;

  constructor(
    statusCode: number,
    errorType: MessageKey,
    headers: Record<string, string> = {},
    errors?: readonly string[],
  ) {
    super(errorType);
    this.name = 'AppError';
    this.statusCode = statusCode;
    this.errorType = errorType;
    this.headers = headers;
    this.errors = errors;
  }
}

export const badRequest = (type: MessageKey) => new AppError(400, type);
export const unauthorized = (type: MessageKey = 'not_authenticated') =>
  new AppError(401, type, { 'www-authenticate': 'Bearer' });
export const forbidden = (type: MessageKey = 'forbidden') => new AppError(403, type);
export const notFound = (type: MessageKey = 'not_found') => new AppError(404, type);
export const conflict = (type: MessageKey) => new AppError(409, type);
export const unprocessable = (type: MessageKey, errors: readonly string[]) => new AppError(422, type, {}, errors);
