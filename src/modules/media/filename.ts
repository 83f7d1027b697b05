import { FILE_TYPES, type FileExtension } from './file-types.ts';

/** The most a file name may take, in UTF-8 bytes (what most file systems allow). */
export const MAX_FILENAME_BYTES = 255;

/** Name extensions that may stay on a file of each detected type; any other gets the detected one appended. */
const NAME_EXTENSIONS: Record<FileExtension, readonly string[]> = {
  jpg: ['jpg', 'jpeg', 'jpe', 'jfif'],
  png: ['png'],
  gif: ['gif'],
  webp: ['webp'],
  pdf: ['pdf'],
  doc: ['doc'],
  docx: ['docx'],
  xls: ['xls'],
  xlsx: ['xlsx'],
  txt: ['txt', 'text', 'csv', 'tsv', 'log', 'md'],
};

// C0/C1 controls, DEL, and invisible direction overrides ("gpj.exe" shown as "exe.jpg").
const UNSAFE_CHARACTERS = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/gu;
const MAX_EXTENSION_BYTES = 16;

/**
 * The client's file name made safe to store and show: the last path segment
 * only (both / and \), NFC, no control or bidi-override characters, no
 * leading dots (hidden files) or trailing dots and spaces (Windows), an
 * extension that matches the detected type (appended when the name's own
 * does not: "x.html" holding a GIF becomes "x.html.gif", so a download can
 * never be opened as something else), at most 255 UTF-8 bytes with the
 * extension kept. An empty result falls back to "image.<ext>" / "file.<ext>".
 */
export function sanitiseFilename(raw: string | undefined, detected: FileExtension): string {
  let name = (raw ?? '').toWellFormed().normalize('NFC');
  name = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  name = name
    .replace(UNSAFE_CHARACTERS, '')
    .trim()
    .replace(/^\.+/, '')
    .replace(/[. ]+$/, '');
  if (name === '') return `${FILE_TYPES[detected].image ? 'image' : 'file'}.${detected}`;
  const dot = name.lastIndexOf('.');
  const ownExtension = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
  if (!NAME_EXTENSIONS[detected].includes(ownExtension)) name = `${name}.${detected}`;
  return limitBytes(name, MAX_FILENAME_BYTES);
}

/** Shortens the part before the extension, by whole code points, until the name fits. */
function limitBytes(name: string, maxBytes: number): string {
  if (Buffer.byteLength(name) <= maxBytes) return name;
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 && Buffer.byteLength(name.slice(dot)) <= MAX_EXTENSION_BYTES ? name.slice(dot) : '';
  const budget = maxBytes - Buffer.byteLength(extension);
  let stem = '';
  let used = 0;
  for (const char of name.slice(0, name.length - extension.length)) {
    const size = Buffer.byteLength(char);
    if (used + size > budget) break;
    stem += char;
    used += size;
  }
  return `${stem.replace(/[. ]+$/, '')}${extension}`;
}
