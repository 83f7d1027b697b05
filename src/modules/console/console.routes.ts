import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';

export interface ConsoleRouteOptions {
  /** Vite's output (packages/console/dist): index.html and hashed files under assets/. */
  distDir: string;
}

/** Vite names every file under assets/ by its content hash: a changed file is a new URL. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** index.html names the current assets: always asked again (a 304 when unchanged). */
const REVALIDATE = 'no-cache';

/**
 * The console's page may run only its own scripts and talk only to this
 * origin (REST and WebSocket); images also come from BASE_URL's media URLs,
 * which may be another host behind a proxy, so images are not restricted.
 */
const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  'img-src * data: blob:',
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>控制台尚未构建 · Console not built</title></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.6">
<h1>控制台尚未构建 · The console is not built</h1>
<p>运行 <code>npm run console:build</code>（<code>npm run setup</code> 也会构建），然后重启服务器。</p>
<p>Run <code>npm run console:build</code> (<code>npm run setup</code> runs it too), then restart the server.</p>
</body></html>
`;

/**
 * The web console (packages/console) at /console/: the built files when they
 * exist, else a 503 page on every console path saying how to build them. The
 * check is made once, at start-up: a console built later is served after a restart.
 */
export const consoleRoutes: FastifyPluginAsync<ConsoleRouteOptions> = async (app, { distDir }) => {
  app.get('/console', { schema: { hide: true } }, (_request, reply) => reply.redirect('/console/', 301));

  if (!existsSync(join(distDir, 'index.html'))) {
    const notBuilt = (_request: unknown, reply: FastifyReply) =>
      reply.code(503).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(NOT_BUILT_PAGE);
    app.get('/console/', { schema: { hide: true } }, notBuilt);
    app.get('/console/*', { schema: { hide: true } }, notBuilt);
    return;
  }

  // @fastify/static refuses a path outside the console (`..`, encoded or not) or a dotfile with its
  // own 403s, in bodies of its own (error_type FST_STATIC_FORBIDDEN_PATH, an English detail): for
  // the console these are files that do not exist, answered as any unknown path is.
  app.setErrorHandler((error: { statusCode?: number }, _request, reply) => {
    if (error.statusCode === 403) return reply.callNotFound();
    throw error;
  });

  await app.register(fastifyStatic, {
    root: distDir,
    prefix: '/console/',
    index: ['index.html'],
    list: false,
    dotfiles: 'deny',
    wildcard: true,
    cacheControl: false,
    setHeaders(reply, path) {
      reply.header('cache-control', path.startsWith(join(distDir, 'assets')) ? IMMUTABLE : REVALIDATE);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('content-security-policy', CONSOLE_CSP);
    },
  });
};
