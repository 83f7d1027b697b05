import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PoolStats } from '../db/connection.ts';
import type { QuotaMetrics } from '../quotas/quotas.ts';

/**
 * Prometheus metrics of one server instance. Each instance owns its registry
 * (never prom-client's global one), so several apps in one process (tests, a
 * cluster primary) keep separate counts. The pieces that count get the narrow
 * interface they need, never the registry.
 */

/** What the message service counts: a message stored, after its transaction committed. */
export interface MessageMetrics {
  messageStored(messageType: string): void;
  /** One send transaction committed (or was tried) with this many messages (group commit). */
  sendBatch(messages: number): void;
}

/** What the real-time core counts. */
export interface RealtimeMetrics {
  /** This instance published an event to the bus. */
  eventPublished(eventType: string): void;
  /**
   * An event reached this instance and was written to `sockets` local
   * connections; `publishedAt` is the publisher's fanoutClock() reading.
   */
  eventFannedOut(eventType: string, sockets: number, publishedAt: number | undefined): void;
  /** Publishing to the bus failed (the event reached no other instance). */
  busPublishFailed(): void;
}

/** What the search indexer (src/modules/search/search-indexer.ts) reports after each round. */
export interface SearchIndexMetrics {
  /** Conversations with messages not indexed yet after a round, as far as it knows (at most its look-ahead). */
  searchIndexBacklog(conversations: number): void;
  /** A round indexed `messages`; the oldest of them was stored `lagSeconds` ago. */
  searchIndexed(messages: number, lagSeconds: number): void;
}

/** Why the HTTP edge cut a client off (src/http/edge-limits.ts). */
export type EdgeRefusal = 'too_many_connections' | 'headers_timeout' | 'body_too_slow' | 'body_idle';

/** What the HTTP edge counts: connections refused and requests timed out before reaching a route. */
export interface EdgeMetrics {
  edgeRefusal(reason: EdgeRefusal): void;
}

/** Connection counts read from the real-time registry at scrape time. */
export interface RealtimeGaugeSource {
  /** Open WebSocket connections on this instance. */
  connections(): number;
  /** Users with at least one open connection on this instance. */
  users(): number;
}

export interface Metrics extends MessageMetrics, RealtimeMetrics, EdgeMetrics, QuotaMetrics, SearchIndexMetrics {
  /** One HTTP response: `route` is the route pattern (never the raw URL). */
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void;
  /** Reads connection counts from the real-time registry at every scrape. */
  trackRealtime(source: RealtimeGaugeSource): void;
  /** Reads the database pool at every scrape; not called for SQLite, which has no pool. */
  trackDatabasePool(stats: () => PoolStats): void;
  /** The exposition text and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
  /** Stops the event-loop monitor. */
  close(): void;
}

/**
 * Epoch milliseconds with sub-millisecond precision: stamped on an envelope
 * when it is published and compared on delivery, so it must mean the same in
 * every process (across hosts it is only as good as their clock sync).
 */
export function fanoutClock(): number {
  return performance.timeOrigin + performance.now();
}

