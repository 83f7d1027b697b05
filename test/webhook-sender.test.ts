import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { newWebhookSecret } from '../src/modules/webhooks/webhook.service.ts';
import { type SignedRequest, sendSigned } from '../src/modules/webhooks/webhook-sender.ts';
import { resolveHost } from '../src/modules/webhooks/webhook-url.ts';
import { type Receiver, startReceiver } from './helpers/webhook-receiver.ts';

/**
 * The delivery worker hands every POST of its life one shutdown signal: each
 * request must take its abort listener off it when it ends, or the signal
 * keeps one per event ever delivered (memory, and an addEventListener that
 * walks them all).
 */
describe('webhook sender and the worker’s shutdown signal', () => {
  let receiver: Receiver;
  const request = (eventId: string): SignedRequest => ({
    url: receiver.url,
    eventId,
    body: JSON.stringify({ type: 'ping', timestamp: new Date().toISOString(), data: {} }),
    secrets: [newWebhookSecret()],
    policy: { allowLoopbackHttp: true, allowPrivateNetwork: false },
  });

  before(async () => {
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.stop();
  });

  test('finished requests leave no listener on the signal; one in flight is cut off by it', async () => {
    const shutdown = new AbortController();
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, i) => sendSigned(request(`evt_${i}`), 5_000, resolveHost, shutdown.signal)),
    );
    assert.deepEqual(new Set(outcomes.map((outcome) => outcome.status)), new Set([200]));
    assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0);

    // An answer that never comes: the request listens until the signal cuts it off.
    receiver.respondWith(() => 'hang');
    const hanging = sendSigned(request('evt_hang'), 5_000, resolveHost, shutdown.signal);
    await receiver.waitFor((all) => all.length === 51, 'the hanging request');
    assert.equal(getEventListeners(shutdown.signal, 'abort').length, 1);
    shutdown.abort();
    const cut = await hanging;
    assert.equal(cut.status, undefined);
    assert.match(cut.error ?? '', /shutting down/);
    assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0);
  });
});
