import type { FastifyRequest } from 'fastify';
import { forbidden, unauthorized } from '../http/app-error.ts';
import type { UserAuthenticator } from '../http/authenticate.ts';
import { bearerToken } from '../modules/auth/tokens.ts';

export type CredentialSource = 'header' | 'query' | 'cookie';

export const TOKEN_COOKIE = 'access_token';

/** The value of one cookie in a Cookie header, or undefined (no dependency on @fastify/cookie's order). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const raw = part
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return undefined;
}

/**
 * The upgrade's token, from the first of: `Authorization: Bearer`, `?token=`,
 * the `access_token` cookie. Browsers cannot set headers on a WebSocket,
 * hence the other two.
 */
export function upgradeCredential(request: {
  url: string;
  headers: FastifyRequest['headers'];
}): { token: string; source: CredentialSource } | undefined {
  const fromHeader = bearerToken(request.headers.authorization);
  if (fromHeader) return { token: fromHeader, source: 'header' };
  const fromQuery = new URL(request.url, 'http://upgrade.invalid').searchParams.get('token');
  if (fromQuery) return { token: fromQuery, source: 'query' };
  const fromCookie = cookieValue(request.headers.cookie, TOKEN_COOKIE);
  if (fromCookie) return { token: fromCookie, source: 'cookie' };
  return undefined;
}

/** CORS_ORIGINS plus BASE_URL's own origin: the pages that may open a cookie-authenticated socket. */
export function trustedOrigins(config: { CORS_ORIGINS: readonly string[]; BASE_URL: string }): ReadonlySet<string> {
  return new Set([...config.CORS_ORIGINS, new URL(config.BASE_URL).origin]);
}

/**
 * The route's onRequest hook: runs before the upgrade completes, so a refused
 * request gets a plain HTTP 401/403 (through the app's error handler) and
 * never becomes a socket. A cookie rides along with any page's request, so a
 * cookie-authenticated upgrade must come from a trusted Origin (cross-site
 * WebSocket hijacking).
 */
export function upgradeGuard(authenticate: UserAuthenticator, origins: ReadonlySet<string>) {
  return async (request: FastifyRequest): Promise<void> => {
    const credential = upgradeCredential(request);
    if (!credential) throw unauthorized('not_authenticated');
    if (credential.source === 'cookie') {
      const origin = request.headers.origin;
      if (!origin || !origins.has(origin)) throw forbidden('forbidden');
    }
    const result = await authenticate(credential.token);
    if ('failure' in result) {
      const { status, type } = result.failure;
      throw status === 401 ? unauthorized(type) : forbidden(type);
    }
    const { user_id: userId } = request.params as { user_id?: string };
    if (result.user.id !== userId) throw forbidden('forbidden');
    request.caller = result.user;
  };
}
