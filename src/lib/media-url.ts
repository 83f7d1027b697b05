/** Media paths are stored relative ("/api/media/...") and sent out absolute, under BASE_URL. */
export const MEDIA_PREFIX = '/api/media/';

export function toAbsoluteUrl(path: string | null, baseUrl: string): string | null {
  if (path === null) return null;
  return path.startsWith('/') ? `${baseUrl}${path}` : path;
}

/** Turns an absolute URL on this server back into the stored relative path. */
export function toStoredPath(url: string, baseUrl: string): string {
  return url.startsWith(`${baseUrl}${MEDIA_PREFIX}`) ? url.slice(baseUrl.length) : url;
}
