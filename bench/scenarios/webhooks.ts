import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Insertable } from 'kysely';
import type { WebhookDeliveriesTable } from '../../src/db/types.ts';
import { eventBody, newEventId, outboxRows } from '../../src/modules/webhooks/webhook-outbox.ts';
import type { BenchContext } from '../lib/context.ts';
import { cpuLine, diagnose } from '../lib/diagnose.ts';
import { Histogram, type HistogramData, round } from '../lib/histogram.ts';
import { adminId, ensurePairs, profileClosedLoop } from './pairs.ts';
import { combineListeners, combinePairs, type FloorRun, type ListenRun, type PairsRun, split } from './results.ts';
import { SUSTAINED_P99_MS } from './send.ts';

/**
 * Webhooks (docs/WEBHOOKS.md) on the production-configured service:
 *
 * 1. Durable send with one endpoint subscribed to message.created: the send
 *    scenario's closed loop (WS sends, recipient and 10 admins online) while
 *    the service writes an outbox row in every send transaction AND delivers
 *    them to an HTTPS receiver on loopback, beside its floor: the send
 *    transaction's statements on bare mysql2 as the service issues them with
 *    an endpoint subscribed (its claim also telling the recipient's unread
 *    count) plus the outbox INSERT (recorded from the real hook), written for
 *    an endpoint no worker delivers to.
 * 2. Commit → receipt at each concurrency: the event's `timestamp` (taken in
 *    the send transaction, just before the commit) to the receiver's receipt.
 * 3. Delivery rate: a backlog of events committed at once (one transaction,
 *    spread over the pairs' conversations), drained by the service's worker:
 *    events/s from the first receipt to the last.
 *
 * The receiver is HTTPS, as production endpoints must be: a self-signed
 * certificate for 127.0.0.1 made with openssl, which a fresh service trusts
 * through NODE_EXTRA_CA_CERTS; the endpoint is registered with
 * allow_private_network (loopback). It answers 204 without verifying.
 */

const RECEIVER_KEY = 'webhook-receiver-key.pem';
/** The endpoint the floor writes its outbox rows for: none such exists, so no worker delivers them. */
const FLOOR_ENDPOINT = 'bench-floor-endpoint';
const RECEIVER_CERT = 'webhook-receiver-cert.pem';

interface ReceiverReport {
  inWindow: number;
  windowMs: number;
  latency: HistogramData;
  received: number;
  duplicates: number;
  loopDelay: { p99: number; max: number };
}

function makeCertificate(dir: string): { keyPath: string; certPath: string } {
  const keyPath = join(dir, RECEIVER_KEY);
  const certPath = join(dir, RECEIVER_CERT);
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=127.0.0.1'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1'],
    ],
    { stdio: 'ignore' },
  );
  return { keyPath, certPath };
}

