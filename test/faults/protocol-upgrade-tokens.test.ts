/**
 * Issue 6, case 12: token attacks on the WebSocket upgrade. Every forged,
 * stale or misplaced credential is answered with a plain HTTP 401/403 (the
 * standard JSON error body) before the upgrade completes: no 101, no socket in
 * the registry, no event. Each attack is tried with the token in every place
 * the server reads it (Authorization header, ?token=, cookie with a trusted
 * Origin) and on both socket paths.
 *
 * Extends test/realtime/upgrade.test.ts (missing token, a tampered token,
 * another user's path, an inactive user, a cookie from a foreign Origin, one
 * source each, through the `ws` client) with expired, foreign-secret, alg none,
 * HS512, exp-less, unknown-user and deleted-user tokens, the raw HTTP answer,
 * every credential source, and a user disabled after a token was already
 * accepted once (the server remembers verified tokens).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { TEST_SECRET } from '../helpers/test-app.ts';
import { type RealtimeTestApp, startRealtimeApp } from '../realtime/helpers.ts';
import { type RawPeer, rawUpgrade } from './helpers/protocol-raw.ts';

const key = new TextEncoder().encode(TEST_SECRET);
const nowSeconds = () => Math.floor(Date.now() / 1000);
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function sign(
  subject: string,
  options: { alg?: string; secret?: Uint8Array; exp?: number | null; role?: string } = {},
): Promise<string> {
  const jwt = new SignJWT({ role: options.role ?? 'buyer' })
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(subject)
    .setIssuedAt();
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? nowSeconds() + 3600);
  return jwt.sign(options.secret ?? key);
}

type Source = 'header' | 'query' | 'cookie';
const SOURCES: Source[] = ['header', 'query', 'cookie'];
const TRUSTED_ORIGIN = 'http://localhost:5173';

/** The upgrade request for `token` carried by `source`. */
function request(
  userId: string,
  token: string | undefined,
  source: Source,
  legacyPath = false,
): { path: string; headers: Record<string, string> } {
  const base = `${legacyPath ? '/ws' : '/api/ws'}/${userId}`;
  if (token === undefined) return { path: base, headers: {} };
  if (source === 'header') return { path: base, headers: { authorization: `Bearer ${token}` } };
  if (source === 'query') return { path: `${base}?token=${encodeURIComponent(token)}`, headers: {} };
  return { path: base, headers: { cookie: `access_token=${token}`, origin: TRUSTED_ORIGIN } };
}

