import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Message } from '@cs-chat/contracts/rest/message.schemas';
import type { MessageEvent } from '@cs-chat/contracts/ws/protocol';
import { RealtimeClient, type RealtimeOptions } from '@cs-chat/sdk/realtime';
import { createTokenIssuer } from '../../src/modules/auth/tokens.ts';
import { createInProcessBus, type FanoutBus } from '../../src/realtime/bus.ts';
import { testDialects } from '../helpers/databases.ts';
import { freePort, until } from '../helpers/polling.ts';
import { type CutMode, startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { startTestApp, TEST_SECRET, type TestApp } from '../helpers/test-app.ts';

/**
 * The SDK's realtime client (packages/sdk/src/realtime.ts) against a real
 * server: whatever breaks the link (a restart, a network cut, an expired
 * token), every message is stored once and every recipient sees each one
 * exactly once, in seq order.
 */

const FAST: Partial<RealtimeOptions> = { backoff: { initialMs: 20, maxMs: 300 } };

interface Recorder {
  client: RealtimeClient;
  messages: MessageEvent[];
  states: string[];
  closeCodes: number[];
  unauthorized: number;
  /** error_type of every `error` event no send claimed (e.g. rate_limited). */
  errors: string[];
}

function client(options: RealtimeOptions): Recorder {
  const recorder: Recorder = {
    client: new RealtimeClient({ ...FAST, ...options }),
    messages: [],
    states: [],
    closeCodes: [],
    unauthorized: 0,
    errors: [],
  };
  recorder.client.on('error', (event) => recorder.errors.push(event.error_type));
  recorder.client.on('message', (event) => recorder.messages.push(event));
  recorder.client.on('state', (event) => {
    recorder.states.push(event.state);
    if (event.closeCode !== undefined) recorder.closeCodes.push(event.closeCode);
  });
  recorder.client.on('unauthorized', () => recorder.unauthorized++);
  return recorder;
}

async function opened(recorder: Recorder): Promise<void> {
  await until(
    () => recorder.client.state,
    (state) => state === 'open',
    'open',
  );
}

/** Every stored message of a conversation, in seq order. */
async function stored(app: TestApp, token: string, conversationId: string): Promise<Message[]> {
  const response = await app.client.get(`/api/conversations/${conversationId}/messages?after_seq=0&limit=100`, {
    token,
  });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.results;
}

/** The recipient saw exactly the stored messages of `sender`, once each, in seq order. */
function assertSeenOnceInOrder(seen: MessageEvent[], messages: Message[]): void {
  assert.deepEqual(
    seen.map((m) => [m.seq, m.content]),
    messages.map((m) => [m.seq, m.content]),
  );
}

for (const dialect of testDialects) {
  describe(`SDK realtime client (${dialect.name})`, () => {
    const clients: RealtimeClient[] = [];
    after(() => {
      for (const c of clients) c.close();
    });
    const track = (recorder: Recorder) => {
      clients.push(recorder.client);
      return recorder;
    };

    test('a server restart in the middle of a burst: every message stored once, seen once and in order', async () => {
      const port = await freePort();
      const first = await startTestApp(dialect, { env: { PORT: String(port) } });
      let second: TestApp | undefined;
      let proxy: TcpProxy | undefined;
      try {
        const buyer = await first.addUser('b1', 'buyer');
        const merchant = await first.addUser('m1', 'merchant');
        const conversationId = await first.conversation(buyer, 'b1', 'm1');
        const baseUrl = `http://127.0.0.1:${port}`;
        // The receiver goes through a proxy, kept cut from the restart until the burst is stored, so
        // that it must catch up what it missed (rather than happen to be back in time for the pushes).
        proxy = await startTcpProxy({ host: '127.0.0.1', port });
        const sender = track(client({ baseUrl, userId: 'b1', token: buyer }));
        const receiver = track(client({ baseUrl: `http://127.0.0.1:${proxy.port}`, userId: 'm1', token: merchant }));
        receiver.client.watch(conversationId);
        sender.client.connect();
        receiver.client.connect();
        await Promise.all([opened(sender), opened(receiver)]);

        const total = 100;
        const acks: number[] = [];
        const sends: Promise<unknown>[] = [];
        let fifthAck: () => void = () => {};
        const fifth = new Promise<void>((resolve) => {
          fifthAck = resolve;
        });
        const send = (i: number) =>
          sends.push(
            sender.client.send(conversationId, `burst ${i}`).then((ack) => {
              if (acks.push(ack.seq) === 5) fifthAck();
            }),
          );
        for (let i = 0; i < total / 2; i++) send(i);
        await fifth;
        // Mid-burst: the first half is partly acknowledged, partly in flight.
        assert.ok(acks.length < total / 2, `the burst was over before the restart (${acks.length} acks)`);
        proxy.cut('reset');
        await first.server.close();
        for (let i = total / 2; i < total; i++) send(i);
        second = await startTestApp(dialect, { sharedDatabase: first.scratch.urlString, env: { PORT: String(port) } });
        await Promise.all(sends);
        const seenBeforeRestore = receiver.messages.length;
        assert.ok(seenBeforeRestore < total, 'the receiver had everything before it came back');
        proxy.restore();
        await until(
          () => receiver.messages.length,
          (n) => n >= total,
          'every message at the receiver',
        );

        const messages = await stored(second, merchant, conversationId);
        assert.equal(messages.length, total);
        assert.deepEqual(new Set(messages.map((m) => m.content)).size, total);
        assertSeenOnceInOrder(receiver.messages, messages);
        assert.deepEqual(
          [...acks].sort((a, b) => a - b),
          messages.map((m) => m.seq),
        );
        assert.ok(receiver.states.filter((s) => s === 'open').length >= 2, 'the receiver reconnected');
        assert.ok(sender.closeCodes.includes(1012), `the sender saw the restart close: ${sender.closeCodes}`);
        // The burst is paced to the server's frame budget: never refused, never closed for abuse (1008).
        assert.deepEqual(sender.errors, []);
        assert.ok(!sender.closeCodes.includes(1008), `closed with ${sender.closeCodes}`);
      } finally {
        for (const c of clients.splice(0)) c.close();
        await proxy?.close();
        await second?.close();
        await first.scratch.drop();
      }
    });

    for (const mode of ['reset', 'hang'] satisfies CutMode[]) {
      test(`a network cut (${mode}) between the recipient and the server: it catches up every message once, in order`, async () => {
        const app = await startTestApp(dialect);
        const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(app.server.url).port) });
        try {
          const buyer = await app.addUser('b1', 'buyer');
          const merchant = await app.addUser('m1', 'merchant');
          const conversationId = await app.conversation(buyer, 'b1', 'm1');
          const sender = track(client({ baseUrl: app.server.url, userId: 'b1', token: buyer }));
          // A short heartbeat so that a silent (hung) link is noticed within the test's patience.
          const receiver = track(
            client({
              baseUrl: `http://127.0.0.1:${proxy.port}`,
              userId: 'm1',
              token: merchant,
              pingIntervalMs: 200,
              pongTimeoutMs: 300,
            }),
          );
          receiver.client.watch(conversationId);
          sender.client.connect();
          receiver.client.connect();
          await Promise.all([opened(sender), opened(receiver)]);

          await sender.client.send(conversationId, 'before');
          await until(
            () => receiver.messages.length,
            (n) => n === 1,
            'the first message live',
          );
          proxy.cut(mode);
          await until(
            () => receiver.client.state,
            (state) => state !== 'open',
            'the receiver noticed the cut',
          );
          for (let i = 0; i < 10; i++) await sender.client.send(conversationId, `during ${i}`);
          proxy.restore();
          await opened(receiver);
          await sender.client.send(conversationId, 'after');
          await until(
            () => receiver.messages.length,
            (n) => n >= 12,
            'every message at the receiver',
          );
          assertSeenOnceInOrder(receiver.messages, await stored(app, merchant, conversationId));
          assert.equal(receiver.messages.length, 12);
        } finally {
          for (const c of clients.splice(0)) c.close();
          await proxy.close();
          await app.close();
        }
      });
    }

    test('a resync (pushes were lost on the bus): the client catches up what never came live', async () => {
      const inner = createInProcessBus();
      let down = false;
      let restored: (info: { missedPublishes: number }) => void = () => {};
      // A bus that drops what is published while it is "down", as Redis going away would.
      const bus: FanoutBus = {
        ...inner,
        publish(envelope) {
          if (!down) inner.publish(envelope);
        },
        onRestored(handler) {
          restored = handler;
        },
      };
      const app = await startTestApp(dialect, { server: { bus } });
      try {
        const buyer = await app.addUser('b1', 'buyer');
        const merchant = await app.addUser('m1', 'merchant');
        const conversationId = await app.conversation(buyer, 'b1', 'm1');
        const sender = track(client({ baseUrl: app.server.url, userId: 'b1', token: buyer }));
        const receiver = track(client({ baseUrl: app.server.url, userId: 'm1', token: merchant }));
        let resyncs = 0;
        receiver.client.on('resync', () => resyncs++);
        receiver.client.watch(conversationId);
        sender.client.connect();
        receiver.client.connect();
        await Promise.all([opened(sender), opened(receiver)]);

        await sender.client.send(conversationId, 'live');
        await until(
          () => receiver.messages.length,
          (n) => n === 1,
          'the first message live',
        );
        down = true;
        for (let i = 0; i < 3; i++) await sender.client.send(conversationId, `lost push ${i}`);
        assert.equal(receiver.messages.length, 1, 'the pushes were dropped');
        down = false;
        restored({ missedPublishes: 3 });
        await until(
          () => receiver.messages.length,
          (n) => n >= 4,
          'the missed messages caught up',
        );
        assert.equal(resyncs, 1);
        assertSeenOnceInOrder(receiver.messages, await stored(app, merchant, conversationId));
      } finally {
        for (const c of clients.splice(0)) c.close();
        await app.close();
      }
    });

    test("a team member's client emits conversation_updated and note (typed); the customer's gets no note", async () => {
      const app = await startTestApp(dialect);
      try {
        const buyer = await app.addUser('b1', 'buyer');
        await app.addUser('m1', 'merchant');
        const agent = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
        const conversationId = await app.conversation(buyer, 'b1', 'm1');
        const member = track(client({ baseUrl: app.server.url, userId: 'm1a', token: agent }));
        const customer = track(client({ baseUrl: app.server.url, userId: 'b1', token: buyer }));
        const updates: string[] = [];
        const notes: string[] = [];
        let customerNotes = 0;
        member.client.on('conversation_updated', (event) => updates.push(`${event.change}:${event.assignee_id}`));
        member.client.on('note', (event) => notes.push(event.content));
        customer.client.on('note', () => customerNotes++);
        member.client.connect();
        customer.client.connect();
        await Promise.all([opened(member), opened(customer)]);

        const claimed = await app.client.post(`/api/conversations/${conversationId}/assignment`, {
          token: agent,
          body: { assignee_id: 'm1a' },
        });
        assert.equal(claimed.status, 200, JSON.stringify(claimed.body));
        const noted = await app.client.post(`/api/conversations/${conversationId}/notes`, {
          token: agent,
          body: { content: '老客户' },
        });
        assert.equal(noted.status, 201, JSON.stringify(noted.body));
        await until(
          () => Math.min(updates.length, notes.length),
          (n) => n >= 1,
          'the update and the note at the member',
        );
        assert.deepEqual(updates, ['assignment:m1a']);
        assert.deepEqual(notes, ['老客户']);
        assert.equal(customerNotes, 0);
      } finally {
        for (const c of clients.splice(0)) c.close();
        await app.close();
      }
    });

    test('an expiring token: the socket closes 4401, the client asks its token source again and catches up', async () => {
      const app = await startTestApp(dialect);
      try {
        const buyer = await app.addUser('b1', 'buyer');
        await app.addUser('m1', 'merchant');
        const conversationId = await app.conversation(buyer, 'b1', 'm1');
        const shortLived = createTokenIssuer({ secret: TEST_SECRET, algorithm: 'HS256', expireDays: 1 / 86_400 });
        const tokensHandedOut: string[] = [];
        const token = async () => {
          // The first token lives one second; later ones are the usual kind.
          const issued =
            tokensHandedOut.length === 0
              ? (await shortLived.issue('m1', 'merchant')).token
              : await app.tokenFor('m1', 'merchant');
          tokensHandedOut.push(issued);
          return issued;
        };
        const sender = track(client({ baseUrl: app.server.url, userId: 'b1', token: buyer }));
        const receiver = track(client({ baseUrl: app.server.url, userId: 'm1', token }));
        receiver.client.watch(conversationId);
        // Sent while the receiver is away (between the 4401 and its reconnection).
        receiver.client.on('unauthorized', () => {
          for (let i = 0; i < 5; i++) void sender.client.send(conversationId, `while away ${i}`);
        });
        sender.client.connect();
        receiver.client.connect();
        await Promise.all([opened(sender), opened(receiver)]);
        await sender.client.send(conversationId, 'first');

        await until(
          () => receiver.messages.length,
          (n) => n >= 6,
          'every message at the receiver',
        );
        assert.ok(receiver.closeCodes.includes(4401), `closed with ${receiver.closeCodes}`);
        assert.equal(receiver.unauthorized, 1);
        assert.ok(tokensHandedOut.length >= 2, 'the token source was asked again');
        assertSeenOnceInOrder(receiver.messages, await stored(app, buyer, conversationId));
        assert.equal(receiver.client.state, 'open');
      } finally {
        for (const c of clients.splice(0)) c.close();
        await app.close();
      }
    });
  });
}
