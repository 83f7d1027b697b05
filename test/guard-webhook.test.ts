import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_RULES } from '../src/modules/guard/guard-rules.ts';
import { testDialects } from './helpers/databases.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';
import { type Receiver, startReceiver } from './helpers/webhook-receiver.ts';

const FAST = { retryDelaysMs: [100, 200, 400], timeoutMs: 400, pollMs: 50 };

interface Flagged {
  type: string;
  data: {
    message_id: string | null;
    conversation_id: string;
    sender_id: string;
    sender_role: string;
    outcome: string;
    delivered_content: string | null;
    findings: { label: string; action: string; excerpt: string }[];
  };
}

for (const dialect of testDialects) {
  describe(`guard.flagged webhook (${dialect.name})`, () => {
    let app: TestApp;
    let tokens: Record<string, string>;
    let receiver: Receiver;

    before(async () => {
      app = await startTestApp(dialect, { env: { DEBUG: 'True' }, server: { webhookDelivery: FAST } });
      tokens = await app.addUsers({ a1: 'admin', b1: 'buyer', m1: 'merchant' });
      receiver = await startReceiver();
    });
    after(async () => {
      await app.close();
      await receiver.stop();
    });

    test('one event per flagged message, written with its decision: delivered (masked), held and blocked; none for a clean one', async () => {
      const created = await app.client.post('/api/webhooks', {
        token: tokens.a1,
        body: { url: receiver.url, events: ['guard.flagged'] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const rules = await app.client.put('/api/guard/rules', {
        token: tokens.a1,
        body: { rules: DEFAULT_RULES, words: ['代开发票'] },
      });
      assert.equal(rules.status, 200);
      const chat = await app.conversation(tokens.b1 as string, 'b1', 'm1');
      const send = (content: string) =>
        app.client.post('/api/messages/', { token: tokens.b1, body: { conversation_id: chat, content } });
      const masked = await send('电话 13800138000');
      await send('在吗');
      const held = await send('我们私下交易吧');
      assert.equal((await send('可以代开发票吗')).status, 422);

      const flagged = () =>
        receiver.received.map((r) => JSON.parse(r.body) as Flagged).filter((b) => b.type === 'guard.flagged');
      await receiver.waitFor(() => flagged().length >= 3, 'three guard.flagged events');
      const events = flagged().map((b) => b.data);
      assert.deepEqual(
        events.map((e) => [
          e.message_id,
          e.outcome,
          e.delivered_content,
          e.sender_role,
          e.findings.map((f) => f.label),
        ]),
        [
          [masked.body.id, 'delivered', '电话 ***', 'buyer', ['phone']],
          [held.body.id, 'held', '我们私下交易吧', 'buyer', ['offsite']],
          [null, 'blocked', null, 'buyer', ['word']],
        ],
      );
      assert.deepEqual(events[0]?.findings, [{ label: 'phone', action: 'mask', excerpt: '13800138000' }]);
    });
  });
}
