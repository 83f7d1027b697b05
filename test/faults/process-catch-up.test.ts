import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MYSQL_SKIP_REASON } from '../helpers/databases.ts';
import { assertConversationIntegrity, isAcked, Ledger, restSend, WsSender } from './helpers/process-load.ts';
import {
  createFaultDatabase,
  type FaultDatabase,
  type ServerProcess,
  ServerSupervisor,
} from './helpers/process-server.ts';

/**
 * Offline catch-up, the recipe of docs/REALTIME.md against the real server
 * child: 50 messages arrive while a client is offline; on reconnect it learns
 * from the conversation list that it is behind and pages through after_seq.
 * (test/realtime/redis-outage.test.ts covers the neighbouring case: a client
 * that stayed connected but missed pushes while Redis was down.)
 */

const MISSED = 50;
const PAGE = 20;

describe('offline catch-up by seq (server child, MariaDB)', { skip: MYSQL_SKIP_REASON }, () => {
  let database: FaultDatabase;
  let supervisor: ServerSupervisor;
  let server: ServerProcess;
  const tokens: Record<string, string> = {};
  let conversationId: string;

  before(async () => {
    database = await createFaultDatabase();
    tokens.b1 = await database.addUser('b1', 'buyer');
    tokens.m1 = await database.addUser('m1', 'merchant');
    supervisor = await ServerSupervisor.create(database.url);
    server = await supervisor.start();
    const created = await server.client.post('/api/conversations/', {
      token: tokens.b1,
      body: { participant1_id: 'b1', participant2_id: 'm1' },
    });
    assert.equal(created.status, 201);
    conversationId = created.body.id;
  });
  after(async () => {
    await supervisor?.close();
    await database?.drop();
  });

  test('50 messages sent while offline come back exactly, in order, and only by after_seq', async () => {
    const ledger = new Ledger();
    const b1 = await WsSender.connect(server.baseUrl, 'b1', tokens.b1 ?? '');
    const online = await WsSender.connect(server.baseUrl, 'm1', tokens.m1 ?? '');
    const first = await b1.send(ledger.add(conversationId, 'b1', 'before'));
    assert.equal(first.kind, 'acked');
    const pushed = await online.socket.waitFor('message');
    const held = pushed.seq as number;
    await online.close();

    // While m1 is offline: half over REST, half over the socket (within its burst of 30 frames).
    const missed = Array.from({ length: MISSED }, (_, i) => ledger.add(conversationId, 'b1', i % 2 ? 'ws' : 'rest'));
    for (const entry of missed) {
      const outcome = entry.clientMsgId.startsWith('ws')
        ? await b1.send(entry)
        : await restSend(server.baseUrl, tokens.b1 ?? '', entry);
      assert.equal(outcome.kind, 'acked', JSON.stringify(outcome));
    }
    assert.ok(ledger.entries.every(isAcked));

    // Reconnect: nothing is replayed on the socket; the list says the conversation is ahead of what m1 holds.
    const back = await WsSender.connect(server.baseUrl, 'm1', tokens.m1 ?? '');
    await back.socket.sync();
    assert.deepEqual(back.socket.of('message'), [], 'pushes are not queued for offline clients');
    const list = await server.client.get('/api/conversations/', { token: tokens.m1 });
    assert.equal(list.status, 200);
    const listed = list.body.results.find((c: { id: string }) => c.id === conversationId);
    assert.equal(listed.last_seq, held + MISSED);

    const caughtUp: { id: string; seq: number; content: string }[] = [];
    let cursor = held;
    for (let page = 0; page < 10; page++) {
      const response = await server.client.get(
        `/api/conversations/${conversationId}/messages?after_seq=${cursor}&limit=${PAGE}`,
        { token: tokens.m1 },
      );
      assert.equal(response.status, 200, JSON.stringify(response.body));
      caughtUp.push(...response.body.results);
      if (response.body.results.length < PAGE) break;
      cursor = response.body.results.at(-1).seq;
    }
    const ackedIds = missed
      .map((entry) => entry.outcomes.find((o) => o.kind === 'acked'))
      .map((o) => o && 'id' in o && o.id);
    assert.deepEqual(
      caughtUp.map((m) => m.id),
      ackedIds,
      'exactly the 50 missed messages, in send order',
    );
    assert.deepEqual(
      caughtUp.map((m) => m.seq),
      Array.from({ length: MISSED }, (_, i) => held + 1 + i),
    );
    assert.deepEqual(
      caughtUp.map((m) => m.content),
      missed.map((entry) => entry.content),
    );

    // Live again: the next message is pushed with the next seq, no gap.
    const next = await b1.send(ledger.add(conversationId, 'b1', 'after'));
    assert.equal(next.kind, 'acked');
    const live = await back.socket.waitFor('message');
    assert.equal(live.seq, held + MISSED + 1);
    await assertConversationIntegrity(database.db, [conversationId]);
    await Promise.all([b1.close(), back.close()]);
  });
});
