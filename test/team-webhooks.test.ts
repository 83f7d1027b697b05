import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WEBHOOK_EVENT_DATA, type WebhookEventName } from '@cs-chat/contracts/rest/webhook-events.schemas';
import { Webhook } from 'standardwebhooks';
import { Compile } from 'typebox/compile';
import { testDialects } from './helpers/databases.ts';
import { sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';

/**
 * Teams' webhook events (issue 15): conversation.assigned,
 * conversation.status_changed, conversation.escalated and (issue 14's)
 * rating.created, each written in the
 * transaction of its change, reach a subscribed endpoint signed, as the
 * contract says, in the conversation's commit order.
 */

const FAST = { retryDelaysMs: [100, 200, 400], timeoutMs: 400, pollMs: 50 };
const TEAM_EVENTS = ['conversation.assigned', 'conversation.status_changed', 'conversation.escalated'] as const;

interface Event {
  type: WebhookEventName;
  timestamp: string;
  data: Record<string, unknown>;
}

for (const dialect of testDialects) {
  describe(`team webhook events (${dialect.name})`, () => {
    let app: TestApp;
    const t = {} as Record<'a1' | 'p1' | 'b1' | 'm1' | 'm1s' | 'm1a', string>;

    before(async () => {
      app = await startTestApp(dialect, { env: { DEBUG: 'True' }, server: { webhookDelivery: FAST } });
      Object.assign(t, await app.addUsers({ a1: 'admin', p1: 'service', b1: 'buyer', m1: 'merchant' }));
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      await app.addUser('p1a', 'service', { team_id: 'p1', team_role: 'agent' });
      // Manual work only: automatic assignment would add its own events.
      for (const owner of ['m1', 'p1'] as const) {
        const settings = await app.client.put(`/api/teams/${owner}/settings`, {
          token: t[owner],
          body: { auto_assign: false },
        });
        assert.equal(settings.status, 200, JSON.stringify(settings.body));
      }
    });
    after(() => app.close());

    test('assignment, status and escalation arrive as the contract says, in commit order', async () => {
      const receiver = await startReceiver();
      try {
        const created = await app.client.post('/api/webhooks', {
          token: t.a1,
          body: { url: receiver.url, events: [...TEAM_EVENTS] },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const id = await app.conversation(t.b1, 'b1', 'm1');
        await sendText(app, t.b1, id, '我要退款');
        const assign = (token: string, assignee: string | null, note?: string) =>
          app.client.post(`/api/conversations/${id}/assignment`, {
            token,
            body: { assignee_id: assignee, ...(note ? { note } : {}) },
          });
        assert.equal((await assign(t.m1s, 'm1a', 'VIP')).status, 200);
        assert.equal((await assign(t.m1a, null)).status, 200);
        const status = (value: string) =>
          app.client.post(`/api/conversations/${id}/status`, { token: t.m1a, body: { status: value } });
        assert.equal((await status('resolved')).status, 200);
        // The same status again changes nothing: no event.
        assert.equal((await status('resolved')).status, 200);
        const escalated = await app.client.post(`/api/conversations/${id}/escalation`, {
          token: t.b1,
          body: { reason: '商家拒绝退款' },
        });
        assert.equal(escalated.status, 201, JSON.stringify(escalated.body));

        await receiver.waitFor((all) => all.length >= 4, 'four events');
        const verifier = new Webhook(created.body.secret);
        const events = receiver.received.map(
          (entry) => verifier.verify(entry.body, entry.headers as Record<string, string>) as Event,
        );
        for (const event of events) {
          const validator = Compile(WEBHOOK_EVENT_DATA[event.type]);
          assert.ok(validator.Check(event.data), `${event.type}: ${JSON.stringify([...validator.Errors(event.data)])}`);
        }
        const untimed = events.map(({ type, data }) => {
          const { assigned_at: _a, changed_at: _c, escalated_at: _e, ...rest } = data;
          return { type, data: rest };
        });
        assert.deepEqual(untimed, [
          {
            type: 'conversation.assigned',
            data: {
              conversation_id: id,
              team_id: 'm1',
              assignee_id: 'm1a',
              previous_assignee_id: null,
              kind: 'assign',
              actor_id: 'm1s',
              note: 'VIP',
            },
          },
          {
            type: 'conversation.assigned',
            data: {
              conversation_id: id,
              team_id: 'm1',
              assignee_id: null,
              previous_assignee_id: 'm1a',
              kind: 'release',
              actor_id: 'm1a',
              note: null,
            },
          },
          {
            type: 'conversation.status_changed',
            data: {
              conversation_id: id,
              team_id: 'm1',
              status: 'resolved',
              previous_status: 'open',
              actor_id: 'm1a',
            },
          },
          {
            type: 'conversation.escalated',
            data: {
              conversation_id: id,
              desk_conversation_id: escalated.body.id,
              team_id: 'm1',
              customer_id: 'b1',
              desk_id: 'p1',
              reason: '商家拒绝退款',
              escalated_by: 'b1',
            },
          },
        ]);
        for (const event of events) {
          const at = Object.entries(event.data).find(([key]) => key.endsWith('_at'))?.[1];
          assert.equal(typeof at, 'number', `${event.type} has its time`);
        }
        assert.equal(receiver.received.length, 4, 'no other event');
      } finally {
        await receiver.stop();
      }
    });

    test('rating.created: a rating is written to the outbox with it, as the contract says', async () => {
      const receiver = await startReceiver();
      try {
        const created = await app.client.post('/api/webhooks', {
          token: t.a1,
          body: { url: receiver.url, events: ['rating.created'] },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const buyer = await app.addUser('b9', 'buyer');
        const id = await app.conversation(buyer, 'b9', 'm1');
        await sendText(app, buyer, id, '发票开好了吗？');
        const resolved = await app.client.post(`/api/conversations/${id}/status`, {
          token: t.m1s,
          body: { status: 'resolved' },
        });
        assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
        const rated = await app.client.post(`/api/conversations/${id}/rating`, {
          token: buyer,
          body: { score: 4, comment: '还不错' },
        });
        assert.equal(rated.status, 201, JSON.stringify(rated.body));

        await receiver.waitFor((all) => all.length >= 1, 'the rating event');
        const event = new Webhook(created.body.secret).verify(
          receiver.received[0]?.body ?? '',
          receiver.received[0]?.headers as Record<string, string>,
        ) as Event;
        assert.equal(event.type, 'rating.created');
        assert.ok(Compile(WEBHOOK_EVENT_DATA['rating.created']).Check(event.data), JSON.stringify(event.data));
        assert.deepEqual(
          { ...event.data, created_at: 0 },
          {
            rating_id: rated.body.id,
            conversation_id: id,
            episode: 1,
            team_id: 'm1',
            assignee_id: rated.body.assignee_id,
            rater_id: 'b9',
            score: 4,
            comment: '还不错',
            created_at: 0,
          },
        );
        // A second rating of the same resolution is refused: no event for it.
        const again = await app.client.post(`/api/conversations/${id}/rating`, { token: buyer, body: { score: 1 } });
        assert.equal(again.status, 409);
      } finally {
        await receiver.stop();
      }
    });
  });
}
