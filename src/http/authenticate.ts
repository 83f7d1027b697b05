import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../db/types.ts';
import { forbidden, unauthorized } from '../lib/errors.ts';
import type { SessionRevocations } from '../modules/auth/session-revocations.ts';
import { bearerToken, type TokenIssuer, type TokenSession } from '../modules/auth/tokens.ts';
import { findUserById } from '../modules/users/user.repository.ts';
import type { UserCache } from '../modules/users/user-cache.ts';
import { cookieValue, fromTrustedOrigin, TOKEN_COOKIE } from './credentials.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in, active user making this request (set by the authenticate hook). */
    caller: UserRow;
    /** The session of the token the request came with (logout ends it). */
    session: TokenSession;
  }
}

export type AuthFailure =
  | { status: 401; type: 'not_authenticated' | 'token_expired' | 'invalid_token' | 'token_revoked' }
  | { status: 403; type: 'user_inactive' };

export type AuthResult = { user: UserRow; session: TokenSession } | { failure: AuthFailure };

/**
 * Resolves a token to an active user. Shared by the REST hook and the
 * WebSocket upgrade, so both refuse exactly the same tokens. The user's row
 * comes through `cache` (see user-cache.ts for how long it may be reused) and
 * carries `tokens_valid_after`; revoked sessions are an in-memory set: no
 * request pays a database round-trip for revocation.
 */
export function createUserAuthenticator(
  db: Kysely<Database>,
  tokens: TokenIssuer,
  cache: UserCache,
  revocations: SessionRevocations,
) {
  const load = (id: string) => findUserById(db, id);

  /** The user-side checks, for a session already proven (a token, or a WebSocket ticket made from one). */
  async function checkSession(session: TokenSession): Promise<AuthResult> {
    const user = await cache.get(session.userId, load);
    // A token for a user who no longer exists (or was deleted) is as good as forged.
    if (!user || user.status === 'deleted') return { failure: { status: 401, type: 'invalid_token' } };
    if (user.status !== 'active') return { failure: { status: 403, type: 'user_inactive' } };
    if (session.issuedAtMs < Number(user.tokens_valid_after))
      return { failure: { status: 401, type: 'token_revoked' } };
    if (session.sessionId !== undefined && revocations.isRevoked(session.sessionId)) {
      return { failure: { status: 401, type: 'token_revoked' } };
    }
    if (session.expiresAt <= Date.now() / 1000) return { failure: { status: 401, type: 'token_expired' } };
    return { user, session };
  }

  async function authenticate(token: string | undefined): Promise<AuthResult> {
    if (!token) return { failure: { status: 401, type: 'not_authenticated' } };
    const check = await tokens.verify(token);
    if (!check.ok) return { failure: { status: 401, type: check.reason } };
    const { ok: _, ...session } = check;
    return checkSession(session);
  }

  return Object.assign(authenticate, { checkSession });
}

export type UserAuthenticator = ReturnType<typeof createUserAuthenticator>;

/** Methods a cross-site page may trigger without changing anything (and CORS preflights). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * REST authentication: the Bearer header, else the `access_token` cookie.
 * A browser attaches the cookie to requests any site makes, so a request
 * authenticated by it that changes something must come from a trusted page
 * (CSRF); a Bearer token can only be sent by code that holds it.
 */
export function authenticateHook(authenticator: UserAuthenticator, origins: ReadonlySet<string>) {
  return async (request: FastifyRequest): Promise<void> => {
    let token = bearerToken(request.headers.authorization);
    if (!token) {
      token = cookieValue(request.headers.cookie, TOKEN_COOKIE);
      if (token && !SAFE_METHODS.has(request.method) && !fromTrustedOrigin(request, origins)) {
        throw forbidden('origin_not_allowed');
      }
    }
    const result = await authenticator(token);
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
