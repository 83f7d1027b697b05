import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import pino from 'pino';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import type { RealtimeMetrics } from '../observability/metrics.ts';
import { Envelope, type FanoutBus, type PresenceStore } from './bus.ts';
import type { RealtimeLogger } from './realtime.ts';

export interface RedisBusOptions {
  /** REDIS_URL (redis:// or rediss://). */
  url: string;
  /**
   * Put before every key and the channel, so deployments (and tests) can share
   * one Redis: `redisKeyPrefix(REDIS_PREFIX)` in production. The channel also
   * names the logical database of `url` (see createRedisBus).
   */
  prefix: string;
  /** Tells this instance's own messages apart when they come back from the channel. */
  instanceId?: string;
  /**
   * How long an instance's presence entries live without a refresh. Refreshed
   * on every heartbeat, so it must be well above heartbeatIntervalMs; an
   * instance that dies without leaving drops out of presence after this.
   */
  presenceTtlMs?: number;
  /**
   * How long a command may wait for its answer before it fails. Nothing
   * waits on Redis longer than this: not a presence change, not readiness.
   */
  commandTimeoutMs?: number;
  /**
   * Both connections are pinged this often, so a Redis that stopped answering
   * without closing the connection (a network partition) is noticed, the
   * connection dropped and redialled, instead of waiting for TCP to give up.
   */
  healthCheckIntervalMs?: number;
  /** The longest pause between reconnection attempts (they back off exponentially up to it). */
  maxReconnectDelayMs?: number;
  logger?: RealtimeLogger;
  /** Counts events that could not reach the other instances (GET /metrics). */
  metrics?: Pick<RealtimeMetrics, 'busPublishFailed'>;
}

export const DEFAULT_PRESENCE_TTL_MS = 90_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 2_000;
export const DEFAULT_HEALTH_CHECK_INTERVAL_MS = 5_000;
export const DEFAULT_MAX_RECONNECT_DELAY_MS = 2_000;
export { redisKeyPrefix } from './redis-prefix.ts';

/**
 * The deployment's pub/sub channel. Keys live in the logical database of
 * REDIS_URL, but pub/sub ignores the database number: every client of the
 * server hears every channel. So the channel names the database too, and two
 * deployments on one server stay apart when either the prefix or the database
 * differs, exactly as their keys do.
 */
export function redisChannel(prefix: string, database: number): string {
  return `${prefix}db${database}:events`;
}

/** What travels on the channel: the envelope and the instance that sent it. */
const Wire = Type.Object({ origin: Type.String({ minLength: 1 }), envelope: Envelope });
type Wire = Static<typeof Wire>;
const wireValidator = Compile(Wire);

/**
 * Presence per user is a sorted set of instance ids scored by expiry
 * (`presence:<user>`), with an index of online users scored by their latest
 * expiry (`online`). Scripts keep "was I the first / the last" atomic across
 * instances.
 */
const JOIN = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local current = redis.call('ZSCORE', KEYS[2], ARGV[4])
if (not current) or tonumber(current) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
end
if before == 0 then return 1 end
return 0
`;

const LEAVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
  return 1
end
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('ZADD', KEYS[2], latest[2], ARGV[3])
return 0
`;

interface PresenceScripts {
  presenceJoin(
    userKey: string,
    onlineKey: string,
    instanceId: string,
    now: number,
    expiresAt: number,
    userId: string,
    keyTtlMs: number,
  ): Promise<number>;
  presenceLeave(userKey: string, onlineKey: string, instanceId: string, now: number, userId: string): Promise<number>;
}

/**
 * Connection options for both connections. While Redis is unreachable every
 * command fails at once (no offline queue), so nothing piles up in memory for
 * as long as the outage lasts and no caller waits for Redis to come back; a
 * command already written when the connection drops is failed, never resent
 * later (a late event or presence change would be stale: presence is
 * re-registered on reconnect instead, and clients catch up on messages by seq).
 */
function connectionOptions(options: RedisBusOptions): RedisOptions {
  const commandTimeout = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const maxDelay = options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS;
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    // ioredis would renew the subscription itself without handling its failure: a connection
    // that drops again just as it is ready left an unhandled rejection. The bus renews it.
    autoResubscribe: false,
    // Fails what was in flight as soon as the connection closes, instead of after some retries.
    maxRetriesPerRequest: 0,
    commandTimeout,
    // A connection that answers nothing for this long after a command is destroyed and redialled.
    socketTimeout: commandTimeout * 2,
    // Keeps trying forever, at most maxDelay apart, so delivery resumes soon after Redis returns.
    retryStrategy: (attempt: number) =>
      Math.min(50 * 2 ** Math.min(attempt - 1, 16), maxDelay) + Math.floor(Math.random() * 100),
  };
}

