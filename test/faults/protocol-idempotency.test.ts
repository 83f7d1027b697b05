/**
 * Issue 6, case 7: an idempotency storm. The same client_msg_id is sent five
 * times at once, over REST and WebSocket mixed (three POSTs, two frames on two
 * sockets of the sender), in several rounds. Pass: one row per id, the same
 * id and seq in every REST body and every WS ack, at most one 201, exactly one
 * push to the other participant, and seqs stay 1..n without gaps. Then the
 * same id with different content in each of the five sends: exactly one is
 * stored, the other four are 409 client_msg_id_conflict (REST) or an `error`
 * event with that error_type and the client_msg_id (WS).
 *
 * Extends test/messages.test.ts ("the same client_msg_id sent 10 times at
 * once stores one row", REST only; "the same client_msg_id with different
 * content is a 409", sequential) and test/realtime/push.test.ts ("a WS send is
 * acked…", sequential retries and conflict over one socket) to concurrent,
 * mixed transports on both dialects.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from '../helpers/databases.ts';
import { openConversation } from '../helpers/rest.ts';
import type { TestSocket } from '../realtime/helpers.ts';
import { type ProtocolApp, startProtocolApp } from './helpers/protocol-app.ts';

const ROUNDS = 8;

type Answer = { via: 'rest'; status: number; body: any } | { via: 'ws'; event: { type: string; [field: string]: any } };

for (const dialect of testDialects) {
  describe(`idempotency storm over REST and WebSocket (case 7, ${dialect.name})`, () => {
    let app: ProtocolApp;
    let buyer: string;
    let merchant: string;
    let conversationId: string;
    let tabs: TestSocket[];
    let watcher: TestSocket;

    before(async () => {
      app = await startProtocolApp(dialect);
      buyer = await app.addUser('b1', 'buyer');
      merchant = await app.addUser('m1', 'merchant');
      conversationId = await openConversation(app, buyer, 'b1', 'm1');
      tabs = [await app.connect('b1', buyer), await app.connect('b1', buyer)];
      watcher = await app.connect('m1', merchant);
    });
    after(() => app.close());

    /** Five sends of one client_msg_id at once: `contents[i]` for send i; REST and WS interleaved per round. */
    async function storm(clientMsgId: string, contents: string[], round: number): Promise<Answer[]> {
      const order = ['rest', 'ws', 'rest', 'ws', 'rest'].map((_, i, all) => all[(i + round) % all.length]);
      let socketIndex = 0;
      const sends = contents.map((content, i): Promise<Answer> => {
        const body = { conversation_id: conversationId, content, client_msg_id: clientMsgId };
        if (order[i] === 'rest') {
          return app.client
            .post('/api/messages/', { token: buyer, body })
            .then((response) => ({ via: 'rest', status: response.status, body: response.body }));
        }
        const socket = tabs[socketIndex++ % tabs.length] as TestSocket;
        const since = socket.events.length;
        // Frames overtake fetch on loopback; staggering them by 0-3 ms in turn lets REST win some rounds too.
        const stagger = round % 4;
        const sent = stagger === 0 ? Promise.resolve() : new Promise<void>((resolve) => setTimeout(resolve, stagger));
        return sent
          .then(() => {
            socket.send({ type: 'message', ...body });
            return socket.waitFor(
              (event) => (event.type === 'ack' || event.type === 'error') && event.client_msg_id === clientMsgId,
              since,
              `answer to ${clientMsgId}`,
            );
          })
          .then((event) => ({ via: 'ws', event }));
      });
      return Promise.all(sends);
    }

    async function rowsWith(clientMsgId: string) {
      return app.server.database.db
        .selectFrom('messages')
        .select(['id', 'seq', 'content'])
        .where('client_msg_id', '=', clientMsgId)
        .execute();
    }

    test('the same client_msg_id five times at once: one row, the same id and seq in every answer', async (t) => {
      const winners = new Set<string>();
      for (let round = 0; round < ROUNDS; round++) {
        const clientMsgId = `storm-${round}`;
        const answers = await storm(clientMsgId, Array(5).fill(`storm content ${round}`), round);
        const seen = answers.map((answer) =>
          answer.via === 'rest'
            ? { status: answer.status, id: answer.body?.id, seq: answer.body?.seq }
            : { status: answer.event.type, id: answer.event.id, seq: answer.event.seq },
        );
        const detail = `${clientMsgId}: ${JSON.stringify(seen)}`;
        winners.add(seen.some((s) => s.status === 201) ? 'rest' : 'ws');
        for (const answer of answers) {
          if (answer.via === 'rest') assert.ok([200, 201].includes(answer.status), detail);
          else assert.equal(answer.event.type, 'ack', detail);
        }
        assert.equal(new Set(seen.map((s) => s.id)).size, 1, `one id: ${detail}`);
        assert.equal(new Set(seen.map((s) => s.seq)).size, 1, `one seq: ${detail}`);
        assert.ok(seen.filter((s) => s.status === 201).length <= 1, `at most one 201: ${detail}`);
        const rows = await rowsWith(clientMsgId);
        assert.equal(rows.length, 1, `one row: ${detail}`);
        assert.equal(rows[0]?.id, seen[0]?.id);
        assert.equal(Number(rows[0]?.seq), seen[0]?.seq);
      }
      t.diagnostic(`first to commit, over the rounds: ${[...winners].join(' and ')}`);
      // The other participant was told once per message; seqs are 1..ROUNDS without a gap or a repeat.
      await watcher.sync();
      for (let round = 0; round < ROUNDS; round++) {
        const pushes = watcher.events.filter((e) => e.type === 'message' && e.client_msg_id === `storm-${round}`);
        assert.equal(pushes.length, 1, `storm-${round} pushed once`);
      }
      const history = await app.client.get(`/api/conversations/${conversationId}/messages?after_seq=0&limit=100`, {
        token: buyer,
      });
      assert.deepEqual(
        history.body.results.map((m: { seq: number }) => m.seq),
        Array.from({ length: ROUNDS }, (_, i) => i + 1),
      );
    });

    test('the same client_msg_id with five different contents at once: one stored, four conflicts', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const clientMsgId = `clash-${round}`;
        const contents = Array.from({ length: 5 }, (_, i) => `clash ${round} variant ${i}`);
        const answers = await storm(clientMsgId, contents, round);
        const rows = await rowsWith(clientMsgId);
        const detail = `${clientMsgId}: ${JSON.stringify(answers)}`;
        assert.equal(rows.length, 1, detail);
        const winner = rows[0];
        let successes = 0;
        answers.forEach((answer, i) => {
          const won = contents[i] === winner?.content;
          if (answer.via === 'rest') {
            if (won) {
              assert.equal(answer.status, 201, detail);
              assert.equal(answer.body.id, winner?.id);
              successes += 1;
            } else {
              assert.equal(answer.status, 409, detail);
              assert.equal(answer.body.error_type, 'client_msg_id_conflict', detail);
              assert.ok(typeof answer.body.detail === 'string' && answer.body.detail.length > 0);
            }
          } else if (won) {
            assert.equal(answer.event.type, 'ack', detail);
            assert.equal(answer.event.id, winner?.id);
            assert.equal(answer.event.seq, Number(winner?.seq));
            successes += 1;
          } else {
            assert.equal(answer.event.type, 'error', detail);
            assert.equal(answer.event.error_type, 'client_msg_id_conflict', detail);
            assert.equal(answer.event.client_msg_id, clientMsgId);
            assert.ok(typeof answer.event.detail === 'string' && answer.event.detail.length > 0);
          }
        });
        assert.equal(successes, 1, detail);
      }
      await watcher.sync();
      for (let round = 0; round < ROUNDS; round++) {
        const pushes = watcher.events.filter((e) => e.type === 'message' && e.client_msg_id === `clash-${round}`);
        assert.equal(pushes.length, 1, `clash-${round} pushed once`);
      }
      // Afterwards the winner is what a retry with its content gets back, over either transport.
      const [row] = await rowsWith('clash-0');
      const retry = await app.client.post('/api/messages/', {
        token: buyer,
        body: { conversation_id: conversationId, content: row?.content, client_msg_id: 'clash-0' },
      });
      assert.equal(retry.status, 200);
      assert.equal(retry.body.id, row?.id);
    });
  });
}