describe('token attacks on the websocket upgrade (case 12)', () => {
  let app: RealtimeTestApp;
  let admin: string;
  const peers: RawPeer[] = [];

  before(async () => {
    app = await startRealtimeApp();
    await app.addUser('b1', 'buyer');
    await app.addUser('m1', 'merchant');
    await app.addUser('b-deleted', 'buyer', { status: 'deleted' });
    await app.addUser('b-inactive', 'buyer', { status: 'inactive' });
    admin = await app.addUser('a1', 'admin');
  });
  after(async () => {
    for (const peer of peers) peer.destroy();
    await app.close();
  });

  /** Tries the upgrade; asserts the refusal and that nothing socket-like came of it. */
  async function assertRefused(
    label: string,
    attempt: { path: string; headers: Record<string, string> },
    status: number,
    errorType: string,
  ): Promise<void> {
    const before = app.realtime.registry.size;
    const peer = await rawUpgrade(app.url, attempt.path, attempt.headers);
    peers.push(peer);
    const { answer } = peer;
    assert.equal(answer.status, status, `${label}: ${answer.status} ${answer.body}`);
    assert.equal(answer.headers.upgrade, undefined, `${label}: no Upgrade header`);
    assert.equal(answer.headers['sec-websocket-accept'], undefined, label);
    assert.match(answer.headers['content-type'] ?? '', /^application\/json/, label);
    const body = JSON.parse(answer.body);
    assert.deepEqual(Object.keys(body).sort(), ['detail', 'error_type'], label);
    assert.equal(body.error_type, errorType, label);
    assert.ok(typeof body.detail === 'string' && body.detail.length > 0, label);
    if (status === 401) assert.equal(answer.headers['www-authenticate'], 'Bearer', label);
    assert.equal(app.realtime.registry.size, before, `${label}: no connection registered`);
    assert.deepEqual(peer.events, [], `${label}: no event`);
    peer.destroy();
  }

  const attacks: {
    name: string;
    user: string;
    token: () => Promise<string | undefined>;
    status: number;
    type: string;
  }[] = [
    { name: 'missing token', user: 'b1', token: async () => undefined, status: 401, type: 'not_authenticated' },
    {
      name: 'expired token',
      user: 'b1',
      token: () => sign('b1', { exp: nowSeconds() - 60 }),
      status: 401,
      type: 'token_expired',
    },
    {
      name: 'forged signature (another secret)',
      user: 'b1',
      token: () => sign('b1', { secret: new TextEncoder().encode(`${TEST_SECRET}-forged`) }),
      status: 401,
      type: 'invalid_token',
    },
    {
      name: 'signature stripped',
      user: 'b1',
      token: async () => (await sign('b1')).replace(/\.[^.]+$/, '.'),
      status: 401,
      type: 'invalid_token',
    },
    {
      name: 'alg none',
      user: 'b1',
      token: async () =>
        `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: 'b1', exp: nowSeconds() + 3600 })}.`,
      status: 401,
      type: 'invalid_token',
    },
    {
      name: 'algorithm switch (HS512 while HS256 is configured)',
      user: 'b1',
      token: () => sign('b1', { alg: 'HS512' }),
      status: 401,
      type: 'invalid_token',
    },
    {
      name: 'a forged admin token (guessed secret)',
      user: 'a1',
      token: () => sign('a1', { role: 'admin', secret: new TextEncoder().encode('guessed') }),
      status: 401,
      type: 'invalid_token',
    },
    { name: 'no exp claim', user: 'b1', token: () => sign('b1', { exp: null }), status: 401, type: 'invalid_token' },
    { name: 'unknown user', user: 'ghost', token: () => sign('ghost'), status: 401, type: 'invalid_token' },
    { name: 'deleted user', user: 'b-deleted', token: () => sign('b-deleted'), status: 401, type: 'invalid_token' },
    {
      name: 'deactivated user',
      user: 'b-inactive',
      token: () => sign('b-inactive'),
      status: 403,
      type: 'user_inactive',
    },
    { name: "A's token on /api/ws/B", user: 'm1', token: () => sign('b1'), status: 403, type: 'forbidden' },
    { name: "A's token on an admin's path", user: 'a1', token: () => sign('b1'), status: 403, type: 'forbidden' },
  ];

  for (const attack of attacks) {
    test(`${attack.name} → ${attack.status} ${attack.type}, in every credential source and on both paths`, async () => {
      const token = await attack.token();
      for (const source of token === undefined ? (['header'] as const) : SOURCES) {
        for (const legacyPath of [false, true]) {
          await assertRefused(
            `${attack.name} via ${source}${legacyPath ? ' on /ws' : ''}`,
            request(attack.user, token, source, legacyPath),
            attack.status,
            attack.type,
          );
        }
      }
    });
  }

  test('a cookie from a foreign Origin, a look-alike Origin, a null Origin or none → 403, even with a valid token', async () => {
    const token = await sign('b1');
    for (const origin of [
      'https://evil.example',
      'http://localhost:5173.evil.example',
      'null',
      'http://chat.test:80x',
    ]) {
      await assertRefused(
        `cookie with Origin ${origin}`,
        { path: '/api/ws/b1', headers: { cookie: `access_token=${token}`, origin } },
        403,
        'forbidden',
      );
    }
    await assertRefused(
      'cookie without Origin',
      { path: '/api/ws/b1', headers: { cookie: `access_token=${token}` } },
      403,
      'forbidden',
    );
  });

  test('control: the same requests with a valid token complete the upgrade (101, hello first)', async () => {
    const token = await sign('b1');
    for (const source of SOURCES) {
      const attempt = request('b1', token, source);
      const peer = await rawUpgrade(app.url, attempt.path, attempt.headers);
      peers.push(peer);
      assert.equal(peer.answer.status, 101, source);
      assert.equal(peer.answer.headers.upgrade?.toLowerCase(), 'websocket');
      await peer.waitFor((event) => event.type === 'online_users');
      assert.equal(peer.events[0]?.type, 'hello', source);
      peer.destroy();
      await peer.gone;
    }
  });

  test('a token accepted once is refused after its user is deactivated or deleted (no stale verified-token cache)', async () => {
    const victim = await app.addUser('b-later', 'buyer');
    const socket = await app.connect('b-later', victim);
    await socket.close();
    const patched = await app.client.patch('/api/users/b-later/status?status=inactive', { token: admin });
    assert.equal(patched.status, 200);
    for (const source of SOURCES) {
      await assertRefused(`deactivated later via ${source}`, request('b-later', victim, source), 403, 'user_inactive');
    }
    assert.equal((await app.client.patch('/api/users/b-later/status?status=active', { token: admin })).status, 200);
    assert.equal((await app.client.delete('/api/users/b-later', { token: admin })).status, 200);
    for (const source of SOURCES) {
      await assertRefused(`deleted later via ${source}`, request('b-later', victim, source), 401, 'invalid_token');
    }
  });
});
