/**
 * Every per-user and per-address quota in one place (README, "Quotas"). They
 * are constants, not environment variables: an operator tunes them by editing
 * this file; tests inject smaller ones through ServerOptions.quotas.
 */
export interface QuotaLimits {
  /**
   * List requests (every paginated GET) one user may have in flight at once on
   * one instance; the next is refused with 429 at once rather than queued, so a
   * user flooding lists holds at most this many database connections.
   */
  listConcurrencyPerUser: number;
  /** Messages one user may send through REST and WebSocket together: a burst, then a steady rate. */
  sendBurst: number;
  sendPerSecond: number;
  /** Uploads (images and files) one user may make per hour, by count and by bytes stored. */
  uploadsPerHour: number;
  uploadBytesPerHour: number;
  /** Open WebSockets per user on one instance; one more is refused with 429 before the upgrade. */
  socketsPerUser: number;
  /** New WebSocket upgrades per client address (request.ip) per window, cluster-wide with Redis. */
  newSocketsPerAddress: number;
  newSocketsWindowMs: number;
}

export const DEFAULT_QUOTAS: QuotaLimits = {
  listConcurrencyPerUser: 2,
  // The burst lets a client flush an offline queue on reconnect; the rate is one socket's frame rate
  // (realtime/rate-limit.ts), which still limits each socket's frames of every kind.
  sendBurst: 100,
  sendPerSecond: 10,
  uploadsPerHour: 200,
  uploadBytesPerHour: 500 * 1024 * 1024,
  // A merchant's or service agent's desk may keep many tabs open; 300 was the abuse.
  socketsPerUser: 20,
  // Generous: many users may share one address (offices, carrier NAT) and all reconnect after a restart.
  newSocketsPerAddress: 50,
  newSocketsWindowMs: 1000,
};

/** What a refusal is counted as in /metrics (`chat_quota_refusals_total{kind}`). */
export type QuotaKind =
  | 'list_concurrency'
  | 'send_rate'
  | 'upload_count'
  | 'upload_bytes'
  | 'sockets_per_user'
  | 'new_sockets_per_address';
