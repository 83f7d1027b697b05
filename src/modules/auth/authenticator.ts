import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../../db/types.ts';
import type { AuthResult } from '../../http/authenticate.ts';
import { findUserById } from '../users/user.repository.ts';
import type { UserCache } from '../users/user-cache.ts';
import type { SessionRevocations } from './session-revocations.ts';
import type { TokenIssuer, TokenSession } from './tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in, active user making this request (set by the authenticate hook). */
    caller: UserRow;
    /** The session of the token the request came with (logout ends it). */
    session: TokenSession;
  }
}

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
