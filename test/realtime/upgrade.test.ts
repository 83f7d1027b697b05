import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RealtimeTestApp, startRealtimeApp } from './helpers.ts';

describe('websocket upgrade authentication', () => {
  let app: RealtimeTestApp;
  let buyer: string;

  before(async () => {
    app = await startRealtimeApp();
    buyer = await app.addUser('b1', 'buyer');
    await app.addUser('m1', 'merchant');
    await app.addUser('b9', 'buyer', { status: 'inactive' });
  });
  after(() => app.close());

  test('no token: 401 before any socket exists', async () => {
    const refused = await app.refused('b1', {});
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error_type, 'not_authenticated');
    assert.equal(app.realtime.registry.size, 0);
  });

  test('a forged or expired-looking token: 401', async () => {
    const refused = await app.refused('b1', { token: `${buyer}x` });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error_type, 'invalid_token');
  });

  test("another user's path: 403", async () => {
    const refused = await app.refused('m1', { token: buyer });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error_type, 'forbidden');
  });

  test('an inactive user: 403', async () => {
    const refused = await app.refused('b9', { token: await app.tokenFor('b9') });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error_type, 'user_inactive');
  });

  test('a cookie from a foreign Origin (cross-site hijacking): 403', async () => {
    const refused = await app.refused('b1', {
      token: buyer,
      via: 'cookie',
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(refused.status, 403);
    const noOrigin = await app.refused('b1', { token: buyer, via: 'cookie' });
    assert.equal(noOrigin.status, 403);
  });

  test('a cookie from a CORS origin or BASE_URL is accepted', async () => {
    for (const origin of ['http://localhost:5173', 'http://chat.test']) {
      const socket = await app.connect('b1', buyer, { via: 'cookie', headers: { origin } });
      assert.equal(socket.hello.user_id, 'b1');
      await socket.close();
    }
  });

  test('the header wins over a bad query token and cookie (first source counts)', async () => {
    const refused = await app.refused('b1', {
      token: 'not-a-token',
      headers: { cookie: `access_token=${buyer}`, origin: 'http://localhost:5173' },
    });
    assert.equal(refused.status, 401);
  });

  test('?token= on /api/ws and on the legacy /ws path; hello comes first, once', async () => {
    for (const path of ['api', 'legacy'] as const) {
      const socket = await app.connect('b1', buyer, { via: 'query', path });
      const [hello, second] = socket.events;
      assert.equal(hello?.type, 'hello');
      assert.equal(hello?.user_id, 'b1');
      assert.match(hello?.connection_id, /^[0-9a-f-]{36}$/);
      assert.equal(typeof hello?.server_time, 'number');
      assert.equal(second?.type, 'online_users');
      await socket.sync();
      assert.equal(socket.of('hello').length, 1);
      await socket.close();
    }
  });

  test('a plain GET on the socket path is not an upgrade', async () => {
    const response = await app.client.get('/api/ws/b1', { token: buyer });
    assert.equal(response.status, 404);
  });
});
