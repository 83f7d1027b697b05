import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import WebSocket from 'ws';
import type { Database, MessageRow } from '../../../src/db/types.ts';
import { connectSocket, type TestSocket } from '../../helpers/sockets.ts';

/**
 * Load for the fault tests: senders that give every message a client_msg_id,
 * a ledger of what each attempt got back, and the checks that what was
 * acknowledged is stored exactly once with dense seqs.
 */

/**
 * What one attempt to send a message got back (`status` 0 for WebSocket), how
 * long it took (`ms`) and when the answer came (`at`, epoch ms).
 */
export type Outcome = (
  | { kind: 'acked'; id: string; seq: number; status: number }
  | { kind: 'rejected'; status: number; errorType: string; retryAfter: string | null }
  | { kind: 'lost'; reason: string }
) & { ms: number; at: number };

/** One message a client means to send, and every attempt so far. */
export interface Entry {
  clientMsgId: string;
  conversationId: string;
  senderId: string;
  content: string;
  outcomes: Outcome[];
}

export const isAcked = (entry: Entry) => entry.outcomes.some((outcome) => outcome.kind === 'acked');

export class Ledger {
  readonly entries: Entry[] = [];
  #counter = 0;

  add(conversationId: string, senderId: string, label: string): Entry {
    const n = ++this.#counter;
    const entry: Entry = {
      clientMsgId: `${label}-${n}`,
      conversationId,
      senderId,
      content: `${label} message ${n}`,
      outcomes: [],
    };
    this.entries.push(entry);
    return entry;
  }

  /** Every outcome of every attempt, flattened. */
  get outcomes(): Outcome[] {
    return this.entries.flatMap((entry) => entry.outcomes);
  }

  get acked(): Entry[] {
    return this.entries.filter(isAcked);
  }

  get unacked(): Entry[] {
    return this.entries.filter((entry) => !isAcked(entry));
  }

  count(kind: Outcome['kind']): number {
    return this.outcomes.filter((outcome) => outcome.kind === kind).length;
  }
}

