import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { parseClientFrame } from '@cs-chat/contracts/ws/frame-parser';
import type { UserRow } from '../../src/db/types.ts';
import { createEventHub } from '../../src/events/hub.ts';
import { createInProcessBus } from '../../src/realtime/bus.ts';
import { ClientConnection, type ConnectionLimits, type SocketLike } from '../../src/realtime/connection.ts';
import { ConnectionRegistry } from '../../src/realtime/connection-registry.ts';
import { eventFrame, textFrame } from '../../src/realtime/frames.ts';
import { createRateLimiter, DEFAULT_RATE_LIMIT } from '../../src/realtime/rate-limit.ts';
import { createRealtime, type Realtime } from '../../src/realtime/realtime.ts';
import { subscribeRealtime } from '../../src/realtime/realtime-subscriber.ts';
import { cookieValue, upgradeCredential } from '../../src/realtime/upgrade-auth.ts';
import type { FrameStream } from '../../src/realtime/write-coalescing.ts';
import { readTextFrame } from '../helpers/ws-frames.ts';

/** A WebSocket and the TCP stream under it: frames written to it are read back as a client would. */
class FakeSocket implements SocketLike, FrameStream {
  readyState = 1;
  bufferedAmount = 0;
  sent: string[] = [];
  pings = 0;
  corked = 0;
  closedWith: number | undefined;
  terminated = false;
  write(frame: Buffer) {
    this.sent.push(readTextFrame(frame));
  }
  cork() {
    this.corked += 1;
  }
  uncork() {
    this.corked -= 1;
  }
  close(code?: number) {
    this.closedWith = code;
    this.readyState = 2;
  }
  terminate() {
    this.terminated = true;
    this.readyState = 3;
  }
  ping() {
    this.pings += 1;
  }
  events() {
    return this.sent.map((data) => JSON.parse(data));
  }
}

const LIMITS: ConnectionLimits = { maxBufferedBytes: 1000, maxPendingFrames: 4, rateLimit: DEFAULT_RATE_LIMIT };

function user(id: string, role: UserRow['role'] = 'buyer'): UserRow {
  return {
    id,
    username: id,
    password_hash: null,
    role,
    avatar: null,
    description: null,
    status: 'active',
    created_at: 0,
    updated_at: 0,
    tokens_valid_after: 0,
    team_id: null,
    team_role: null,
    available: 1,
    max_open: null,
    last_assigned_at: null,
    offline_since: null,
  };
}

function connection(id: string, role: UserRow['role'] = 'buyer', socket = new FakeSocket()) {
  return {
    socket,
    connection: new ClientConnection(socket, socket, user(id, role), 'zh', LIMITS, { onTaskError: () => {} }),
  };
}

describe('parseClientFrame', () => {
  test('accepts each frame type and tolerates unknown extra fields', () => {
    const parsed = parseClientFrame('{"type":"message","conversation_id":"c1","content":"hi","extra":1}');
    assert.ok(parsed.ok);
    assert.equal(parsed.frame.type, 'message');
    assert.ok(parseClientFrame('{"type":"ping"}').ok);
    assert.ok(parseClientFrame('{"type":"read","conversation_id":"c1"}').ok);
    assert.ok(parseClientFrame('{"type":"typing","conversation_id":"c1","is_typing":false}').ok);
    assert.ok(parseClientFrame('{"type":"message","conversation_id":"c1","content":"x","client_msg_id":null}').ok);
  });

  test('names what is wrong', () => {
    assert.deepEqual(parseClientFrame('nope'), { ok: false, errorType: 'invalid_json' });
    assert.deepEqual(parseClientFrame('null'), { ok: false, errorType: 'invalid_frame' });
    assert.deepEqual(parseClientFrame('{"type":"__proto__"}'), { ok: false, errorType: 'unknown_frame_type' });
    assert.deepEqual(parseClientFrame('{"type":"read"}'), {
      ok: false,
      errorType: 'validation_error',
      errors: ['conversation_id: is required'],
    });
    const long = parseClientFrame(
      JSON.stringify({ type: 'message', conversation_id: 'c1', content: 'x', client_msg_id: 'a'.repeat(65) }),
    );
    assert.equal(long.ok, false);
    assert.equal(!long.ok && long.clientMsgId?.length, 64);
    const badId = parseClientFrame(JSON.stringify({ type: 'read', conversation_id: '../etc' }));
    assert.equal(!badId.ok && badId.errorType, 'validation_error');
  });
});

