import { finished } from 'node:stream/promises';
import { errorResponses } from '@cs-chat/contracts/rest/common.schemas';
import { UploadBody, UploadResult } from '@cs-chat/contracts/rest/upload.schemas';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../../lib/errors.ts';
import type { Quotas } from '../../quotas/quotas.ts';
import { sanitiseFilename } from './filename.ts';
import { type ReceivedUpload, receiveUpload, tooLarge, type UploadKind, type UploadSource } from './upload-store.ts';

export interface UploadRouteOptions {
  mediaDir: string;
  maxFileSize: number;
  baseUrl: string;
  /** Uploads per user per hour, by count and bytes (src/quotas/). */
  quotas: Pick<Quotas, 'beginUpload'>;
}

/**
 * Multipart limits. One file (field `file`) and a few small text fields, which
 * are ignored; anything bigger is refused or cut off, so a request can never
 * make the parser hold much in memory. The part headers are capped too (busboy
 * keeps at most `headerSize` bytes of them); a file name longer than
 * MAX_RAW_FILENAME_BYTES can only come from an oversized header and is refused.
 */
const LIMITS = {
  files: 1,
  fields: 8,
  parts: 10,
  fieldSize: 1024,
  fieldNameSize: 100,
  headerPairs: 16,
  headerSize: 16 * 1024,
};
const MAX_RAW_FILENAME_BYTES = 4 * 1024;

const unprocessable = (type: 'upload_file_missing' | 'upload_multiple_files', line: string) =>
  new DomainError('unprocessable', type, { errors: [line] });

/** The multipart plugin's and busboy's errors, as our stable codes. */
function multipartError(error: unknown, maxBytes: number): unknown {
  if (error instanceof DomainError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return tooLarge(maxBytes);
    case 'FST_FILES_LIMIT':
      return unprocessable('upload_multiple_files', 'body.file: exactly one file per request');
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new DomainError('too_large', 'upload_too_many_parts', {
        errors: [`body: at most ${LIMITS.parts} parts, of which at most ${LIMITS.fields} text fields`],
      });
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new DomainError('unsupported', 'upload_not_multipart');
    default:
      // Everything else the parser raises is about the body's framing (or the client leaving).
      return new DomainError('invalid', 'upload_malformed');
  }
}

/** After a request is cut off, how long its connection stays open for the client to read the 413. */
const CUT_OFF_LINGER_MS = 2_000;

/**
 * Rejects, and stops reading the request, once its body passes twice the file
 * limit plus 1 MiB: more than any acceptable upload (one file and a few small
 * fields), so reading on would only serve a client that streams without end.
 * The connection is not closed at once (a client still sending would get a
 * reset instead of the 413): TCP holds the client back until it reads the
 * answer and goes, or CUT_OFF_LINGER_MS later the connection is dropped.
 */
function cutOffPastBodyLimit(request: FastifyRequest, maxFileSize: number): Promise<never> {
  const limit = 2 * maxFileSize + 1024 * 1024;
  const body = request.raw;
  let seen = 0;
  return new Promise<never>((_, reject) => {
    const count = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen <= limit) return;
      stop();
      body.unpipe();
      body.pause();
      // Destroying the request (not only its socket) also ends the parts still being read.
      const linger = setTimeout(() => body.destroy(), CUT_OFF_LINGER_MS);
      body.socket.once('close', () => clearTimeout(linger));
      reject(tooLarge(maxFileSize));
    };
    const stop = () => {
      body.off('data', count);
      body.off('end', stop);
      body.off('close', stop);
    };
    body.on('data', count);
    body.once('end', stop);
    body.once('close', stop);
  });
}

/** Reads a file part we do not store, so the parser moves on. */
async function drain(stream: UploadSource): Promise<void> {
  stream.resume();
  await finished(stream).catch(() => undefined);
}

