/**
 * Uploads on disk: MEDIA_DIR/uploads/YYYY/MM/DD/<random>.<ext>, each beside a
 * hidden `.<random>.<ext>.name` holding the sanitised name it was uploaded
 * under (downloads are offered under that name). Hidden files are never
 * served (media-path.ts refuses dot-segments), so the name stays metadata.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MEDIA_PREFIX } from '../../lib/media-url.ts';
import { FILE_TYPES, type FileExtension } from './file-types.ts';
import { MAX_FILENAME_BYTES } from './filename.ts';

/** How a stored upload is named in message content and users.avatar: /api/media/uploads/YYYY/MM/DD/<random>.<ext>. */
const ISSUED_UPLOAD_PATH = /^\/api\/media\/uploads\/(\d{4})\/(\d{2})\/(\d{2})\/[A-Za-z0-9_-]{16,64}\.([a-z0-9]{1,5})$/;

export interface IssuedUpload {
  /** The stored path, "/api/media/uploads/…". */
  path: string;
  ext: FileExtension;
  /** Midnight UTC of the day it was uploaded, in ms: nothing can refer to it from before. */
  uploadedFrom: number;
}

/** The upload a stored path names, if it has the shape this server issues and a type it accepts. */
export function parseIssuedUpload(path: string): IssuedUpload | null {
  const match = ISSUED_UPLOAD_PATH.exec(path);
  if (!match) return null;
  const [, year, month, day, ext] = match;
  if (!ext || !Object.hasOwn(FILE_TYPES, ext)) return null;
  return {
    path,
    ext: ext as FileExtension,
    uploadedFrom: Date.UTC(Number(year), Number(month) - 1, Number(day)),
  };
}

/** The file on disk behind a stored path under MEDIA_PREFIX. */
export function fileOf(mediaDir: string, storedPath: string): string {
  return join(mediaDir, storedPath.slice(MEDIA_PREFIX.length));
}

/** The hidden file beside an upload that keeps its original name. */
function nameFileOf(file: string): string {
  return join(dirname(file), `.${basename(file)}.name`);
}

/** Records the name an upload was sent under; call before the upload itself becomes visible. */
export async function writeOriginalName(file: string, name: string): Promise<void> {
  await writeFile(nameFileOf(file), name, { mode: 0o644 });
}

/** The name an upload was sent under, or null (uploads stored before names were kept, or a damaged record). */
export async function readOriginalName(file: string): Promise<string | null> {
  try {
    const bytes = await readFile(nameFileOf(file));
    return bytes.length === 0 || bytes.length > MAX_FILENAME_BYTES ? null : bytes.toString('utf8');
  } catch {
    return null;
  }
}

const ignoreMissing = (error: NodeJS.ErrnoException) => {
  if (error.code !== 'ENOENT') throw error;
};

/** Deletes an upload and its name record; an already missing file is fine. */
export async function removeUpload(file: string): Promise<void> {
  await unlink(file).catch(ignoreMissing);
  await unlink(nameFileOf(file)).catch(ignoreMissing);
}
