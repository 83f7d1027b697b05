import { mkdir, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errorResponses } from '@cs-chat/contracts/rest/common.schemas';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyReply } from 'fastify';
import Type from 'typebox';
import { describeErrors } from '../../http/openapi.ts';
import { DomainError, notFound } from '../../lib/errors.ts';
import { ensureDefaultAvatars } from './avatars.ts';
import { servedContentHeaders } from './file-types.ts';
import { resolveMediaFile } from './media-path.ts';
import { readOriginalName } from './stored-uploads.ts';

const FILE = { 'application/octet-stream': { schema: Type.String({ format: 'binary' }) } };

/** The OpenAPI entry of the media route: the wildcard as a `path` parameter, and the 200/206/304 a file gives. */
function documentMediaRoute({ schema, url }: { schema: unknown; url: string }) {
  const described = describeErrors({ schema, url });
  return {
    url: `${url.replace(/\*$/, '')}:path`,
    schema: {
      ...described.schema,
      params: Type.Object({
        path: Type.String({
          description: 'Where the file is under the media folder, as in the URLs the API returns',
          examples: ['uploads/2026/12/0193a6f5-aa11-7b22-8c33-d44e55f66a77.jpg'],
        }),
      }),
      response: {
        200: { description: 'The file (its type from its bytes; uploads with their original name)', content: FILE },
        206: { description: 'The requested byte range of the file', content: FILE },
        304: {
          type: 'null',
          description: 'Not modified since the `If-None-Match` / `If-Modified-Since` of the request',
        },
        ...described.schema.response,
      },
    },
  };
}

export interface MediaRouteOptions {
  mediaDir: string;
}

/**
 * Uploads never change under their random names, but a moderator's delete
 * revokes them (the file is removed): so no shared cache keeps them, and a
 * browser asks again after a minute (a cheap 304 while the file stands, a 404
 * once it is gone). Default avatars are public and only ever replaced.
 */
const UPLOAD_CACHE_CONTROL = 'private, max-age=60, must-revalidate';
const REVALIDATE = 'public, max-age=3600';

/**
 * GET /api/media/*: MEDIA_DIR as a public static file server (no token). No
 * directory listings and no way out of MEDIA_DIR (resolveMediaFile); the
 * Content-Type comes from the stored extension, allow-listed types only, and
 * only raster images are inline: everything else is an attachment. Every
 * answer carries nosniff and a sandboxing CSP, so even a file that is not
 * what its name says never runs as a page. Ranges, ETag / Last-Modified and
 * 304 are @fastify/send's.
 */
export const mediaRoutes: FastifyPluginAsyncTypebox<MediaRouteOptions> = async (app, options) => {
  await mkdir(options.mediaDir, { recursive: true });
  await ensureDefaultAvatars(options.mediaDir);
  const root = await realpath(resolve(options.mediaDir));
  /** The name each upload being answered was sent under, for setHeaders (which only gets the reply). */
  const originalNames = new WeakMap<FastifyReply, string | null>();

  await app.register(fastifyStatic, {
    root,
    serve: false,
    index: false,
    list: false,
    dotfiles: 'deny',
    acceptRanges: true,
    etag: true,
    lastModified: true,
    cacheControl: false,
    contentType: false,
    setHeaders(reply, path) {
      // Not on a 304: it carries validators and caching, not a new representation.
      if (reply.statusCode !== 304) reply.headers(servedContentHeaders(path, originalNames.get(reply) ?? null));
      reply.header('cache-control', path.startsWith(`${root}/uploads/`) ? UPLOAD_CACHE_CONTROL : REVALIDATE);
    },
  });

  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('content-security-policy', "default-src 'none'; sandbox");
  });

  app.get(
    '/*',
    {
      schema: {
        tags: ['media'],
        operationId: 'getMediaFile',
        summary:
          'A stored file (uploads, default avatars); public, supports Range and conditional requests; ' +
          'uploads are offered under their original name and answer 404 once a moderator deleted their message',
        security: [],
        response: errorResponses(404, 416),
      },
      // The document names the wildcard and lists the file answers; the route itself is unchanged.
      config: { swaggerTransform: documentMediaRoute },
      errorHandler(error: FastifyError & { headers?: Record<string, string> }, _request, reply) {
        // @fastify/send's unsatisfiable range: keep its Content-Range (bytes */size).
        if (error.statusCode === 416) {
          const range = error.headers?.['Content-Range'];
          if (range) reply.header('content-range', range);
          throw new DomainError('unsatisfiable', 'range_not_satisfiable');
        }
        throw error;
      },
    },
    async (request, reply) => {
      const url = request.raw.url ?? '';
      const path = url.slice(0, url.includes('?') ? url.indexOf('?') : url.length);
      const prefix = `${request.routeOptions.url?.replace(/\*$/, '')}`;
      const file = path.startsWith(prefix) ? await resolveMediaFile(root, path.slice(prefix.length)) : null;
      if (file === null) throw notFound('not_found');
      if (file.startsWith('uploads/')) originalNames.set(reply, await readOriginalName(join(root, file)));
      return reply.sendFile(file);
    },
  );
};
