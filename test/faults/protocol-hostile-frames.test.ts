/**
 * Issue 6, case 8: hostile frames. 10,197 malformed frames over 341 sockets
 * of ten hostile users: bad JSON, not-an-object, unknown and prototype-named
 * types, huge numbers, deep nesting (up to 30,000 levels), wrong field types,
 * oversized fields, binary frames, lone surrogates, frames to conversations
 * that do not exist or with content the service refuses; and, as the last
 * frame on some sockets, invalid UTF-8 in a text frame, a frame (or a
 * fragmented message) over 64 KiB, or a flood past the rate limit.
 *
 * The per-connection rate limit is left at its defaults (burst 30, 10/s):
 * the frames are spread over enough sockets that each sends at most its
 * burst of 30, except the four that flood on purpose. The sockets fire one
 * after another, 10 ms apart, over ~3.4 s (≈3,000 frames/s at the server);
 * every eighth of them sends only the deeply nested frames.
 *
 * Pass, per socket: every frame got its own `error` event with the expected
 * error_type (in any order: parse errors are answered at once, service errors
 * after a database look-up), and the socket is still open; or the socket got
 * exactly its errors and then the close it earned: 1007 (invalid UTF-8), 1009
 * (over 64 KiB) or 1008 (after 20 `rate_limited`). The server answers
 * /api/health and a bystander's send is acked and delivered afterwards.
 *
 * The hostile clients run in a worker thread (helpers/protocol-attacker.ts),
 * so their own work is not measured as the server's. Meanwhile a bystander in
 * the main thread pings (12 sockets in turn, ~80 pings/s in all, under their
 * own limit); its ping→pong p50/p99 before and during the attack are reported
 * as diagnostics, never asserted: a wall-clock bound failed once on a loaded
 * shared machine, and timing goals belong in bench/.
 *
 * Defect found: JSON.parse spends ~2 ms on 60 KiB of nested brackets (~40×
 * a flat frame of the same size), so those frames alone drove the bystander's
 * p99 to ~65 ms; the gateway now refuses frames nested deeper than 32 levels
 * before parsing them (packages/contracts/src/ws/frame-parser.ts), and p99 stays at a few ms.
 * The test checks the cause instead of the clock: the server (this process)
 * never hands a frame nested deeper than MAX_FRAME_DEPTH to JSON.parse.
 *
 * Extends test/realtime/limits.test.ts (one frame of each kind on one socket;
 * 1009 and 1008 once) to volume, the remaining kinds and the latency bound.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { MAX_FRAME_DEPTH, nestsDeeperThan, parseClientFrame } from '@cs-chat/contracts/ws/frame-parser';
import { type RealtimeTestApp, startRealtimeApp, type TestSocket } from '../realtime/helpers.ts';
import { percentile } from './helpers/protocol-app.ts';
import type { AttackerInput, SocketOutcome } from './helpers/protocol-attacker.ts';
import { buildPlans, expectedClose, expectedErrors, framesOf, HOSTILE_USERS } from './helpers/protocol-hostile.ts';

const SPACING_MS = 10;

/**
 * Wraps JSON.parse in this process (where the server under test runs; the
 * attacker is a worker thread with its own) to count the texts nested deeper
 * than MAX_FRAME_DEPTH it is given, and the long texts it scanned.
 */
function countDeepParses(): { count: number; scanned: number; restore(): void } {
  const original = JSON.parse;
  const counter = {
    count: 0,
    scanned: 0,
    restore: () => {
      JSON.parse = original;
    },
  };
  JSON.parse = (text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    // Shorter text cannot nest deeper than the limit.
    if (typeof text === 'string' && text.length > MAX_FRAME_DEPTH) {
      counter.scanned += 1;
      if (nestsDeeperThan(text, MAX_FRAME_DEPTH)) counter.count += 1;
    }
    return original(text, reviver);
  };
  return counter;
}

