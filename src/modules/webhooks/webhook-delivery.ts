import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { isMysql } from '../../db/dialect.ts';
import type { Database, WebhookDeliveryRow } from '../../db/types.ts';
import { outsideRequest } from '../../http/logging.ts';
import * as repo from './webhook.repository.ts';
import type { Subscriptions } from './webhook-outbox.ts';
import { sendSigned } from './webhook-sender.ts';
import { type ResolveHost, resolveHost } from './webhook-url.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface DeliveryWorkerOptions {
  /** The wait before each retry; after the last, the delivery is failed (about 20 h in all). */
  retryDelaysMs: readonly number[];
  /** A receiver that has not answered by then failed this attempt. */
  timeoutMs: number;
  /** How often due rows are looked for without a nudge (retries, other instances' events). */
  pollMs: number;
  /** How long a claimed row is this instance's; past it, another instance may take it over. */
  leaseMs: number;
  /** At most this many deliveries in flight per instance (a conversation's run counts as one). */
  maxInFlight: number;
  /**
   * A conversation's pending events one claim takes for an endpoint: sent one
   * after another (their order), with no claim between them. One event per
   * claim cost a transaction and its commit per event of a busy conversation,
   * on the database the sends were writing to.
   */
  runLength: number;
  /**
   * Local commits and finished deliveries within this long share one claim
   * round, whose transaction also records the successes meanwhile: a claim
   * transaction per event, an empty one after each delivery, and an UPDATE
   * and commit per success were most of the database work of delivering.
   */
  coalesceMs: number;
  /** An endpoint failing without one success for this long is disabled. */
  disableAfterMs: number;
  pruneEveryMs: number;
  keepDeliveredMs: number;
  keepFailedMs: number;
  /**
   * Milliseconds now, for every time the worker reads or writes (due, leases,
   * backoff, failing for a day, pruning): tests move it a day or a week on
   * instead of waiting.
   */
  clock: () => number;
}

export const DELIVERY_DEFAULTS: DeliveryWorkerOptions = {
  retryDelaysMs: [5 * SECOND, 30 * SECOND, 2 * MINUTE, 10 * MINUTE, HOUR, 6 * HOUR, 12 * HOUR],
  timeoutMs: 10 * SECOND,
  pollMs: SECOND,
  leaseMs: MINUTE,
  maxInFlight: 64,
  runLength: 32,
  coalesceMs: 5,
  disableAfterMs: DAY,
  pruneEveryMs: HOUR,
  keepDeliveredMs: 7 * DAY,
  keepFailedMs: 30 * DAY,
  clock: Date.now,
};

/** How long a closing instance lets its deliveries in flight finish before cutting them off. */
export const SHUTDOWN_GRACE_MS = 2_000;

export interface DeliveryLogger {
  warn(details: object, message: string): void;
}

/** ±20 %, so endpoints that failed together do not all come back at once. */
const jitter = (ms: number) => Math.round(ms * (0.8 + Math.random() * 0.4));

/** Claimed rows as runs: one per conversation and endpoint (in position order), one per row of no conversation. */
function runsOf(rows: readonly WebhookDeliveryRow[]): WebhookDeliveryRow[][] {
  const runs: WebhookDeliveryRow[][] = [];
  const byKey = new Map<string, WebhookDeliveryRow[]>();
  for (const row of [...rows].sort((a, b) => Number(a.position) - Number(b.position))) {
    const existing = row.conversation_id === null ? undefined : byKey.get(repo.runKey(row));
    if (existing) existing.push(row);
    else {
      const run = [row];
      runs.push(run);
      if (row.conversation_id !== null) byKey.set(repo.runKey(row), run);
    }
  }
  return runs;
}

/**
 * Delivers the webhook outbox (docs/WEBHOOKS.md, "Delivery"): claims due rows
 * (leased, so instances share the work without sending one event twice at a
 * time), POSTs each signed, and records the outcome: 2xx delivered; 410
 * disables the endpoint; anything else is retried with backoff and jitter,
 * then failed. Nudged after a local commit, polls for the rest. `stop` takes
 * no new rows and waits for the ones in flight.
 */
