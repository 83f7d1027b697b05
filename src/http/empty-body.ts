import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';

/**
 * Endpoints that take no body accept an empty one under any content type.
 *
 * Clients send empty bodies with a content type: axios 1.x sends `put(url, null)`
 * as `application/x-www-form-urlencoded` with `Content-Length: 0` (the Vue client's
 * read receipts), others send `application/json` or a chunked body with no chunks.
 * Fastify looks up a parser by content type before it knows the body is empty, so
 * these got 415 (no form parser) or 400 (empty JSON). Here, in one place for every
 * route: a catch-all parser and a JSON parser that let an empty body through to a
 * route that reads none. A non-empty body of an unsupported type is still 415, and
 * routes that read a body (a body schema, or a declared media type like uploads)
 * behave as before.
 */

/** Whether the route reads a request body: a body schema (JSON) or declared media types (multipart uploads). */
function routeTakesBody(request: FastifyRequest): boolean {
  const schema = request.routeOptions.schema;
  return schema?.body !== undefined || schema?.consumes !== undefined;
}

/** Registered on the root instance before any route, so every route's context inherits the parsers. */
export function acceptEmptyBodies(app: FastifyInstance): void {
  // Any content type no other parser claims (form, octet-stream, anything; none at all with a chunked body).
  app.addContentTypeParser('*', (request, payload, done) => {
    // Unknown routes answer 404 without reading, as Fastify does when no parser matches.
    if (request.is404) return done(null, undefined);
    if (routeTakesBody(request)) return done(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(), undefined);
    // Read only until the first byte: an empty body ends at once, a non-empty one is refused
    // without buffering it (Fastify answers a parser error with Connection: close).
    let settled = false;
    const settle = (error: Error | null) => {
      if (settled) return;
      settled = true;
      payload.removeListener('data', onData);
      done(error, undefined);
    };
    const onData = (chunk: Buffer) => {
      if (chunk.length > 0) settle(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE());
    };
    payload.on('data', onData);
    payload.once('end', () => settle(null));
    payload.once('error', (error) => settle(error));
  });

  // JSON: an empty body is "no body" where none is read; everything else goes to Fastify's own parser.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' && !routeTakesBody(request)) return done(null, undefined);
    parseJson(request, String(body), done);
  });
}