/**
 * Fan-out across instances over Redis pub/sub, with presence in Redis. Uses
 * two connections (a subscribed connection can issue no other command).
 * Publishing delivers locally at once and drops the copy that comes back.
 * Payloads from the channel are validated like client input.
 *
 * While Redis is down, local delivery goes on; events for other instances
 * are dropped (counted, logged once per outage) and presence calls fail fast.
 * When it returns, the subscription is renewed and this instance's presence
 * is written again: the users it still holds are re-joined (Redis may have
 * lost them) and those who left during the outage are removed.
 */
export async function createRedisBus(options: RedisBusOptions): Promise<FanoutBus> {
  const logger: RealtimeLogger = options.logger ?? pino({ level: 'silent' });
  const instanceId = options.instanceId ?? randomUUID();
  const ttl = options.presenceTtlMs ?? DEFAULT_PRESENCE_TTL_MS;
  const onlineKey = `${options.prefix}online`;
  const userKey = (userId: string) => `${options.prefix}presence:${userId}`;

  const commands = new Redis(options.url, connectionOptions(options));
  // The database ioredis will SELECT, however the URL spelt it (`/3`, `?db=3`, or none: 0).
  const channel = redisChannel(options.prefix, commands.options.db ?? 0);
  const subscriber = commands.duplicate();
  commands.defineCommand('presenceJoin', { numberOfKeys: 2, lua: JOIN });
  commands.defineCommand('presenceLeave', { numberOfKeys: 2, lua: LEAVE });
  const scripts = commands as unknown as PresenceScripts;

  let deliver: (envelope: Envelope) => void = () => {};
  let closed = false;
  let started = false;
  /** Users this instance holds (joined, not left): what it writes back after an outage. */
  const holding = new Set<string>();
  /** Users this instance let go of while their leave could not reach Redis. */
  const unleft = new Set<string>();
  /** Events other instances missed during the current outage. */
  let dropped = 0;
  /** Of the same, how many the restored handler has not been told about yet. */
  let missedPublishes = 0;
  let restored: (info: { missedPublishes: number }) => void = () => {};
  /** Each connection's state: down since it closed, until its recovery (resubscribe, presence) succeeded. */
  const down = { commands: false, subscriber: false };
  /** A connection dropped since the last time the bus was whole; cleared when `restored` is called. */
  let outage = false;

  for (const [name, client] of [
    ['commands', commands],
    ['subscriber', subscriber],
  ] as const) {
    // Without a listener an 'error' would crash the process; ioredis reconnects by itself.
    // One warning per outage: reconnection attempts fail every couple of seconds while it lasts.
    client.on('error', (error: unknown) => {
      if (closed) return;
      if (down[name]) logger.debug({ err: error, connection: name }, 'redis still unreachable');
      else logger.warn({ err: error, connection: name }, 'redis error');
    });
    client.on('close', () => {
      if (closed || down[name] || !started) return;
      down[name] = true;
      outage = true;
      logger.warn({ connection: name }, 'redis connection lost; retrying (local delivery continues)');
    });
    client.on('ready', () => {
      if (!down[name]) return;
      logger.info({ connection: name }, 'redis connection restored');
      // A subscription that failed to renew stays down until the next reconnect renews it. Presence
      // that failed to rewrite does not hold the bus up: its entries are refreshed on every heartbeat.
      void (client === commands ? resync().then(() => true) : resubscribe()).then((recovered) => {
        // Dropped again meanwhile: still down, and the next 'ready' recovers it again.
        if (!recovered || closed || client.status !== 'ready') return;
        down[name] = false;
        announceRestored();
      });
    });
  }

  subscriber.on('message', (from: string, payload: string) => {
    if (from !== channel) return;
    let wire: unknown;
    try {
      wire = JSON.parse(payload);
    } catch {
      logger.warn({ channel }, 'dropped a non-JSON message from the bus');
      return;
    }
    if (!wireValidator.Check(wire)) {
      logger.warn(
        { channel, errors: wireValidator.Errors(wire).slice(0, 5) },
        'dropped an invalid message from the bus',
      );
      return;
    }
    const valid: Wire = wire;
    if (valid.origin === instanceId) return;
    deliver(valid.envelope);
  });

  try {
    await commands.connect();
    await subscriber.connect();
    await subscriber.subscribe(channel);
    started = true;
  } catch (error) {
    commands.disconnect();
    subscriber.disconnect();
    const where = new URL(options.url);
    where.password = '';
    where.username = '';
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Redis is not reachable at ${where.href} (REDIS_URL): ${reason}`, { cause: error });
  }

  /** After a reconnect: listens on the channel again (a failure waits for the next reconnect). */
  async function resubscribe(): Promise<boolean> {
    try {
      await subscriber.subscribe(channel);
      return true;
    } catch (error) {
      logger.warn({ err: error }, 'redis subscription not renewed; retried on the next reconnect');
      return false;
    }
  }

  /**
   * Once both connections are back, subscribed and presence rewritten, the
   * bus is whole again: its owner tells clients to catch up (`resync`).
   */
  function announceRestored(): void {
    if (!outage || down.commands || down.subscriber) return;
    outage = false;
    const info = { missedPublishes };
    missedPublishes = 0;
    restored(info);
  }

  const join = (userId: string, now = Date.now()) =>
    scripts.presenceJoin(userKey(userId), onlineKey, instanceId, now, now + ttl, userId, ttl * 2);
  const leave = (userId: string) => scripts.presenceLeave(userKey(userId), onlineKey, instanceId, Date.now(), userId);

  /**
   * After a reconnect: writes this instance's presence again. Commands on one
   * connection run in the order they are sent and `holding` changes when a
   * join or leave is sent, so a join or leave racing with this still wins.
   */
  async function resync(): Promise<void> {
    if (dropped > 0) {
      logger.warn({ dropped }, 'redis is back; events published while it was down did not reach other instances');
      dropped = 0;
    }
    const now = Date.now();
    const leaving = [...unleft];
    unleft.clear();
    const results = await Promise.allSettled([
      ...[...holding].map((userId) => join(userId, now)),
      ...leaving.map((userId) =>
        leave(userId).catch((error: unknown) => {
          if (!holding.has(userId)) unleft.add(userId);
          throw error;
        }),
      ),
    ]);
    const failed = results.filter((result) => result.status === 'rejected').length;
    if (failed > 0) logger.warn({ failed }, 'presence resync incomplete; retried on the next reconnect');
    else logger.info({ joined: holding.size, left: leaving.length }, 'presence re-registered after reconnect');
  }

  const presence: PresenceStore = {
    async join(userId) {
      holding.add(userId);
      unleft.delete(userId);
      return (await join(userId)) === 1;
    },
    async leave(userId) {
      holding.delete(userId);
      try {
        return (await leave(userId)) === 1;
      } catch (error) {
        if (!holding.has(userId)) unleft.add(userId);
        throw error;
      }
    },
    async online() {
      const now = Date.now();
      // Users whose every instance vanished without leaving drop out here.
      await commands.zremrangebyscore(onlineKey, '-inf', now);
      return commands.zrangebyscore(onlineKey, now, '+inf');
    },
    async filterOnline(userIds) {
      if (userIds.length === 0) return [];
      const now = Date.now();
      const scores = await commands.zmscore(onlineKey, ...userIds);
      return userIds.filter((_, i) => {
        const score = scores[i];
        return score !== null && score !== undefined && Number(score) > now;
      });
    },
    async refresh(userIds) {
      // While Redis is away there is nothing to refresh; the reconnect re-registers everyone.
      if (userIds.length === 0 || commands.status !== 'ready') return;
      const now = Date.now();
      await Promise.all(userIds.map((userId) => join(userId, now)));
    },
  };

  // Pings keep both connections honest (see healthCheckIntervalMs); their failures show in 'error'/'close'.
  const healthCheck = setInterval(() => {
    for (const client of [commands, subscriber]) {
      if (client.status === 'ready') client.ping().catch(() => {});
    }
  }, options.healthCheckIntervalMs ?? DEFAULT_HEALTH_CHECK_INTERVAL_MS);
  healthCheck.unref();

  function noteDropped(error?: unknown): void {
    options.metrics?.busPublishFailed();
    dropped += 1;
    missedPublishes += 1;
    if (dropped === 1) {
      logger.error(
        { err: error, connection: commands.status },
        'redis publish failed: other instances miss events until redis is back (clients catch up by seq)',
      );
    }
  }

  return {
    presence,
    publish(envelope) {
      deliver(envelope);
      if (closed) return;
      // Never queued, never awaited: a send is stored and acknowledged whatever Redis does.
      if (commands.status !== 'ready') {
        noteDropped();
        return;
      }
      const wire: Wire = { origin: instanceId, envelope };
      commands.publish(channel, JSON.stringify(wire)).catch(noteDropped);
    },
    onEnvelope(handler) {
      deliver = handler;
    },
    onRestored(handler) {
      restored = handler;
    },
    async check() {
      // Both: without the subscription this instance would miss every other instance's events.
      await Promise.all([commands.ping(), subscriber.ping()]);
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(healthCheck);
      deliver = () => {};
      restored = () => {};
      // QUIT when connected (a clean goodbye); otherwise just stop reconnecting.
      await Promise.allSettled(
        [subscriber, commands].map((client) =>
          (client.status === 'ready' ? client.quit() : Promise.resolve('OK')).finally(() => client.disconnect()),
        ),
      );
    },
  };
}
