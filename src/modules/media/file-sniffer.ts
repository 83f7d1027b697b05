/**
 * Decides what an uploaded file is from its bytes (magic numbers), never from
 * the client's MIME type or file name.
 *
 * - JPEG, PNG, GIF, WebP and PDF are recognised by their leading signature.
 * - A ZIP or an OLE2 compound file is only a candidate: office-containers.ts
 *   reads its directory to tell DOCX from XLSX and DOC from XLS.
 * - Anything without a signature is TXT only if every byte is valid UTF-8 with
 *   no control character other than tab, CR and LF, and it does not start like
 *   markup (HTML, SVG, XML) or a script (#!).
 *
 * A signature decides the type even if more follows it (a GIF header followed
 * by HTML is a GIF): such a file is stored and served as that image type with
 * `nosniff`, so no browser runs it as HTML or script.
 */
import type { FileExtension } from './file-types.ts';

/** How many leading bytes the head checks look at. */
export const HEAD_BYTES = 1024;

export type RefusalReason = 'executable' | 'markup' | 'not_text' | 'unsupported' | 'macros' | 'corrupt' | 'bomb';

/** The lines that explain a refusal in a 415 body. */
export const REFUSAL_LINES: Record<RefusalReason, string> = {
  executable: 'body.file: executables and scripts are not accepted',
  markup: 'body.file: HTML, SVG, XML and other markup is not accepted',
  not_text: 'body.file: not a JPEG, PNG, GIF, WebP, PDF, DOC, DOCX, XLS, XLSX or UTF-8 text file',
  unsupported: 'body.file: not a JPEG, PNG, GIF, WebP, PDF, DOC, DOCX, XLS, XLSX or UTF-8 text file',
  macros: 'body.file: office documents with macros are not accepted',
  corrupt: 'body.file: the document structure is damaged or not supported',
  bomb: 'body.file: the document would expand to an absurd size or number of parts',
};

export type HeadVerdict =
  | { kind: 'type'; ext: FileExtension }
  | { kind: 'zip' }
  | { kind: 'ole2' }
  | { kind: 'text' }
  | { kind: 'refused'; reason: RefusalReason };

const startsWith = (bytes: Uint8Array, signature: readonly number[], at = 0) =>
  bytes.length >= at + signature.length && signature.every((byte, i) => bytes[at + i] === byte);
const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0));

const JPEG = [0xff, 0xd8, 0xff];
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const GIF87 = ascii('GIF87a');
const GIF89 = ascii('GIF89a');
const RIFF = ascii('RIFF');
const WEBP = ascii('WEBPVP8');
const PDF = ascii('%PDF-');
const ZIP = [0x50, 0x4b, 0x03, 0x04];
const OLE2 = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

/** Executable formats, refused by name so the client learns why. */
const EXECUTABLES: readonly (readonly number[])[] = [
  [0x7f, 0x45, 0x4c, 0x46], // ELF
  [0xfe, 0xed, 0xfa, 0xce], // Mach-O 32
  [0xfe, 0xed, 0xfa, 0xcf], // Mach-O 64
  [0xce, 0xfa, 0xed, 0xfe], // Mach-O 32, little-endian
  [0xcf, 0xfa, 0xed, 0xfe], // Mach-O 64, little-endian
  [0xca, 0xfe, 0xba, 0xbe], // Mach-O universal / Java class
  [0x00, 0x61, 0x73, 0x6d], // WebAssembly
];
const MZ = ascii('MZ'); // DOS / Windows PE

/**
 * What old browsers' sniffers took for HTML, looked for in the first bytes of
 * "text": refusing these keeps a text upload from ever rendering as a page.
 */
const MARKUP_HINTS = ['<!doctype', '<html', '<head', '<body', '<script', '<svg', '<iframe', '<?xml', '<!--'];

/**
 * Classifies a file by its first bytes. `head` holds min(HEAD_BYTES, size)
 * bytes; `headIsText` says whether the bytes read so far are clean UTF-8
 * text (the caller validates the whole file with TextValidator).
 */
export function sniffHead(head: Uint8Array, headIsText: boolean): HeadVerdict {
  if (startsWith(head, JPEG)) return { kind: 'type', ext: 'jpg' };
  if (startsWith(head, PNG)) return { kind: 'type', ext: 'png' };
  if (startsWith(head, GIF87) || startsWith(head, GIF89)) return { kind: 'type', ext: 'gif' };
  if (startsWith(head, RIFF) && startsWith(head, WEBP, 8)) return { kind: 'type', ext: 'webp' };
  if (startsWith(head, PDF)) return { kind: 'type', ext: 'pdf' };
  if (startsWith(head, ZIP)) return { kind: 'zip' };
  if (startsWith(head, OLE2)) return { kind: 'ole2' };
  if (EXECUTABLES.some((signature) => startsWith(head, signature))) return { kind: 'refused', reason: 'executable' };
  if (!headIsText) {
    return { kind: 'refused', reason: startsWith(head, MZ) ? 'executable' : 'not_text' };
  }
  const text = Buffer.from(head)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
  const start = text.trimStart();
  if (start.startsWith('#!')) return { kind: 'refused', reason: 'executable' };
  const lower = start.toLowerCase();
  if (lower.startsWith('<') || MARKUP_HINTS.some((hint) => lower.includes(hint))) {
    return { kind: 'refused', reason: 'markup' };
  }
  return { kind: 'text' };
}

/**
 * Streaming check that a file is UTF-8 text: valid encoding (split sequences
 * across chunks are fine) and no control character but tab, LF and CR (C0,
 * DEL and the C1 range U+0080..U+009F are refused). Memory stays constant.
 */
export class TextValidator {
  #decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  #ok = true;
  /** The previous byte was 0xC2, the lead byte of U+0080..U+00BF. */
  #afterC2 = false;

  get ok(): boolean {
    return this.#ok;
  }

  push(chunk: Uint8Array): boolean {
    if (!this.#ok) return false;
    for (const byte of chunk) {
      if ((byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) || byte === 0x7f) return this.#fail();
      if (this.#afterC2 && byte >= 0x80 && byte <= 0x9f) return this.#fail();
      this.#afterC2 = byte === 0xc2;
    }
    try {
      this.#decoder.decode(chunk, { stream: true });
    } catch {
      return this.#fail();
    }
    return true;
  }

  /** Call once at the end of the file: a truncated multi-byte sequence fails here. */
  end(): boolean {
    if (!this.#ok) return false;
    try {
      this.#decoder.decode();
    } catch {
      return this.#fail();
    }
    return true;
  }

  #fail(): false {
    this.#ok = false;
    return false;
  }
}
