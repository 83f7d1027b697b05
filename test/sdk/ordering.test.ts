import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MessageEvent } from '@cs-chat/contracts/ws/protocol';
import { RealtimeClient } from '@cs-chat/sdk/realtime';
import { until } from '../helpers/polling.ts';

/**
 * The realtime client's delivery rule (exactly once, in seq order) in the
 * interleavings a real server produces only by chance: pushes out of order, a
 * push arriving while a catch-up request is on its way, a seq deleted for
 * good. A scripted socket and fetch stand in for the server (the real one is
 * in realtime.test.ts).
 */

const CONVERSATION = 'c1';

function message(seq: number): MessageEvent {
  return {
    type: 'message',
    id: `msg-${seq}`,
    conversation_id: CONVERSATION,
    sender_id: 'b1',
    content: `#${seq}`,
    message_type: 'text',
    created_at: 1_700_000_000 + seq,
    timestamp: 1_700_000_000 + seq,
    is_read: false,
    seq,
    client_msg_id: null,
  } as unknown as MessageEvent;
}

interface Fetch {
  afterSeq: number;
  answer(seqs: number[]): void;
}

/** A scripted server: the socket's pushes are the test's, and each history request waits for the test's answer. */
function scripted(ticket?: string) {
  const sockets: FakeSocket[] = [];
  const fetches: Fetch[] = [];
  class FakeSocket {
    readonly CONNECTING = 0;
    readonly OPEN = 1;
    readyState = 1;
    onmessage: ((event: { data: string }) => void) | null = null;
    onclose: ((event: { code: number }) => void) | null = null;
    onerror: (() => void) | null = null;
    sent: unknown[] = [];
    readonly url: string;
    constructor(url: string) {
      this.url = url;
      sockets.push(this);
    }
    send(data: string) {
      this.sent.push(JSON.parse(data));
    }
    close() {
      this.readyState = 3;
    }
    push(event: object) {
      this.onmessage?.({ data: JSON.stringify(event) });
    }
  }
  const fakeFetch = async (input: Request | string | URL): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname === '/api/ws/ticket')
      return ticket ? Response.json({ ticket, expires_in: 30 }) : new Response('{}', { status: 404 });
    const afterSeq = Number(url.searchParams.get('after_seq'));
    return new Promise<Response>((resolve) => {
      fetches.push({
        afterSeq,
        answer: (seqs) =>
          resolve(
            Response.json({
              count: seqs.length,
              results: seqs.map((seq) => {
                const { type: _type, timestamp: _timestamp, ...rest } = message(seq);
                return rest;
              }),
            }),
          ),
      });
    });
  };
  return { sockets, fetches, FakeSocket, fakeFetch };
}

async function openClient(ticket?: string) {
  const server = scripted(ticket);
  const client = new RealtimeClient({
    baseUrl: 'http://chat.test',
    userId: 'm1',
    token: 'token',
    WebSocket: server.FakeSocket as unknown as typeof WebSocket,
    fetch: server.fakeFetch as typeof fetch,
  });
  const seen: number[] = [];
  client.on('message', (event) => seen.push(event.seq));
  client.connect();
  const socket = await until(
    () => server.sockets[0],
    (found) => found !== undefined,
    'the socket',
  );
  assert.ok(socket);
  socket.push({ type: 'hello', connection_id: 'x', user_id: 'm1', server_time: 1 });
  return { client, server, socket, seen };
}

async function nextFetch(fetches: Fetch[], index: number): Promise<Fetch> {
  const found = await until(
    () => fetches[index],
    (fetch) => fetch !== undefined,
    `history request ${index + 1}`,
  );
  assert.ok(found);
  return found;
}

describe('how the realtime client authenticates its socket', () => {
  test('with a single-use ticket where the server issues them', async () => {
    const { client, socket } = await openClient('one-use-ticket');
    client.close();
    assert.equal(socket.url, 'ws://chat.test/api/ws/m1?ticket=one-use-ticket');
  });

  test('with the token where POST /api/ws/ticket does not exist (404)', async () => {
    const { client, socket } = await openClient();
    client.close();
    assert.equal(socket.url, 'ws://chat.test/api/ws/m1?token=token');
  });
});

describe('the realtime client delivers each message once, in seq order', () => {
  test('a push after a gap waits for the catch-up that fills the gap', async () => {
    const { client, server, socket, seen } = await openClient();
    try {
      client.watch(CONVERSATION, 1);
      const first = await nextFetch(server.fetches, 0); // the catch-up of the new watch
      first.answer([]);
      socket.push(message(2));
      socket.push(message(4));
      assert.deepEqual(seen, [2], '4 waits: 3 is missing');
      const fill = await nextFetch(server.fetches, 1);
      assert.equal(fill.afterSeq, 2);
      fill.answer([3, 4]);
      await until(
        () => seen.length,
        (n) => n === 3,
        'the gap filled',
      );
      assert.deepEqual(seen, [2, 3, 4]);
    } finally {
      client.close();
    }
  });

  test('a push that arrives during a catch-up, above a gap, waits for the next catch-up (its predecessor may have committed after the read)', async () => {
    const { client, server, socket, seen } = await openClient();
    try {
      client.watch(CONVERSATION, 0);
      const fetch = await nextFetch(server.fetches, 0);
      // While the request is out: 3 is pushed; 2 committed after the server read the history.
      socket.push(message(3));
      fetch.answer([1]);
      const again = await nextFetch(server.fetches, 1);
      assert.deepEqual(seen, [1], '3 is not delivered over the missing 2');
      assert.equal(again.afterSeq, 1);
      again.answer([2, 3]);
      await until(
        () => seen.length,
        (n) => n === 3,
        'all three',
      );
      assert.deepEqual(seen, [1, 2, 3]);
    } finally {
      client.close();
    }
  });

  test('a seq deleted for good does not hold back what follows it; repeats are dropped', async () => {
    const { client, server, socket, seen } = await openClient();
    try {
      client.watch(CONVERSATION, 0);
      (await nextFetch(server.fetches, 0)).answer([1]);
      await until(
        () => seen.length,
        (n) => n === 1,
        'the first',
      );
      socket.push(message(3)); // 2 was deleted by a moderator before anyone saw it
      const fill = await nextFetch(server.fetches, 1);
      fill.answer([3]);
      await until(
        () => seen.length,
        (n) => n === 2,
        '3 after the catch-up',
      );
      socket.push(message(3));
      socket.push(message(1));
      socket.push(message(4));
      assert.deepEqual(seen, [1, 3, 4]);
    } finally {
      client.close();
    }
  });
});