/** POST /api/upload/image and /api/upload/file: any signed-in user. */
export const uploadRoutes: FastifyPluginAsyncTypebox<UploadRouteOptions> = async (app, options) => {
  const { mediaDir, maxFileSize, baseUrl, quotas } = options;
  // Registered in this plugin only: no other route accepts multipart bodies.
  await app.register(multipart, { limits: { ...LIMITS, fileSize: maxFileSize }, throwFileSizeLimit: true });

  async function receive(request: FastifyRequest, kind: UploadKind): Promise<UploadResult> {
    if (!request.isMultipart()) throw new DomainError('unsupported', 'upload_not_multipart');
    // Refused before a byte is read; an upload that is refused later gives its count back.
    const allowance = quotas.beginUpload(request.caller.id);
    try {
      const result = await receiveInto(request, kind);
      allowance.stored(result.size);
      return result.upload;
    } catch (error) {
      allowance.failed();
      throw error;
    }
  }

  async function receiveInto(
    request: FastifyRequest,
    kind: UploadKind,
  ): Promise<{ upload: UploadResult; size: number }> {
    let received: ReceivedUpload | undefined;
    let rawName: string | undefined;
    let failure: unknown;
    let sawFile = false;
    const readParts = async () => {
      // Every part is read to the end, even after a failure, so the client is answered only
      // once its request is over (answering mid-upload leaves it writing into a closed socket),
      // unless the body runs past cutOffPastBodyLimit's bound.
      for await (const part of request.parts()) {
        if (part.type !== 'file') continue; // small text fields are allowed and ignored
        sawFile = true;
        if (received || failure !== undefined || part.fieldname !== 'file') {
          await drain(part.file);
          continue;
        }
        if (Buffer.byteLength(part.filename ?? '') > MAX_RAW_FILENAME_BYTES) {
          failure = new DomainError('invalid', 'upload_headers_too_large');
          await drain(part.file);
          continue;
        }
        try {
          received = await receiveUpload(part.file, { mediaDir, maxBytes: maxFileSize, kind });
          rawName = part.filename;
        } catch (error) {
          failure = error;
          await drain(part.file); // in case it failed before reading (a disk error): the parser must go on
        }
      }
    };
    const reading = readParts();
    try {
      await Promise.race([reading, cutOffPastBodyLimit(request, maxFileSize)]);
    } catch (error) {
      // Cut off: the parts still being read end when the connection closes; whatever they stored goes.
      void reading.then(
        () => received?.discard(),
        () => received?.discard(),
      );
      await received?.discard();
      throw multipartError(error, maxFileSize);
    }
    if (failure !== undefined) {
      await received?.discard();
      throw failure;
    }
    if (!received) {
      throw unprocessable(
        'upload_file_missing',
        sawFile ? 'body.file: the file must be sent in the field named "file"' : 'body.file: is required',
      );
    }
    const filename = sanitiseFilename(rawName, received.ext);
    await received.commit(filename);
    return { upload: { url: `${baseUrl}${received.path}`, filename, file_type: kind }, size: received.size };
  }

  const responses = { 200: UploadResult, ...errorResponses(400, 401, 403, 413, 415, 422, 429, 503) };
  app.post(
    '/image',
    {
      schema: {
        tags: ['uploads'],
        operationId: 'uploadImage',
        summary: 'Upload an image (JPEG, PNG, GIF or WebP, recognised by its bytes)',
        consumes: ['multipart/form-data'],
        body: UploadBody,
        response: responses,
      },
      // The multipart stream is read by the handler, not validated up front.
      validatorCompiler: () => () => true,
    },
    (request) => receive(request, 'image'),
  );
  app.post(
    '/file',
    {
      schema: {
        tags: ['uploads'],
        operationId: 'uploadFile',
        summary: 'Upload a file (images, PDF, DOC, DOCX, XLS, XLSX or UTF-8 text, recognised by its bytes)',
        consumes: ['multipart/form-data'],
        body: UploadBody,
        response: responses,
      },
      validatorCompiler: () => () => true,
    },
    (request) => receive(request, 'file'),
  );
};
