/**
 * The prefix of a deployment's Redis keys and channel, from REDIS_PREFIX
 * (`cs-chat` → `cs-chat:`). Apart from redis-bus.ts so that naming keys does
 * not load ioredis, which a single instance without Redis never needs.
 */
export function redisKeyPrefix(deploymentPrefix: string): string {
  return `${deploymentPrefix}:`;
}
