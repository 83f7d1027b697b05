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
 * Pass, counted in heartbeats rather than measured on the clock (a 100 ms
 * tolerance for timer lateness was a timing bound a loaded machine could
 * break): the raw peer receives at most one ping after it went silent, i.e.
 * the first heartbeat that finds a ping unanswered drops it, within two
 * intervals; the partitioned client (which sees nothing) is dropped and its
 * contact told. The elapsed times are reported as diagnostics. Extends
 * test/realtime/limits.test.ts ("a peer that does not answer protocol pings is
 * dropped", a `ws` client with autoPong off from the start) with a peer that
 * was alive first, and a partition.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { type RealtimeTestApp, startRealtimeApp, TestSocket } from '../realtime/helpers.ts';
import { rawUpgrade } from './helpers/protocol-raw.ts';

const HEARTBEAT_MS = 250;

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

  test('a raw client that answered pings, then stops answering, is dropped at the next unanswered heartbeat; its contact sees it offline', async (t) => {
    const watcher = await app.connect('m1', merchant);
    const peer = await rawUpgrade(app.url, '/api/ws/b1', { authorization: `Bearer ${buyer}` });
    assert.equal(peer.answer.status, 101);
    await watcher.waitFor(isStatus('online'));
    // Alive: three pings answered and still registered (the pongs of a hand-made client count).
    await peer.until(() => peer.pings >= 3, 'three pings');
    assert.equal(app.realtime.registry.ofUser('b1').length, 1);

    peer.answerPings = false;
    const pingsWhenSilent = peer.pings;
    const silentAt = performance.now();
    const since = watcher.events.length;
    await watcher.waitFor(isStatus('offline'), since);
    const elapsed = performance.now() - silentAt;
    t.diagnostic(
      `offline announced ${elapsed.toFixed(0)} ms after the peer went silent (heartbeat ${HEARTBEAT_MS} ms)`,
    );
    // A ping sent just before the silence, or the one the next heartbeat sends, goes unanswered;
    // the heartbeat after that finds it so and drops the peer: never a second ping after the silence.
    assert.ok(peer.pings - pingsWhenSilent <= 1, `${peer.pings - pingsWhenSilent} pings after the silence`);
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
    t.diagnostic(`offline announced ${elapsed.toFixed(0)} ms after the partition (heartbeat ${HEARTBEAT_MS} ms)`);
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
