import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { WEBHOOK_EVENT_DATA, type WebhookEventName } from '@cs-chat/contracts/rest/webhook-events.schemas';
import type { Kysely } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { Compile } from 'typebox/compile';
import { openDatabase } from '../src/db/connection.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { inTransaction } from '../src/db/transaction.ts';
import type { Database, UserRow } from '../src/db/types.ts';
import { newWebhookSecret } from '../src/modules/webhooks/webhook.service.ts';
import { createSubscriptions, writeEventsToOutbox } from '../src/modules/webhooks/webhook-outbox.ts';
import { type ScratchDatabase, testDialects } from './helpers/databases.ts';
import { insertUser } from './helpers/factories.ts';
import { openConversation, sendText } from './helpers/rest.ts';
import { createTestServices } from './helpers/services.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';

const FAST = { retryDelaysMs: [100, 200, 400], timeoutMs: 400, pollMs: 50 };
const OUTBOX_EVENTS = ['message.read', 'message.deleted', 'conversation.created'] as const;

interface Event {
  type: WebhookEventName;
  timestamp: string;
  data: Record<string, unknown>;
}

/** Each event's data as the contract describes it (a field the docs do not promise fails here). */
const validators = Object.fromEntries(
  Object.entries(WEBHOOK_EVENT_DATA).map(([name, schema]) => [name, Compile(schema)]),
) as Record<WebhookEventName, ReturnType<typeof Compile>>;

function assertMatchesContract(event: Event): void {
  const validator = validators[event.type];
  assert.ok(validator, `no schema for ${event.type}`);
  assert.ok(validator.Check(event.data), `${event.type}: ${JSON.stringify([...validator.Errors(event.data)])}`);
}

test('every example in docs/WEBHOOKS.md matches its event schema, and every event has one', () => {
  const docs = readFileSync(new URL('../docs/WEBHOOKS.md', import.meta.url), 'utf8');
  const examples = [...docs.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => JSON.parse(match[1] ?? '') as Event);
  const typed = examples.filter((example) => example.type in WEBHOOK_EVENT_DATA);
  for (const example of typed) assertMatchesContract(example);
  assert.deepEqual(new Set(typed.map((example) => example.type)), new Set(Object.keys(WEBHOOK_EVENT_DATA)));
});

