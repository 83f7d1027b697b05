import type { PlatformTokenBody, SignedInUser } from '@cs-chat/contracts/rest/auth.schemas';
import { normaliseRole } from '@cs-chat/contracts/rest/user.schemas';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/types.ts';
import type { EventPublisher } from '../../events/hub.ts';
import { conflict, forbidden, notFound, tooMany, unauthorized } from '../../lib/errors.ts';
import { verifyPassword } from '../../lib/password.ts';
import type { TeamService } from '../teams/team.service.ts';
import { DEMO_USERS } from '../users/demo-users.ts';
import { findUserById, findUserByUsername } from '../users/user.repository.ts';
import type { UserService } from '../users/user.service.ts';
import type { LoginThrottle } from './login-throttle.ts';
import { createPlatformKeyCheck } from './platform-key.ts';
import type { SessionRevocations } from './session-revocations.ts';
import type { IssuedToken, TokenIssuer, TokenSession } from './tokens.ts';

export interface AuthServiceDeps {
  db: Kysely<Database>;
  tokens: TokenIssuer;
  users: UserService;
  /** POST /api/auth/token with team_id: the new user joins that team. */
  teams: Pick<TeamService, 'membershipFor'>;
  throttle: LoginThrottle;
  revocations: SessionRevocations;
  events: EventPublisher;
  platformApiKey: string;
  /** DEBUG=True: the seeded demo users may sign in without a password (the console's one-click pick). */
  demoSignIn: boolean;
}

/** A username as typed: stored names are NFKC (see usernames.ts); a legacy name that is not is still found. */
async function findByLoginName(db: Kysely<Database>, username: string) {
  const exact = await findUserByUsername(db, username);
  const normalised = username.normalize('NFKC');
  return exact ?? (normalised !== username ? findUserByUsername(db, normalised) : undefined);
}

export function createAuthService({
  db,
  tokens,
  users,
  teams,
  throttle,
  revocations,
  events,
  platformApiKey,
  demoSignIn,
}: AuthServiceDeps) {
  const requirePlatform = createPlatformKeyCheck(platformApiKey);

  async function tokenFor(userId: string) {
    const user = await findUserById(db, userId);
    if (!user) throw notFound('user_not_found');
    const issued = await tokens.issue(user.id, user.role);
    return { issued, user: users.toSignedInUser(user) };
  }

  return {
    async login(
      username: string,
      password: string,
      clientAddress: string,
    ): Promise<{ issued: IssuedToken; user: SignedInUser }> {
      const attempt = { address: clientAddress, username };
      const user = await findByLoginName(db, username);
      // Counted as a failure before the password is checked; a right one takes it back.
      const wait = await throttle.begin(attempt, user !== undefined && user.status === 'active');
      if (wait > 0) throw tooMany('too_many_attempts', wait);
      // verifyPassword spends the same time when the user or hash is missing.
      const valid = await verifyPassword(password, user?.password_hash ?? null);
      if (!user || !valid || user.status !== 'active') throw unauthorized('invalid_credentials');
      await throttle.recordSuccess(attempt);
      return tokenFor(user.id);
    },

    /**
     * Ends the session of this token on every instance. A token from before
     * sessions existed has no id to revoke: logging it out ends all of its
     * user's sessions instead (secure rather than silently ineffective).
     */
    async logout(session: TokenSession): Promise<void> {
      if (session.sessionId === undefined) {
        await users.endAllSessions(session.userId);
        return;
      }
      await revocations.revoke({ ...session, sessionId: session.sessionId });
      events.publish('sessions.revoked', {
        userId: session.userId,
        session: { id: session.sessionId, expiresAt: session.expiresAt },
      });
    },

    /** Log out everywhere: every token of the user issued until now stops working. */
    logoutAll(userId: string): Promise<void> {
      return users.endAllSessions(userId);
    },

    /** Server-to-server: the host platform mints a token for one of its users. */
    async platformToken(apiKey: string | undefined, body: PlatformTokenBody) {
      requirePlatform(apiKey);
      const { user_id: id, team_id: teamId, ...profile } = body;
      // A staff member the host platform manages joins the team on first use (issue 13).
      const team = teamId === undefined ? undefined : await teams.membershipFor(teamId, normaliseRole(profile.role));
      const [user] = await users.ensure({ users: [{ id, ...profile }] }, team);
      if (!user) throw notFound('user_not_found');
      if (team && (await findUserById(db, user.id))?.team_id !== teamId) throw conflict('not_a_team_member');
      if (user.role === 'admin') throw forbidden();
      if (user.status !== 'active') throw forbidden('user_inactive');
      return tokenFor(user.id);
    },

    /** DEBUG=True only (else a 404, as if the route did not exist): the demo users one may sign in as. */
    async demoUsers() {
      if (!demoSignIn) throw notFound('route_not_found');
      const rows = await Promise.all(DEMO_USERS.map((demo) => findUserById(db, demo.id)));
      return rows.filter((row) => row?.status === 'active').map((row) => users.toUser(row as NonNullable<typeof row>));
    },

    /**
     * DEBUG=True only: a token for a seeded demo user, no password asked. Only
     * the demo ids, so a development server that also holds real accounts
     * never hands those out.
     */
    async demoLogin(userId: string) {
      if (!demoSignIn) throw notFound('route_not_found');
      const user = DEMO_USERS.some((demo) => demo.id === userId) ? await findUserById(db, userId) : undefined;
      if (!user) throw notFound('user_not_found');
      if (user.status !== 'active') throw forbidden('user_inactive');
      return tokenFor(user.id);
    },

    tokenFor,
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
