import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/types.ts';
import { newWebhookSecret } from '../src/modules/webhooks/webhook.service.ts';
import { createDeliveryWorker, type DeliveryWorker } from '../src/modules/webhooks/webhook-delivery.ts';
import { createSubscriptions, outboxRows } from '../src/modules/webhooks/webhook-outbox.ts';
import { testDialects } from './helpers/databases.ts';
import { openScratchDatabase } from './helpers/factories.ts';
import { until } from './helpers/polling.ts';
import { openConversation, sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';
import { type Receiver, startReceiver } from './helpers/webhook-receiver.ts';

/**
 * What takes a day or a week (disabling an endpoint that keeps failing,
 * pruning delivered events) with the delivery worker's clock moved on
 * instead of waiting.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

interface Endpoint {
  id: string;
  active: boolean;
  disabled_reason: string | null;
}

interface Delivery {
  event_id: string;
  status: string;
  attempts: number;
}

for (const dialect of testDialects) {
  describe(`an endpoint failing for a day (${dialect.name})`, () => {
    let app: TestApp;
    let tokens: Record<string, string>;
    let receiver: Receiver;
    /** How far the worker's clock is ahead of the real one. */
    let ahead = 0;

    before(async () => {
      app = await startTestApp(dialect, {
        env: { DEBUG: 'True' },
        server: {
          // Retries every 50 ms for far longer than the test: only the day of failures can stop them.
          webhookDelivery: {
            retryDelaysMs: Array.from({ length: 10_000 }, () => 50),
            timeoutMs: 400,
            pollMs: 50,
            clock: () => Date.now() + ahead,
          },
        },
      });
      tokens = await app.addUsers({ a1: 'admin', b1: 'buyer', m1: 'merchant' });
      receiver = await startReceiver();
    });
    after(async () => {
      await app.close();
      await receiver.stop();
    });

    test('is disabled after 24 h of failures with an admin-visible reason; re-enabled, its event arrives', async () => {
      receiver.respondWith(() => 500);
      const created = await app.client.post('/api/webhooks', {
        token: tokens.a1,
        body: { url: receiver.url, events: ['message.created'] },
      });
      assert.equal(created.status, 201);
      const { id } = created.body as Endpoint;
      const endpoint = async () => (await app.client.get<Endpoint>(`/api/webhooks/${id}`, { token: tokens.a1 })).body;
      const delivery = async () =>
        (await app.client.get<Delivery[]>(`/api/webhooks/${id}/deliveries`, { token: tokens.a1 })).body[0];
      /** Waits for two more failed attempts than now (the first may have started before the clock moved). */
      const twoMoreFailures = async () => {
        const seen = (await delivery())?.attempts ?? 0;
        await until(delivery, (row) => (row?.attempts ?? 0) >= seen + 2, 'two more failed attempts');
      };

      const conversation = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
      await sendText(app, tokens.b1 as string, conversation, 'nobody hears this today');
      await twoMoreFailures();
      const failing = await endpoint();
      assert.deepEqual([failing.active, failing.disabled_reason], [true, null]);

      ahead = 23 * HOUR;
      await twoMoreFailures();
      assert.equal((await endpoint()).active, true, 'failing for 23 hours: still active');

      ahead = DAY + MINUTE;
      const disabled = await until(endpoint, (row) => !row.active, 'disabled');
      assert.equal(disabled.disabled_reason, 'Every delivery failed for 24 hours (last: the receiver answered 500)');
      const listed = await app.client.get<Endpoint[]>('/api/webhooks', { token: tokens.a1 });
      assert.equal(listed.body.find((row) => row.id === id)?.disabled_reason, disabled.disabled_reason);
      // Its event is not given up: it waits for the endpoint to come back.
      const waiting = await delivery();
      assert.equal(waiting?.status, 'pending');

      receiver.respondWith(() => 200);
      const enabled = await app.client.patch(`/api/webhooks/${id}`, { token: tokens.a1, body: { active: true } });
      assert.equal(enabled.status, 200);
      assert.equal(enabled.body.disabled_reason, null);
      await until(delivery, (row) => row?.status === 'delivered', 'delivered once re-enabled');
      assert.equal(receiver.received.at(-1)?.headers['webhook-id'], waiting?.event_id);
    });
  });

  describe(`pruning the delivery log (${dialect.name})`, () => {
    let db: Kysely<Database>;
    let close: () => Promise<void>;
    let ok: Receiver;
    let failing: Receiver;
    let worker: DeliveryWorker;
    let ahead = 0;

    before(async () => {
      const scratch = await openScratchDatabase(dialect);
      db = scratch.db;
      close = scratch.close;
      [ok, failing] = [await startReceiver(), await startReceiver()];
      failing.respondWith(() => 500);
      const endpoint = (id: string, url: string, active: boolean) => ({
        id,
        url,
        description: null,
        events: 'message.created',
        secret: newWebhookSecret(),
        previous_secret: null,
        previous_secret_expires_at: null,
        is_active: active ? 1 : 0,
        disabled_reason: null,
        created_at: 1,
        updated_at: 1,
        failing_since: null,
      });
      await db
        .insertInto('webhook_endpoints')
        .values([
          endpoint('ok', ok.url, true),
          endpoint('failing', failing.url, true),
          endpoint('paused', ok.url, false),
        ])
        .execute();
      const subscriptions = createSubscriptions(db);
      await subscriptions.refresh();
      worker = createDeliveryWorker({
        db,
        subscriptions,
        allowLoopbackHttp: true,
        logger: { warn() {} },
        // No retry: a failed attempt fails the delivery.
        options: { retryDelaysMs: [], timeoutMs: 400, pollMs: 50, clock: () => Date.now() + ahead },
      });
    });
    after(async () => {
      await worker.stop();
      await Promise.all([ok.stop(), failing.stop()]);
      await close();
    });

    test('delivered events go after 7 days, failed ones after 30, pending ones never', async () => {
      const now = Date.now();
      for (const endpointId of ['ok', 'failing', 'paused']) {
        await db
          .insertInto('webhook_deliveries')
          .values(
            outboxRows([endpointId], { id: `evt_${endpointId}`, type: 'ping', conversationId: null, body: '{}', now }),
          )
          .execute();
      }
      const statuses = async () =>
        Object.fromEntries(
          (await db.selectFrom('webhook_deliveries').select(['endpoint_id', 'status']).execute()).map((row) => [
            row.endpoint_id,
            row.status,
          ]),
        );
      worker.start();
      const settled = { ok: 'delivered', failing: 'failed', paused: 'pending' };
      await until(statuses, (rows) => rows.ok === 'delivered' && rows.failing === 'failed', 'both settled');

      ahead = 7 * DAY - MINUTE;
      await worker.prune();
      assert.deepEqual(await statuses(), settled, 'nothing is 7 days old yet');

      ahead = 7 * DAY + MINUTE;
      await worker.prune();
      assert.deepEqual(await statuses(), { failing: 'failed', paused: 'pending' });

      ahead = 30 * DAY + MINUTE;
      await worker.prune();
      assert.deepEqual(await statuses(), { paused: 'pending' });
    });
  });
}
