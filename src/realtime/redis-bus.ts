import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { Envelope, type FanoutBus, type PresenceStore } from './bus.ts';
import type { RealtimeLogger } from './realtime.ts';

export interface RedisBusOptions {
  /** REDIS_URL (redis:// or rediss://). */
  url: string;
  /** Put before every key and channel, so deployments (and tests) can share one Redis. */
  prefix: string;
  /** Tells this instance's own messages apart when they come back from the channel. */
  instanceId?: string;
  /**
   * How long an instance's presence entries live without a refresh. Refreshed
   * on every heartbeat, so it must be well above heartbeatIntervalMs; an
   * instance that dies without leaving drops out of presence after this.
   */
  presenceTtlMs?: number;
  logger?: RealtimeLogger;
}

export const DEFAULT_PRESENCE_TTL_MS = 90_000;
/** The key prefix production uses (no variable for it: every variable is required, so none is added lightly). */
export const DEFAULT_REDIS_PREFIX = 'cs-chat:';

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
 * Fan-out across instances over Redis pub/sub, with presence in Redis. Uses
 * two connections (a subscribed connection can issue no other command).
 * Publishing delivers locally at once and drops the copy that comes back.
 * Payloads from the channel are validated like client input.
 */
export async function createRedisBus(options: RedisBusOptions): Promise<FanoutBus> {
  const logger: RealtimeLogger = options.logger ?? pino({ level: 'silent' });
  const instanceId = options.instanceId ?? randomUUID();
  const ttl = options.presenceTtlMs ?? DEFAULT_PRESENCE_TTL_MS;
  const channel = `${options.prefix}events`;
  const onlineKey = `${options.prefix}online`;
  const userKey = (userId: string) => `${options.prefix}presence:${userId}`;

  const commands = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  const subscriber = commands.duplicate();
  for (const [name, client] of [
    ['commands', commands],
    ['subscriber', subscriber],
  ] as const) {
    // Without a listener an 'error' would crash the process; ioredis reconnects by itself.
    client.on('error', (error: unknown) => logger.warn({ err: error, connection: name }, 'redis error'));
  }
  commands.defineCommand('presenceJoin', { numberOfKeys: 2, lua: JOIN });
  commands.defineCommand('presenceLeave', { numberOfKeys: 2, lua: LEAVE });
  const scripts = commands as unknown as PresenceScripts;

  let deliver: (envelope: Envelope) => void = () => {};
  let closed = false;

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
  } catch (error) {
    commands.disconnect();
    subscriber.disconnect();
    throw error;
  }

  const join = (userId: string, now = Date.now()) =>
    scripts.presenceJoin(userKey(userId), onlineKey, instanceId, now, now + ttl, userId, ttl * 2);

  const presence: PresenceStore = {
    async join(userId) {
      return (await join(userId)) === 1;
    },
    async leave(userId) {
      return (await scripts.presenceLeave(userKey(userId), onlineKey, instanceId, Date.now(), userId)) === 1;
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
      if (userIds.length === 0) return;
      const now = Date.now();
      await Promise.all(userIds.map((userId) => join(userId, now)));
    },
  };

  return {
    presence,
    publish(envelope) {
      deliver(envelope);
      if (closed) return;
      const wire: Wire = { origin: instanceId, envelope };
      commands.publish(channel, JSON.stringify(wire)).catch((error: unknown) => {
        logger.error({ err: error }, 'redis publish failed: other instances miss this event');
      });
    },
    onEnvelope(handler) {
      deliver = handler;
    },
    async check() {
      await commands.ping();
    },
    async close() {
      if (closed) return;
      closed = true;
      deliver = () => {};
      await Promise.allSettled([subscriber.quit(), commands.quit()]);
    },
  };
}
