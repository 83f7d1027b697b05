import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { type ResolveHost, refusalOf, type UrlPolicy } from './webhook-url.ts';

/** One POST to a receiver, as the delivery worker sees it. */
export interface SendOutcome {
  /** The receiver's status code, when it answered. */
  status?: number;
  /** Why there is no answer (timeout, refused address, connection error). */
  error?: string;
  durationMs: number;
}

export interface SignedRequest {
  url: string;
  eventId: string;
  body: string;
  /** The current secret first; the previous one while it is still valid (both signatures are sent). */
  secrets: readonly string[];
  policy: UrlPolicy;
}

/** Standard Webhooks headers for `body`: one `v1,…` signature per secret, space-separated. */
export function signatureHeaders(eventId: string, body: string, secrets: readonly string[], at = new Date()) {
  const signatures = secrets.map((secret) => new Webhook(secret).sign(eventId, at, body));
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}

/**
 * POSTs a signed event. The host name is resolved again here and every
 * address checked against the endpoint's policy before connecting (a name
 * that turned private since registration, DNS rebinding, is refused); the
 * whole exchange is bounded by `timeoutMs`. The answer's body is not read.
 */
export function sendSigned(
  request: SignedRequest,
  timeoutMs: number,
  resolve: ResolveHost,
  signal?: AbortSignal,
): Promise<SendOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((settle) => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      settle({ error: 'invalid URL', durationMs: 0 });
      return;
    }
    const literal = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (isIP(literal) !== 0) {
      const why = refusalOf(literal, url.protocol, request.policy);
      if (why !== undefined) {
        settle({ error: `refused: ${why}`, durationMs: elapsed() });
        return;
      }
    }
    const lookup = (
      hostname: string,
      options: { all?: boolean },
      callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
    ) => {
      resolve(hostname).then(
        (addresses) => {
          for (const address of addresses) {
            const why = refusalOf(address, url.protocol, request.policy);
            if (why !== undefined) return callback(new Error(`refused: ${why}`), '');
          }
          if (addresses.length === 0) return callback(new Error(`${hostname} has no address`), '');
          const entries = addresses.map((address) => ({ address, family: isIP(address) }));
          if (options.all) return callback(null, entries);
          const first = entries[0] as LookupAddress;
          return callback(null, first.address, first.family);
        },
        (error: Error) => callback(error, ''),
      );
    };
    const body = Buffer.from(request.body);
    // Not an ES import of node:http(s): that builds undici into the namespace (test/startup-footprint.test.ts).
    const send = process.getBuiltinModule(url.protocol === 'https:' ? 'node:https' : 'node:http').request;
    let done = false;
    const finish = (outcome: SendOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // The signal is the worker's, shared by every delivery of its life: a listener left on it per event
      // grew without bound, and each addEventListener walks the list (a fifth of the CPU after 20,000 events).
      signal?.removeEventListener('abort', abort);
      settle(outcome);
    };
    const req = send(url, {
      method: 'POST',
      lookup: lookup as never,
      headers: {
        'content-type': 'application/json',
        'content-length': String(body.length),
        'user-agent': 'cs-chat-webhooks/1',
        ...signatureHeaders(request.eventId, request.body, request.secrets),
      },
    });
    const timer = setTimeout(() => {
      finish({ error: `no answer within ${timeoutMs} ms`, durationMs: elapsed() });
      req.destroy();
    }, timeoutMs);
    req.on('response', (response) => {
      finish({ status: response.statusCode ?? 0, durationMs: elapsed() });
      response.resume();
      response.on('error', () => {});
    });
    req.on('error', (error) => finish({ error: error.message.slice(0, 300), durationMs: elapsed() }));
    function abort() {
      req.destroy(new Error('the instance is shutting down'));
    }
    signal?.addEventListener('abort', abort, { once: true });
    req.end(body);
  });
}
