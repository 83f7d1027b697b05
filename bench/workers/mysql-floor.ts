import { randomBytes } from 'node:crypto';
import mysql from 'mysql2';
import { uuidv7 } from '../../src/lib/ids.ts';
import { nowMs, sleep, sleepUntil } from '../lib/clock.ts';
import { Histogram } from '../lib/histogram.ts';
import {
  chainedValues,
  fillParams,
  recordSendTransaction,
  type StatementTemplate,
  searchIndexStatements,
  webhookOutboxStatements,
} from '../lib/send-transaction.ts';
import { pace, readLoopDelay, resetLoopDelay, serve } from './runtime.ts';
import { contentFor } from './ws-common.ts';

/**
 * The floors measured straight on mysql2, with no service around them: the
 * service's send transaction (its exact statements, recorded from
 * appendMessages, one message) in a closed loop at a given concurrency or at a fixed rate,
 * and any single query (the history page's SELECT) in a closed loop.
 * Connections are opened with the options the service's pool uses.
 */

interface Conversation {
  id: string;
  participant1: string;
  participant2: string;
}

type Connection = mysql.Connection;

let mysqlUrl = '';
let conversations: Conversation[] = [];
let toParticipant1: StatementTemplate[] = [];
let toParticipant2: StatementTemplate[] = [];
/** The same when the floor's own last transaction left the conversation's head (the service's batcher keeps them too). */
let toParticipant1Known: StatementTemplate[] = [];
let toParticipant2Known: StatementTemplate[] = [];
/** Each conversation's last_seq and chain head as this floor's last commit left them; emptied before each run. */
const heads = new Map<string, { lastSeq: number; head: string }>();
let counter = 0;
/** Endpoints subscribed to message.created: each send also writes the webhook outbox (empty: it does not). */
let webhookEndpoints: string[] = [];
const prefix = randomBytes(4).toString('hex');

/** The options src/db/connection.ts gives its pool. */
function connectionOptions() {
  return {
    uri: mysqlUrl,
    charset: 'utf8mb4_unicode_ci',
    supportBigNumbers: true,
    timezone: 'Z' as const,
  };
}

function open(): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const connection = mysql.createConnection(connectionOptions());
    connection.connect((error) => (error ? reject(error) : resolve(connection)));
  });
}

