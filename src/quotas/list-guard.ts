import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Quotas } from './quotas.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A list endpoint: at most `listConcurrencyPerUser` of them in flight per user (list-guard.ts). */
    list?: boolean;
  }
}

/** The route option that puts a route under the list guard. */
export const LIST_ROUTE = { list: true } as const;

/**
 * Caps the list requests one user has in flight (item 3 of issue 12): one
 * user looping over expensive lists could otherwise hold every database
 * connection and make everyone else's requests wait into 503s. The excess is
 * refused at once with 429 (never queued, which would hold memory and
 * sockets instead). Register inside the authenticated scope, after its
 * authentication hook: the slot is taken per caller and given back once the handler
 * has answered (onSend), or the response ended some other way (onResponse).
 */
export function registerListGuard(app: FastifyInstance, quotas: Quotas): void {
  const releases = new WeakMap<FastifyRequest, () => void>();
  const release = async (request: FastifyRequest) => {
    releases.get(request)?.();
  };
  // onRequest, right after the authentication hook (hooks run in the order they were added): a refusal costs
  // no query-string validation, which matters when one user floods.
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.list !== true) return;
    releases.set(request, quotas.enterList(request.caller.id));
  });
  app.addHook('onSend', release);
  app.addHook('onResponse', release);
}
