import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type KyselyPlugin, sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { type DatabaseHandle, openDatabase } from '../src/db/connection.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { uuidv7 } from '../src/lib/ids.ts';
import { insertConversation } from '../src/modules/conversations/conversation.repository.ts';
import { createAppendBatcher } from '../src/modules/messages/append-batcher.ts';
import type { Append } from '../src/modules/messages/message.repository.ts';
import { createSendTransactionHooks } from '../src/modules/messages/send-transaction.ts';
import { findUserById } from '../src/modules/users/user.repository.ts';
import {
  type ClaimMode,
  claimDue,
  releaseLeases,
  settleDelivered,
} from '../src/modules/webhooks/webhook.repository.ts';
import { newWebhookSecret } from '../src/modules/webhooks/webhook.service.ts';
import {
  createSubscriptions,
  messageCreatedHook,
  outboxRows,
  PRESENCE_WAIT_MS,
  type Subscriptions,
} from '../src/modules/webhooks/webhook-outbox.ts';
import { type ScratchDatabase, testDialects } from './helpers/databases.ts';
import { until } from './helpers/polling.ts';
import { dropPrefix, REDIS_SKIP_REASON, withRedis } from './helpers/redis.ts';
import { openConversation, sendText } from './helpers/rest.ts';
import { createTestServices } from './helpers/services.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';
import { insertTestUser } from './helpers/users.ts';
import { type Received, type Receiver, startReceiver } from './helpers/webhook-receiver.ts';

interface Delivery {
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
}

interface MessageCreated {
  type: string;
  timestamp: string;
  data: {
    message: { id: string; conversation_id: string; seq: number; sender_id: string; content: string };
    recipient_id: string;
    recipient_online: boolean;
    recipient_unread: number;
  };
}

const TIMEOUT_MS = 400;
const FAST = { retryDelaysMs: [100, 200, 400, 800, 1600, 3200], timeoutMs: TIMEOUT_MS, pollMs: 50 };

const bodies = (received: readonly Received[]) => received.map((entry) => JSON.parse(entry.body) as MessageCreated);
const messagesIn = (received: readonly Received[]) =>
  bodies(received).filter((body) => body.type === 'message.created');

