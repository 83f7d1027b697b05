import { Redis } from 'ioredis';

/** The Redis the tests use; shared with other work, so never flushed: each test keeps to its own keys. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisReachable(): Promise<boolean> {
  const probe = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** `false` when Redis answers, else why the Redis tests are skipped (for `describe(..., { skip })`). */
export const REDIS_SKIP_REASON: string | false = (await redisReachable())
  ? false
  : `Redis is not reachable at ${TEST_REDIS_URL} (set TEST_REDIS_URL)`;

/** Runs `work` with a plain connection to the test Redis (optionally another URL, e.g. another logical db). */
export async function withRedis<T>(work: (redis: Redis) => Promise<T>, url = TEST_REDIS_URL): Promise<T> {
  const redis = new Redis(url);
  try {
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

/** Deletes the keys under one prefix only: the Redis is shared, never flushed. */
export function dropPrefix(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  return withRedis(async (redis) => {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 200);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  }, url);
}