describe('token bucket', () => {
  test('allows a burst, refills over time, and disconnects after repeated strikes in a window', () => {
    let now = 0;
    const limiter = createRateLimiter({ burst: 3, perSecond: 2, maxStrikes: 3, strikeWindowMs: 1000 }, () => now);
    assert.deepEqual([limiter.take(), limiter.take(), limiter.take()], ['allow', 'allow', 'allow']);
    assert.equal(limiter.take(), 'reject');
    now += 500; // one token back
    assert.equal(limiter.take(), 'allow');
    assert.equal(limiter.take(), 'reject');
    assert.equal(limiter.take(), 'disconnect', 'the third strike within the window');
  });

  test('strikes outside the window are forgiven', () => {
    let now = 0;
    const limiter = createRateLimiter({ burst: 1, perSecond: 0.001, maxStrikes: 2, strikeWindowMs: 1000 }, () => now);
    assert.equal(limiter.take(), 'allow');
    assert.equal(limiter.take(), 'reject');
    now += 5000;
    assert.equal(limiter.take(), 'reject', 'a new window: first strike again');
    assert.equal(limiter.take(), 'disconnect');
  });
});

describe('text frames', () => {
  test('every length class (7-bit, 16-bit, 64-bit) reads back exactly, multi-byte UTF-8 included', () => {
    for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 200_000]) {
      const text = 'é'.repeat(Math.floor(length / 2)) + 'x'.repeat(length % 2);
      assert.equal(Buffer.byteLength(text), length);
      assert.equal(readTextFrame(textFrame(Buffer.from(text))), text, `${length} bytes`);
    }
  });
});

