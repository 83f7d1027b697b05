import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createConnection } from 'mysql2/promise';
import { MYSQL_SKIP_REASON } from '../helpers/databases.ts';
import {
  assertConversationIntegrity,
  assertLedgerStored,
  assertOnlyAvailabilityErrors,
  type Entry,
  isAcked,
  Ledger,
  type Outcome,
  pump,
  restSend,
  retryUntilAcked,
  WS_PACE_MS,
  WsSender,
} from './helpers/process-load.ts';
import { createFaultDatabase, type FaultDatabase, ServerSupervisor, until } from './helpers/process-server.ts';

/**
 * Graceful shutdown under load: SIGTERM reaches `node src/main.ts` while
 * WebSocket clients and a REST client keep sending. Then the server is
 * started again and the clients resend what was not acknowledged.
 */

/** main.ts's own limit: past it the process gives up and exits 1. */
const SHUTDOWN_MS = 10_000;
const BUYERS = ['b1', 'b2', 'b3'] as const;

describe('SIGTERM under load (MariaDB)', { skip: MYSQL_SKIP_REASON }, () => {
  let database: FaultDatabase;
  let supervisor: ServerSupervisor;
  const tokens: Record<string, string> = {};
  const conversationOf: Record<string, string> = {};
  const token = (id: string) => tokens[id] ?? '';
  /** Every message either test sent. */
  const ledger = new Ledger();

  before(async () => {
    database = await createFaultDatabase();
    for (const id of BUYERS) tokens[id] = await database.addUser(id, 'buyer');
    tokens.m1 = await database.addUser('m1', 'merchant');
    supervisor = await ServerSupervisor.create(database.url);
    const server = await supervisor.start();
    for (const buyer of BUYERS) {
      const created = await server.client.post('/api/conversations/', {
        token: token(buyer),
        body: { participant1_id: buyer, participant2_id: 'm1' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      conversationOf[buyer] = created.body.id;
    }
  });
  after(async () => {
    await supervisor?.close();
    await database?.drop();
  });

  test('sockets close with 1012, every ack is committed, exit 0 within 10 s; resends after restart store once', async (t) => {
    const server = supervisor.server;
    const conversations = BUYERS.map((buyer) => conversationOf[buyer] ?? '');
    // Each buyer on its own socket, the merchant on one socket per conversation; plus a REST client.
    const wsLanes = await Promise.all([
      ...BUYERS.map(async (buyer) => ({
        label: `ws-${buyer}`,
        from: buyer,
        conversationId: conversationOf[buyer] ?? '',
        socket: await WsSender.connect(server.baseUrl, buyer, token(buyer)),
      })),
      ...BUYERS.map(async (buyer) => ({
        label: `ws-m1-${buyer}`,
        from: 'm1',
        conversationId: conversationOf[buyer] ?? '',
        socket: await WsSender.connect(server.baseUrl, 'm1', token('m1')),
      })),
    ]);
    const lanes = [
      ...wsLanes.map((lane) => ({
        ...lane,
        send: (entry: Entry): Promise<Outcome> => lane.socket.send(entry),
        paceMs: WS_PACE_MS,
        inFlight: 1,
      })),
      {
        label: 'rest-b1',
        from: 'b1',
        conversationId: conversationOf.b1 ?? '',
        send: (entry: Entry) => restSend(server.baseUrl, token('b1'), entry, 15_000),
        paceMs: 10,
        inFlight: 2,
      },
    ];
    const load = Promise.all(
      lanes.map((lane) =>
        pump({
          next: () => ledger.add(lane.conversationId, lane.from, lane.label),
          send: lane.send,
          paceMs: lane.paceMs,
          inFlight: lane.inFlight,
          max: 1_000,
          deadlineMs: 30_000,
          // A client stops at the first failure (it would reconnect and resend).
          stopOnFailure: true,
        }),
      ),
    );
    await until(
      () => ledger.acked.length,
      (n) => n >= 60,
      'sends go through before the shutdown',
    );

    const started = Date.now();
    const exit = await server.stop('SIGTERM', SHUTDOWN_MS + 5_000);
    const took = Date.now() - started;
    assert.deepEqual(exit, { code: 0, signal: null }, server.output.slice(-2_000));
    // Exit code 0 and this line prove it finished inside its own 10 s deadline (past it, it exits 1);
    // the wall-clock time is only reported: on a loaded machine it is noise.
    assert.match(server.output, /shut down cleanly/);
    t.diagnostic(`exited ${took} ms after SIGTERM`);
    const closes = await Promise.all(wsLanes.map((lane) => lane.socket.socket.closed));
    assert.deepEqual(
      closes.map((close) => close.code),
      wsLanes.map(() => 1012),
      'every socket closed with 1012 (service restart)',
    );
    await load;

    // What the clients were told: an ack, or a refusal in the API's error format, or nothing (in flight at the close).
    assertOnlyAvailabilityErrors(ledger, ['service_unavailable', 'database_unavailable']);
    const atExit = await assertLedgerStored(database.db, ledger, conversations);
    assert.equal(atExit.storedButUnacked, 0, 'every frame read before the close was answered after its commit');

    // Clients reconnect and resend everything unacknowledged with the same client_msg_id.
    const restarted = await supervisor.start();
    const unacked = ledger.unacked;
    await Promise.all(
      lanes.map(async (lane) => {
        const pending = unacked.filter((entry) => entry.clientMsgId.startsWith(`${lane.label}-`));
        if (lane.label.startsWith('rest')) {
          await retryUntilAcked(pending, (entry) => restSend(restarted.baseUrl, token(lane.from), entry));
          return;
        }
        const socket = await WsSender.connect(restarted.baseUrl, lane.from, token(lane.from));
        await retryUntilAcked(pending, (entry) => socket.send(entry), { paceMs: WS_PACE_MS });
        await socket.close();
      }),
    );
    assert.ok(ledger.entries.every(isAcked));
    const { stored } = await assertLedgerStored(database.db, ledger, conversations);
    assert.equal(stored, ledger.entries.length, 'every message stored exactly once');
    await assertConversationIntegrity(database.db, conversations);

    const refused = ledger.outcomes.filter((o) => o.kind === 'rejected');
    t.diagnostic(
      `exit ${took} ms after SIGTERM; acked before: ${ledger.entries.length - unacked.length}; ` +
        `refused while closing: ${refused.length} (${[...new Set(refused.map((o) => ('errorType' in o ? o.errorType : '')))].join(', ')}); ` +
        `unanswered: ${ledger.count('lost')}; resent ${unacked.length}; stored ${stored}`,
    );
  });

  test('a frame mid-transaction at SIGTERM is committed and acked before its 1012; meanwhile new work gets 503', async () => {
    const server = supervisor.current?.running ? supervisor.server : await supervisor.start();
    const sender = await WsSender.connect(server.baseUrl, 'b1', token('b1'));
    const other = await WsSender.connect(server.baseUrl, 'b2', token('b2'));
    // Hold b1's conversation row from outside, so the frame's send waits inside its transaction.
    const holder = await createConnection(database.url);
    const observer = await createConnection(database.url);
    try {
      await holder.query('START TRANSACTION');
      await holder.query('SELECT id FROM conversations WHERE id = ? FOR UPDATE', [conversationOf.b1]);
      const entry = ledger.add(conversationOf.b1 ?? '', 'b1', 'held');
      const held = sender.send(entry);
      await until(
        async () => {
          const [rows] = await observer.query(
            // The send's first statement takes the row lock: the UPDATE guarded by the chain head this
            // instance last wrote, or (a head it does not know) the head's read, FOR UPDATE.
            "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() AND (info LIKE 'update `conversations`%' OR info LIKE 'select `id`, `last_seq`%for update')",
          );
          return Number((rows as { n: number }[])[0]?.n);
        },
        (waiting) => waiting > 0,
        'the send waits on the row lock',
      );

      const started = Date.now();
      server.child.kill('SIGTERM');
      // While the frame is in flight the process is closing: new requests and frames are refused, properly.
      const refused = await until(
        () => server.client.get('/api/auth/me', { token: token('b1'), headers: { 'accept-language': 'en' } }),
        (response) => response.status === 503,
        'REST refused while closing',
      );
      assert.equal(refused.body.error_type, 'service_unavailable', JSON.stringify(refused.body));
      assert.match(refused.body.detail, /unavailable/);
      assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After');
      const late = await other.send(ledger.add(conversationOf.b2 ?? '', 'b2', 'late'));
      assert.equal(late.kind, 'rejected');
      assert.equal(late.kind === 'rejected' && late.errorType, 'service_unavailable', 'named by its client_msg_id');
      assert.equal(server.running, true, 'still draining');

      await holder.query('ROLLBACK');
      const outcome = await held;
      assert.equal(outcome.kind, 'acked', JSON.stringify(outcome));
      assert.equal((await sender.socket.closed).code, 1012);
      assert.equal((await other.socket.closed).code, 1012);
      const exit = await server.stop('SIGTERM', SHUTDOWN_MS + 5_000);
      assert.deepEqual(exit, { code: 0, signal: null }, server.output.slice(-2_000));
      assert.ok(Date.now() - started < SHUTDOWN_MS, 'exited within 10 s');
      // The ack came only after the commit: the row is there, once.
      const conversations = BUYERS.map((buyer) => conversationOf[buyer] ?? '');
      const { storedButUnacked } = await assertLedgerStored(database.db, ledger, conversations);
      assert.equal(storedButUnacked, 0);
      await assertConversationIntegrity(database.db, conversations);
    } finally {
      await holder.end();
      await observer.end();
    }
  });
});
