import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { TokenSession } from './tokens.ts';

/** How long a WebSocket ticket may wait before it is used. */
export const WS_TICKET_TTL_SECONDS = 30;

/**
 * Single-use tickets for the WebSocket URL (`?ticket=`), so a token never
 * travels in a URL (proxy logs, browser history). A ticket stands for the
 * session of the token that asked for it: using it runs the same user checks
 * as the token would (revoked, expired, deactivated).
 */
export interface TicketStore {
  put(ticket: string, session: TokenSession, ttlMs: number): Promise<void>;
  /** The ticket's session, once: a second take of the same ticket finds nothing. */
  take(ticket: string): Promise<TokenSession | undefined>;
}

/** Bounds the memory of a burst of issued, unused tickets; past it the oldest are dropped. */
export const MAX_MEMORY_TICKETS = 100_000;

export function createMemoryTicketStore(clock = () => Date.now(), maxTickets = MAX_MEMORY_TICKETS): TicketStore {
  const tickets = new Map<string, { session: TokenSession; expiresAt: number }>();
  return {
    async put(ticket, session, ttlMs) {
      const now = clock();
      // A Map iterates in insertion order and every ticket lives as long, so the expired ones are
      // at the front: the sweep stops at the first live one, so issuing costs the same however
      // many tickets are live (a full scan per issue would let one user's burst cost quadratic time).
      for (const [key, entry] of tickets) {
        if (entry.expiresAt > now && tickets.size < maxTickets) break;
        tickets.delete(key);
      }
      tickets.set(ticket, { session, expiresAt: now + ttlMs });
    },
    async take(ticket) {
      const entry = tickets.get(ticket);
      tickets.delete(ticket);
      return entry && entry.expiresAt > clock() ? entry.session : undefined;
    },
  };
}

/** Tickets in Redis, so one instance can issue a ticket and another accept the upgrade. */
export function createRedisTicketStore(redis: Redis, prefix: string): TicketStore {
  // The key is the ticket's digest: whoever can list keys or watch commands (MONITOR,
  // SLOWLOG, a dump) must not learn a ticket that can still be used.
  const key = (ticket: string) => `${prefix}ws-ticket:${createHash('sha256').update(ticket).digest('base64url')}`;
  return {
    async put(ticket, session, ttlMs) {
      await redis.set(key(ticket), JSON.stringify(session), 'PX', ttlMs);
    },
    async take(ticket) {
      // GETDEL: two upgrades racing with one ticket cannot both get it.
      const value = await redis.getdel(key(ticket));
      if (value === null) return undefined;
      const session = JSON.parse(value) as TokenSession;
      return session;
    },
  };
}

const TICKET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function createTicketIssuer(store: TicketStore) {
  return {
    async issue(session: TokenSession): Promise<{ ticket: string; expiresIn: number }> {
      const ticket = randomBytes(32).toString('base64url');
      await store.put(ticket, session, WS_TICKET_TTL_SECONDS * 1000);
      return { ticket, expiresIn: WS_TICKET_TTL_SECONDS };
    },
    /** The session a ticket stands for, or undefined (unknown, used, expired or malformed). */
    async redeem(ticket: string): Promise<TokenSession | undefined> {
      if (!TICKET_SHAPE.test(ticket)) return undefined;
      return store.take(ticket);
    },
  };
}

export type TicketIssuer = ReturnType<typeof createTicketIssuer>;