for (const dialect of testDialects) {
  describe(`webhook events of reads, deletes and new conversations (${dialect.name})`, () => {
    let app: TestApp;
    let tokens: Record<string, string>;

    before(async () => {
      app = await startTestApp(dialect, { env: { DEBUG: 'True' }, server: { webhookDelivery: FAST } });
      tokens = await app.addUsers({ a1: 'admin', b1: 'buyer', m1: 'merchant' });
    });
    after(async () => {
      await app.close();
    });

    test('each arrives signed (verified with standardwebhooks), exactly as the contract says, in commit order', async () => {
      const receiver = await startReceiver();
      const created = await app.client.post('/api/webhooks', {
        token: tokens.a1,
        body: { url: receiver.url, events: [...OUTBOX_EVENTS] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      try {
        const conversation = await openConversation(app, tokens.b1 as string, 'b1', 'm1');
        // Opening it again is no new conversation.
        await openConversation(app, tokens.m1 as string, 'b1', 'm1');
        const first = await sendText(app, tokens.b1 as string, conversation, 'one');
        const second = await sendText(app, tokens.b1 as string, conversation, 'two');
        const third = await sendText(app, tokens.b1 as string, conversation, 'three');
        const read = await app.client.put(`/api/messages/${first.id}/read`, { token: tokens.m1 });
        assert.equal(read.status, 200);
        // Read again: nothing changed, no event.
        await app.client.put(`/api/messages/${first.id}/read`, { token: tokens.m1 });
        const readAll = await app.client.put(`/api/conversations/${conversation}/messages/read-all`, {
          token: tokens.m1,
        });
        assert.equal(readAll.status, 200);
        // Nothing left unread: no event.
        await app.client.put(`/api/conversations/${conversation}/messages/read-all`, { token: tokens.m1 });
        const deleted = await app.client.delete(`/api/messages/${second.id}`, { token: tokens.a1 });
        assert.equal(deleted.status, 200, JSON.stringify(deleted.body));

        await receiver.waitFor((all) => all.length >= 4, 'four events');
        const verifier = new Webhook(created.body.secret);
        const events = receiver.received.map(
          (entry) => verifier.verify(entry.body, entry.headers as Record<string, string>) as Event,
        );
        for (const event of events) assertMatchesContract(event);
        assert.deepEqual(
          events.map((event) => event.type),
          ['conversation.created', 'message.read', 'message.read', 'message.deleted'],
        );
        const [opened, one, all, removed] = events as [Event, Event, Event, Event];
        assert.deepEqual(
          { ...opened.data, created_at: 0 },
          {
            conversation_id: conversation,
            participant1_id: 'b1',
            participant2_id: 'm1',
            customer_id: 'b1',
            merchant_id: 'm1',
            started_by: 'b1',
            created_at: 0,
          },
        );
        assert.deepEqual(
          { ...one.data, read_at: 0 },
          {
            conversation_id: conversation,
            reader_id: 'm1',
            sender_id: 'b1',
            message_id: first.id,
            seq: first.seq,
            reader_unread: 2,
            read_at: 0,
          },
        );
        assert.deepEqual(
          { ...all.data, read_at: 0 },
          {
            conversation_id: conversation,
            reader_id: 'm1',
            sender_id: 'b1',
            message_id: null,
            seq: third.seq,
            reader_unread: 0,
            read_at: 0,
          },
        );
        assert.deepEqual(
          { ...removed.data, deleted_at: 0, created_at: 0 },
          {
            message_id: second.id,
            conversation_id: conversation,
            seq: second.seq,
            sender_id: 'b1',
            message_type: 'text',
            created_at: 0,
            deleted_by: 'a1',
            deleted_at: 0,
          },
        );
        // message.created was not subscribed: none of the three sends was written for this endpoint.
        const log = await app.client.get<{ event_type: string }[]>(`/api/webhooks/${created.body.id}/deliveries`, {
          token: tokens.a1,
        });
        assert.equal(log.body.length, 4);
        assert.equal(receiver.received.length, 4);
      } finally {
        await app.client.delete(`/api/webhooks/${created.body.id}`, { token: tokens.a1 });
        await receiver.stop();
      }
    });
  });

  describe(`webhook events are written in their change's transaction (${dialect.name})`, () => {
    let scratch: ScratchDatabase;
    let db: Kysely<Database>;
    let destroy: () => Promise<void>;
    /** Every statement run, in order (to count what a change costs). */
    const statements: string[] = [];
    let buyer: UserRow;
    let merchant: UserRow;
    let admin: UserRow;

    before(async () => {
      scratch = await dialect.create();
      const handle = openDatabase(scratch.url, { logQuery: (sql) => statements.push(sql) });
      db = handle.db;
      destroy = () => handle.destroy();
      await migrateToLatest(db);
      buyer = await insertUser(db, { role: 'buyer' });
      merchant = await insertUser(db, { role: 'merchant' });
      admin = await insertUser(db, { role: 'admin' });
    });
    after(async () => {
      await destroy();
      await scratch.drop();
    });

    /** The services with the outbox subscribed, and an endpoint subscribed to `events`. */
    async function servicesWithEndpoint(events: readonly string[]) {
      await db.deleteFrom('webhook_deliveries').execute();
      await db.deleteFrom('webhook_endpoints').execute();
      await db
        .insertInto('webhook_endpoints')
        .values({
          id: `hook-${events.length}`,
          url: 'https://93.184.216.34/hooks',
          description: null,
          events: events.join(','),
          secret: newWebhookSecret(),
          previous_secret: null,
          previous_secret_expires_at: null,
          disabled_reason: null,
          created_at: 1,
          updated_at: 1,
          failing_since: null,
        })
        .execute();
      const subscriptions = createSubscriptions(db);
      await subscriptions.refresh();
      const services = createTestServices(db);
      writeEventsToOutbox(services.transactionEvents, subscriptions);
      return services;
    }
    const outbox = () => db.selectFrom('webhook_deliveries').select(['event_type', 'payload']).execute();
    const rollback = new Error('the caller rolls back');
    /** Runs `work` in a caller's transaction that then rolls back. */
    const rolledBack = (work: Parameters<typeof inTransaction>[2]) =>
      assert.rejects(
        inTransaction(db, undefined, async (tx) => {
          await work(tx);
          throw rollback;
        }),
        (error) => error === rollback,
      );

    test('a change that rolls back leaves no event; one that commits leaves exactly its own', async () => {
      const { conversations, messages } = await servicesWithEndpoint(OUTBOX_EVENTS);
      const origin = { skipConnectionId: null, echoToSender: true };
      const pair = { participant1_id: buyer.id, participant2_id: merchant.id };

      await rolledBack((tx) => conversations.open(buyer, pair, tx));
      assert.deepEqual(await outbox(), []);
      const { conversation } = await conversations.open(buyer, pair);
      assert.deepEqual(
        (await outbox()).map((row) => row.event_type),
        ['conversation.created'],
      );

      const sent = await messages.send(buyer, { conversation_id: conversation.id, content: 'hi' }, origin);
      await messages.send(buyer, { conversation_id: conversation.id, content: 'again' }, origin);
      await rolledBack((tx) => messages.markRead(merchant, sent.message.id, tx));
      await rolledBack((tx) => messages.readAll(merchant, conversation.id, undefined, tx));
      await rolledBack((tx) => messages.remove(admin, sent.message.id, tx));
      assert.equal((await outbox()).length, 1, 'nothing from the rolled-back read, read-all and delete');

      await messages.markRead(merchant, sent.message.id);
      await messages.readAll(merchant, conversation.id, undefined);
      await messages.remove(admin, sent.message.id);
      const rows = await outbox();
      assert.deepEqual(
        rows.map((row) => row.event_type),
        ['conversation.created', 'message.read', 'message.read', 'message.deleted'],
      );
      const data = rows.map((row) => (JSON.parse(row.payload) as Event).data);
      assert.equal(data[1]?.message_id, sent.message.id);
      assert.equal(data[2]?.message_id, null);
      assert.equal(data[3]?.message_id, sent.message.id);
    });

    test('no endpoint subscribed to an event: its change runs exactly the statements it runs without webhooks', async () => {
      /** The statements of open, send, read, read-all and delete on a fresh pair. */
      async function statementsOf(services: ReturnType<typeof createTestServices>) {
        const [b, m] = [await insertUser(db, { role: 'buyer' }), await insertUser(db, { role: 'merchant' })];
        const origin = { skipConnectionId: null, echoToSender: true };
        const counts: number[] = [];
        const count = async (work: () => Promise<unknown>) => {
          const before = statements.length;
          await work();
          counts.push(statements.length - before);
          return statements.slice(before);
        };
        let conversationId = '';
        const seen = await count(async () => {
          conversationId = (await services.conversations.open(b, { participant1_id: b.id, participant2_id: m.id }))
            .conversation.id;
        });
        const sent = await services.messages.send(b, { conversation_id: conversationId, content: 'x' }, origin);
        await services.messages.send(b, { conversation_id: conversationId, content: 'y' }, origin);
        seen.push(...(await count(() => services.messages.markRead(m, sent.message.id))));
        seen.push(...(await count(() => services.messages.readAll(m, conversationId, undefined))));
        seen.push(...(await count(() => services.messages.remove(admin, sent.message.id))));
        return { counts, seen };
      }
      const without = await statementsOf(createTestServices(db));
      // Subscribed to message.created only: the outbox is wired, but wants none of these.
      const wired = await statementsOf(await servicesWithEndpoint(['message.created']));
      assert.deepEqual(wired.counts, without.counts);
      assert.deepEqual(
        wired.seen.filter((sql) => sql.includes('webhook')),
        [],
      );
      // And the check can fail: subscribed, each of the four changes writes (and reads what its event says).
      const subscribed = await statementsOf(await servicesWithEndpoint(OUTBOX_EVENTS));
      assert.ok(
        subscribed.counts.every((n, i) => n > (without.counts[i] ?? 0)),
        JSON.stringify(subscribed.counts),
      );
    });
  });
}
