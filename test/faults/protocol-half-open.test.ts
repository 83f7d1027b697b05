/**
 * Issue 6, case 10: half-open connections. A peer that disappears without a
 * close is dropped by the heartbeat within two heartbeat intervals of going
 * silent, and its contact is told it went offline. Two ways of disappearing:
 *
 * - a raw TCP client that completed the upgrade and answered pings (so it
 *   counts as alive), then stops answering while its TCP connection stays up;
 * - a real `ws` client behind a TCP forwarder that starts swallowing every byte
 *   both ways (test/helpers/tcp-proxy.ts `hang`: a network partition). The
 *   client never learns; the server must.
 *
 * The heartbeat is shortened to 250 ms through startServer's realtimeLimits.
 * Pass: the contact's `status` offline arrives at most 2 × 250 ms after the
 * silence began, plus 100 ms for timer lateness and delivery on a loaded
 * 2-core machine (the drop itself happens on a heartbeat tick, which a busy
 * event loop may run a little late). Extends test/realtime/limits.test.ts ("a
 * peer that does not answer protocol pings is dropped", a `ws` client with
 * autoPong off from the start, no time bound) with a peer that was alive first,
 * a partition, and the bound.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { type RealtimeTestApp, startRealtimeApp, TestSocket } from '../realtime/helpers.ts';
import { rawUpgrade } from './helpers/protocol-raw.ts';

const HEARTBEAT_MS = 250;
const TOLERANCE_MS = 100;
const BOUND_MS = 2 * HEARTBEAT_MS + TOLERANCE_MS;

describe('half-open connections (case 10)', () => {
  let app: RealtimeTestApp;
  let buyer: string;
  let merchant: string;
  let proxy: TcpProxy | undefined;

  before(async () => {
    app = await startRealtimeApp({ limits: { heartbeatIntervalMs: HEARTBEAT_MS } });
    buyer = await app.addUser('b1', 'buyer');
    merchant = await app.addUser('m1', 'merchant');
    await app.conversation(buyer, 'b1', 'm1');
  });
  after(async () => {
    await proxy?.close();
    await app.close();
  });

  const isStatus = (status: 'online' | 'offline') => (e: { type: string; [k: string]: any }) =>
    e.type === 'status' && e.user_id === 'b1' && e.status === status;

  test('a raw client that answered pings, then stops answering, is dropped within two intervals; its contact sees it offline', async (t) => {
    const watcher = await app.connect('m1', merchant);
    const peer = await rawUpgrade(app.url, '/api/ws/b1', { authorization: `Bearer ${buyer}` });
    assert.equal(peer.answer.status, 101);
    await watcher.waitFor(isStatus('online'));
    // Alive: three pings answered and still registered (the pongs of a hand-made client count).
    await peer.until(() => peer.pings >= 3, 'three pings');
    assert.equal(app.realtime.registry.ofUser('b1').length, 1);

    peer.answerPings = false;
    const silentAt = performance.now();
    const since = watcher.events.length;
    await watcher.waitFor(isStatus('offline'), since);
    const elapsed = performance.now() - silentAt;
    t.diagnostic(`offline announced ${elapsed.toFixed(0)} ms after the peer went silent (bound ${BOUND_MS} ms)`);
    assert.ok(elapsed <= BOUND_MS, `${elapsed.toFixed(0)} ms > ${BOUND_MS} ms`);
    assert.equal(app.realtime.registry.ofUser('b1').length, 0);
    // The server closed the TCP connection itself (terminate: no close frame).
    await peer.gone;
    assert.equal(peer.closeCode, undefined);
    await watcher.close();
  });

  test('a network partition (no byte either way) is noticed by the server; the client is none the wiser', async (t) => {
    const watcher = await app.connect('m1', merchant);
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(app.url).port) });
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/api/ws/b1`, {
      headers: { authorization: `Bearer ${buyer}` },
    });
    const client = new TestSocket(ws);
    await client.waitFor('online_users');
    await watcher.waitFor(isStatus('online'));
    let pings = 0;
    await new Promise<void>((resolve) =>
      ws.on('ping', () => {
        pings += 1;
        if (pings === 2) resolve();
      }),
    );

    proxy.cut('hang');
    const cutAt = performance.now();
    const since = watcher.events.length;
    await watcher.waitFor(isStatus('offline'), since);
    const elapsed = performance.now() - cutAt;
    t.diagnostic(`offline announced ${elapsed.toFixed(0)} ms after the partition (bound ${BOUND_MS} ms)`);
    assert.ok(elapsed <= BOUND_MS, `${elapsed.toFixed(0)} ms > ${BOUND_MS} ms`);
    assert.equal(app.realtime.registry.ofUser('b1').length, 0);
    assert.equal(ws.readyState, WebSocket.OPEN, 'half-open: the client side still believes it is connected');
    ws.terminate();
    await proxy.close();
    proxy = undefined;
    // The server carries on: a new connection of the same user is announced online again.
    const back = await app.connect('b1', buyer);
    await watcher.waitFor(isStatus('online'), since);
    await Promise.all([back.close(), watcher.close()]);
  });
});
