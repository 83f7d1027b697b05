import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { unprocessable } from '../../http/app-error.ts';
import { MEDIA_PREFIX, toStoredPath } from '../../lib/media-url.ts';
import { MAX_TEXT_LENGTH, type MessageType } from './message.schemas.ts';

/** Uploads are stored as /api/media/uploads/YYYY/MM/DD/<random>.<ext>. */
const ISSUED_MEDIA_PATH = /^\/api\/media\/uploads\/\d{4}\/\d{2}\/\d{2}\/[A-Za-z0-9_-]{16,64}\.[a-z0-9]{1,5}$/;
const MAX_FILENAME_LENGTH = 255;
const INVALID_MEDIA_URL = 'content: must be a media URL issued by this server';

export interface StoredContent {
  content: string;
  filename: string | null;
}

export function previewOf(type: MessageType, content: string): string {
  if (type === 'image') return '[图片]';
  if (type === 'file') return '[文件]';
  return Array.from(content).slice(0, 100).join('');
}

/**
 * Validates message content and returns what is stored. Image and file content
 * must name a file this server issued; the reference client sends file
 * messages as "<original name>|<url>", which is split into name and URL.
 */
export async function parseContent(
  type: MessageType,
  raw: string,
  options: { baseUrl: string; mediaDir: string },
): Promise<StoredContent> {
  if (type === 'text') {
    if (raw.trim() === '') throw unprocessable('empty_content', ['content: must not be blank']);
    if (Array.from(raw).length > MAX_TEXT_LENGTH)
      throw unprocessable('text_too_long', [`content: must not have more than ${MAX_TEXT_LENGTH} characters`]);
    return { content: raw, filename: null };
  }
  let url = raw.trim();
  let filename: string | null = null;
  const bar = url.lastIndexOf('|');
  if (type === 'file' && bar >= 0) {
    filename = url.slice(0, bar).trim().slice(0, MAX_FILENAME_LENGTH) || null;
    url = url.slice(bar + 1).trim();
  }
  const path = toStoredPath(url, options.baseUrl);
  if (!ISSUED_MEDIA_PATH.test(path)) throw unprocessable('invalid_media_url', [INVALID_MEDIA_URL]);
  const onDisk = join(options.mediaDir, path.slice(MEDIA_PREFIX.length));
  const info = await stat(onDisk).catch(() => undefined);
  if (!info?.isFile()) throw unprocessable('invalid_media_url', [INVALID_MEDIA_URL]);
  return { content: path, filename };
}
