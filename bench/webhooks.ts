import { testDialects } from '../test/helpers/databases.ts';
import { openConversation } from '../test/helpers/rest.ts';
import { startTestApp, type TestApp } from '../test/helpers/test-app.ts';
import { startReceiver } from '../test/helpers/webhook-receiver.ts';
import { Histogram } from './lib/histogram.ts';

/**
 * Webhooks on MySQL/MariaDB (docs/WEBHOOKS.md). Standalone, not part of
 * `npm run bench`; in-process servers as the tests start them (DEBUG=True so
 * a loopback http receiver is allowed, silent logs):
 *
 *   TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test node bench/webhooks.ts [seconds] [concurrency]
 *
 * 1. REST sends, closed loop at `concurrency` over 64 conversations, on an
 *    instance without a delivery worker: with no endpoint, then with one
 *    endpoint subscribed to message.created (outbox rows in the send
 *    transaction): msg/s of each and their ratio.
 * 2. Delivery rate: a second instance drains that backlog to a loopback
 *    receiver: events/s.
 * 3. Latency: 4 sends in flight on the delivering instance: ack → receipt
 *    at the receiver, p50/p99 (the commit is just before the ack). Events
 *    committed by another instance wait for its poll (1 s) instead.
 * Generators, servers and receiver share one Node process: a lower bound.
 */

const seconds = Number(process.argv[2] ?? 10);
const concurrency = Number(process.argv[3] ?? 32);
const dialect = testDialects.find((d) => d.name === 'mysql');
if (!dialect) throw new Error('set TEST_MYSQL_URL');

type Pair = { token: string; conversation: string };
async function fixture(app: TestApp): Promise<{ admin: string; pairs: Pair[] }> {
  const admin = await app.addUser('a1', 'admin');
  const pairs: Pair[] = [];
  for (let i = 0; i < 64; i += 1) {
    const token = await app.addUser(`b${i}`, 'buyer');
    await app.addUser(`m${i}`, 'merchant');
    pairs.push({ token, conversation: await openConversation(app, token, `b${i}`, `m${i}`) });
  }
  return { admin, pairs };
}

// Quotas out of the way: the figure is the service's, not the per-user send budget's.
const unlimited = { quotas: { sendBurst: 1e9, sendPerSecond: 1e9 } };
// The instance that takes the sends runs no delivery worker: its figures are the send path's alone.
const writer = await startTestApp(dialect, {
  env: { DEBUG: 'True' },
  server: { ...unlimited, webhookDelivery: { enabled: false } },
});
const { admin, pairs } = await fixture(writer);

async function sendLoop(via: TestApp, ms: number, acks?: Map<string, number>, inFlight = concurrency) {
  const deadline = performance.now() + ms;
  let sent = 0;
  let errors = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        const pair = pairs[next++ % pairs.length] as Pair;
        const response = await via.client.post('/api/messages/', {
          token: pair.token,
          body: { conversation_id: pair.conversation, content: `bench ${sent}` },
        });
        if (response.status !== 201) errors += 1;
        else {
          sent += 1;
          acks?.set(response.body.id, Date.now());
        }
      }
    }),
  );
  return { perSecond: sent / (ms / 1000), sent, errors };
}

const warm = await sendLoop(writer, 2_000);
const bare = await sendLoop(writer, seconds * 1000);
console.log(
  `no endpoint: ${bare.perSecond.toFixed(0)} msg/s (${bare.sent} sent, ${bare.errors} errors; warm-up ${warm.sent})`,
);

const receiver = await startReceiver();
const receipts = new Map<string, number>();
receiver.respondWith((request) => {
  const body = JSON.parse(request.body);
  if (body.type === 'message.created') receipts.set(body.data.message.id, request.at);
  return 204;
});
const created = await writer.client.post('/api/webhooks', {
  token: admin,
  body: { url: receiver.url, events: ['message.created'] },
});
if (created.status !== 201) throw new Error(JSON.stringify(created.body));
const outbox = await sendLoop(writer, seconds * 1000);
console.log(
  `one endpoint subscribed (outbox rows in the send transaction, no delivery in this process meanwhile): ${outbox.perSecond.toFixed(0)} msg/s (${outbox.sent} sent, ${outbox.errors} errors) = ${(outbox.perSecond / bare.perSecond).toFixed(3)}× no endpoint`,
);

// Delivery rate: a second instance drains what the first queued.
const drainStart = performance.now();
const reader = await startTestApp(dialect, { env: { DEBUG: 'True' }, sharedDatabase: writer.scratch.urlString });
await receiver.waitFor(() => receipts.size >= outbox.sent, 'the backlog', 300_000);
const drainMs = performance.now() - drainStart;
console.log(
  `delivery rate: ${outbox.sent} queued events delivered in ${(drainMs / 1000).toFixed(1)} s = ${(outbox.sent / (drainMs / 1000)).toFixed(0)} events/s (one instance, 64 in flight, 64 conversations, loopback receiver answering 204)`,
);

// Live, below saturation (4 sends in flight), on the delivering instance (woken by its own commits); ack → receipt.
const acks = new Map<string, number>();
const live = await sendLoop(reader, seconds * 1000, acks, 4);
await receiver.waitFor(() => [...acks.keys()].every((id) => receipts.has(id)), 'every event', 120_000);
const latency = new Histogram();
for (const [id, ack] of acks) latency.recordMs(Math.max(0, (receipts.get(id) as number) - ack));
const lag = latency.summary();
console.log(
  `live at 4 sends in flight on the delivering instance: ${live.perSecond.toFixed(0)} msg/s; ack → receipt p50 ${lag.p50} ms, p99 ${lag.p99} ms, max ${lag.max} ms`,
);
await reader.close();
await writer.close();
await receiver.stop();
