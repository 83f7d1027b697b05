import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';

const MAX_URL_PATH = 1024;
// Control characters (NUL, C0, DEL, C1): a path segment may hold none of these.
const CONTROL = /\p{Cc}/u;

/**
 * The file under `root` a raw request path names, or null for anything that is
 * not a plain path to a regular file inside it: percent-decoding errors, empty
 * segments ("//", a leading "/" after the prefix: absolute paths), "." and
 * "..", dot-files (including the uploader's temporary ".upload-*.tmp" files),
 * encoded "/" or "\", NUL and other control characters, directories, and
 * symlinks whose target lies outside `root` (checked on the real path).
 * Returns the real path relative to the real root, with "/" separators.
 */
export async function resolveMediaFile(realRoot: string, rawPath: string): Promise<string | null> {
  if (rawPath.length === 0 || rawPath.length > MAX_URL_PATH) return null;
  const segments: string[] = [];
  for (const encoded of rawPath.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(encoded);
    } catch {
      return null;
    }
    if (segment === '' || segment.startsWith('.') || /[/\\]/.test(segment) || CONTROL.test(segment)) return null;
    segments.push(segment);
  }
  let real: string;
  try {
    real = await realpath(join(realRoot, ...segments));
    if (!(await stat(real)).isFile()) return null;
  } catch {
    return null;
  }
  const inside = relative(realRoot, real).split(sep);
  if (isAbsolute(inside.join(sep)) || inside.some((segment) => segment === '' || segment.startsWith('.'))) return null;
  return inside.join('/');
}
