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

/** RFC 5987 attr-char: what may stay unescaped in `filename*=UTF-8''…`. */
const ATTR_CHAR = /[A-Za-z0-9!#$&+\-.^_`|~]/;

/**
 * A Content-Disposition value (RFC 6266) offering `name` to save the file
 * under: `filename*` with the name in UTF-8, percent-encoded (RFC 5987), which
 * every current browser uses, and `filename` with an ASCII stand-in for the
 * rest (every other character, and the quote, backslash and percent sign that
 * some readers mis-handle, become "_"). No name: the disposition alone.
 */
export function contentDisposition(disposition: 'inline' | 'attachment', name: string | null): string {
  if (!name) return disposition;
  const ascii = Array.from(name, (c) => (/^[\x20-\x7e]$/.test(c) && !'"\\%'.includes(c) ? c : '_')).join('');
  const encoded = Array.from(Buffer.from(name, 'utf8'), (byte) => {
    const c = String.fromCharCode(byte);
    return byte < 0x80 && ATTR_CHAR.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
  return `${disposition}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * Headers describing a file served from MEDIA_DIR, decided by its extension
 * alone; `originalName` is the name it was uploaded under, offered for saving.
 */
export function servedContentHeaders(
  fileName: string,
  originalName: string | null = null,
): { 'content-type': string; 'content-disposition': string } {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  const ext = dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
  const known =
    ext === 'jpeg' ? FILE_TYPES.jpg : Object.hasOwn(FILE_TYPES, ext) ? FILE_TYPES[ext as FileExtension] : null;
  return {
    'content-type': known?.mime ?? 'application/octet-stream',
    // Only raster images are shown in the browser; everything else is a download.
    'content-disposition': contentDisposition(known?.image ? 'inline' : 'attachment', originalName),
  };
}
