import type { UserRow } from '../../db/types.ts';

/**
 * How long an authenticated caller's row is reused. Nearly every request and
 * WebSocket upgrade reads its caller's row, and clients come in bursts (a page
 * load asks for conversations, history and unread counts at once), so even a
 * second saves most of those reads. Changes made through this process forget
 * the row at once, and a deactivation or deletion made on another instance
 * does so when its bus event arrives: the lifetime bounds staleness only for
 * profile edits made elsewhere, or a deactivation while Redis is down.
 */
export const USER_CACHE_TTL_MS = 1_000;
const USER_CACHE_MAX_ENTRIES = 10_000;

export interface UserCacheOptions {
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  expiresAt: number;
  row: Promise<UserRow | undefined>;
}

/**
 * Recently read user rows, by id. Concurrent misses for one id share a single
 * read. A read in flight when the row is forgotten is dropped with it, so a
 * change can never be overwritten by a row read before it.
 */
export function createUserCache({
  ttlMs = USER_CACHE_TTL_MS,
  maxEntries = USER_CACHE_MAX_ENTRIES,
  now = performance.now.bind(performance),
}: UserCacheOptions = {}) {
  const entries = new Map<string, Entry>();

  function drop(id: string, entry: Entry): void {
    if (entries.get(id) === entry) entries.delete(id);
  }

  return {
    /** The cached row, or `load`'s answer (kept when it is a row; a miss is never remembered). */
    get(id: string, load: (id: string) => Promise<UserRow | undefined>): Promise<UserRow | undefined> {
      if (ttlMs <= 0) return load(id);
      const cached = entries.get(id);
      if (cached && cached.expiresAt > now()) return cached.row;
      if (cached) entries.delete(id);
      if (entries.size >= maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      const entry: Entry = {
        expiresAt: now() + ttlMs,
        row: load(id).then(
          (row) => {
            if (!row) drop(id, entry);
            // Shared between concurrent requests: nobody may change it.
            return row && Object.freeze(row);
          },
          (error: unknown) => {
            drop(id, entry);
            throw error;
          },
        ),
      };
      entries.set(id, entry);
      return entry.row;
    },

    /** The user changed: the next read goes to the database. */
    forget(id: string): void {
      entries.delete(id);
    },

    get size(): number {
      return entries.size;
    },
  };
}

export type UserCache = ReturnType<typeof createUserCache>;
