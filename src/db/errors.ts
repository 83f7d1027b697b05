/**
 * Classifies driver errors portably across mysql2 and node:sqlite, so services
 * can react to constraint violations and the HTTP layer to outages.
 */

interface DriverError {
  code?: unknown;
  errno?: unknown;
  fatal?: unknown;
  message?: unknown;
}

function asDriverError(error: unknown): DriverError {
  return typeof error === 'object' && error !== null ? (error as DriverError) : {};
}

/** A unique or primary key was violated (the caller re-reads to learn which row won). */
export function isUniqueViolation(error: unknown): boolean {
  const e = asDriverError(error);
  const message = typeof e.message === 'string' ? e.message : '';
  return e.code === 'ER_DUP_ENTRY' || e.errno === 1062 || /UNIQUE constraint failed/.test(message);
}

/** The transaction was chosen as a deadlock victim and rolled back (MySQL). */
export function isDeadlock(error: unknown): boolean {
  const e = asDriverError(error);
  return e.code === 'ER_LOCK_DEADLOCK' || e.errno === 1213;
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'POOL_ENQUEUELIMIT',
  'POOL_ACQUIRE_TIMEOUT',
  'ERR_SQLITE_BUSY',
]);

/** The database cannot serve right now (down, unreachable, overloaded): answer 503. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = asDriverError(error);
  if (typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) return true;
  if (e.fatal === true) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  return /Pool is closed|Queue limit reached|connect ETIMEDOUT|database is locked|Can't add new command when connection is in closed state/i.test(
    message,
  );
}

/** Wrong credentials or a database that does not exist: a configuration mistake, not an outage. */
export function isAccessOrMissingDatabase(error: unknown): boolean {
  const e = asDriverError(error);
  return e.code === 'ER_ACCESS_DENIED_ERROR' || e.code === 'ER_BAD_DB_ERROR' || e.code === 'ER_DBACCESS_DENIED_ERROR';
}
