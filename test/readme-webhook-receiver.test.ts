import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { jsonLines, NodeProcess } from './helpers/node-run.ts';
import { freePort, until } from './helpers/polling.ts';
import { openConversation, sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * The README's push-notification receiver, run as written: its code block
 * (with `sendPush` printing what it was asked, the port given and the
 * package resolved from this repository) in a child process, registered
 * as an endpoint. A message for an offline recipient becomes one push, one
 * for an online recipient none, and a forged request is refused.
 */

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

function readmeReceiver(): string {
  const block = [...README.matchAll(/```js\n([\s\S]*?)```/g)]
    .map((match) => match[1] ?? '')
    .find((code) => code.includes("from 'standardwebhooks'") && code.includes('recipient_online'));
  assert.ok(block, 'the README has the push-notification receiver');
  const listen = '.listen(8443)';
  assert.ok(block.includes(listen));
  return [
    'const sendPush = (...args) => console.log(JSON.stringify({ push: args }));',
    block
      .replace("from 'standardwebhooks'", `from '${import.meta.resolve('standardwebhooks')}'`)
      .replace(listen, '.listen(Number(process.env.PORT), () => console.log(JSON.stringify({ listening: true })))'),
  ].join('\n');
}

interface Line {
  push?: [string, string, string];
  listening?: boolean;
}

for (const dialect of testDialects) {
  describe(`the README's push-notification receiver (${dialect.name})`, () => {
    let app: TestApp;
    let tokens: Record<string, string>;
    let dir: string;
    let receiver: NodeProcess;
    let url: string;
    let endpointId: string;

    before(async () => {
      app = await startTestApp(dialect, { env: { DEBUG: 'True' } });
      tokens = await app.addUsers({ a1: 'admin', b1: 'buyer', m1: 'merchant' });
      const port = await freePort();
      url = `http://127.0.0.1:${port}/chat`;
      const created = await app.client.post('/api/webhooks', {
        token: tokens.a1,
        body: { url, events: ['message.created'] },
      });
      assert.equal(created.status, 201);
      endpointId = created.body.id;
      dir = mkdtempSync(join(tmpdir(), 'readme-receiver-'));
      writeFileSync(join(dir, 'receiver.mjs'), readmeReceiver());
      receiver = new NodeProcess([join(dir, 'receiver.mjs')], {
        cwd: dir,
        env: { CHAT_WEBHOOK_SECRET: created.body.secret, PORT: String(port) },
      });
      await until(
        () => jsonLines<Line>(receiver.stdout).some((line) => line.listening),
        (listening) => listening || !receiver.running,
        'the receiver to listen',
      );
      assert.ok(receiver.running, receiver.output);
    });
    after(async () => {
      receiver?.child.kill('SIGKILL');
      await receiver?.exited;
      rmSync(dir, { recursive: true, force: true });
      await app.close();
    });

    const pushes = () => jsonLines<Line>(receiver.stdout).flatMap((line) => (line.push ? [line.push] : []));

    test('an offline recipient gets a push, an online one none; a forged request is refused', async () => {
      const conversation = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
      await sendText(app, tokens.b1 as string, conversation, 'are you there?');
      const [push] = await until(pushes, (all) => all.length === 1, 'the push');
      assert.equal(push?.[0], 'm1');
      assert.equal(push?.[1], 'are you there?');
      assert.match(push?.[2] ?? '', /^evt_/);

      const socket = await app.connect('m1', tokens.m1 as string);
      try {
        const live = await sendText(app, tokens.b1 as string, conversation, 'seen live');
        // Its event is delivered (200 from the receiver), and it pushed nothing.
        const delivered = async () =>
          (
            await app.client.get<unknown[]>(`/api/webhooks/${endpointId}/deliveries?status=delivered`, {
              token: tokens.a1,
            })
          ).body;
        await until(delivered, (rows) => rows.length === 2, `the event of ${live.id} delivered`);
        assert.equal(pushes().length, 1);
      } finally {
        socket.close();
      }

      const forged = await fetch(url, {
        method: 'POST',
        headers: { 'webhook-id': 'evt_x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)) },
        body: JSON.stringify({ type: 'message.created', data: { recipient_online: false } }),
      });
      assert.equal(forged.status, 401);
      assert.equal(pushes().length, 1);
    });
  });
}