for (const dialect of testDialects) {
  describe(`webhook delivery (${dialect.name})`, () => {
    let app: TestApp;
    let tokens: Record<string, string>;
    let receiver: Receiver;

    before(async () => {
      app = await startTestApp(dialect, { env: { DEBUG: 'True' }, server: { webhookDelivery: FAST } });
      const [admin, b1, b2, m1] = await Promise.all([
        app.addUser('a1', 'admin'),
        app.addUser('b1', 'buyer'),
        app.addUser('b2', 'buyer'),
        app.addUser('m1', 'merchant'),
      ]);
      tokens = { admin, b1, b2, m1 } as Record<string, string>;
      receiver = await startReceiver();
    });
    after(async () => {
      await app.close();
      await receiver.stop();
    });

    /** Registers `url` for `events`; removed again when `work` ends, so tests do not see each other's events. */
    async function withEndpoint(
      url: string,
      events: string[],
      work: (endpoint: { id: string; secret: string }) => Promise<void>,
    ) {
      const created = await app.client.post('/api/webhooks', { token: tokens.admin, body: { url, events } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      try {
        await work(created.body);
      } finally {
        await app.client.delete(`/api/webhooks/${created.body.id}`, { token: tokens.admin });
      }
    }
    const deliveries = async (id: string, status?: string) =>
      (
        await app.client.get<Delivery[]>(`/api/webhooks/${id}/deliveries${status ? `?status=${status}` : ''}`, {
          token: tokens.admin,
        })
      ).body;

    test('message.created arrives signed (verified with standardwebhooks), with the recipient and their unread count', async () => {
      const local = await startReceiver();
      try {
        await withEndpoint(local.url, ['message.created'], async ({ id, secret }) => {
          const conversation = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
          const first = await sendText(app, tokens.b1 as string, conversation, 'hello');
          const second = await sendText(app, tokens.b1 as string, conversation, 'again');
          await local.waitFor((all) => all.length >= 2, 'two events');
          const verifier = new Webhook(secret);
          const verified = local.received.map(
            (entry) => verifier.verify(entry.body, entry.headers as Record<string, string>) as MessageCreated,
          );
          assert.deepEqual(
            verified.map((body) => [body.type, body.data.message.id, body.data.message.content, body.data.message.seq]),
            [
              ['message.created', first.id, 'hello', first.seq],
              ['message.created', second.id, 'again', second.seq],
            ],
          );
          assert.deepEqual(
            verified.map((body) => [body.data.recipient_id, body.data.recipient_online, body.data.recipient_unread]),
            [
              ['m1', false, 1],
              ['m1', false, 2],
            ],
          );
          // A tampered body or another secret does not verify.
          const [entry] = local.received as [Received];
          assert.throws(() => verifier.verify(`${entry.body} `, entry.headers as Record<string, string>));
          assert.throws(() =>
            new Webhook(newWebhookSecret()).verify(entry.body, entry.headers as Record<string, string>),
          );
          assert.match(String(entry.headers['webhook-id']), /^evt_[0-9a-f-]{36}$/);
          const log = await until(
            () => deliveries(id, 'delivered'),
            (rows) => rows.length === 2,
            'both delivered',
          );
          assert.deepEqual(
            log.map((row) => [row.event_type, row.attempts, row.last_status_code]),
            [
              ['message.created', 1, 200],
              ['message.created', 1, 200],
            ],
          );
          // The recipient online at commit time is reported as such.
          const socket = await app.connect('m1', tokens.m1 as string);
          try {
            await sendText(app, tokens.b1 as string, conversation, 'seen live');
            await local.waitFor((all) => all.length >= 3, 'third event');
            const third = bodies(local.received)[2] as MessageCreated;
            assert.deepEqual([third.data.recipient_online, third.data.recipient_unread], [true, 3]);
          } finally {
            socket.close();
          }
        });
      } finally {
        await local.stop();
      }
    });

    test('the test call sends a signed ping', async () => {
      const local = await startReceiver();
      try {
        await withEndpoint(local.url, ['message.created'], async ({ id, secret }) => {
          const ping = await app.client.post(`/api/webhooks/${id}/test`, { token: tokens.admin });
          assert.equal(ping.status, 202, JSON.stringify(ping.body));
          await local.waitFor((all) => all.length >= 1, 'ping');
          const [entry] = local.received as [Received];
          const body = new Webhook(secret).verify(
            entry.body,
            entry.headers as Record<string, string>,
          ) as MessageCreated;
          assert.equal(body.type, 'ping');
          assert.equal(entry.headers['webhook-id'], ping.body.event_id);
          const log = await until(
            () => deliveries(id),
            (rows) => rows.length === 1 && rows[0]?.status === 'delivered',
            'ping delivered',
          );
          assert.equal(log[0]?.event_type, 'ping');
          // After a rotation both secrets verify (two signatures) for 24 h.
          const rotated = await app.client.patch(`/api/webhooks/${id}`, {
            token: tokens.admin,
            body: { rotate_secret: true },
          });
          await app.client.post(`/api/webhooks/${id}/test`, { token: tokens.admin });
          await local.waitFor((all) => all.length >= 2, 'second ping');
          const [, again] = local.received as [Received, Received];
          assert.equal(String(again.headers['webhook-signature']).split(' ').length, 2);
          for (const key of [secret, rotated.body.secret as string]) {
            new Webhook(key).verify(again.body, again.headers as Record<string, string>);
          }
        });
      } finally {
        await local.stop();
      }
    });

    test('500 then 200: retried with the same webhook-id until delivered', async () => {
      const local = await startReceiver();
      local.respondWith((_request, index) => (index < 2 ? 500 : 200));
      try {
        await withEndpoint(local.url, ['message.created'], async ({ id }) => {
          const ping = await app.client.post(`/api/webhooks/${id}/test`, { token: tokens.admin });
          await local.waitFor((all) => all.length >= 3, 'three attempts');
          assert.deepEqual(
            local.received.map((entry) => entry.headers['webhook-id']),
            [ping.body.event_id, ping.body.event_id, ping.body.event_id],
          );
          const log = await until(
            () => deliveries(id),
            (rows) => rows[0]?.status === 'delivered',
            'delivered after retries',
          );
          assert.deepEqual([log[0]?.attempts, log[0]?.last_status_code], [3, 200]);
        });
      } finally {
        await local.stop();
      }
    });

    test('410 disables the endpoint with a reason; the delivery is failed', async () => {
      const local = await startReceiver();
      local.respondWith(() => 410);
      try {
        await withEndpoint(local.url, ['message.created'], async ({ id }) => {
          await app.client.post(`/api/webhooks/${id}/test`, { token: tokens.admin });
          const endpoint = await until(
            async () => (await app.client.get(`/api/webhooks/${id}`, { token: tokens.admin })).body,
            (body) => body.active === false,
            'endpoint disabled',
          );
          assert.match(endpoint.disabled_reason, /410/);
          const log = await until(
            () => deliveries(id),
            (rows) => rows[0]?.status === 'failed',
            'delivery failed',
          );
          assert.deepEqual([log[0]?.attempts, log[0]?.last_status_code], [1, 410]);
          // Sends no longer queue anything for it.
          const conversation = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
          await sendText(app, tokens.b1 as string, conversation, 'after 410');
          assert.equal((await deliveries(id)).length, 1);
          // Re-enabled by the admin, it gets the retried event.
          local.respondWith(() => 200);
          const enabled = await app.client.patch(`/api/webhooks/${id}`, {
            token: tokens.admin,
            body: { active: true },
          });
          assert.equal(enabled.body.disabled_reason, null);
          const retried = await app.client.post(`/api/webhooks/${id}/deliveries/${log[0]?.event_id}/retry`, {
            token: tokens.admin,
          });
          assert.equal(retried.status, 202, JSON.stringify(retried.body));
          await until(
            () => deliveries(id),
            (rows) => rows[0]?.status === 'delivered',
            'retried delivery delivered',
          );
        });
      } finally {
        await local.stop();
      }
    });

    test('a receiver that does not answer within the timeout is retried', async () => {
      const local = await startReceiver();
      local.respondWith((_request, index) => (index === 0 ? 'hang' : 200));
      try {
        await withEndpoint(local.url, ['message.created'], async ({ id }) => {
          await app.client.post(`/api/webhooks/${id}/test`, { token: tokens.admin });
          await local.waitFor((all) => all.length >= 2, 'second attempt');
          const [first, second] = local.received as [Received, Received];
          assert.ok(second.at - first.at >= TIMEOUT_MS, `retried after ${second.at - first.at} ms`);
          const log = await until(
            () => deliveries(id),
            (rows) => rows[0]?.status === 'delivered',
            'delivered',
          );
          assert.equal(log[0]?.attempts, 2);
        });
      } finally {
        await local.stop();
      }
    });

    test('receiver down for a while, then back: everything arrives, in order per conversation', async () => {
      await withEndpoint(receiver.url, ['message.created'], async ({ id }) => {
        await receiver.stop();
        const one = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
        const two = await openConversation(app, tokens.b2 as string, 'b2', 'm1');
        const sent: string[] = [];
        for (let i = 0; i < 4; i += 1) {
          sent.push((await sendText(app, tokens.b1 as string, one, `one ${i}`)).id);
          sent.push((await sendText(app, tokens.m1 as string, two, `two ${i}`)).id);
        }
        await until(
          () => deliveries(id, 'pending'),
          (rows) => rows.some((row) => row.attempts >= 2),
          'failed attempts while down',
        );
        await receiver.start();
        await receiver.waitFor((all) => new Set(messagesIn(all).map((b) => b.data.message.id)).size >= 8, 'all eight');
        const arrived = messagesIn(receiver.received);
        assert.deepEqual(new Set(arrived.map((body) => body.data.message.id)), new Set(sent));
        for (const conversation of [one, two]) {
          const seqs = arrived
            .filter((body) => body.data.message.conversation_id === conversation)
            .map((body) => body.data.message.seq);
          assert.deepEqual(
            seqs,
            [...seqs].sort((a, b) => a - b),
            `order in ${conversation}`,
          );
        }
      });
    });

    test("a conversation's backlog goes out as a run, in order; a failure in it holds the rest back until it succeeds", async () => {
      const local = await startReceiver();
      await withEndpoint(local.url, ['message.created'], async ({ id }) => {
        await local.stop();
        const conversation = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
        const sent: string[] = [];
        for (let i = 0; i < 5; i += 1)
          sent.push((await sendText(app, tokens.b1 as string, conversation, `run ${i}`)).id);
        await until(
          () => deliveries(id, 'pending'),
          (rows) => rows.length === 5 && rows.some((row) => row.attempts >= 1),
          'the first event failing while the receiver is down',
        );
        // Back up, answering 500 to the first attempt at the third message: the run stops there.
        let refused = false;
        local.respondWith((request) => {
          const body = JSON.parse(request.body) as MessageCreated;
          if (body.data.message.id !== sent[2] || refused) return 200;
          refused = true;
          return 500;
        });
        await local.start();
        await local.waitFor((all) => all.length >= 6, 'five events and one retry');
        assert.deepEqual(
          messagesIn(local.received).map((body) => body.data.message.id),
          [sent[0], sent[1], sent[2], sent[2], sent[3], sent[4]],
          'nothing after the refused event before its retry succeeded',
        );
        const log = await until(
          () => deliveries(id),
          (rows) => rows.length === 5 && rows.every((row) => row.status === 'delivered'),
          'all five recorded delivered',
        );
        const refusedId = local.received[2]?.headers['webhook-id'];
        assert.equal(log.find((row) => row.event_id === refusedId)?.attempts, 2, 'refused once, then delivered');
      });
      await local.stop();
    });

    test('an instance that stops before delivering: its committed events are delivered by another', async () => {
      const local = await startReceiver();
      try {
        await withEndpoint(local.url, ['message.created'], async () => {
          // Started after the endpoint exists, so it records for it; it runs no delivery worker.
          const silent = await startTestApp(dialect, {
            env: { DEBUG: 'True' },
            sharedDatabase: app.scratch.urlString,
            server: { webhookDelivery: { enabled: false } },
          });
          let sent: { id: string };
          try {
            const token = await silent.addUser('b3', 'buyer');
            const conversation = await openConversation(silent, token, 'b3', 'm1');
            sent = await sendText(silent, token, conversation, 'from the silent one');
          } finally {
            await silent.close();
          }
          await local.waitFor(
            (all) => messagesIn(all).some((body) => body.data.message.id === sent.id),
            'delivered by the other instance',
          );
        });
      } finally {
        await local.stop();
      }
    });

    test('two instances delivering from one database: every event once, in order per conversation', async () => {
      const local = await startReceiver();
      let other: TestApp | undefined;
      try {
        await withEndpoint(local.url, ['message.created'], async () => {
          // Started after the endpoint exists: an instance learns of another's change within SUBSCRIPTION_REFRESH_MS.
          other = await startTestApp(dialect, {
            env: { DEBUG: 'True' },
            sharedDatabase: app.scratch.urlString,
            server: { webhookDelivery: FAST },
          });
          const second = other;
          const conversations = await Promise.all([
            openConversation(app, tokens.b1 as string, 'b1', 'm1'),
            openConversation(app, tokens.b2 as string, 'b2', 'm1'),
          ]);
          const sent: string[] = [];
          await Promise.all(
            conversations.map(async (conversation, c) => {
              const token = (c === 0 ? tokens.b1 : tokens.b2) as string;
              for (let i = 0; i < 10; i += 1) {
                const via = i % 2 === 0 ? app : second;
                sent.push((await sendText(via, token, conversation, `m ${c} ${i}`)).id);
              }
            }),
          );
          await local.waitFor(
            (all) => sent.every((id) => messagesIn(all).some((body) => body.data.message.id === id)),
            'all twenty',
          );
          const ids = local.received.map((entry) => String(entry.headers['webhook-id']));
          assert.equal(new Set(ids).size, ids.length, 'no event delivered twice');
          for (const conversation of conversations) {
            const seqs = messagesIn(local.received)
              .filter((body) => body.data.message.conversation_id === conversation)
              .map((body) => body.data.message.seq);
            assert.deepEqual(
              seqs,
              [...seqs].sort((a, b) => a - b),
            );
          }
        });
      } finally {
        await other?.close();
        await local.stop();
      }
    });
  });

  describe(`webhook outbox in the send transaction (${dialect.name})`, () => {
    let scratch: ScratchDatabase;
    let handle: DatabaseHandle;
    /** Every statement run through `handle`, in order. */
    const statements: string[] = [];

    before(async () => {
      scratch = await dialect.create();
      handle = openDatabase(scratch.url, { logQuery: (text) => statements.push(text) });
      await migrateToLatest(handle.db);
      await insertTestUser(handle.db, 'b1', 'buyer');
      await insertTestUser(handle.db, 'm1', 'merchant');
    });
    after(async () => {
      await handle.destroy();
      await scratch.drop();
    });

    /** A conversation of m1 with a buyer (b1, or a new one). */
    let buyers = 0;
    async function newConversation(buyer = `b-${++buyers}`) {
      if (buyer !== 'b1') await insertTestUser(handle.db, buyer, 'buyer');
      const conversation = { id: uuidv7(), participant1_id: buyer, participant2_id: 'm1' };
      await insertConversation(handle.db, { ...conversation, created_at: 1, updated_at: 1 });
      return conversation;
    }

    /** The endpoint 'hook-1', subscribed to message.created (once per database). */
    async function subscribedEndpoint() {
      await handle.db
        .insertInto('webhook_endpoints')
        .values({
          id: 'hook-1',
          url: 'https://93.184.216.34/hooks',
          description: null,
          events: 'message.created',
          secret: newWebhookSecret(),
          previous_secret: null,
          previous_secret_expires_at: null,
          disabled_reason: null,
          created_at: 1,
          updated_at: 1,
          failing_since: null,
        })
        .execute();
    }

    const outboxPayloads = async () =>
      (await handle.db.selectFrom('webhook_deliveries').select('payload').orderBy('position').execute()).map(
        (row) => JSON.parse(row.payload) as MessageCreated,
      );

    /** One append from the buyer to m1 (or back), as the message service makes it. */
    let clock = 1_000;
    function appendOf(
      conversation: { id: string; participant1_id: string },
      fromBuyer: boolean,
      content: string,
    ): Append {
      clock += 1;
      const [from, to] = fromBuyer ? [conversation.participant1_id, 'm1'] : ['m1', conversation.participant1_id];
      return {
        message: {
          id: uuidv7(),
          conversation_id: conversation.id,
          sender_id: from,
          content,
          message_type: 'text',
          filename: null,
          client_msg_id: null,
          created_at: clock,
        },
        recipientId: to,
        recipientUnread: fromBuyer ? 'participant2_unread' : 'participant1_unread',
        preview: content,
      };
    }

    test('a send that rolls back leaves no event; one that commits leaves exactly its own', async () => {
      const conversation = await newConversation('b1');
      await subscribedEndpoint();
      const subscriptions = createSubscriptions(handle.db);
      await subscriptions.refresh();
      const { messages } = createTestServices(handle.db, { batching: { maxConcurrent: 1, maxBatch: 64 } });
      messages.sendTransaction.onBatch(
        messageCreatedHook({ subscriptions, online: async () => [], baseUrl: 'http://chat.test' }),
      );
      const refusal = new Error('refused after the outbox row was written');
      messages.sendTransaction.onBatch(async (_trx, stored) => {
        if (stored.some((entry) => entry.message.content === 'roll back')) throw refusal;
      });
      const buyer = await findUserById(handle.db, 'b1');
      assert.ok(buyer);
      const origin = { skipConnectionId: null, echoToSender: true };
      const kept = await messages.send(buyer, { conversation_id: conversation.id, content: 'kept' }, origin);
      await assert.rejects(
        messages.send(buyer, { conversation_id: conversation.id, content: 'roll back' }, origin),
        (error) => error === refusal,
      );
      const rows = await handle.db.selectFrom('webhook_deliveries').select(['payload', 'endpoint_id']).execute();
      assert.equal(rows.length, 1);
      const body = JSON.parse(rows[0]?.payload as string) as MessageCreated;
      assert.equal(body.data.message.id, kept.message.id);
      assert.equal(rows[0]?.endpoint_id, 'hook-1');
    });

    test('presence is asked before the send transaction opens: a lookup that writes the conversation row answers in time', async () => {
      await handle.db.deleteFrom('webhook_deliveries').execute();
      const conversation = await newConversation();
      const subscriptions = { endpointsFor: () => ['hook-1'] } as unknown as Subscriptions;
      const hooks = createSendTransactionHooks();
      let asked = 0;
      hooks.registrar.onBatch(
        messageCreatedHook({
          subscriptions,
          // Needs the conversation's row lock: inside the send transaction it would wait for the
          // send's own lock past PRESENCE_WAIT_MS (and the event would say offline).
          online: async (userIds) => {
            asked += 1;
            await handle.db
              .updateTable('conversations')
              .set({ updated_at: sql<number>`updated_at` })
              .where('id', '=', conversation.id)
              .execute();
            return userIds;
          },
          baseUrl: 'http://chat.test',
        }),
      );
      const batcher = createAppendBatcher(handle.db, { maxConcurrent: 1, maxBatch: 64 }, hooks);
      const started = Date.now();
      await batcher.append(appendOf(conversation, true, 'online?'));
      assert.ok(Date.now() - started < PRESENCE_WAIT_MS, 'the send did not wait for presence to time out');
      assert.equal(asked, 1);
      const [event] = await outboxPayloads();
      assert.deepEqual([event?.data.recipient_id, event?.data.recipient_online], ['m1', true]);
    });

    test("a subscribed batch adds the outbox insert (and the read of the counts), and tells each message its recipient's count", async () => {
      await handle.db.deleteFrom('webhook_deliveries').execute();
      const [first, second] = [await newConversation(), await newConversation()] as const;
      let subscribed = false;
      const subscriptions = {
        endpointsFor: () => (subscribed ? ['hook-1'] : []),
      } as unknown as Subscriptions;
      const hooks = createSendTransactionHooks();
      hooks.registrar.onBatch(
        messageCreatedHook({ subscriptions, online: async () => ['m1'], baseUrl: 'http://chat.test' }),
      );
      const batcher = createAppendBatcher(handle.db, { maxConcurrent: 1, maxBatch: 64 }, hooks);
      /** The statements of one batch (every append made in one turn of the loop). */
      const statementsOf = async (appends: Append[]) => {
        const from = statements.length;
        await Promise.all(appends.map((append) => batcher.append(append)));
        return statements.slice(from);
      };
      const batchOf = (n: number) =>
        Array.from({ length: n }, (_, i) => appendOf(i % 2 === 0 ? first : second, i % 3 !== 2, `batch ${i}`));
      const without = await statementsOf(batchOf(6));
      subscribed = true;
      // Each recipient's count once its message is stored, as one-at-a-time sends would see it.
      const unread = new Map<string, number>();
      for (const row of await handle.db.selectFrom('conversations').selectAll().execute()) {
        unread.set(`${row.id}:${row.participant1_id}`, Number(row.participant1_unread));
        unread.set(`${row.id}:${row.participant2_id}`, Number(row.participant2_unread));
      }
      const batch = batchOf(6);
      const expected = batch.map((append) => {
        const key = `${append.message.conversation_id}:${append.recipientId}`;
        unread.set(key, (unread.get(key) ?? 0) + 1);
        return [append.message.id, append.recipientId, append.recipientId === 'm1', unread.get(key)];
      });
      const withEndpoint = await statementsOf(batch);
      assert.equal(withEndpoint.length, without.length + 1, withEndpoint.join('\n'));
      // The extra one is the outbox insert, in the transaction (the last is the commit).
      assert.match(withEndpoint.at(-2) as string, /^insert into [`"]webhook_deliveries[`"]/);
      const events = await outboxPayloads();
      assert.deepEqual(
        events.map((event) => [
          event.data.message.id,
          event.data.recipient_id,
          event.data.recipient_online,
          event.data.recipient_unread,
        ]),
        expected,
      );
      // One message alone, its conversation's head known from the batch before: without an endpoint the send
      // writes from it with no read; with one, it reads the row under the lock for the recipient's count.
      subscribed = false;
      const loneWithout = await statementsOf([appendOf(first, true, 'lone')]);
      subscribed = true;
      const lone = await statementsOf([appendOf(first, true, 'lone')]);
      assert.equal(lone.length, loneWithout.length + 2, lone.join('\n'));
      assert.equal(lone.filter((text) => /webhook/.test(text)).length, 1);
      assert.equal(loneWithout.filter((text) => /^select/i.test(text)).length, 0, loneWithout.join('\n'));
      assert.equal(lone.filter((text) => /^select .*_unread/i.test(text)).length, 1, lone.join('\n'));
    });

    test('successes are settled in one statement, each with its own outcome, only where the lease is still ours', async () => {
      await handle.db.deleteFrom('webhook_deliveries').execute();
      const now = Date.now();
      for (const i of [1, 2, 3]) {
        const rows = outboxRows(['hook-1'], {
          id: `evt_settle_${i}`,
          type: 'ping',
          conversationId: null,
          body: '{}',
          now,
        });
        await handle.db
          .insertInto('webhook_deliveries')
          .values(rows.map((row) => ({ ...row, lease_owner: i === 3 ? 'B' : 'A', lease_until: now + 60_000 })))
          .execute();
      }
      const positions = (
        await handle.db.selectFrom('webhook_deliveries').select('position').orderBy('position').execute()
      ).map((row) => Number(row.position));
      // Row 3 was taken over by B meanwhile: A's outcome for it is not written.
      await settleDelivered(
        handle.db,
        'A',
        positions.map((position, i) => ({ position, statusCode: 200 + i, durationMs: 10 * (i + 1) })),
        now + 5,
      );
      const rows = await handle.db
        .selectFrom('webhook_deliveries')
        .select(['status', 'attempts', 'last_status_code', 'last_duration_ms', 'delivered_at', 'lease_owner'])
        .orderBy('position')
        .execute();
      assert.deepEqual(
        rows.map((row) => [
          row.status,
          Number(row.attempts),
          row.last_status_code,
          row.last_duration_ms,
          row.delivered_at === null ? null : Number(row.delivered_at),
          row.lease_owner,
        ]),
        [
          ['delivered', 1, 200, 10, now + 5, null],
          ['delivered', 1, 201, 20, now + 5, null],
          ['pending', 0, null, null, null, 'B'],
        ],
      );
    });

    if (dialect.name === 'mysql') {
      test('a SKIP LOCKED claim in progress holds back no outbox insert (a send never waits for it)', async () => {
        await handle.db.deleteFrom('webhook_deliveries').execute();
        const now = Date.now();
        for (let i = 0; i < 6; i += 1) {
          const rows = outboxRows(['hook-1'], {
            id: `evt_gap_${i}`,
            type: 'ping',
            conversationId: `conv-${i % 3}`,
            body: '{}',
            now: now - 1_000,
          });
          await handle.db.insertInto('webhook_deliveries').values(rows).execute();
        }
        // Inside the claim, right after its locking SELECT: a send's transaction inserts its outbox row on
        // another connection, giving up after 1 s of waiting for a lock (the claim waits for it meanwhile).
        let insertedIn: number | undefined;
        const duringClaim: KyselyPlugin = {
          transformQuery: ({ node }) => node,
          async transformResult({ result }) {
            const [first] = result.rows;
            if (insertedIn === undefined && first && typeof first === 'object' && 'event_id' in first) {
              const started = performance.now();
              await handle.db.transaction().execute(async (trx) => {
                await sql`SET SESSION innodb_lock_wait_timeout = 1`.execute(trx);
                const row = outboxRows(['hook-1'], {
                  id: 'evt_gap_new',
                  type: 'ping',
                  conversationId: 'conv-0',
                  body: '{}',
                  now: Date.now(),
                });
                await trx.insertInto('webhook_deliveries').values(row).execute();
                await sql`SET SESSION innodb_lock_wait_timeout = DEFAULT`.execute(trx);
              });
              insertedIn = performance.now() - started;
            }
            return result;
          },
        };
        const claimed = await claimDue(handle.db.withPlugin(duringClaim), 'skip-locked', {
          endpointIds: ['hook-1'],
          now,
          limit: 10,
          owner: 'gap',
          leaseUntil: now + 60_000,
        });
        assert.deepEqual(claimed.map((row) => row.event_id).sort(), ['evt_gap_0', 'evt_gap_1', 'evt_gap_2']);
        assert.ok(insertedIn !== undefined && insertedIn < 1_000, `the insert took ${insertedIn} ms`);
      });
    }

    const modes: ClaimMode[] = dialect.name === 'mysql' ? ['skip-locked', 'update'] : ['update'];
    for (const mode of modes) {
      test(`claims (${mode}): concurrent claimers get disjoint rows; a pending earlier event of a conversation holds back the later`, async () => {
        await handle.db.deleteFrom('webhook_deliveries').execute();
        const now = Date.now();
        const rows = [];
        for (let c = 0; c < 6; c += 1) {
          for (let i = 0; i < 3; i += 1) {
            rows.push(
              ...outboxRows(['hook-1'], {
                id: `evt_${mode}_${c}_${i}`,
                type: 'ping',
                conversationId: `conv-${c}`,
                body: '{}',
                now,
              }),
            );
          }
        }
        for (const row of rows) await handle.db.insertInto('webhook_deliveries').values(row).execute();
        const claim = (owner: string) =>
          claimDue(handle.db, mode, { endpointIds: ['hook-1'], now, limit: 10, owner, leaseUntil: now + 60_000 });
        const [a, b] = await Promise.all([claim('A'), claim('B')]);
        const events = [...a, ...b].map((row) => row.event_id);
        assert.equal(new Set(events).size, events.length, 'no row leased twice');
        // Only the first event of each conversation is due: the others wait for it.
        assert.deepEqual(
          events.sort(),
          Array.from({ length: 6 }, (_, c) => `evt_${mode}_${c}_0`),
        );
        assert.deepEqual(await claim('C'), [], 'leased rows are not claimed again');
      });

      test(`claims (${mode}): a run takes a conversation's next events with its head, stops at one not due, and leaves nothing to a second claimer`, async () => {
        await handle.db.deleteFrom('webhook_deliveries').execute();
        const now = Date.now();
        // conv-r0: four due events; conv-r1: two due, then one waiting out a backoff, then one due.
        const plan = [
          ['conv-r0', 0],
          ['conv-r1', 0],
          ['conv-r0', 0],
          ['conv-r1', 0],
          ['conv-r0', 0],
          ['conv-r1', 60_000],
          ['conv-r0', 0],
          ['conv-r1', 0],
        ] as const;
        for (const [i, [conversationId, wait]] of plan.entries()) {
          const [row] = outboxRows(['hook-1'], {
            id: `evt_run_${mode}_${i}`,
            type: 'ping',
            conversationId,
            body: '{}',
            now,
          });
          await handle.db
            .insertInto('webhook_deliveries')
            .values({ ...(row as NonNullable<typeof row>), next_attempt_at: now + wait })
            .execute();
        }
        const claim = (owner: string, runLength: number) =>
          claimDue(handle.db, mode, {
            endpointIds: ['hook-1'],
            now,
            limit: 10,
            owner,
            leaseUntil: now + 60_000,
            runLength,
          });
        const [a, b] = await Promise.all([claim('A', 3), claim('B', 3)]);
        const claimed = [...a, ...b];
        const ids = claimed.map((row) => row.event_id);
        assert.equal(new Set(ids).size, ids.length, 'no row leased twice');
        const ofRun = (conversationId: string) =>
          claimed
            .filter((row) => row.conversation_id === conversationId)
            .map((row) => row.event_id)
            .sort();
        // Each run is claimed by one claimer, from its head: at most three events, never past the one not due.
        assert.deepEqual(ofRun('conv-r0'), [`evt_run_${mode}_0`, `evt_run_${mode}_2`, `evt_run_${mode}_4`]);
        assert.deepEqual(ofRun('conv-r1'), [`evt_run_${mode}_1`, `evt_run_${mode}_3`]);
        for (const conversationId of ['conv-r0', 'conv-r1']) {
          const owners = new Set(
            claimed.filter((row) => row.conversation_id === conversationId).map((r) => r.lease_owner),
          );
          assert.equal(owners.size, 1, `${conversationId} is one claimer's run`);
        }
        const leased = await handle.db
          .selectFrom('webhook_deliveries')
          .select('event_id')
          .where('lease_until', '=', now + 60_000)
          .execute();
        assert.deepEqual(leased.map((row) => row.event_id).sort(), ids.sort(), 'what was answered is what was leased');
        assert.deepEqual(await claim('C', 3), [], 'the rest waits behind the leased heads');
        // A run given back (cut short) is due again at once, for anyone, from where it stopped.
        const owner = claimed.find((row) => row.conversation_id === 'conv-r0')?.lease_owner as string;
        const back = claimed.filter((row) => row.lease_owner === owner && row.conversation_id === 'conv-r0').slice(1);
        await releaseLeases(
          handle.db,
          owner,
          back.map((row) => row.position),
        );
        await settleDelivered(
          handle.db,
          owner,
          [
            {
              position: Number(claimed.find((r) => r.event_id === `evt_run_${mode}_0`)?.position),
              statusCode: 204,
              durationMs: 1,
            },
          ],
          now,
        );
        assert.deepEqual(
          (await claim('D', 3)).map((row) => row.event_id).sort(),
          [`evt_run_${mode}_2`, `evt_run_${mode}_4`, `evt_run_${mode}_6`].sort(),
        );
      });

      test(`claims (${mode}): the successes a claim is given are recorded in its transaction first, so the next event of their conversation is due in that very claim`, async () => {
        await handle.db.deleteFrom('webhook_deliveries').execute();
        const now = Date.now();
        for (const i of [0, 1]) {
          const rows = outboxRows(['hook-1'], {
            id: `evt_with_${mode}_${i}`,
            type: 'ping',
            conversationId: 'conv-w',
            body: '{}',
            now,
          });
          await handle.db.insertInto('webhook_deliveries').values(rows).execute();
        }
        const claim = (delivered: { position: number; statusCode: number; durationMs: number }[]) =>
          claimDue(handle.db, mode, {
            endpointIds: ['hook-1'],
            now,
            limit: 10,
            owner: 'A',
            leaseUntil: now + 60_000,
            delivered,
          });
        const [first] = await claim([]);
        assert.equal(first?.event_id, `evt_with_${mode}_0`);
        const next = await claim([{ position: Number(first?.position), statusCode: 204, durationMs: 7 }]);
        assert.deepEqual(
          next.map((row) => row.event_id),
          [`evt_with_${mode}_1`],
        );
        const settled = await handle.db
          .selectFrom('webhook_deliveries')
          .select(['status', 'last_status_code', 'last_duration_ms', 'lease_owner', 'delivered_at'])
          .where('event_id', '=', `evt_with_${mode}_0`)
          .executeTakeFirstOrThrow();
        assert.deepEqual(
          { ...settled, delivered_at: Number(settled.delivered_at) },
          { status: 'delivered', last_status_code: 204, last_duration_ms: 7, lease_owner: null, delivered_at: now },
        );
      });
    }
  });

  describe(`message.created with presence in Redis (${dialect.name})`, { skip: REDIS_SKIP_REASON }, () => {
    const prefix = `chat-test:${randomUUID()}:`;
    let app: TestApp;
    let receiver: Receiver;

    before(async () => {
      app = await startTestApp(dialect, {
        env: { DEBUG: 'True' },
        redis: { prefix },
        server: { webhookDelivery: FAST },
      });
      receiver = await startReceiver();
    });
    after(async () => {
      await app.close();
      await receiver.stop();
      await dropPrefix(prefix);
    });

    test('recipient_online is what Redis presence said as the message was stored; the unread count counts it', async () => {
      const [admin, b1, m1] = [
        await app.addUser('a1', 'admin'),
        await app.addUser('b1', 'buyer'),
        await app.addUser('m1', 'merchant'),
      ];
      const created = await app.client.post('/api/webhooks', {
        token: admin,
        body: { url: receiver.url, events: ['message.created'] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const conversation = await openConversation(app, b1, 'b1', 'm1');
      await sendText(app, b1, conversation, 'while away');
      const socket = await app.connect('m1', m1);
      // Sent once the connection's presence is in Redis.
      await socket.waitFor('online_users');
      await sendText(app, b1, conversation, 'while here');
      await socket.close();
      // The bus keeps presence in the sorted set `<prefix>online` (redis-bus.ts).
      await until(
        () => withRedis((redis) => redis.zscore(`${prefix}online`, 'm1')),
        (score) => score === null,
        'm1 gone from Redis presence',
      );
      await sendText(app, b1, conversation, 'gone again');
      await receiver.waitFor((all) => all.length >= 3, 'three events');
      assert.deepEqual(
        messagesIn(receiver.received).map((body) => [
          body.data.message.content,
          body.data.recipient_online,
          body.data.recipient_unread,
        ]),
        [
          ['while away', false, 1],
          ['while here', true, 2],
          ['gone again', false, 3],
        ],
      );
    });
  });
}