export function createDeliveryWorker(deps: {
  db: Kysely<Database>;
  subscriptions: Subscriptions;
  allowLoopbackHttp: boolean;
  logger: DeliveryLogger;
  resolve?: ResolveHost | undefined;
  options?: Partial<DeliveryWorkerOptions> | undefined;
}) {
  const { db, subscriptions, allowLoopbackHttp, logger } = deps;
  const resolve = deps.resolve ?? resolveHost;
  const options = { ...DELIVERY_DEFAULTS, ...deps.options };
  const { clock } = options;
  // SKIP LOCKED where the server has it (MySQL 8, MariaDB 10.6+); learnt from the first claim's answer.
  let mode: repo.ClaimMode = isMysql(db) ? 'skip-locked' : 'update';
  const owner = randomUUID();
  const inFlight = new Set<Promise<void>>();
  const shutdown = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopping = false;
  let pruning: Promise<void> | undefined;

  /**
   * Successes not yet recorded: the next claim round writes them all in its
   * own transaction (repo.claimDue), which the delivery's end wakes within
   * coalesceMs. One UPDATE and commit per delivery, then one per batch of
   * them beside the claim's, were most of the database work of delivering.
   * Until then each row stays pending and leased to this instance (a crash
   * meanwhile: the lease runs out and it is sent again, at least once).
   */
  let delivered: repo.Delivered[] = [];

  async function settleOutcome(
    row: WebhookDeliveryRow,
    outcome: Awaited<ReturnType<typeof sendSigned>>,
    wasFailing: boolean,
  ): Promise<boolean> {
    const now = clock();
    const attempts = Number(row.attempts) + 1;
    const recorded = {
      attempts,
      last_status_code: outcome.status ?? null,
      last_error: outcome.error ?? null,
      last_duration_ms: outcome.durationMs,
      updated_at: now,
    };
    const status = outcome.status;
    if (status !== undefined && status >= 200 && status < 300) {
      delivered.push({ position: row.position, statusCode: status, durationMs: outcome.durationMs });
      if (wasFailing) await repo.markEndpointSucceeding(db, row.endpoint_id);
      return true;
    }
    if (status === 410) {
      await repo.settleDelivery(db, row.position, owner, {
        ...recorded,
        status: 'failed',
        last_error: 'the receiver answered 410 Gone; the endpoint was disabled',
      });
      await repo.disableEndpoint(db, row.endpoint_id, 'The receiver answered 410 Gone', now);
      await subscriptions.refresh();
      return false;
    }
    if (recorded.last_error === null) recorded.last_error = `the receiver answered ${status}`;
    const retryIn = options.retryDelaysMs[attempts - 1];
    await repo.settleDelivery(
      db,
      row.position,
      owner,
      retryIn === undefined
        ? { ...recorded, status: 'failed' }
        : { ...recorded, status: 'pending', next_attempt_at: now + jitter(retryIn) },
    );
    const failingSince = await repo.markEndpointFailing(db, row.endpoint_id, now);
    if (now - failingSince >= options.disableAfterMs) {
      await repo.disableEndpoint(
        db,
        row.endpoint_id,
        `Every delivery failed for ${Math.round((now - failingSince) / HOUR)} hours (last: ${recorded.last_error})`.slice(
          0,
          200,
        ),
        now,
      );
      await subscriptions.refresh();
    }
    return false;
  }

  type Endpoint = NonNullable<Awaited<ReturnType<typeof repo.endpointForDelivery>>>;

  /** One attempt at one row; true when the receiver took it (its success is recorded by the next claim round). */
  async function deliver(row: WebhookDeliveryRow, endpoint: Endpoint | undefined): Promise<boolean> {
    if (!endpoint?.is_active) {
      await repo.settleDelivery(db, row.position, owner, {});
      return false;
    }
    const secrets = [endpoint.secret];
    const previousUntil = endpoint.previous_secret_expires_at;
    if (endpoint.previous_secret !== null && previousUntil !== null && Number(previousUntil) * 1000 > clock()) {
      secrets.push(endpoint.previous_secret);
    }
    const outcome = await sendSigned(
      {
        url: endpoint.url,
        eventId: row.event_id,
        body: row.payload,
        secrets,
        policy: { allowLoopbackHttp, allowPrivateNetwork: Boolean(endpoint.allow_private_network) },
      },
      options.timeoutMs,
      resolve,
      shutdown.signal,
    );
    // Cut off by shutdown: nothing is recorded, the lease runs out and any instance sends it again.
    if (shutdown.signal.aborted) return false;
    return settleOutcome(row, outcome, endpoint.failing_since !== null);
  }

  /**
   * Sends a run (one row, or a conversation's events in order) one after another. The first that
   * is not delivered stops it: the rest are given back, held behind that one by the claim's order
   * rule. So are they when the instance is closing, or when the lease has no room left for one
   * more attempt (an event is never sent by two instances at once).
   */
  async function deliverRun(run: readonly WebhookDeliveryRow[], endpoint: Endpoint | undefined): Promise<void> {
    for (const [i, row] of run.entries()) {
      const out = i > 0 && (stopping || clock() + options.timeoutMs >= Number(row.lease_until));
      if (out || !(await deliver(row, endpoint))) {
        if (shutdown.signal.aborted) return;
        const rest = run.slice(out ? i : i + 1).map((r) => r.position);
        await repo.releaseLeases(db, owner, rest);
        return;
      }
    }
  }

  function start(run: readonly WebhookDeliveryRow[], endpoint: Endpoint | undefined): void {
    const task: Promise<void> = deliverRun(run, endpoint)
      .catch((error: unknown) =>
        logger.warn({ err: error, eventIds: run.map((row) => row.event_id) }, 'webhook delivery failed'),
      )
      .finally(() => {
        inFlight.delete(task);
        // Its room, its successes and the next events of its conversation: one claim round with the others meanwhile.
        wakeSoon();
      });
    inFlight.add(task);
  }

  async function claimOrFallBack(claim: Parameters<typeof repo.claimDue>[2]): Promise<WebhookDeliveryRow[]> {
    try {
      return await repo.claimDue(db, mode, claim);
    } catch (error) {
      if (mode !== 'skip-locked' || (error as { code?: string }).code !== 'ER_PARSE_ERROR') throw error;
      logger.warn({ err: error }, 'this MySQL/MariaDB has no SKIP LOCKED: webhook rows are claimed with an UPDATE');
      mode = 'update';
      return repo.claimDue(db, mode, claim);
    }
  }

  async function claimRound(): Promise<void> {
    do {
      again = false;
      await subscriptions.refreshIfStale();
      const room = options.maxInFlight - inFlight.size;
      const taking = room > 0 && !stopping;
      if (!taking && delivered.length === 0) return;
      const now = clock();
      // No room (or stopping): the round only records the successes.
      const claim = {
        endpointIds: taking ? subscriptions.active() : [],
        now,
        limit: room,
        owner,
        leaseUntil: now + options.leaseMs,
        delivered,
        runLength: options.runLength,
      };
      delivered = [];
      let rows: WebhookDeliveryRow[];
      try {
        rows = await claimOrFallBack(claim);
      } catch (error) {
        // Recorded with the next round, while their leases last.
        delivered = [...claim.delivered, ...delivered];
        throw error;
      }
      if (!taking) return;
      // Each endpoint's row read once per claim (its URL, secrets, whether it was failing).
      const endpoints = new Map<string, Endpoint | undefined>();
      for (const id of new Set(rows.map((row) => row.endpoint_id))) {
        endpoints.set(id, await repo.endpointForDelivery(db, id));
      }
      const runs = runsOf(rows);
      for (const run of runs) start(run, endpoints.get((run[0] as WebhookDeliveryRow).endpoint_id));
      if (runs.length === room) again = true;
    } while (again && !stopping);
  }

  function schedule(): void {
    clearTimeout(timer);
    if (!stopping) timer = outsideRequest(() => setTimeout(wake, options.pollMs));
  }

  let soon: NodeJS.Timeout | undefined;
  /** A wake within coalesceMs, shared by every call meanwhile. */
  function wakeSoon(): void {
    if (stopping || soon) return;
    // A commit (a request's) wakes it; the claim is nobody's request, nor are its log lines.
    soon = outsideRequest(() =>
      setTimeout(() => {
        soon = undefined;
        wake();
      }, options.coalesceMs),
    );
  }

  function wake(): void {
    if (stopping) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = claimRound()
      .catch((error: unknown) => logger.warn({ err: error }, 'webhook claim failed'))
      .finally(() => {
        running = undefined;
        if (again) wake();
        else schedule();
      });
  }

  async function prune(): Promise<void> {
    const now = clock();
    await repo.pruneDeliveries(db, now - options.keepDeliveredMs, now - options.keepFailedMs);
  }

  return {
    start(): void {
      wake();
      pruneTimer = setInterval(() => {
        pruning ??= prune()
          .catch((error: unknown) => logger.warn({ err: error }, 'webhook prune failed'))
          .finally(() => {
            pruning = undefined;
          });
      }, options.pruneEveryMs);
      pruneTimer.unref();
    },
    /** Look for due rows soon (a local commit wrote some): within coalesceMs, with the other commits meanwhile. */
    wake: wakeSoon,
    prune,
    /**
     * Takes no new rows; lets the deliveries in flight finish for up to
     * `graceMs`, then cuts the rest off (their leases run out and they are
     * sent again: at least once).
     */
    async stop(graceMs = SHUTDOWN_GRACE_MS): Promise<void> {
      stopping = true;
      clearTimeout(timer);
      clearTimeout(soon);
      clearInterval(pruneTimer);
      await running;
      await pruning;
      let grace: NodeJS.Timeout | undefined;
      const cut = new Promise<void>((resolve) => {
        grace = setTimeout(() => {
          shutdown.abort();
          resolve();
        }, graceMs);
      });
      await Promise.race([Promise.all([...inFlight]), cut]);
      clearTimeout(grace);
      if (shutdown.signal.aborted) await Promise.all([...inFlight]);
      // The successes no claim round recorded: written now, or left to their leases (sent again).
      const last = delivered;
      delivered = [];
      await repo
        .settleDelivered(db, owner, last, clock())
        .catch((error: unknown) => logger.warn({ err: error }, 'webhook successes not recorded at shutdown'));
    },
  };
}
export type DeliveryWorker = ReturnType<typeof createDeliveryWorker>;
