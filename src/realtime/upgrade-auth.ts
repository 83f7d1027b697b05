import type { FastifyRequest } from 'fastify';
import type { AuthResult } from '../http/authenticate.ts';
import { bearerToken, cookieValue, TOKEN_COOKIE, trustedOrigins } from '../http/credentials.ts';
import { forbidden, unauthorized, unavailable } from '../lib/errors.ts';
import type { UserAuthenticator } from '../modules/auth/authenticator.ts';
import type { TicketIssuer } from '../modules/auth/ws-tickets.ts';

export { cookieValue, TOKEN_COOKIE, trustedOrigins };

export type CredentialSource = 'header' | 'ticket' | 'query' | 'cookie';

/**
 * The upgrade's credential, from the first of: `Authorization: Bearer`,
 * `?ticket=` (from POST /api/ws/ticket), `?token=`, the `access_token`
 * cookie. Browsers cannot set headers on a WebSocket, hence the others.
 */
export function upgradeCredential(request: {
  url: string;
  headers: FastifyRequest['headers'];
}): { token: string; source: CredentialSource } | undefined {
  const fromHeader = bearerToken(request.headers.authorization);
  if (fromHeader) return { token: fromHeader, source: 'header' };
  const query = new URL(request.url, 'http://upgrade.invalid').searchParams;
  const fromTicket = query.get('ticket');
  if (fromTicket) return { token: fromTicket, source: 'ticket' };
  const fromQuery = query.get('token');
  if (fromQuery) return { token: fromQuery, source: 'query' };
  const fromCookie = cookieValue(request.headers.cookie, TOKEN_COOKIE);
  if (fromCookie) return { token: fromCookie, source: 'cookie' };
  return undefined;
}

/**
 * The route's onRequest hook: runs before the upgrade completes, so a refused
 * request gets a plain HTTP 401/403 (through the app's error handler) and
 * never becomes a socket. A cookie rides along with any page's request, so a
 * cookie-authenticated upgrade must come from a trusted Origin (cross-site
 * WebSocket hijacking). A ticket is spent here, once, and then checked like
 * the token it was issued for.
 */
export function upgradeGuard(authenticate: UserAuthenticator, tickets: TicketIssuer, origins: ReadonlySet<string>) {
  async function redeem(ticket: string): Promise<AuthResult> {
    let session: Awaited<ReturnType<TicketIssuer['redeem']>>;
    try {
      session = await tickets.redeem(ticket);
    } catch {
      // The ticket store (Redis) is away: say so rather than "invalid", so the client retries.
      throw unavailable();
    }
    if (!session) throw unauthorized('invalid_ticket');
    return authenticate.checkSession(session);
  }

  return async (request: FastifyRequest): Promise<void> => {
    const credential = upgradeCredential(request);
    if (!credential) throw unauthorized('not_authenticated');
    if (credential.source === 'cookie') {
      const origin = request.headers.origin;
      if (!origin || !origins.has(origin)) throw forbidden('forbidden');
    }
    const result =
      credential.source === 'ticket' ? await redeem(credential.token) : await authenticate(credential.token);
    if ('failure' in result) {
      const { status, type } = result.failure;
      throw status === 401 ? unauthorized(type) : forbidden(type);
    }
    const { user_id: userId } = request.params as { user_id?: string };
    if (result.user.id !== userId) throw forbidden('forbidden');
    request.caller = result.user;
    request.session = result.session;
  };
}
