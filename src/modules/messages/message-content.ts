import { stat } from 'node:fs/promises';
import { MAX_TEXT_LENGTH, type MessageType } from '@cs-chat/contracts/rest/message.schemas';
import { unprocessable } from '../../lib/errors.ts';
import { toStoredPath } from '../../lib/media-url.ts';
import { cardJson, cardPreview, parseCard } from '../cards/card-content.ts';
import { FILE_TYPES } from '../media/file-types.ts';
import { sanitiseFilename } from '../media/filename.ts';
import { fileOf, parseIssuedUpload } from '../media/stored-uploads.ts';

const INVALID_MEDIA_URL = 'content: must be a media URL issued by this server';

export interface StoredContent {
  content: string;
  filename: string | null;
}

export function previewOf(type: MessageType, content: string): string {
  if (type === 'image') return '[图片]';
  if (type === 'file') return '[文件]';
  if (type === 'card') return cardPreview(content);
  return Array.from(content).slice(0, 100).join('');
}

/**
 * Validates message content and returns what is stored. Image and file content
 * must name a file this server issued (an image message, an image); the
 * reference client sends file messages as "<original name>|<url>", which is
 * split into a name, sanitised exactly as an upload's (filename.ts), and a URL.
 * A card is stored as canonical JSON (cards/card-content.ts).
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
  if (type === 'card') return { content: cardJson(parseCard(raw)), filename: null };
  let url = raw.trim();
  let rawName: string | null = null;
  const bar = url.lastIndexOf('|');
  if (type === 'file' && bar >= 0) {
    rawName = url.slice(0, bar);
    url = url.slice(bar + 1).trim();
  }
  const upload = parseIssuedUpload(toStoredPath(url, options.baseUrl));
  if (!upload) throw unprocessable('invalid_media_url', [INVALID_MEDIA_URL]);
  if (type === 'image' && !FILE_TYPES[upload.ext].image) {
    throw unprocessable('media_not_an_image', ['content: must be an uploaded JPEG, PNG, GIF or WebP image']);
  }
  const info = await stat(fileOf(options.mediaDir, upload.path)).catch(() => undefined);
  if (!info?.isFile()) throw unprocessable('invalid_media_url', [INVALID_MEDIA_URL]);
  const filename = rawName !== null && rawName.trim() !== '' ? sanitiseFilename(rawName, upload.ext) : null;
  return { content: upload.path, filename };
}
