import { createHash, timingSafeEqual } from 'node:crypto';
import { notFound, unauthorized } from '../../lib/errors.ts';

/** Compares secrets in constant time whatever their lengths. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * The host platform's server-to-server check (X-API-Key: PLATFORM_API_KEY),
 * shared by every endpoint only the platform calls: 404 route_not_found while
 * no key is configured (as if the endpoint did not exist), 401 for a wrong key.
 */
export function createPlatformKeyCheck(platformApiKey: string) {
  return (given: string | undefined): void => {
    if (platformApiKey === '') throw notFound('route_not_found');
    if (given === undefined || !sameSecret(given, platformApiKey)) throw unauthorized('invalid_api_key');
  };
}

export type PlatformKeyCheck = ReturnType<typeof createPlatformKeyCheck>;
