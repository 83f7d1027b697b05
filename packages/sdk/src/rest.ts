import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths } from './generated/openapi.ts';

export type { components, paths } from './generated/openapi.ts';

/** A token, or a function that returns the current one (called before every request, so it may refresh). */
export type TokenSource = string | (() => string | Promise<string>);

export interface RestOptions {
  /** The server's origin, e.g. `http://localhost:11075` (paths start with `/api/`). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`; leave out for public endpoints (login, health). */
  token?: TokenSource;
  /** The global fetch unless given. */
  fetch?: typeof fetch;
}

export type RestClient = Client<paths>;

export function resolveToken(token: TokenSource): Promise<string> {
  return Promise.resolve(typeof token === 'function' ? token() : token);
}

/**
 * A typed REST client: paths, parameters, bodies and answers are those of the
 * server's OpenAPI document (src/generated/openapi.ts). Calls answer
 * `{ data, error, response }` as openapi-fetch does.
 *
 *   const { data } = await rest.GET('/api/conversations/{id}', { params: { path: { id } } });
 */
export function createRestClient(options: RestOptions): RestClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const { token } = options;
  if (token !== undefined) {
    const auth: Middleware = {
      async onRequest({ request }) {
        if (!request.headers.has('authorization'))
          request.headers.set('authorization', `Bearer ${await resolveToken(token)}`);
        return request;
      },
    };
    client.use(auth);
  }
  return client;
}