describe('hostile frames (case 8)', () => {
  let app: RealtimeTestApp;
  let bystanderToken: string;
  let merchantToken: string;
  let bystanderConversation: string;
  let attacker: Worker | undefined;
  const hostileTokens: string[] = [];
  const hostileConversations: string[] = [];

  before(async () => {
    // Hundreds of hostile sockets of ten users, all from 127.0.0.1 at once: the per-user and
    // per-address socket allowances are tested elsewhere (realtime/quotas, edge-limits), not here.
    app = await startRealtimeApp({
      quotas: { newSocketsPerAddress: 100_000, socketsPerUser: 1_000 },
      edgeLimits: { maxConnectionsPerAddress: 100_000 },
    });
    bystanderToken = await app.addUser('b1', 'buyer');
    merchantToken = await app.addUser('m1', 'merchant');
    bystanderConversation = await app.conversation(bystanderToken, 'b1', 'm1');
    await app.addUser('hm', 'merchant');
    for (let i = 0; i < HOSTILE_USERS; i++) {
      const token = await app.addUser(`h${i}`, 'buyer');
      hostileTokens.push(token);
      hostileConversations.push(await app.conversation(token, `h${i}`, 'hm'));
    }
  });
  after(async () => {
    await attacker?.terminate();
    await app.close();
  });

  /** Sequential ping→pong round trips over a pool of sockets, one every `spacingMs`, while `more()` holds. */
  async function pingLoop(pool: TestSocket[], more: (count: number) => boolean, spacingMs = 10): Promise<number[]> {
    const samples: number[] = [];
    for (let i = 0; more(samples.length); i++) {
      const socket = pool[i % pool.length] as TestSocket;
      const since = socket.events.length;
      const started = performance.now();
      socket.send({ type: 'ping' });
      await socket.waitFor('pong', since);
      samples.push(performance.now() - started);
      // Pacing under the bystander's own rate limit, not synchronisation.
      await delay(spacingMs);
    }
    return samples;
  }

  test('10,000 malformed frames: each answered or closed as it should be; no crash; nothing deeply nested is parsed', async (t) => {
    const plans = buildPlans(hostileConversations);
    const totalFrames = plans.reduce((sum, { plan }) => sum + framesOf(plan), 0);
    assert.ok(totalFrames >= 10_000, `${totalFrames} frames`);

    const workerInput: AttackerInput = {
      url: app.url,
      tokens: hostileTokens,
      conversations: hostileConversations,
      spacingMs: SPACING_MS,
    };
    const worker = new Worker(new URL('./helpers/protocol-attacker.ts', import.meta.url), { workerData: workerInput });
    attacker = worker;
    const messages: { type: string; [field: string]: any }[] = [];
    const waiters = new Set<() => void>();
    worker.on('message', (message) => {
      messages.push(message);
      for (const waiter of waiters) waiter();
    });
    const failed = new Promise<never>((_, reject) => worker.once('error', reject));
    const fromWorker = (type: string) =>
      Promise.race([
        failed,
        new Promise<{ type: string; [field: string]: any }>((resolve) => {
          const check = () => {
            const found = messages.find((m) => m.type === type);
            if (found) {
              waiters.delete(check);
              resolve(found);
            }
          };
          waiters.add(check);
          check();
        }),
      ]);

    const ready = await fromWorker('ready');
    assert.equal(ready.sockets, plans.length);
    assert.equal(ready.frames, totalFrames);
    assert.equal(app.realtime.registry.size, plans.length);
    const bystanders = await Promise.all(Array.from({ length: 12 }, () => app.connect('b1', bystanderToken)));
    const receiver = await app.connect('m1', merchantToken);

    const baseline = await pingLoop(bystanders, (n) => n < 150);

    const deepParses = countDeepParses();
    t.after(() => deepParses.restore());
    let attackRunning = true;
    worker.postMessage('go');
    const during = pingLoop(bystanders, () => attackRunning);
    const done = await fromWorker('done');
    attackRunning = false;
    const attackSamples = await during;
    deepParses.restore();
    const outcomes = done.outcomes as SocketOutcome[];

    // Every frame was answered as it should be, or the socket was closed with the code it earned.
    const failures: string[] = [];
    plans.forEach(({ plan }, i) => {
      const outcome = outcomes[i] as SocketOutcome;
      const where = `socket ${i} (${plan.kind})`;
      if (outcome.timedOut) failures.push(`${where}: timed out`);
      if (outcome.others.length > 0) failures.push(`${where}: unexpected ${outcome.others.join(', ')}`);
      if (outcome.withoutDetail > 0) failures.push(`${where}: ${outcome.withoutDetail} errors without detail`);
      const missing = expectedErrors(plan);
      const extra: string[] = [];
      for (const type of outcome.errorTypes) {
        const at = missing.indexOf(type);
        if (at >= 0) missing.splice(at, 1);
        else extra.push(type);
      }
      if (missing.length + extra.length > 0) {
        failures.push(`${where}: missing ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)}`);
      }
      const wantClose = expectedClose(plan);
      if (outcome.closeCode !== wantClose) failures.push(`${where}: closed ${outcome.closeCode}, want ${wantClose}`);
      if (wantClose === undefined && !outcome.openAtEnd) failures.push(`${where}: not open at the end`);
    });
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} sockets failed`);

    // No crash: the server still answers, and a bystander's message is acked and delivered.
    assert.equal((await app.client.get('/api/health')).status, 200);
    const sender = bystanders[0] as TestSocket;
    sender.send({
      type: 'message',
      conversation_id: bystanderConversation,
      content: 'after the storm',
      client_msg_id: 'calm-1',
    });
    const ack = await sender.waitFor((e) => e.type === 'ack' && e.client_msg_id === 'calm-1');
    const delivered = await receiver.waitFor((e) => e.type === 'message' && e.client_msg_id === 'calm-1');
    assert.equal(delivered.id, ack.id);

    // The cost the attack could impose: a deeply nested frame reaching JSON.parse (~2 ms each).
    assert.equal(deepParses.count, 0, `${deepParses.count} frames nested deeper than ${MAX_FRAME_DEPTH} were parsed`);
    assert.ok(deepParses.scanned > 0, 'the long hostile frames went through the counting JSON.parse');
    const base = percentile(baseline, 99);
    const attack = percentile(attackSamples, 99);
    t.diagnostic(
      `${totalFrames} frames over ${plans.length} sockets in ${Number(done.elapsedMs).toFixed(0)} ms; bystander ` +
        `ping→pong p99 ${base.toFixed(2)} ms before (${baseline.length} samples), ${attack.toFixed(2)} ms during ` +
        `(${attackSamples.length} samples, p50 ${percentile(attackSamples, 50).toFixed(2)} ms); not asserted (timing)`,
    );
    assert.ok(attackSamples.length >= 1, 'the bystander was answered during the attack');
  });

  test('the nesting guard counts brackets outside strings only, and lets real frames through', () => {
    assert.equal(nestsDeeperThan('[[[]]]', 2), true);
    assert.equal(nestsDeeperThan('[[]]', 2), false);
    assert.equal(nestsDeeperThan('"[[[[[["', 2), false, 'inside a string');
    assert.equal(nestsDeeperThan('"\\"[[[["', 2), false, 'an escaped quote does not end the string');
    assert.equal(nestsDeeperThan('["\\\\"[[', 2), true, 'an escaped backslash does not escape the quote after it');
    assert.equal(nestsDeeperThan('["\\\\"]', 1), false);
    // A long message full of brackets is a normal frame.
    const brackets = JSON.stringify({ type: 'message', conversation_id: 'c1', content: '[{'.repeat(2000) });
    assert.ok(parseClientFrame(brackets).ok);
    // A known frame with a modestly nested extra field (older clients) is still accepted.
    const extra = { type: 'message', conversation_id: 'c1', content: 'hi', meta: { a: { b: { c: [1, [2]] } } } };
    const padded = JSON.stringify({ ...extra, pad: 'x'.repeat(2000) });
    assert.ok(parseClientFrame(padded).ok);
    const deep = `{"type":"ping","x":${'['.repeat(MAX_FRAME_DEPTH)}${']'.repeat(MAX_FRAME_DEPTH)},"pad":"${'x'.repeat(2000)}"}`;
    assert.deepEqual(parseClientFrame(deep), { ok: false, errorType: 'invalid_frame' });
  });
});
