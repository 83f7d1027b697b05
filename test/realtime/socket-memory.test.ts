/**
 * Issue 12, item 14: what an idle socket keeps. An open WebSocket lives for
 * hours; the HTTP objects of its upgrade (IncomingMessage, ServerResponse,
 * Fastify's Request and Reply, the headers, the URL with its token) must be
 * collectable once the socket is open, not carried per socket for its life
 * (they were about 3 KB of heap per socket). Checked with weak references and
 * forced garbage collection, not by measuring memory: the figures are in the
 * benchmark (bench/scenarios/idle.ts).
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import { testDialects } from '../helpers/databases.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Full collections until `ref` is cleared (a WeakRef's target survives the job that created it). */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let round = 0; round < 5 && ref.deref() !== undefined; round++) {
    await nextTurn();
    gc();
  }
  return ref.deref() === undefined;
}

const sqlite = testDialects.find((dialect) => dialect.name === 'sqlite');

describe('an open WebSocket does not keep its upgrade request', () => {
  let app: TestApp;
  before(async () => {
    assert.ok(sqlite);
    app = await startTestApp(sqlite);
  });
  after(() => app.close());

  test('the upgrade’s IncomingMessage is collected while the socket stays open and served', async () => {
    const token = await app.addUser('b1', 'buyer');
    const upgrades: WeakRef<IncomingMessage>[] = [];
    const remember = (request: IncomingMessage) => upgrades.push(new WeakRef(request));
    app.server.app.server.on('upgrade', remember);
    const url = `${app.server.url.replace(/^http/, 'ws')}/api/ws/b1?token=${token}`;
    const ws = new WebSocket(url);
    try {
      const events: { type: string }[] = [];
      ws.on('message', (data) => events.push(JSON.parse(String(data))));
      await new Promise<void>((resolve, reject) => {
        ws.once('error', reject);
        ws.on('message', () => {
          if (events.some((event) => event.type === 'online_users')) resolve();
        });
      });
      app.server.app.server.off('upgrade', remember);
      assert.equal(upgrades.length, 1);
      const [upgrade] = upgrades;
      assert.ok(upgrade);
      assert.equal(await collected(upgrade), true, 'the upgrade request is still reachable from the open socket');

      // The socket is still open and answers.
      const pong = new Promise<void>((resolve) =>
        ws.on('message', (data) => {
          if (JSON.parse(String(data)).type === 'pong') resolve();
        }),
      );
      ws.send(JSON.stringify({ type: 'ping' }));
      await pong;
      assert.equal(app.server.realtime.registry.size, 1);
    } finally {
      ws.close();
    }
  });
});
