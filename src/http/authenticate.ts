import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../db/types.ts';
import { bearerToken, type TokenIssuer } from '../modules/auth/tokens.ts';
import { findUserById } from '../modules/users/user.repository.ts';
import type { UserCache } from '../modules/users/user-cache.ts';
import { AppError, forbidden, unauthorized } from './app-error.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in, active user making this request (set by the authenticate hook). */
    caller: UserRow;
  }
}

export type AuthFailure =
  | { status: 401; type: 'not_authenticated' | 'token_expired' | 'invalid_token' }
  | { status: 403; type: 'user_inactive' };

/**
 * Resolves a token to an active user. Shared by the REST hook and the
 * WebSocket upgrade, so both refuse exactly the same tokens. The user's row
 * comes through `cache` (see user-cache.ts for how long it may be reused).
 */
export function createUserAuthenticator(db: Kysely<Database>, tokens: TokenIssuer, cache: UserCache) {
  const load = (id: string) => findUserById(db, id);
  return async (token: string | undefined): Promise<{ user: UserRow } | { failure: AuthFailure }> => {
    if (!token) return { failure: { status: 401, type: 'not_authenticated' } };
    const check = await tokens.verify(token);
    if (!check.ok) return { failure: { status: 401, type: check.reason } };
    const user = await cache.get(check.userId, load);
    // A token for a user who no longer exists (or was deleted) is as good as forged.
    if (!user || user.status === 'deleted') return { failure: { status: 401, type: 'invalid_token' } };
    if (user.status !== 'active') return { failure: { status: 403, type: 'user_inactive' } };
    return { user };
  };
}

export type UserAuthenticator = ReturnType<typeof createUserAuthenticator>;

export function authenticateHook(authenticator: UserAuthenticator) {
  return async (request: FastifyRequest): Promise<void> => {
    const result = await authenticator(bearerToken(request.headers.authorization));
    if ('failure' in result) {
      const { status, type } = result.failure;
      throw status === 401 ? unauthorized(type) : forbidden(type);
    }
    request.caller = result.user;
  };
}

/** Route hook: admins only. Runs before body validation, so others learn nothing of the schema. */
export async function adminOnly(request: FastifyRequest): Promise<void> {
  if (request.caller.role !== 'admin') throw new AppError(403, 'forbidden');
}
