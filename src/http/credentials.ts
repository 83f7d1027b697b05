import type { FastifyRequest } from 'fastify';

/** The cookie POST /api/auth/login sets; REST and WebSocket upgrades accept it. */
export const TOKEN_COOKIE = 'access_token';

/** The token from an `Authorization: Bearer <token>` header, if there is one. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

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

/** CORS_ORIGINS plus BASE_URL's own origin: the pages that may act with the user's cookie. */
export function trustedOrigins(config: { CORS_ORIGINS: readonly string[]; BASE_URL: string }): ReadonlySet<string> {
  return new Set([...config.CORS_ORIGINS, new URL(config.BASE_URL).origin]);
}

/**
 * Whether a cookie-authenticated request comes from a trusted page. Browsers
 * send Origin on every cross-site request and on same-site non-GET requests,
 * and no page can forge it; without one (an old browser, a privacy proxy) the
 * Referer's origin is taken, and without either the request is refused.
 */
export function fromTrustedOrigin(request: Pick<FastifyRequest, 'headers'>, origins: ReadonlySet<string>): boolean {
  const { origin, referer } = request.headers;
  if (origin) return origins.has(origin);
  if (!referer) return false;
  try {
    return origins.has(new URL(referer).origin);
  } catch {
    return false;
  }
}
