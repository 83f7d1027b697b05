import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DomainError } from '../../lib/errors.ts';
import { MEDIA_PREFIX } from '../../lib/media-url.ts';
import {
  HEAD_BYTES,
  type HeadVerdict,
  REFUSAL_LINES,
  type RefusalReason,
  sniffHead,
  TextValidator,
} from './file-sniffer.ts';
import { FILE_TYPES, type FileExtension } from './file-types.ts';
import { inspectOle2, inspectZip, type ReadAt } from './office-containers.ts';
import { removeUpload, writeOriginalName } from './stored-uploads.ts';

export type UploadKind = 'image' | 'file';

/** A file received and verified, still under its temporary name until committed. */
export interface ReceivedUpload {
  ext: FileExtension;
  size: number;
  /** "/api/media/uploads/YYYY/MM/DD/<32 hex>.<ext>", where commit() puts it. */
  path: string;
  /** Records the (sanitised) name it was sent under, then moves the file to `path`: only then can anyone see it. */
  commit(originalName: string): Promise<void>;
  /** Deletes the temporary file (safe to call more than once, and after commit it does nothing). */
  discard(): Promise<void>;
}

/** A busboy file stream: `truncated` is set once it reached the size limit. */
export type UploadSource = Readable & { truncated?: boolean };

export interface ReceiveOptions {
  mediaDir: string;
  maxBytes: number;
  kind: UploadKind;
  now?: Date;
}

const refused = (reason: RefusalReason) =>
  new DomainError('unsupported', 'upload_unsupported_type', { errors: [REFUSAL_LINES[reason]] });

export const tooLarge = (maxBytes: number) =>
  new DomainError('too_large', 'upload_too_large', { errors: [`body.file: must be at most ${maxBytes} bytes`] });

/** uploads/YYYY/MM/DD in UTC, the day the upload started. */
function dayDirectory(now: Date): string[] {
  const pad = (n: number) => String(n).padStart(2, '0');
  return ['uploads', String(now.getUTCFullYear()), pad(now.getUTCMonth() + 1), pad(now.getUTCDate())];
}

/**
 * Streams one uploaded file to a temporary file in its destination directory
 * (MEDIA_DIR/uploads/YYYY/MM/DD/.upload-<random>), deciding its type from the
 * bytes on the way, then checks it. Memory stays flat: only the first
 * HEAD_BYTES are kept. Writing stops and the temporary file is deleted as soon
 * as the size limit is hit or the head rules the file out; the rest of the
 * stream is still read (and dropped) so the client can be answered. Any error,
 * the client going away included, deletes the temporary file.
 */
export async function receiveUpload(source: UploadSource, options: ReceiveOptions): Promise<ReceivedUpload> {
  const segments = dayDirectory(options.now ?? new Date());
  const directory = join(options.mediaDir, ...segments);
  await mkdir(directory, { recursive: true });
  const name = randomBytes(16).toString('hex');
  const tempPath = join(directory, `.upload-${name}.tmp`);
  let handle: FileHandle | undefined = await open(tempPath, 'wx+', 0o644);
  let tempExists = true;
  const removeTemp = async () => {
    await handle?.close().catch(() => undefined);
    handle = undefined;
    if (tempExists) {
      tempExists = false;
      await unlink(tempPath).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
  };

  try {
    const text = new TextValidator();
    let head = Buffer.alloc(0);
    let verdict: HeadVerdict | undefined;
    let size = 0;
    let failure: DomainError | undefined;

    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (failure) continue; // keep reading so the request ends and the client gets its answer
      if (source.truncated || size + chunk.length > options.maxBytes) {
        failure = tooLarge(options.maxBytes);
        await removeTemp();
        continue;
      }
      size += chunk.length;
      if (verdict === undefined || verdict.kind === 'text') text.push(chunk);
      if (verdict === undefined) {
        if (head.length < HEAD_BYTES) head = Buffer.concat([head, chunk.subarray(0, HEAD_BYTES - head.length)]);
        if (head.length >= HEAD_BYTES) verdict = sniffHead(head, text.ok);
      }
      if (verdict) failure = earlyFailure(verdict, text, options.kind);
      if (failure) {
        await removeTemp();
        continue;
      }
      if (handle) await writeAll(handle, chunk);
    }
    if (!failure && source.truncated) failure = tooLarge(options.maxBytes);
    if (failure) throw failure;
    if (size === 0)
      throw new DomainError('unprocessable', 'upload_empty_file', { errors: ['body.file: must not be empty'] });

    verdict ??= sniffHead(head, text.ok);
    const early = earlyFailure(verdict, text, options.kind);
    if (early) throw early;
    const ext = await decideType(verdict, text, handle, size);
    await handle?.close();
    handle = undefined;

    const finalName = `${name}.${ext}`;
    return {
      ext,
      size,
      path: `${MEDIA_PREFIX}${[...segments, finalName].join('/')}`,
      async commit(originalName) {
        const target = join(directory, finalName);
        try {
          await writeOriginalName(target, originalName);
          await rename(tempPath, target);
        } catch (error) {
          await removeUpload(target).catch(() => undefined);
          throw error;
        }
        tempExists = false;
      },
      discard: removeTemp,
    };
  } catch (error) {
    await removeTemp();
    throw error;
  }
}

/** FileHandle.write may write less than asked (a signal, a full disk): finish the chunk or fail. */
async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length; ) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    if (bytesWritten === 0) throw new Error('upload: the file system accepted no bytes');
    offset += bytesWritten;
  }
}

const notAnImage = () =>
  new DomainError('unsupported', 'upload_not_an_image', {
    errors: ['body.file: must be a JPEG, PNG, GIF or WebP image'],
  });

/** What the head alone already rules out: no need to store another byte. */
function earlyFailure(verdict: HeadVerdict, text: TextValidator, kind: UploadKind): DomainError | undefined {
  if (verdict.kind === 'refused') return refused(verdict.reason);
  if (verdict.kind === 'text' && !text.ok) return refused('not_text');
  if (kind === 'image' && !(verdict.kind === 'type' && FILE_TYPES[verdict.ext].image)) return notAnImage();
  return undefined;
}

async function decideType(
  verdict: HeadVerdict,
  text: TextValidator,
  handle: FileHandle | undefined,
  size: number,
): Promise<FileExtension> {
  switch (verdict.kind) {
    case 'type':
      return verdict.ext;
    case 'refused':
      throw refused(verdict.reason);
    case 'text':
      if (!text.end()) throw refused('not_text');
      return 'txt';
    case 'zip':
    case 'ole2': {
      if (!handle) throw refused('corrupt');
      const file = handle;
      const readAt: ReadAt = async (position, length) => {
        const buffer = Buffer.alloc(Math.max(0, Math.min(length, size - position)));
        const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
        return buffer.subarray(0, bytesRead);
      };
      const result = verdict.kind === 'zip' ? await inspectZip(readAt, size) : await inspectOle2(readAt, size);
      if ('refused' in result) throw refused(result.refused);
      return result.ext;
    }
  }
}
