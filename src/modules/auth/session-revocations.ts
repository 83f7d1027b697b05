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
 * and closes this instance's sockets of those (with 4401) that the bus event
 * would have closed had it arrived. Returns the timer, for clearInterval.
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
      .then(() => {
        for (const socket of sockets()) {
          const sessionId = socket.session?.sessionId;
          if (sessionId && revocations.isRevoked(sessionId)) socket.close(4401, 'session ended');
        }
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'revoked sessions not refreshed'));
  }, periodMs);
  timer.unref();
  return timer;
}