/** A route label for requests no route matched: one series, whatever the URL. */
export const UNMATCHED_ROUTE = 'unmatched';

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FANOUT_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const httpDuration = new Histogram({
    name: 'chat_http_request_duration_seconds',
    help: 'HTTP request duration by route pattern, method and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_BUCKETS,
    registers,
  });

  let realtime: RealtimeGaugeSource | undefined;
  new Gauge({
    name: 'chat_websocket_connections',
    help: 'Open WebSocket connections on this instance',
    registers,
    collect() {
      this.set(realtime?.connections() ?? 0);
    },
  });
  new Gauge({
    name: 'chat_online_users',
    help: 'Users with at least one open WebSocket connection on this instance (a user connected to two instances counts on both)',
    registers,
    collect() {
      this.set(realtime?.users() ?? 0);
    },
  });

  const messagesStored = new Counter({
    name: 'chat_messages_stored_total',
    help: 'Messages stored (counted after the send transaction committed; idempotent retries not counted)',
    labelNames: ['message_type'] as const,
    registers,
  });
  const sendBatchSize = new Histogram({
    name: 'chat_message_send_batch_size',
    help: 'Messages per send transaction: concurrent sends share one (group commit); 1 under light load',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers,
  });
  const eventsPublished = new Counter({
    name: 'chat_realtime_events_published_total',
    help: 'Real-time events this instance published to the fan-out bus',
    labelNames: ['event_type'] as const,
    registers,
  });
  const eventsFannedOut = new Counter({
    name: 'chat_realtime_events_fanned_out_total',
    help: 'Real-time event frames written to WebSocket connections on this instance (one per recipient connection)',
    labelNames: ['event_type'] as const,
    registers,
  });
  const fanoutLatency = new Histogram({
    name: 'chat_realtime_fanout_latency_seconds',
    help: 'Time from an event being published (on any instance) to its delivery being written to local sockets',
    buckets: FANOUT_BUCKETS,
    registers,
  });
  const publishFailures = new Counter({
    name: 'chat_realtime_bus_publish_failures_total',
    help: 'Events the fan-out bus failed to publish to the other instances',
    registers,
  });

  const searchIndexedMessages = new Counter({
    name: 'chat_search_indexed_messages_total',
    help: 'Messages the search indexer of this instance wrote to the index (after their send committed)',
    registers,
  });
  const searchBacklog = new Gauge({
    name: 'chat_search_index_backlog_conversations',
    help: 'Conversations with messages not yet searchable after the last indexer round (as far as it read: at most 800)',
    registers,
  });
  const searchLag = new Histogram({
    name: 'chat_search_index_lag_seconds',
    help: 'Per indexer round: how long ago the oldest message it indexed was stored (whole-second timestamps)',
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 300],
    registers,
  });
  const edgeRefusals = new Counter({
    name: 'chat_http_edge_refusals_total',
    help: 'Connections refused (too_many_connections from one address) and requests cut off (headers_timeout, body_too_slow, body_idle)',
    labelNames: ['reason'] as const,
    registers,
  });

  const quotaRefusals = new Counter({
    name: 'chat_quota_refusals_total',
    help: 'Requests and connections refused by a per-user or per-address quota (429), by kind (src/quotas/limits.ts)',
    labelNames: ['kind'] as const,
    registers,
  });

  // Sampled continuously and reset at every scrape: each scrape reports the delay since the previous one.
  const loopDelayResolutionMs = 20;
  const loopDelay = monitorEventLoopDelay({ resolution: loopDelayResolutionMs });
  loopDelay.enable();
  new Gauge({
    name: 'chat_event_loop_delay_seconds',
    help: 'Event-loop delay since the previous scrape, by statistic (p50, p90, p99, max, mean)',
    labelNames: ['stat'] as const,
    registers,
    collect() {
      // The histogram records whole intervals between its timer's ticks, resolution included: an idle loop
      // reads 20 ms. Only the time beyond the resolution is delay.
      const seconds = (nanoseconds: number) =>
        Number.isFinite(nanoseconds) ? Math.max(0, nanoseconds / 1e6 - loopDelayResolutionMs) / 1e3 : 0;
      if (loopDelay.count === 0) {
        for (const stat of ['p50', 'p90', 'p99', 'max', 'mean']) this.set({ stat }, 0);
        return;
      }
      this.set({ stat: 'p50' }, seconds(loopDelay.percentile(50)));
      this.set({ stat: 'p90' }, seconds(loopDelay.percentile(90)));
      this.set({ stat: 'p99' }, seconds(loopDelay.percentile(99)));
      this.set({ stat: 'max' }, seconds(loopDelay.max));
      this.set({ stat: 'mean' }, seconds(loopDelay.mean));
      loopDelay.reset();
    },
  });
  new Gauge({
    name: 'chat_process_resident_memory_bytes',
    help: 'Resident set size of this process',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'chat_process_heap_used_bytes',
    help: 'V8 heap in use',
    registers,
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });

  let poolTracked = false;

  return {
    observeRequest(method, route, statusCode, seconds) {
      httpDuration.observe({ method, route, status_code: String(statusCode) }, seconds);
    },
    messageStored(messageType) {
      messagesStored.inc({ message_type: messageType });
    },
    sendBatch(messages) {
      sendBatchSize.observe(messages);
    },
    eventPublished(eventType) {
      eventsPublished.inc({ event_type: eventType });
    },
    eventFannedOut(eventType, sockets, publishedAt) {
      if (sockets === 0) return;
      eventsFannedOut.inc({ event_type: eventType }, sockets);
      // Clocks of two hosts may disagree by a little: never a negative latency.
      if (publishedAt !== undefined) fanoutLatency.observe(Math.max(0, fanoutClock() - publishedAt) / 1000);
    },
    busPublishFailed() {
      publishFailures.inc();
    },
    searchIndexBacklog(conversations) {
      searchBacklog.set(conversations);
    },
    searchIndexed(messages, lagSeconds) {
      searchIndexedMessages.inc(messages);
      searchLag.observe(lagSeconds);
    },
    edgeRefusal(reason) {
      edgeRefusals.inc({ reason });
    },
    quotaRefused(kind) {
      quotaRefusals.inc({ kind });
    },
    trackRealtime(source) {
      realtime = source;
    },
    trackDatabasePool(stats) {
      if (poolTracked) throw new Error('the database pool is already tracked');
      poolTracked = true;
      const gauge = (name: string, help: string, pick: (s: PoolStats) => number) =>
        new Gauge({
          name,
          help,
          registers,
          collect() {
            this.set(pick(stats()));
          },
        });
      gauge(
        'chat_db_pool_connections_in_use',
        'Database connections checked out by a query or transaction',
        (s) => s.inUse,
      );
      gauge('chat_db_pool_requests_waiting', 'Queries queued for a free database connection', (s) => s.waiting);
      gauge('chat_db_pool_connections_open', 'Database connections open, busy or idle', (s) => s.open);
      gauge('chat_db_pool_connections_limit', 'The database pool size limit', (s) => s.limit);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    close() {
      loopDelay.disable();
    },
  };
}

/** For code built without metrics (the CLIs, unit tests): counts nothing. */
export const noMetrics: MessageMetrics & RealtimeMetrics = {
  messageStored() {},
  sendBatch() {},
  eventPublished() {},
  eventFannedOut() {},
  busPublishFailed() {},
};
