/**
 * The file types this server accepts and serves, keyed by the extension it
 * stores them under. The extension is always the one the bytes were detected
 * as (file-sniffer.ts), never the client's.
 */
export const FILE_TYPES = {
  jpg: { mime: 'image/jpeg', image: true },
  png: { mime: 'image/png', image: true },
  gif: { mime: 'image/gif', image: true },
  webp: { mime: 'image/webp', image: true },
  pdf: { mime: 'application/pdf', image: false },
  doc: { mime: 'application/msword', image: false },
  docx: {
    mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    image: false,
  },
  xls: { mime: 'application/vnd.ms-excel', image: false },
  xlsx: {
    mime: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    image: false,
  },
  txt: { mime: 'text/plain; charset=utf-8', image: false },
} as const satisfies Record<string, { mime: string; image: boolean }>;

export type FileExtension = keyof typeof FILE_TYPES;

/** Headers describing a file served from MEDIA_DIR, decided by its extension alone. */
export function servedContentHeaders(fileName: string): { 'content-type': string; 'content-disposition': string } {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  const ext = dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
  const known =
    ext === 'jpeg' ? FILE_TYPES.jpg : Object.hasOwn(FILE_TYPES, ext) ? FILE_TYPES[ext as FileExtension] : null;
  return {
    'content-type': known?.mime ?? 'application/octet-stream',
    // Only raster images are shown in the browser; everything else is a download.
    'content-disposition': known?.image ? 'inline' : 'attachment',
  };
}
