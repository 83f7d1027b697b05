import type { ErrorCode } from '@cs-chat/contracts/error-codes';
import { type DomainError, tooMany } from '../lib/errors.ts';
import { createKeyedBuckets } from './buckets.ts';
import { DEFAULT_QUOTAS, type QuotaKind, type QuotaLimits } from './limits.ts';

/** Counts refusals by kind (`chat_quota_refusals_total`). */
export interface QuotaMetrics {
  quotaRefused(kind: QuotaKind): void;
}

const ERROR_OF: Record<QuotaKind, ErrorCode> = {
  list_concurrency: 'too_many_list_requests',
  send_rate: 'send_rate_limited',
  upload_count: 'upload_quota_exceeded',
  upload_bytes: 'upload_quota_exceeded',
  sockets_per_user: 'too_many_sockets',
  new_sockets_per_address: 'too_many_new_sockets',
};

/** The 429 a refused request gets: `{detail, error_type}` and Retry-After in whole seconds. */
export function quotaExceeded(kind: QuotaKind, retryAfterSeconds: number): DomainError {
  const seconds = Number.isFinite(retryAfterSeconds) ? Math.max(1, Math.ceil(retryAfterSeconds)) : 3600;
  return tooMany(ERROR_OF[kind], seconds);
}

/**
 * The per-user quotas of one instance (see limits.ts). Each check either
 * passes or throws the 429 to answer, after counting the refusal.
 * In-process state: with several instances each enforces its own share
 * (README, "Quotas"); new-socket limits per address go through
 * @fastify/rate-limit instead, which shares them through Redis.
 */
export function createQuotas(overrides: Partial<QuotaLimits> = {}, metrics?: QuotaMetrics) {
  const limits: QuotaLimits = { ...DEFAULT_QUOTAS, ...overrides };
  const sends = createKeyedBuckets(limits.sendBurst, limits.sendPerSecond);
  const uploadCounts = createKeyedBuckets(limits.uploadsPerHour, limits.uploadsPerHour / 3600);
  const uploadBytes = createKeyedBuckets(limits.uploadBytesPerHour, limits.uploadBytesPerHour / 3600);
  const listsInFlight = new Map<string, number>();

  function refuse(kind: QuotaKind, retryAfterSeconds: number): never {
    metrics?.quotaRefused(kind);
    throw quotaExceeded(kind, retryAfterSeconds);
  }

  return {
    limits,
    refuse,
    /** Counts a refusal made elsewhere (@fastify/rate-limit). */
    counted(kind: QuotaKind): void {
      metrics?.quotaRefused(kind);
    },

    /** One message about to be sent by this user, over either transport. */
    takeSend(userId: string): void {
      const wait = sends.take(userId);
      if (wait > 0) refuse('send_rate', wait);
    },
    /**
     * A send that stored nothing new because its client_msg_id was used before
     * (a retry answered with the original, or a 409): its token comes back, so
     * a client retrying after a reconnect is not throttled for it.
     */
    refundSend(userId: string): void {
      sends.refund(userId);
    },

    /** Before an upload streams: one more upload this hour, and bytes left. Returns the commit for its size. */
    beginUpload(userId: string): { stored(bytes: number): void; failed(): void } {
      const countWait = uploadCounts.take(userId);
      if (countWait > 0) refuse('upload_count', countWait);
      const bytesWait = uploadBytes.wait(userId);
      if (bytesWait > 0) {
        uploadCounts.refund(userId);
        refuse('upload_bytes', bytesWait);
      }
      return {
        stored: (bytes) => uploadBytes.charge(userId, bytes),
        failed: () => uploadCounts.refund(userId),
      };
    },

    /**
     * A slot for one list request; returns its release. Refused (never queued)
     * when the user already has `listConcurrencyPerUser` in flight.
     */
    enterList(userId: string): () => void {
      const inFlight = listsInFlight.get(userId) ?? 0;
      if (inFlight >= limits.listConcurrencyPerUser) refuse('list_concurrency', 1);
      listsInFlight.set(userId, inFlight + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (listsInFlight.get(userId) ?? 1) - 1;
        if (left > 0) listsInFlight.set(userId, left);
        else listsInFlight.delete(userId);
      };
    },
  };
}

export type Quotas = ReturnType<typeof createQuotas>;
