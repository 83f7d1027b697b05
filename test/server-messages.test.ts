import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MessageCreatedData } from '@cs-chat/contracts/rest/webhook-events.schemas';
import { Webhook } from 'standardwebhooks';
import { Compile } from 'typebox/compile';
import { checkChain, type TranscriptDocument } from '../src/lib/transcript-chain.ts';
import { testDialects } from './helpers/databases.ts';
import { scrape } from './helpers/metrics.ts';
import { eventually } from './helpers/polling.ts';
import { sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';

/**
 * Messages the server writes: a team's `system` notices (a change of hands,
 * an escalation), the platform desk's posts and auto replies. Each is a stored
 * message like a user's: in the webhook's message.created (auto replies marked
 * `auto`), in the transcript chain, and counted as stored; system messages
 * stay out of every unread count, platform posts raise both sides', auto
 * replies the buyer's.
 */

const FAST = { retryDelaysMs: [100, 200, 400], timeoutMs: 400, pollMs: 50 };
const STORED = 'chat_messages_stored_total';

for (const dialect of testDialects) {
  describe(`messages the server writes (${dialect.name})`, () => {
    let app: TestApp;
    const t = {} as Record<string, string>;
    const db = () => app.server.database.db;

    before(async () => {
      app = await startTestApp(dialect, { env: { DEBUG: 'True' }, server: { webhookDelivery: FAST } });
      Object.assign(t, await app.addUsers({ a1: 'admin', p1: 'service', b1: 'buyer', m1: 'merchant' }));
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.p1a = await app.addUser('p1a', 'service', { team_id: 'p1', team_role: 'agent' });
      // Manual work only (automatic assignment writes system messages of its own); m1 welcomes buyers.
      for (const [owner, body] of [
        ['m1', { auto_assign: false, welcome_message: '您好，欢迎光临！' }],
        ['p1', { auto_assign: false }],
      ] as const) {
        const response = await app.client.put(`/api/teams/${owner}/settings`, { token: t[owner], body });
        assert.equal(response.status, 200, JSON.stringify(response.body));
      }
    });
    after(() => app.close());

    test('system, platform and auto messages: in message.created, in the chain, counted; unread as documented', async () => {
      const receiver = await startReceiver();
      try {
        const hook = await app.client.post('/api/webhooks', {
          token: t.a1,
          body: { url: receiver.url, events: ['message.created'] },
        });
        assert.equal(hook.status, 201, JSON.stringify(hook.body));
        const counted = await scrape(app.server.url);

        const shop = await app.conversation(t.b1 as string, 'b1', 'm1');
        await sendText(app, t.b1 as string, shop, '我要退款');
        await eventually(async () => {
          const auto = await db().selectFrom('messages').select('id').where('auto_reply', '=', 1).execute();
          assert.equal(auto.length, 1);
        }, 'the welcome message');
        const unreadBefore = await db()
          .selectFrom('conversations')
          .select(['participant1_unread', 'participant2_unread'])
          .where('id', '=', shop)
          .executeTakeFirstOrThrow();
        const shopRow = await db()
          .selectFrom('conversations')
          .select('participant1_id')
          .where('id', '=', shop)
          .executeTakeFirstOrThrow();
        const assigned = await app.client.post(`/api/conversations/${shop}/assignment`, {
          token: t.m1,
          body: { assignee_id: 'm1a' },
        });
        assert.equal(assigned.status, 200, JSON.stringify(assigned.body));
        const unreadAfterSystem = await db()
          .selectFrom('conversations')
          .select(['participant1_unread', 'participant2_unread'])
          .where('id', '=', shop)
          .executeTakeFirstOrThrow();
        assert.deepEqual(unreadAfterSystem, unreadBefore, 'a system message is nobody’s unread');
        const escalated = await app.client.post(`/api/conversations/${shop}/escalation`, {
          token: t.b1,
          body: { reason: '商家拒绝退款' },
        });
        assert.equal(escalated.status, 201, JSON.stringify(escalated.body));
        const desk = escalated.body.id as string;
        const posted = await app.client.post(`/api/conversations/${shop}/platform-messages`, {
          token: t.p1,
          body: { content: '平台已介入，请提供订单号' },
        });
        assert.equal(posted.status, 201, JSON.stringify(posted.body));

        const stored = await db()
          .selectFrom('messages')
          .select(['id', 'conversation_id', 'message_type', 'auto_reply', 'sender_id'])
          .where('conversation_id', 'in', [shop, desk])
          .orderBy('conversation_id')
          .orderBy('seq')
          .execute();
        assert.deepEqual(stored.map((m) => `${m.message_type}${m.auto_reply ? ':auto' : ''}`).sort(), [
          'platform',
          'system',
          'system',
          'system',
          'text',
          'text:auto',
        ]);

        // Every stored message reached the receiver as message.created, valid, with who it is for.
        await receiver.waitFor((all) => all.length >= stored.length, 'one message.created per stored message');
        const verifier = new Webhook(hook.body.secret);
        const check = Compile(MessageCreatedData);
        const events = receiver.received.map(
          (entry) =>
            verifier.verify(entry.body, entry.headers as Record<string, string>) as {
              type: string;
              data: MessageCreatedData & { message: { auto?: true } };
            },
        );
        for (const event of events) {
          assert.equal(event.type, 'message.created');
          assert.ok(check.Check(event.data), JSON.stringify([...check.Errors(event.data)]));
        }
        const byId = new Map(events.map((event) => [event.data.message.id, event.data]));
        assert.deepEqual([...byId.keys()].sort(), stored.map((m) => m.id).sort());
        for (const message of stored) {
          const data = byId.get(message.id);
          assert.ok(data);
          assert.equal(data.message.message_type, message.message_type);
          assert.equal(data.message.auto, message.auto_reply ? true : undefined, 'auto replies are marked');
          // Each is for the buyer: the team's notices, the platform's post, the team's auto reply.
          if (message.sender_id !== 'b1') assert.equal(data.recipient_id, 'b1', message.message_type);
        }
        // A system message leaves the buyer's count as it was (the auto reply's one).
        const systemInShop = stored.find((m) => m.conversation_id === shop && m.message_type === 'system');
        const buyerUnread =
          shopRow.participant1_id === 'b1' ? unreadBefore.participant1_unread : unreadBefore.participant2_unread;
        assert.equal(Number(buyerUnread), 1);
        assert.equal(byId.get(systemInShop?.id ?? '')?.recipient_unread, 1);

        // The transcript chains every one of them and verifies.
        for (const id of [shop, desk]) {
          const response = await app.client.get(`/api/conversations/${id}/transcript`, { token: t.a1 });
          assert.equal(response.status, 200, JSON.stringify(response.body));
          const document = response.body as TranscriptDocument;
          const entries = document.entries.filter((entry) => entry.kind === 'message');
          assert.equal(entries.length, stored.filter((m) => m.conversation_id === id).length);
          assert.equal(checkChain(id, document.entries, document.head).valid, true);
        }

        // Search finds text messages: the auto reply, not the notices nor the post (README, "Search").
        const found = async (q: string) => {
          const response = await app.client.get(`/api/search/messages?q=${encodeURIComponent(q)}`, { token: t.b1 });
          assert.equal(response.status, 200, JSON.stringify(response.body));
          return response.body.results.map((hit: { message: { id: string } }) => hit.message.id);
        };
        const auto = stored.find((m) => m.auto_reply);
        await eventually(async () => assert.deepEqual(await found('欢迎光临'), [auto?.id]), 'the auto reply indexed');
        assert.deepEqual(await found('商家拒绝退款'), []);

        // Counted as stored, by type.
        const now = await scrape(app.server.url);
        const added = (type: string) =>
          now.value(STORED, { message_type: type }) - counted.value(STORED, { message_type: type });
        assert.deepEqual(
          ['text', 'system', 'platform'].map(added),
          [2, 3, 1],
          'the buyer’s message and the auto reply; three notices; one post',
        );
      } finally {
        await receiver.stop();
      }
    });
  });
}
