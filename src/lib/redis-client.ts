import { Redis } from 'ioredis';

export interface LoggerLike {
  warn(object: object, message: string): void;
  info(object: object, message: string): void;
}

/**
 * A Redis connection for small shared state (login throttling, WebSocket
 * tickets): commands fail at once while Redis is unreachable (no offline
 * queue, short timeout) so no request waits for it, and it reconnects by
 * itself. `name` says in the log which one lost its connection.
 */
export function openStateRedis(url: string, name: string, logger: LoggerLike): Redis {
  const client = new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 1_000,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt - 1, 10), 2_000),
  });
  let down = false;
  // Without a listener an 'error' would crash the process; one warning per outage.
  client.on('error', (error: unknown) => {
    if (down) return;
    down = true;
    logger.warn({ err: error, connection: name }, 'redis unreachable');
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ connection: name }, 'redis connection restored');
  });
  return client;
}

/** Closes a connection opened by openStateRedis, politely when it can. */
export async function closeStateRedis(client: Redis): Promise<void> {
  try {
    if (client.status === 'ready') await client.quit();
  } catch {
    // Closing anyway.
  } finally {
    client.disconnect();
  }
}
