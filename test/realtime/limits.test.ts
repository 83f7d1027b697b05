import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, type RealtimeTestApp, startRealtimeApp } from './helpers.ts';

describe('malformed frames and limits', () => {
  let app: RealtimeTestApp;
  let buyer: string;
  let merchant: string;
  let conversationId: string;

  before(async () => {
    app = await startRealtimeApp({
      limits: { rateLimit: { burst: 40, perSecond: 1, maxStrikes: 5, strikeWindowMs: 60_000 } },
    });
    buyer = await app.addUser('b1', 'buyer');
    merchant = await app.addUser('m1', 'merchant');
    conversationId = await app.conversation(buyer, 'b1', 'm1');
  });
  after(() => app.close());

  test('bad JSON, non-objects, unknown types and wrong field types get an error; the socket stays usable', async () => {
    const socket = await app.connect('b1', buyer);
    const cases: [unknown, string][] = [
      ['{not json', 'invalid_json'],
      ['[1,2]', 'invalid_frame'],
      ['"text"', 'invalid_frame'],
      [{ type: 'subscribe' }, 'unknown_frame_type'],
      [{ no: 'type' }, 'unknown_frame_type'],
      [{ type: 'typing', conversation_id: conversationId, is_typing: 'yes' }, 'validation_error'],
      [{ type: 'message', conversation_id: conversationId }, 'validation_error'],
      [{ type: 'read', conversation_id: 42 }, 'validation_error'],
      [{ type: 'message', conversation_id: conversationId, content: 'x', message_type: 'video' }, 'validation_error'],
    ];
    for (const [frame, errorType] of cases) {
      const since = socket.events.length;
      socket.send(frame);
      const error = await socket.waitFor('error', since, errorType);
      assert.equal(error.error_type, errorType, JSON.stringify(frame));
      assert.equal(typeof error.detail, 'string');
    }
    const [typing] = socket.of('error').filter((e) => e.error_type === 'validation_error');
    assert.deepEqual(typing?.errors, ['is_typing: must be boolean']);

    // The client_msg_id of a rejected message frame comes back, so the client knows which send failed.
    socket.send({ type: 'message', conversation_id: conversationId, content: 5, client_msg_id: 'bad-1' });
    const rejected = await socket.waitFor((e) => e.type === 'error' && e.client_msg_id === 'bad-1');
    assert.equal(rejected.error_type, 'validation_error');

    socket.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
    await socket.waitFor((e) => e.type === 'error' && e.error_type === 'binary_not_supported');

    socket.send({ type: 'message', conversation_id: conversationId, content: 'still works', client_msg_id: 'ok-1' });
    assert.equal((await socket.waitFor('ack')).client_msg_id, 'ok-1');
    await socket.close();
  });

  test('errors follow Accept-Language', async () => {
    const english = await app.connect('b1', buyer, { headers: { 'accept-language': 'en-US,en;q=0.9' } });
    english.send('{');
    assert.equal((await english.waitFor('error')).detail, 'The request body is not valid JSON');
    await english.close();
  });

  test('a frame over 64 KiB closes the socket with 1009; others are unaffected', async () => {
    const [victim, bystander] = await Promise.all([app.connect('b1', buyer), app.connect('m1', merchant)]);
    victim.send({ type: 'message', conversation_id: conversationId, content: 'x'.repeat(64 * 1024) });
    assert.equal((await victim.closed).code, 1009);
    await bystander.sync();
    // Just under the limit is a normal frame (then refused by the 5000-character rule, not the transport).
    const near = await app.connect('b1', buyer);
    near.send({ type: 'message', conversation_id: conversationId, content: 'y'.repeat(60 * 1024) });
    assert.equal((await near.waitFor('error')).error_type, 'validation_error');
    await Promise.all([near.close(), bystander.close()]);
  });

  test('a flood is answered with rate_limited errors, then closed with 1008', async () => {
    const flooder = await app.connect('b1', buyer);
    const bystander = await app.connect('m1', merchant);
    for (let i = 0; i < 100; i += 1) flooder.send({ type: 'ping' });
    const closed = await flooder.closed;
    assert.equal(closed.code, 1008);
    const limited = flooder.of('error').filter((e) => e.error_type === 'rate_limited');
    assert.ok(limited.length >= 1, 'warned before being cut off');
    assert.ok(flooder.of('pong').length <= 40, 'frames beyond the burst were not handled');
    await bystander.sync();
    await bystander.close();
  });
});

describe('heartbeat and shutdown', () => {
  let app: RealtimeTestApp;
  let buyer: string;
  let merchant: string;

  before(async () => {
    app = await startRealtimeApp({ limits: { heartbeatIntervalMs: 40 } });
    buyer = await app.addUser('b1', 'buyer');
    merchant = await app.addUser('m1', 'merchant');
    await app.conversation(buyer, 'b1', 'm1');
  });

  test('a peer that does not answer protocol pings is dropped, and goes offline', async () => {
    const watcher = await app.connect('m1', merchant);
    const live = await app.connect('b1', buyer);
    const silent = await app.connect('b1', buyer, { wsOptions: { autoPong: false } });
    let pings = 0;
    const threePings = new Promise<void>((resolve) =>
      live.ws.on('ping', () => {
        pings += 1;
        if (pings === 3) resolve();
      }),
    );
    assert.equal((await silent.closed).code, 1006, 'terminated, no close handshake');
    await threePings;
    assert.equal(live.ws.readyState, live.ws.OPEN, 'a peer that answers stays');
    await live.close();
    await watcher.waitFor((e) => e.type === 'status' && e.user_id === 'b1' && e.status === 'offline');
    await watcher.close();
  });

  test('closing the app closes every socket with 1012 after in-flight frames are answered', async () => {
    const a = await app.connect('b1', buyer);
    const b = await app.connect('m1', merchant);
    await app.close();
    assert.equal((await a.closed).code, 1012);
    assert.equal((await b.closed).code, 1012);
    await eventually(() => assert.equal(app.realtime.registry.size, 0));
  });
});