describe('ClientConnection', () => {
  test('drops a peer whose outgoing buffer passed the bound instead of buffering more', () => {
    const { socket, connection: c } = connection('b1');
    assert.equal(c.sendFrame(eventFrame('x'.repeat(100))), true);
    socket.bufferedAmount = 950;
    assert.equal(c.sendFrame(eventFrame('x'.repeat(100))), false);
    assert.equal(socket.terminated, true);
    assert.equal(socket.sent.length, 1);
    assert.equal(c.sendFrame(eventFrame('late')), false, 'nothing is sent to a closed socket');
  });

  test("a socket's first frame in a turn of the loop leaves at once, the rest together at the turn's end", async () => {
    const { socket, connection: c } = connection('b1');
    c.send({ type: 'pong', timestamp: 1 });
    assert.equal(socket.corked, 0, 'the first frame is not held');
    c.send({ type: 'pong', timestamp: 2 });
    c.send({ type: 'pong', timestamp: 3 });
    assert.equal(socket.corked, 1, 'later frames are held (once) for one writev');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(socket.corked, 0, 'released in the check phase');
    assert.deepEqual(
      socket.events().map((event) => event.timestamp),
      [1, 2, 3],
    );
    c.send({ type: 'pong', timestamp: 4 });
    assert.equal(socket.corked, 0, 'a new turn: the first frame leaves at once again');
  });

  test('heartbeat: pings, and terminates a peer that missed the previous ping', () => {
    const { socket, connection: c } = connection('b1');
    assert.equal(c.heartbeat(), true);
    c.markAlive();
    assert.equal(c.heartbeat(), true);
    assert.equal(socket.pings, 2);
    assert.equal(c.heartbeat(), false);
    assert.equal(socket.terminated, true);
  });

  test('handles frames in order and refuses frames past the pending bound', async () => {
    const { connection: c } = connection('b1');
    const order: number[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    c.enqueue(async () => {
      await gate;
      order.push(1);
    });
    for (const n of [2, 3, 4]) c.enqueue(async () => void order.push(n));
    assert.equal(c.admit(), 'reject', 'four frames are waiting');
    release();
    await c.drained();
    assert.deepEqual(order, [1, 2, 3, 4]);
    assert.equal(c.admit(), 'allow');
  });
});

describe('ConnectionRegistry', () => {
  test('tracks first/last connection per user and resolves audiences without duplicates', () => {
    const registry = new ConnectionRegistry();
    const b1a = connection('b1').connection;
    const b1b = connection('b1').connection;
    const m1 = connection('m1').connection;
    const admin = connection('a1', 'admin').connection;
    assert.equal(registry.add(b1a), true);
    assert.equal(registry.add(b1b), false);
    registry.add(m1);
    registry.add(admin);
    assert.equal(registry.size, 4);

    const ids = (audience: Parameters<ConnectionRegistry['resolve']>[0]) =>
      [...registry.resolve(audience)].map((c) => c.id).sort();
    assert.deepEqual(ids({ users: ['m1', 'm1'], admins: true }), [m1.id, admin.id].sort());
    assert.deepEqual(
      ids({ users: ['m1', 'b1'], admins: true, exceptConnection: { userId: 'b1', connectionId: b1a.id } }),
      [m1.id, b1b.id, admin.id].sort(),
    );
    assert.deepEqual(
      ids({ users: ['m1'], admins: false, exceptConnection: { userId: 'b1', connectionId: m1.id } }),
      [m1.id],
      "a connection id only hides its own user's connection",
    );
    assert.deepEqual(ids({ users: ['b1'], admins: true, exceptUsers: ['a1', 'b1'] }), []);

    assert.equal(registry.remove(b1a), false);
    assert.equal(registry.remove(b1a), false, 'removing twice changes nothing');
    assert.equal(registry.remove(b1b), true);
    assert.deepEqual(registry.users().sort(), ['a1', 'm1']);
  });
});

describe('in-process bus presence', () => {
  test('join reports the first arrival, leave the last departure', async () => {
    const { presence } = createInProcessBus();
    assert.equal(await presence.join('b1'), true);
    assert.equal(await presence.join('b1'), false);
    assert.deepEqual(await presence.filterOnline(['m1', 'b1']), ['b1']);
    assert.equal(await presence.leave('b1'), true);
    assert.equal(await presence.leave('b1'), false);
    assert.deepEqual(await presence.online(), []);
  });
});

describe('createRealtime', () => {
  // Admin connections never query contacts, so these tests need no database.
  const noDatabase = {
    contactsOf: () => assert.fail('admins have no presence contacts'),
    presenceSharing: () => assert.fail('no message is sent here'),
  };

  /** Domain events reaching `realtime` as the server wires them. */
  function eventsTo(realtime: Realtime) {
    const hub = createEventHub({ error() {} });
    subscribeRealtime(hub, realtime);
    return hub;
  }

  test('serialises a fan-out once, however many recipients', async () => {
    const realtime = createRealtime({ ...noDatabase });
    const events = eventsTo(realtime);
    const sockets = [new FakeSocket(), new FakeSocket(), new FakeSocket()];
    const connections = sockets.map((socket, i) => connection(`a${i}`, 'admin', socket).connection);
    for (const c of connections) await realtime.attach(c);
    const stringify = mock.method(JSON, 'stringify');
    try {
      events.publish('message.deleted', { id: 'x1', conversationId: 'c1', participants: ['b1', 'm1'], teamId: 'm1' });
      assert.equal(stringify.mock.callCount(), 1);
    } finally {
      stringify.mock.restore();
    }
    for (const socket of sockets) {
      assert.deepEqual(socket.events().at(-1), { type: 'message_deleted', id: 'x1', conversation_id: 'c1' });
    }
    for (const c of connections) realtime.detach(c);
    await realtime.close();
  });

  test('publishing never throws, even when the bus does', () => {
    const bus = createInProcessBus();
    bus.publish = () => {
      throw new Error('bus down');
    };
    const errors: unknown[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (...args: unknown[]) => void errors.push(args) };
    const realtime = createRealtime({ ...noDatabase, bus, logger: logger as never });
    eventsTo(realtime).publish('user.disabled', { userId: 'b1' });
    assert.equal(errors.length, 1);
    void realtime.close();
  });

  test('close() answers in-flight frames first, then closes every socket with 1012', async () => {
    const realtime = createRealtime({ ...noDatabase });
    const { socket, connection: c } = connection('a1', 'admin');
    await realtime.attach(c);
    let release: () => void = () => {};
    c.enqueue(
      () =>
        new Promise<void>((resolve) => {
          release = () => {
            c.send({ type: 'pong', timestamp: 0 });
            resolve();
          };
        }),
    );
    const closing = realtime.close();
    assert.equal(realtime.closing, true);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(socket.closedWith, undefined, 'waits for the frame being handled');
    release();
    // The fake socket never reports its close: detach it as the gateway would.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(socket.closedWith, 1012);
    realtime.detach(c);
    await closing;
    assert.equal(socket.events().at(-1)?.type, 'pong', 'the answer went out before the close');
  });
});

describe('upgrade credentials', () => {
  test('header, then ?token=, then the access_token cookie', () => {
    const headers = { authorization: 'Bearer h', cookie: 'a=1; access_token=c' };
    assert.deepEqual(upgradeCredential({ url: '/api/ws/b1?token=q', headers }), { token: 'h', source: 'header' });
    assert.deepEqual(upgradeCredential({ url: '/api/ws/b1?token=q', headers: { cookie: headers.cookie } }), {
      token: 'q',
      source: 'query',
    });
    assert.deepEqual(upgradeCredential({ url: '/api/ws/b1', headers: { cookie: headers.cookie } }), {
      token: 'c',
      source: 'cookie',
    });
    assert.equal(upgradeCredential({ url: '/api/ws/b1', headers: {} }), undefined);
    assert.equal(cookieValue('x_access_token=1; access_token=%41', 'access_token'), 'A');
  });
});
