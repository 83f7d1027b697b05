import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

/**
 * What a browser app on an allowed origin (CORS_ORIGINS) may do: every method
 * the API uses (read receipts are PUT, profile edits PUT, moderation PATCH and
 * DELETE), the request headers clients send, with credentials (the
 * access_token cookie), and the response headers a client must read: Retry-After
 * on 429/503 and X-Request-Id to quote in a bug report. A disallowed origin gets
 * no Access-Control-Allow-* header at all, so the browser blocks it.
 */
export const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export const CORS_REQUEST_HEADERS = [
  'authorization',
  'content-type',
  'x-connection-id',
  'x-request-id',
  'x-api-key',
] as const;
export const CORS_EXPOSED_HEADERS = ['retry-after', 'x-request-id'] as const;
/** How long a browser may reuse a preflight answer: one preflight per endpoint per 10 minutes, not per request. */
export const CORS_PREFLIGHT_MAX_AGE_SECONDS = 600;

export async function registerCors(app: FastifyInstance, allowedOrigins: readonly string[]): Promise<void> {
  const allowed = new Set(allowedOrigins);
  await app.register(cors, {
    // false, not a list: a request from any other origin (or none) gets no CORS header at all, where a
    // list would still answer Access-Control-Allow-Credentials and the allowed methods to anyone.
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: [...CORS_METHODS],
    allowedHeaders: [...CORS_REQUEST_HEADERS],
    exposedHeaders: [...CORS_EXPOSED_HEADERS],
    maxAge: CORS_PREFLIGHT_MAX_AGE_SECONDS,
  });
}