async function api(url: string, token: string, method: string, body?: unknown): Promise<any> {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function runWebhooks(ctx: BenchContext): Promise<void> {
  const plan = ctx.plan.webhooks;
  const tls = makeCertificate(ctx.runDir);
  const service = await ctx.ensureService({ fresh: true, env: { NODE_EXTRA_CA_CERTS: tls.certPath } });
  const fixture = await ensurePairs(ctx);
  const receiver = ctx.startWorker('receiver', 'workers/webhook-receiver.ts');
  const { port } = await receiver.call<{ port: number }>('init', tls);
  const admin = await ctx.token(adminId(0), 'admin');
  const endpoint = await api(`${service.url}/api/webhooks`, admin, 'POST', {
    url: `https://127.0.0.1:${port}/hooks`,
    events: ['message.created'],
    allow_private_network: true,
    description: 'bench receiver',
  });
  ctx.log('webhooks', `endpoint ${endpoint.id} → https://127.0.0.1:${port}/hooks (message.created)`);
  // The floor writes its outbox rows for an endpoint that does not exist: the same statements, nobody delivers them.
  const floor = ctx.startWorker('floor', 'workers/mysql-floor.ts');
  await floor.call('init', {
    mysqlUrl: ctx.db.url,
    conversations: fixture.conversations,
    webhookEndpoints: [FLOOR_ENDPOINT],
  });
  const outboxCount = async () =>
    Number(
      (
        await ctx.db.db
          .selectFrom('webhook_deliveries')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('endpoint_id', '=', endpoint.id)
          .executeTakeFirstOrThrow()
      ).n,
    );
  const generators = [...fixture.pairWorkers, ...fixture.adminWorkers, receiver];
  const steps: any[] = [];
  try {
    for (const concurrency of plan.concurrencies) {
      const perWorker = split(concurrency, fixture.pairWorkers.length);
      const window = { warmupMs: plan.warmupMs, durationMs: plan.durationMs };
      const svc = await ctx.window({ ...window, pids: ctx.pids(generators) }, (startAt) =>
        Promise.all([
          Promise.all(
            fixture.pairWorkers.map((worker, i) =>
              (perWorker[i] ?? 0) > 0
                ? worker.call<PairsRun>('closed', { concurrency: perWorker[i], startAt, ...window })
                : null,
            ),
          ),
          Promise.all(fixture.adminWorkers.map((worker) => worker.call<ListenRun>('measure', { startAt, ...window }))),
          receiver.call('measure', { startAt, ...window }),
        ]),
      );
      // Every event of the step delivered before the next (and before its receipts are read).
      const committed = await outboxCount();
      const drained = await receiver.call<{ received: number }>('waitFor', { count: committed, maxMs: 120_000 });
      const received = await receiver.call<ReceiverReport>('report');
      const [pairRuns, adminRuns] = svc.result;
      const sends = combinePairs(pairRuns.filter((r): r is PairsRun => r !== null));
      const admins = combineListeners(adminRuns);
      const commitToReceipt = Histogram.from(received.latency).summary();
      const sustained =
        sends.completed > 0 &&
        (sends.deliver.p99 ?? Infinity) < SUSTAINED_P99_MS &&
        (admins.latency.p99 ?? Infinity) < SUSTAINED_P99_MS &&
        sends.errorCount === 0 &&
        sends.lost === 0;
      ctx.log(
        'webhooks',
        `c=${concurrency} service ${round(sends.perSecond, 0)} msg/s, deliver p99 ${sends.deliver.p99} ms, admins p99 ${admins.latency.p99} ms; webhooks ${round(received.inWindow / (received.windowMs / 1000), 0)}/s received in the window, commit → receipt p50 ${commitToReceipt.p50} p99 ${commitToReceipt.p99} ms; ${drained.received}/${committed} delivered after the step${sustained ? '' : ' [not sustained]'}; ${cpuLine(svc.cpu)}`,
      );

      const bare = await ctx.window(
        { warmupMs: plan.warmupMs, durationMs: plan.floorDurationMs, pids: ctx.pids([floor]) },
        (startAt) =>
          floor.call<FloorRun>('closed', {
            concurrency,
            startAt,
            warmupMs: plan.warmupMs,
            durationMs: plan.floorDurationMs,
          }),
      );
      // Gone before the service runs again: rows no worker delivers would only grow the table it claims from.
      await ctx.db.db.deleteFrom('webhook_deliveries').where('endpoint_id', '=', FLOOR_ENDPOINT).execute();
      const floorRate = bare.result.completed / (bare.result.windowMs / 1000);
      const floorLatency = Histogram.from(bare.result.latency).summary();
      ctx.log(
        'webhooks',
        `c=${concurrency} floor (send + outbox statements) ${round(floorRate, 0)} tx/s, p50 ${floorLatency.p50} p99 ${floorLatency.p99} ms${bare.result.errors ? `, errors ${bare.result.errors}` : ''}; ${cpuLine(bare.cpu)}`,
      );
      steps.push({
        concurrency,
        service: {
          messagesPerSecond: round(sends.perSecond, 1),
          completed: sends.completed,
          deliver: sends.deliver,
          ack: sends.ack,
          admins: { deliveriesPerSecond: round(admins.perSecond, 1), latency: admins.latency },
          errors: sends.errors,
          lost: sends.lost,
          sustained,
          cpu: svc.cpu,
          db: svc.db,
          serverLoopDelay: svc.serverLoopDelay,
          statementsPerMessage: sends.completed ? round((svc.db.Questions ?? 0) / sends.completed, 2) : null,
          limitedBy: diagnose(svc, {
            operations: sends.completed,
            generatorLoopDelayP99: Math.max(sends.generatorLoopDelayP99, admins.generatorLoopDelayP99),
          }),
        },
        webhooks: {
          receivedPerSecondInWindow: round(received.inWindow / (received.windowMs / 1000), 1),
          commitToReceipt,
          committedSoFar: committed,
          deliveredAfterStep: drained.received,
          duplicates: received.duplicates,
          receiverLoopDelay: received.loopDelay,
        },
        floor: {
          transactionsPerSecond: round(floorRate, 1),
          latency: floorLatency,
          errors: bare.result.errors,
          cpu: bare.cpu,
          statementsPerTransaction: bare.result.completed
            ? round((bare.db.Questions ?? 0) / bare.result.completed, 2)
            : null,
        },
      });
    }

    const best = steps
      .filter((s) => s.service.sustained)
      .sort((a, b) => b.service.messagesPerSecond - a.service.messagesPerSecond)[0];
    const chosen = best ?? [...steps].sort((a, b) => b.service.messagesPerSecond - a.service.messagesPerSecond)[0];
    // Where the service's CPU goes with the endpoint subscribed: the sends and the delivery worker together.
    const profile = await profileClosedLoop(ctx, 'webhooks', fixture, chosen?.concurrency);

    const drain = await drainBacklog(ctx, receiver, endpoint.id, fixture.conversations, plan.backlog);
    const floorMax = [...steps].sort((a, b) => b.floor.transactionsPerSecond - a.floor.transactionsPerSecond)[0];
    ctx.results.webhooks = {
      sustainedP99Ms: SUSTAINED_P99_MS,
      receiver: 'HTTPS on loopback (self-signed, trusted via NODE_EXTRA_CA_CERTS), 204 at once, no verification',
      steps,
      drain,
      profile,
      plainSendMaximum: ctx.shared.sendMax ?? null,
    };
    if (chosen && floorMax) {
      const floorBest = floorMax.floor.transactionsPerSecond;
      const ratio = floorBest > 0 ? chosen.service.messagesPerSecond / floorBest : null;
      const plain = ctx.shared.sendMax
        ? `; ${round(chosen.service.messagesPerSecond / ctx.shared.sendMax, 3)}× the send scenario's maximum without an endpoint`
        : '';
      ctx.addFigure({
        scenario: 'webhooks',
        name: 'Durable send with one webhook endpoint subscribed to message.created (outbox row in the send transaction, delivered meanwhile)',
        value: `${chosen.service.messagesPerSecond} msg/s at c=${chosen.concurrency} (deliver p99 ${chosen.service.deliver.p99} ms)${best ? '' : ' — no level met p99 < 50 ms'}${plain}`,
        floor: `${floorBest} tx/s bare mysql2 send transaction (its claim telling the unread count) + the outbox INSERT, its best (at c=${floorMax.concurrency})`,
        ratio: ratio === null ? null : round(ratio, 3),
        goal: '≥ 0.7 of the floor',
        met: ratio !== null ? ratio >= 0.7 : false,
        limitedBy: chosen.service.limitedBy,
      });
      const lowest = steps[0];
      ctx.addFigure({
        scenario: 'webhooks',
        name: 'Webhook delivery to an HTTPS receiver on loopback (one instance, 64 in flight)',
        value: `${drain.eventsPerSecond} events/s draining ${drain.events} committed events; commit → receipt p99 ${lowest.webhooks.commitToReceipt.p99} ms at c=${lowest.concurrency} (${lowest.service.messagesPerSecond} msg/s), ${chosen.webhooks.commitToReceipt.p99} ms at c=${chosen.concurrency}`,
        floor: '—',
        ratio: null,
        goal: null,
        met: null,
        limitedBy: null,
      });
    }
  } finally {
    await api(`${service.url}/api/webhooks/${endpoint.id}`, admin, 'DELETE').catch(() => {});
    await Promise.all([floor.stop(), receiver.stop()]);
  }
}

/**
 * Commits `events` message.created events for the endpoint in one
 * transaction (in turn over the conversations, so each conversation's come
 * in order), then times the service's worker draining them: from the first
 * receipt to the last (the worker finds them at its next poll, within 1 s).
 */
async function drainBacklog(
  ctx: BenchContext,
  receiver: { call<T>(cmd: string, args?: unknown): Promise<T> },
  endpointId: string,
  conversations: { id: string; participant1: string; participant2: string }[],
  events: number,
) {
  const before = (await receiver.call<ReceiverReport>('report')).received;
  const now = Date.now();
  const rows: Insertable<WebhookDeliveriesTable>[] = [];
  for (let i = 0; i < events; i += 1) {
    const conversation = conversations[i % conversations.length] as (typeof conversations)[number];
    const seq = Math.floor(i / conversations.length) + 1;
    const body = eventBody('message.created', new Date(now), {
      message: {
        id: `bench-backlog-${i}`,
        conversation_id: conversation.id,
        seq,
        sender_id: conversation.participant1,
        content: `backlog message ${i} — 请问这件外套有 L 码吗？`,
        message_type: 'text',
        filename: null,
        client_msg_id: null,
        created_at: Math.floor(now / 1000),
      },
      recipient_id: conversation.participant2,
      recipient_online: false,
      recipient_unread: seq,
    });
    rows.push(
      ...outboxRows([endpointId], {
        id: newEventId(),
        type: 'message.created',
        conversationId: conversation.id,
        body,
        now,
      }),
    );
  }
  await receiver.call('mark');
  await ctx.db.db.transaction().execute(async (trx) => {
    for (let from = 0; from < rows.length; from += 1_000) {
      await trx
        .insertInto('webhook_deliveries')
        .values(rows.slice(from, from + 1_000))
        .execute();
    }
  });
  const done = await receiver.call<{ received: number; firstAt: number; lastAt: number }>('waitFor', {
    count: before + events,
    maxMs: 600_000,
  });
  const delivered = done.received - before;
  const seconds = (done.lastAt - done.firstAt) / 1000;
  const eventsPerSecond = seconds > 0 ? round((delivered - 1) / seconds, 0) : null;
  ctx.log(
    'webhooks',
    `backlog of ${events}: ${delivered} delivered in ${round(seconds, 1)} s from the first receipt = ${eventsPerSecond} events/s`,
  );
  return { events, delivered, seconds: round(seconds, 2), eventsPerSecond };
}