function query(connection: Connection, sql: string, params: unknown[]): Promise<any> {
  return new Promise((resolve, reject) => {
    connection.query(sql, params, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/** One send transaction on `connection`, as appendMessages runs it for one message. */
async function sendTransaction(connection: Connection): Promise<void> {
  const k = counter++;
  const n = conversations.length;
  const conversation = conversations[k % n] as Conversation;
  // Alternate senders per round, as the service benchmark does: the recipient's unread counter changes.
  const fromP2 = Math.floor(k / n) % 2 === 1;
  // Without the outbox the service's send writes from the head its last commit left (no locked read first).
  const known = webhookEndpoints.length === 0 ? heads.get(conversation.id) : undefined;
  const statements = known
    ? fromP2
      ? toParticipant1Known
      : toParticipant2Known
    : fromP2
      ? toParticipant1
      : toParticipant2;
  const recipient = fromP2 ? conversation.participant1 : conversation.participant2;
  const unreadColumn = fromP2 ? 'participant1_unread' : 'participant2_unread';
  const clientMsgId = `${prefix}-${k}`;
  // The service benchmark's content (ws-pairs.ts): the same terms for the search index to write.
  const content = contentFor(nowMs(), clientMsgId, 64);
  const values = {
    id: uuidv7(),
    conversation_id: conversation.id,
    sender_id: fromP2 ? conversation.participant2 : conversation.participant1,
    content,
    client_msg_id: clientMsgId,
    created_at: Math.floor(Date.now() / 1000),
    preview: content,
    seq: 0,
    unread: 0,
    chain_hash: '',
    prev_seq: known?.lastSeq ?? 0,
    prev_head: known?.head ?? '',
  };
  if (known) Object.assign(values, chainedValues(values, { last_seq: known.lastSeq, chain_head: known.head }));
  try {
    for (const statement of statements) {
      // The floor includes the search index's writes (issue 17), in the transaction as a plain loop
      // would make them: this message's terms, then its conversation's search_seq (which also keeps
      // the service's idle indexer from indexing the floor's messages again).
      if (statement.sql === 'commit') {
        for (const index of await searchIndexStatements(values)) await query(connection, index.sql, index.params);
        // Then the outbox's, as its batch hook writes them in the send transaction.
        if (webhookEndpoints.length > 0) {
          for (const outbox of await webhookOutboxStatements(values, recipient, webhookEndpoints)) {
            await query(connection, outbox.sql, outbox.params);
          }
        }
      }
      const result = await query(connection, statement.sql, fillParams(statement, values));
      // A guarded UPDATE that found the head moved: nobody else writes during a floor run, so this is a bug.
      if (known && /^\s*update `conversations`/i.test(statement.sql) && result.affectedRows !== 1) {
        throw new Error('the floor lost track of a conversation head');
      }
      // The conversation's last_seq and chain head, read under its row lock: the message's seq and
      // transcript hash, computed as the service computes them.
      if (statement.readsHead) {
        const row = (result as ({ last_seq: number; chain_head: string | null } & Record<string, unknown>)[])[0];
        if (row) Object.assign(values, chainedValues(values, row));
        // The same locked read answers the recipient's count when the outbox asked for it (readsUnread).
        if (row && unreadColumn in row) values.unread = Number(row[unreadColumn]) + 1;
      }
    }
    heads.set(conversation.id, { lastSeq: values.seq, head: values.chain_hash });
  } catch (error) {
    heads.delete(conversation.id);
    await query(connection, 'rollback', []).catch(() => {});
    throw error;
  }
}

interface RunArgs {
  startAt: number;
  warmupMs: number;
  durationMs: number;
}

function windowOf(args: RunArgs) {
  return { from: args.startAt + args.warmupMs, to: args.startAt + args.warmupMs + args.durationMs };
}

serve({
  async init(args: { mysqlUrl: string; conversations: Conversation[]; webhookEndpoints?: string[] }) {
    mysqlUrl = args.mysqlUrl;
    conversations = args.conversations;
    webhookEndpoints = args.webhookEndpoints ?? [];
    // With an endpoint subscribed the send reads the recipient's count for the outbox (messageCreatedHook).
    const readsUnread = webhookEndpoints.length > 0;
    toParticipant1 = await recordSendTransaction('participant1_unread', { readsUnread });
    toParticipant2 = await recordSendTransaction('participant2_unread', { readsUnread });
    toParticipant1Known = await recordSendTransaction('participant1_unread', { headKnown: true });
    toParticipant2Known = await recordSendTransaction('participant2_unread', { headKnown: true });
    const statements = toParticipant2.map((statement) => statement.sql);
    const index = await searchIndexStatements({
      id: 'id',
      conversation_id: 'c',
      content: contentFor(nowMs(), 'floor-0'),
      seq: 1,
    });
    statements.splice(statements.length - 1, 0, ...index.map((statement) => statement.sql));
    if (webhookEndpoints.length > 0) {
      const values = { id: 'id', conversation_id: 'c', content: 'x', client_msg_id: null, created_at: 0, preview: 'x' };
      const outbox = await webhookOutboxStatements(
        { ...values, sender_id: 'p1', seq: 1, unread: 1 },
        'p2',
        webhookEndpoints,
      );
      statements.splice(statements.length - 1, 0, ...outbox.map((statement) => statement.sql));
    }
    return { statements };
  },

  /** `concurrency` connections, each running send transactions back to back. */
  async closed(args: RunArgs & { concurrency: number }) {
    // The service wrote these conversations since: the first send of each reads its head, as the service's does.
    heads.clear();
    const connections = await Promise.all(Array.from({ length: args.concurrency }, open));
    const window = windowOf(args);
    const latency = new Histogram();
    let completed = 0;
    let errors = 0;
    await sleepUntil(args.startAt);
    resetLoopDelay();
    await Promise.all(
      connections.map(async (connection) => {
        while (nowMs() < window.to) {
          const started = nowMs();
          try {
            await sendTransaction(connection);
          } catch {
            errors += 1;
            continue;
          }
          const done = nowMs();
          if (started >= window.from && started < window.to) latency.recordMs(done - started);
          if (done >= window.from && done < window.to) completed += 1;
        }
      }),
    );
    for (const connection of connections) connection.destroy();
    return { completed, errors, windowMs: args.durationMs, latency: latency.toJSON(), loopDelay: readLoopDelay() };
  },

  /**
   * Send transactions started at a fixed rate on a pool of `poolSize`
   * connections (the service's pool size), timed from each one's intended
   * start, so waiting for a free connection counts as it does in the service.
   */
  async open(args: RunArgs & { rate: number; poolSize: number }) {
    heads.clear();
    const idle = await Promise.all(Array.from({ length: args.poolSize }, open));
    const all = [...idle];
    const queue: (() => void)[] = [];
    const acquire = async (): Promise<Connection> => {
      const free = idle.pop();
      if (free) return free;
      await new Promise<void>((resolve) => queue.push(resolve));
      return acquire();
    };
    const release = (connection: Connection) => {
      idle.push(connection);
      queue.shift()?.();
    };
    const window = windowOf(args);
    const latency = new Histogram();
    const fromStart = new Histogram();
    let completed = 0;
    let errors = 0;
    let inFlight = 0;
    const intervalMs = 1000 / args.rate;
    let sent = 0;
    await sleepUntil(args.startAt);
    resetLoopDelay();
    const run = async (intendedAt: number) => {
      inFlight += 1;
      const connection = await acquire();
      const started = nowMs();
      try {
        await sendTransaction(connection);
        const done = nowMs();
        if (intendedAt >= window.from && intendedAt < window.to) {
          latency.recordMs(done - intendedAt);
          fromStart.recordMs(done - started);
        }
        if (done >= window.from && done < window.to) completed += 1;
      } catch {
        errors += 1;
      } finally {
        release(connection);
        inFlight -= 1;
      }
    };
    await pace(() => {
      const now = nowMs();
      if (now >= window.to) return false;
      const due = Math.floor((now - args.startAt) / intervalMs) + 1;
      while (sent < due) {
        void run(args.startAt + sent * intervalMs);
        sent += 1;
      }
      return true;
    });
    const deadline = nowMs() + 5_000;
    while (inFlight > 0 && nowMs() < deadline) await sleep(10);
    for (const connection of all) connection.destroy();
    return {
      completed,
      errors,
      sent,
      windowMs: args.durationMs,
      latency: latency.toJSON(),
      transaction: fromStart.toJSON(),
      loopDelay: readLoopDelay(),
    };
  },

  /** One statement in a closed loop (parameter sets in turn), timed per execution. */
  async query(args: RunArgs & { sql: string; params: unknown[][]; concurrency: number }) {
    const connections = await Promise.all(Array.from({ length: args.concurrency }, open));
    const window = windowOf(args);
    const latency = new Histogram();
    let completed = 0;
    let errors = 0;
    let rows = 0;
    let k = 0;
    await sleepUntil(args.startAt);
    resetLoopDelay();
    await Promise.all(
      connections.map(async (connection) => {
        while (nowMs() < window.to) {
          const params = args.params[k++ % args.params.length] as unknown[];
          const started = nowMs();
          try {
            const result = (await query(connection, args.sql, params)) as unknown[];
            rows = result.length;
          } catch {
            errors += 1;
            continue;
          }
          const done = nowMs();
          if (started >= window.from && started < window.to) {
            latency.recordMs(done - started);
            completed += 1;
          }
        }
      }),
    );
    for (const connection of connections) connection.destroy();
    return {
      completed,
      errors,
      rows,
      windowMs: args.durationMs,
      latency: latency.toJSON(),
      loopDelay: readLoopDelay(),
    };
  },
});
