import type { FastifyInstance, FastifyRequest } from 'fastify';
import { forbidden, unauthorized } from '../lib/errors.ts';
import { bearerToken, cookieValue, fromTrustedOrigin, TOKEN_COOKIE } from './credentials.ts';

// `request.caller` and `request.session` are declared by src/modules/auth/authenticator.ts, which makes the
// authenticate function this hook is given: the HTTP layer knows that a request has a caller, not how one is found.

export type AuthFailure =
  | { status: 401; type: 'not_authenticated' | 'token_expired' | 'invalid_token' | 'token_revoked' }
  | { status: 403; type: 'user_inactive' };

export type AuthResult =
  | { user: FastifyRequest['caller']; session: FastifyRequest['session'] }
  | { failure: AuthFailure };

/** Resolves a request's token (undefined: it came without one) to its caller, or says why not. */
export type Authenticate = (token: string | undefined) => Promise<AuthResult>;

/** Methods a cross-site page may trigger without changing anything (and CORS preflights). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * REST authentication: the Bearer header, else the `access_token` cookie.
 * A browser attaches the cookie to requests any site makes, so a request
 * authenticated by it that changes something must come from a trusted page
 * (CSRF); a Bearer token can only be sent by code that holds it.
 */
export function authenticateHook(authenticate: Authenticate, origins: ReadonlySet<string>) {
  return async (request: FastifyRequest): Promise<void> => {
    let token = bearerToken(request.headers.authorization);
    if (!token) {
      token = cookieValue(request.headers.cookie, TOKEN_COOKIE);
      if (token && !SAFE_METHODS.has(request.method) && !fromTrustedOrigin(request, origins)) {
        throw forbidden('origin_not_allowed');
      }
    }
    const result = await authenticate(token);
    if ('failure' in result) {
      const { status, type } = result.failure;
      throw status === 401 ? unauthorized(type) : forbidden(type);
    }
    request.caller = result.user;
    request.session = result.session;
  };
}

/** Route hook: admins only. Runs before body validation, so others learn nothing of the schema. */
export async function adminOnly(request: FastifyRequest): Promise<void> {
  if (request.caller.role !== 'admin') throw forbidden();
}

/**
 * Registers routes that need a signed-in caller, in their own encapsulated
 * scope: every request in it passes the authenticate hook first (401 or 403
 * otherwise, before its body is read). `routes` adds the scope's hooks and
 * route plugins.
 */
export async function registerAuthenticated(
  app: FastifyInstance,
  options: { authenticate: Authenticate; origins: ReadonlySet<string> },
  routes: (scope: FastifyInstance) => Promise<void>,
): Promise<void> {
  await app.register(async (authenticated) => {
    authenticated.addHook('onRequest', authenticateHook(options.authenticate, options.origins));
    await routes(authenticated);
  });
}
