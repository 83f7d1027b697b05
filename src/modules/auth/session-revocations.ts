import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../../db/errors.ts';
import type { Database } from '../../db/types.ts';
import type { TokenSession } from './tokens.ts';

/**
 * How often each instance reads the sessions revoked since its last look. The
 * bus tells every instance at once; this catches what it missed while Redis
 * was down, and costs one indexed query per period, never one per request.
 */
export const REVOCATION_REFRESH_MS = 30_000;
/** Users whose `tokens_valid_after` one query reads back. */
const FLOOR_CHUNK = 500;
/** Rows are read back from a little before the last look: a slow commit elsewhere may land late. */
const REFRESH_OVERLAP_MS = 60_000;

/**
 * Sessions ended one at a time (POST /api/auth/logout). The table is the
 * record; every instance holds the unexpired ones in memory, so the
 * authenticated hot path checks a Map, not the database.
 */
export function createSessionRevocations(db: Kysely<Database>, now = () => Date.now()) {
  /** Session id → its token's expiry (Unix seconds). */
  const revoked = new Map<string, number>();
  let lastLookMs = 0;

  function remember(sessionId: string, expiresAt: number): void {
    if (expiresAt * 1000 > now()) revoked.set(sessionId, expiresAt);
  }

  function prune(): void {
    const seconds = now() / 1000;
    for (const [sessionId, expiresAt] of revoked) if (expiresAt <= seconds) revoked.delete(sessionId);
  }

  return {
    isRevoked(sessionId: string): boolean {
      return revoked.has(sessionId);
    },

    /** Another instance revoked it (bus event). */
    remember,

    /** Records the session as ended; the caller then tells the other instances. */
    async revoke(session: TokenSession & { sessionId: string }): Promise<void> {
      remember(session.sessionId, session.expiresAt);
      const row = {
        session_id: session.sessionId,
        user_id: session.userId,
        expires_at: session.expiresAt,
        revoked_at: now(),
      };
      // A second logout with the same token changes nothing, even when it races the
      // first on another instance (a look before the insert would let both insert).
      try {
        await db.insertInto('revoked_sessions').values(row).execute();
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
    },

    /** Reads sessions revoked since the last look (all unexpired ones the first time) and forgets expired ones. */
    async refresh(): Promise<void> {
      const look = now();
      const rows = await db
        .selectFrom('revoked_sessions')
        .select(['session_id', 'expires_at'])
        .where('revoked_at', '>=', Math.max(0, lastLookMs - REFRESH_OVERLAP_MS))
        .where('expires_at', '>', Math.floor(look / 1000))
        .execute();
      for (const row of rows) remember(row.session_id, Number(row.expires_at));
      lastLookMs = look;
      prune();
      // Expired rows are of no use to anyone: removed by whichever instance looks.
      await db
        .deleteFrom('revoked_sessions')
        .where('expires_at', '<=', Math.floor(look / 1000))
        .execute();
    },

    /**
     * For each of these users, the issue time (ms) before which their tokens
     * are refused: `tokens_valid_after`, or Infinity for a user who is no
     * longer active or no longer exists. Read in chunks of primary keys.
     */
    async sessionFloors(userIds: readonly string[]): Promise<Map<string, number>> {
      const floors = new Map<string, number>(userIds.map((id) => [id, Number.POSITIVE_INFINITY]));
      for (let start = 0; start < userIds.length; start += FLOOR_CHUNK) {
        const rows = await db
          .selectFrom('users')
          .select(['id', 'status', 'tokens_valid_after'])
          .where('id', 'in', userIds.slice(start, start + FLOOR_CHUNK))
          .execute();
        for (const row of rows) {
          if (row.status === 'active') floors.set(row.id, Number(row.tokens_valid_after));
        }
      }
      return floors;
    },

    get size(): number {
      return revoked.size;
    },
  };
}

export type SessionRevocations = ReturnType<typeof createSessionRevocations>;

/** The part of a socket the refresh needs: its session, and a way to end it. */
interface SessionSocket {
  readonly session: TokenSession | undefined;
  close(code: 4401, reason: string): void;
}

/**
 * Every `periodMs` (REVOCATION_REFRESH_MS): reads the sessions revoked since the last look,
 * and the `tokens_valid_after` and status of the users with sockets here, and
 * closes this instance's sockets (with 4401) that the bus event would have
 * closed had it arrived: a logout, a logout everywhere, a password change, a
 * deactivation made while Redis was down, or by `npm run change-password`
 * (which has no bus). Returns the timer, for clearInterval.
 */
export function refreshRevocationsPeriodically(
  revocations: SessionRevocations,
  sockets: () => Iterable<SessionSocket>,
  logger: { warn(object: object, message: string): void },
  periodMs = REVOCATION_REFRESH_MS,
): NodeJS.Timeout {
  const timer = setInterval(() => {
    revocations
      .refresh()
      .then(async () => {
        const live = [...sockets()];
        const users = [...new Set(live.flatMap((socket) => (socket.session ? [socket.session.userId] : [])))];
        const floors = await revocations.sessionFloors(users);
        for (const socket of live) {
          const session = socket.session;
          if (!session) continue;
          const revoked = session.sessionId !== undefined && revocations.isRevoked(session.sessionId);
          const floor = floors.get(session.userId) ?? Number.POSITIVE_INFINITY;
          if (revoked || session.issuedAtMs < floor) socket.close(4401, 'session ended');
        }
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'revoked sessions not refreshed'));
  }, periodMs);
  timer.unref();
  return timer;
}