/** POST /api/messages/ with the entry's client_msg_id; the outcome is recorded on the entry. */
export async function restSend(baseUrl: string, token: string, entry: Entry, timeoutMs = 60_000): Promise<Outcome> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  let outcome: Outcome;
  try {
    const response = await fetch(`${baseUrl}/api/messages/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        conversation_id: entry.conversationId,
        content: entry.content,
        client_msg_id: entry.clientMsgId,
      }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await response.json().catch(() => null)) as any;
    outcome =
      response.status === 200 || response.status === 201
        ? { kind: 'acked', id: body.id, seq: body.seq, status: response.status, ms: ms(), at: Date.now() }
        : {
            kind: 'rejected',
            status: response.status,
            errorType: String(body?.error_type),
            retryAfter: response.headers.get('retry-after'),
            ms: ms(),
            at: Date.now(),
          };
  } catch (error) {
    outcome = { kind: 'lost', reason: String((error as Error).cause ?? error), ms: ms(), at: Date.now() };
  }
  entry.outcomes.push(outcome);
  return outcome;
}

/** A WebSocket client that sends `message` frames and matches each `ack` or `error` to its client_msg_id. */
export class WsSender {
  readonly socket: TestSocket;
  readonly #pending = new Map<string, { started: number; resolve: (outcome: Outcome) => void }>();

  private constructor(socket: TestSocket) {
    this.socket = socket;
    socket.ws.on('message', (data) => {
      const event = JSON.parse(data.toString()) as { type: string; [key: string]: any };
      if (event.type !== 'ack' && event.type !== 'error') return;
      let id: string | undefined = typeof event.client_msg_id === 'string' ? event.client_msg_id : undefined;
      // Some errors (rate_limited) name no client_msg_id: unambiguous only with one frame pending.
      if (id === undefined && event.type === 'error' && this.#pending.size === 1) id = [...this.#pending.keys()][0];
      const waiter = id === undefined ? undefined : this.#pending.get(id);
      if (!waiter || id === undefined) return;
      this.#pending.delete(id);
      const ms = Math.round(performance.now() - waiter.started);
      waiter.resolve(
        event.type === 'ack'
          ? { kind: 'acked', id: event.id, seq: event.seq, status: 0, ms, at: Date.now() }
          : { kind: 'rejected', status: 0, errorType: String(event.error_type), retryAfter: null, ms, at: Date.now() },
      );
    });
    // A killed server resets the connection: the close that follows is what counts.
    socket.ws.on('error', () => {});
    socket.ws.on('close', (code) => {
      for (const [id, waiter] of this.#pending) {
        this.#pending.delete(id);
        waiter.resolve({
          kind: 'lost',
          reason: `socket closed ${code}`,
          ms: Math.round(performance.now() - waiter.started),
          at: Date.now(),
        });
      }
    });
  }

  /** Opens `/api/ws/{userId}` and waits for `hello`. */
  static async connect(baseUrl: string, userId: string, token: string): Promise<WsSender> {
    const socket = await connectSocket(baseUrl, userId, token, {
      until: 'hello',
      wsOptions: { handshakeTimeout: 10_000 },
    });
    return new WsSender(socket);
  }

  get open(): boolean {
    return this.socket.ws.readyState === WebSocket.OPEN;
  }

  /**
   * Sends the entry as a frame; resolves with its ack, its error, or `lost`
   * when the socket closes first or nothing answers within `timeoutMs`.
   */
  send(entry: Entry, timeoutMs = 60_000): Promise<Outcome> {
    const started = performance.now();
    const outcome = new Promise<Outcome>((resolve) => {
      if (!this.open) {
        resolve({ kind: 'lost', reason: 'socket not open', ms: 0, at: Date.now() });
        return;
      }
      const timer = setTimeout(() => {
        this.#pending.delete(entry.clientMsgId);
        resolve({ kind: 'lost', reason: 'no answer', ms: Math.round(performance.now() - started), at: Date.now() });
      }, timeoutMs);
      this.#pending.set(entry.clientMsgId, {
        started,
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
      });
      this.socket.send({
        type: 'message',
        conversation_id: entry.conversationId,
        content: entry.content,
        client_msg_id: entry.clientMsgId,
      });
    });
    return outcome.then((result) => {
      entry.outcomes.push(result);
      return result;
    });
  }

  close(): Promise<void> {
    return this.socket.close();
  }
}

export interface PumpOptions {
  /** The next entry to send; undefined when there is nothing left. */
  next: () => Entry | undefined;
  send: (entry: Entry) => Promise<Outcome>;
  /** Sends in flight at once (default 1). */
  inFlight?: number;
  /** Pause after each send, per lane: the pace of a client, not a synchronisation (default none). */
  paceMs?: number;
  /** Hard bounds: at most `max` entries, and nothing started after `deadlineMs`. */
  max: number;
  deadlineMs: number;
  /** Checked before each send: false stops the pump. */
  keepGoing?: () => boolean;
  /** Stop the whole pump at the first attempt that was not acknowledged (the client noticed a failure). */
  stopOnFailure?: boolean;
}

/** Sends entries until one of the bounds is hit. */
export async function pump(options: PumpOptions): Promise<void> {
  const deadline = Date.now() + options.deadlineMs;
  let taken = 0;
  let stopped = false;
  const lane = async () => {
    while (!stopped && taken < options.max && Date.now() < deadline && (options.keepGoing?.() ?? true)) {
      const entry = options.next();
      if (!entry) return;
      taken++;
      const outcome = await options.send(entry);
      if (options.stopOnFailure && outcome.kind !== 'acked') stopped = true;
      if (options.paceMs) await new Promise((resolve) => setTimeout(resolve, options.paceMs));
    }
  };
  await Promise.all(Array.from({ length: options.inFlight ?? 1 }, lane));
}

/** Next entry from a fixed list, in order. */
export function fromList(entries: readonly Entry[]): () => Entry | undefined {
  let index = 0;
  return () => entries[index++];
}

/**
 * Retries every entry in `entries` (in order, with the same client_msg_id)
 * until each is acknowledged, at most `attempts` times each; `paceMs` between
 * attempts keeps a WebSocket client under its frame rate limit, and a 429's
 * Retry-After is honoured.
 */
export async function retryUntilAcked(
  entries: readonly Entry[],
  send: (entry: Entry) => Promise<Outcome>,
  options: { attempts?: number; paceMs?: number } = {},
): Promise<void> {
  for (const entry of entries) {
    for (let attempt = 0; attempt < (options.attempts ?? 5) && !isAcked(entry); attempt++) {
      const outcome = await send(entry);
      // A well-behaved client waits as long as a 429 (the per-user send budget) asks before resending.
      const throttled = outcome.kind === 'rejected' && outcome.status === 429 ? Number(outcome.retryAfter) * 1000 : 0;
      const pause = Math.max(throttled || 0, options.paceMs ?? 0);
      if (pause) await new Promise((resolve) => setTimeout(resolve, pause));
    }
    assert.ok(isAcked(entry), `${entry.clientMsgId} never acknowledged: ${JSON.stringify(entry.outcomes)}`);
  }
}

/** Between two frames of one socket: under the 10 frames/s WebSocket rate limit. */
export const WS_PACE_MS = 120;

/** Every message of these conversations, straight from the database, by conversation and seq. */
export function storedMessages(db: Kysely<Database>, conversationIds: readonly string[]): Promise<MessageRow[]> {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', 'in', [...conversationIds])
    .orderBy('conversation_id')
    .orderBy('seq')
    .execute();
}

/**
 * No false acknowledgement and no duplicate: every acknowledged entry is
 * stored exactly once, as the row its acks named; entries never acknowledged
 * are stored at most once; nothing else is stored. Returns how many
 * unacknowledged entries turned out stored (committed, answer lost).
 */
export async function assertLedgerStored(
  db: Kysely<Database>,
  ledger: Ledger,
  conversationIds: readonly string[],
): Promise<{ stored: number; storedButUnacked: number }> {
  const rows = await storedMessages(db, conversationIds);
  const byKey = new Map<string, MessageRow[]>();
  for (const row of rows) {
    const key = `${row.conversation_id}|${row.sender_id}|${row.client_msg_id}`;
    byKey.set(key, [...(byKey.get(key) ?? []), row]);
  }
  const known = new Set(ledger.entries.map((e) => `${e.conversationId}|${e.senderId}|${e.clientMsgId}`));
  const strangers = rows.filter((row) => !known.has(`${row.conversation_id}|${row.sender_id}|${row.client_msg_id}`));
  assert.deepEqual(
    strangers.map((row) => row.content),
    [],
    'rows no client sent',
  );

  let storedButUnacked = 0;
  for (const entry of ledger.entries) {
    const matches = byKey.get(`${entry.conversationId}|${entry.senderId}|${entry.clientMsgId}`) ?? [];
    assert.ok(matches.length <= 1, `${entry.clientMsgId} stored ${matches.length} times`);
    const [row] = matches;
    if (row) assert.equal(row.content, entry.content, entry.clientMsgId);
    const acks = entry.outcomes.filter((outcome) => outcome.kind === 'acked');
    if (acks.length === 0) {
      if (row) storedButUnacked++;
      continue;
    }
    assert.ok(row, `${entry.clientMsgId} was acknowledged (${JSON.stringify(acks)}) but is not in the database`);
    for (const ack of acks) {
      assert.equal(ack.id, row.id, `${entry.clientMsgId}: every ack names the stored row`);
      assert.equal(ack.seq, Number(row.seq), `${entry.clientMsgId}: acked seq`);
    }
  }
  return { stored: rows.length, storedButUnacked };
}

/**
 * Per conversation: seqs are exactly 1..n (no gap, no repeat; nothing is
 * deleted in these tests), last_seq = message_count = n, each side's unread
 * count is the number of messages from the other side (nothing was read),
 * and last_message is the text of message n.
 */
export async function assertConversationIntegrity(
  db: Kysely<Database>,
  conversationIds: readonly string[],
): Promise<void> {
  const rows = await storedMessages(db, conversationIds);
  for (const id of conversationIds) {
    const conversation = await db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirst();
    assert.ok(conversation, id);
    const messages = rows.filter((row) => row.conversation_id === id);
    const n = messages.length;
    assert.deepEqual(
      messages.map((row) => Number(row.seq)),
      Array.from({ length: n }, (_, i) => i + 1),
      `${id}: seqs 1..${n}`,
    );
    assert.equal(Number(conversation.last_seq), n, `${id}: last_seq`);
    assert.equal(Number(conversation.message_count), n, `${id}: message_count`);
    const from = (userId: string) => messages.filter((row) => row.sender_id === userId).length;
    assert.equal(Number(conversation.participant1_unread), from(conversation.participant2_id), `${id}: unread 1`);
    assert.equal(Number(conversation.participant2_unread), from(conversation.participant1_id), `${id}: unread 2`);
    if (n > 0) assert.equal(conversation.last_message, messages.at(-1)?.content, `${id}: last_message`);
  }
}

/** Every 503 carries Retry-After and says which dependency is down; nothing else but 2xx and 503 is answered. */
export function assertOnlyAvailabilityErrors(ledger: Ledger, allowed: readonly string[] = ['database_unavailable']) {
  for (const outcome of ledger.outcomes) {
    if (outcome.kind !== 'rejected') continue;
    if (outcome.status === 0) {
      assert.ok(allowed.includes(outcome.errorType), `WebSocket error ${outcome.errorType}`);
    } else {
      assert.equal(outcome.status, 503, `REST ${outcome.status} ${outcome.errorType}`);
      assert.ok(allowed.includes(outcome.errorType), `REST 503 ${outcome.errorType}`);
      assert.ok(Number(outcome.retryAfter) > 0, 'Retry-After on a 503');
    }
  }
}
