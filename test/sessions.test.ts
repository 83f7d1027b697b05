import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { createSessionRevocations } from '../src/modules/auth/session-revocations.ts';
import { createTokenIssuer } from '../src/modules/auth/tokens.ts';
import { testDialects } from './helpers/databases.ts';
import { dropPrefix, REDIS_SKIP_REASON, withRedis } from './helpers/redis.ts';
import { assertError } from './helpers/rest.ts';
import { opened, upgrade } from './helpers/sockets.ts';
import { startTestApp, TEST_SECRET, type TestApp } from './helpers/test-app.ts';

const ALLOWED_ORIGIN = 'http://localhost:5173';
const key = new TextEncoder().encode(TEST_SECRET);

/** Signs in through the API: tokens with a session, as a client gets them. */
async function login(app: TestApp, username: string, password: string): Promise<string> {
  const response = await app.client.post('/api/auth/login', { body: { username, password } });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.access_token;
}

for (const dialect of testDialects) {
  describe(`sessions (${dialect.name})`, () => {
    let app: TestApp;

    before(async () => {
      app = await startTestApp(dialect);
      for (const [id, name] of [
        ['b1', 'alice'],
        ['b2', 'bob'],
        ['b3', 'carol'],
        ['b4', 'dave'],
        ['b5', 'erin'],
      ] as const) {
        await app.addUser(id, 'buyer', { username: name, password: `${name}-password` });
      }
    });
    after(() => app.close());

    describe('POST /api/auth/logout', () => {
      test('ends the session of the token it is called with, only that one, and clears the cookie', async () => {
        const [first, second] = [
          await login(app, 'alice', 'alice-password'),
          await login(app, 'alice', 'alice-password'),
        ];
        assert.equal((await app.client.get('/api/auth/me', { token: first })).status, 200);
        const out = await app.client.post('/api/auth/logout', { token: first });
        assert.equal(out.status, 200, JSON.stringify(out.body));
        const cookie = out.headers.getSetCookie().find((c) => c.startsWith('access_token='));
        assert.ok(cookie, 'the cookie is cleared');
        assert.match(cookie, /^access_token=;/);
        assert.match(cookie, /Expires=Thu, 01 Jan 1970/i);
        assertError(await app.client.get('/api/auth/me', { token: first }), 401, 'token_revoked');
        assertError(await app.client.post('/api/auth/logout', { token: first }), 401, 'token_revoked');
        assert.equal((await app.client.get('/api/auth/me', { token: second })).status, 200, 'the other session lives');
      });

      test('one session revoked by two instances at once (a double click behind a load balancer): no error', async () => {
        // Each instance's own record of revocations: neither has heard of the other's.
        const [one, two] = [
          createSessionRevocations(app.server.database.db),
          createSessionRevocations(app.server.database.db),
        ];
        const session = {
          userId: 'b1',
          sessionId: randomUUID(),
          issuedAtMs: Date.now(),
          expiresAt: Date.now() / 1000 + 60,
        };
        for (let round = 0; round < 5; round++) {
          const raced = { ...session, sessionId: randomUUID() };
          await Promise.all([one.revoke(raced), two.revoke(raced)]);
        }
      });

      test('a revoked session stays revoked for an instance started afterwards (read from the database)', async () => {
        const token = await login(app, 'alice', 'alice-password');
        assert.equal((await app.client.post('/api/auth/logout', { token })).status, 200);
        const later = await startTestApp(dialect, { sharedDatabase: app.scratch.urlString });
        try {
          assertError(await later.client.get('/api/auth/me', { token }), 401, 'token_revoked');
        } finally {
          await later.close();
        }
      });
    });

    describe('every token of a user ends together', () => {
      test('POST /api/auth/logout-all: no token issued before it works; a new sign-in does', async () => {
        const tokens = [await login(app, 'bob', 'bob-password'), await login(app, 'bob', 'bob-password')];
        const out = await app.client.post('/api/auth/logout-all', { token: tokens[0] });
        assert.equal(out.status, 200, JSON.stringify(out.body));
        for (const token of tokens) assertError(await app.client.get('/api/auth/me', { token }), 401, 'token_revoked');
        const fresh = await login(app, 'bob', 'bob-password');
        assert.equal((await app.client.get('/api/auth/me', { token: fresh })).status, 200);
      });

      test('a password change ends every session, the one that made it included', async () => {
        const [token, other] = [
          await login(app, 'carol', 'carol-password'),
          await login(app, 'carol', 'carol-password'),
        ];
        const changed = await app.client.put('/api/users/b3/password', {
          token,
          body: { old_password: 'carol-password', new_password: 'carol-new-password' },
        });
        assert.equal(changed.status, 200, JSON.stringify(changed.body));
        assertError(await app.client.get('/api/auth/me', { token }), 401, 'token_revoked');
        assertError(await app.client.get('/api/auth/me', { token: other }), 401, 'token_revoked');
        const fresh = await login(app, 'carol', 'carol-new-password');
        assert.equal((await app.client.get('/api/auth/me', { token: fresh })).status, 200);
      });
    });

    describe('live sockets', () => {
      test('a logged-out session closes its sockets with 4401; the same user’s other session keeps its socket', async () => {
        const [ended, kept] = [await login(app, 'dave', 'dave-password'), await login(app, 'dave', 'dave-password')];
        const doomed = opened(await upgrade(app.server.url, '/api/ws/b4', { authorization: `Bearer ${ended}` }));
        const survivor = opened(await upgrade(app.server.url, '/api/ws/b4', { authorization: `Bearer ${kept}` }));
        await Promise.all([doomed.firstEvent, survivor.firstEvent]);
        assert.equal((await app.client.post('/api/auth/logout', { token: ended })).status, 200);
        assert.equal((await doomed.closed).code, 4401);
        assert.equal(survivor.ws.readyState, survivor.ws.OPEN);
        assert.equal((await app.client.post('/api/auth/logout-all', { token: kept })).status, 200);
        assert.equal((await survivor.closed).code, 4401);
      });

      test('a socket closes with 4401 when its token expires', async () => {
        // A token living two seconds, signed with the server's secret.
        const shortLived = createTokenIssuer({ secret: TEST_SECRET, algorithm: 'HS256', expireDays: 2 / 86_400 });
        const { token } = await shortLived.issue('b5', 'buyer');
        const socket = opened(await upgrade(app.server.url, '/api/ws/b5', { authorization: `Bearer ${token}` }));
        assert.deepEqual(await socket.closed, { code: 4401, reason: 'token expired' });
        assertError(await app.client.get('/api/auth/me', { token }), 401, 'token_expired');
      });
    });

    describe('the access_token cookie', () => {
      test('authenticates REST; a change by cookie needs an allowed Origin (CSRF), a Bearer token does not', async () => {
        const token = await login(app, 'erin', 'erin-password');
        const cookie = `theme=dark; access_token=${token}`;
        const me = await app.client.get('/api/auth/me', { headers: { cookie } });
        assert.equal(me.status, 200, JSON.stringify(me.body));
        assert.equal(me.body.id, 'b5');
        const body = { description: 'set by cookie' };
        assertError(await app.client.put('/api/users/b5', { body, headers: { cookie } }), 403, 'origin_not_allowed');
        assertError(
          await app.client.put('/api/users/b5', { body, headers: { cookie, origin: 'https://evil.example' } }),
          403,
          'origin_not_allowed',
        );
        assertError(
          await app.client.put('/api/users/b5', { body, headers: { cookie, referer: 'https://evil.example/page' } }),
          403,
          'origin_not_allowed',
        );
        const allowed = await app.client.put('/api/users/b5', { body, headers: { cookie, origin: ALLOWED_ORIGIN } });
        assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
        const ownSite = await app.client.put('/api/users/b5', {
          body,
          headers: { cookie, origin: 'http://chat.test' },
        });
        assert.equal(ownSite.status, 200, 'BASE_URL’s own origin is allowed');
        const byReferer = await app.client.put('/api/users/b5', {
          body,
          headers: { cookie, referer: `${ALLOWED_ORIGIN}/chat` },
        });
        assert.equal(byReferer.status, 200, 'without Origin, the Referer’s origin decides');
        const bearer = await app.client.put('/api/users/b5', { body, token });
        assert.equal(bearer.status, 200, 'a Bearer token is never sent by a browser on its own');
        // Logout by cookie is a change too, and clears the cookie.
        assertError(await app.client.post('/api/auth/logout', { headers: { cookie } }), 403, 'origin_not_allowed');
        const out = await app.client.post('/api/auth/logout', { headers: { cookie, origin: ALLOWED_ORIGIN } });
        assert.equal(out.status, 200);
        assertError(await app.client.get('/api/auth/me', { headers: { cookie } }), 401, 'token_revoked');
      });
    });

    describe('POST /api/ws/ticket', () => {
      const ticketFor = async (token: string) => {
        const response = await app.client.post('/api/ws/ticket', { token });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(response.body.expires_in, 30);
        return response.body.ticket as string;
      };

      test('a ticket opens one socket, once; ?token= still works', async () => {
        const token = await login(app, 'erin', 'erin-password');
        const ticket = await ticketFor(token);
        const socket = opened(await upgrade(app.server.url, `/api/ws/b5?ticket=${ticket}`));
        assert.partialDeepStrictEqual(await socket.firstEvent, { type: 'hello', user_id: 'b5' });
        const again = await upgrade(app.server.url, `/api/ws/b5?ticket=${ticket}`);
        assert.equal(again.open, false);
        assert.partialDeepStrictEqual(again, { status: 401, body: { error_type: 'invalid_ticket' } });
        const byToken = opened(await upgrade(app.server.url, `/api/ws/b5?token=${token}`));
        await byToken.firstEvent;
        socket.ws.close();
        byToken.ws.close();
      });

      test('a ticket opens only its own user’s socket, and dies with its session', async () => {
        const token = await login(app, 'erin', 'erin-password');
        const foreign = await upgrade(app.server.url, `/api/ws/b1?ticket=${await ticketFor(token)}`);
        assert.partialDeepStrictEqual(foreign, { open: false, status: 403 });
        const unused = await ticketFor(token);
        assert.equal((await app.client.post('/api/auth/logout', { token })).status, 200);
        const afterLogout = await upgrade(app.server.url, `/api/ws/b5?ticket=${unused}`);
        assert.partialDeepStrictEqual(afterLogout, { open: false, status: 401, body: { error_type: 'token_revoked' } });
        const made = await upgrade(app.server.url, `/api/ws/b5?ticket=${'A'.repeat(43)}`);
        assert.partialDeepStrictEqual(made, { open: false, status: 401, body: { error_type: 'invalid_ticket' } });
        assertError(await app.client.post('/api/ws/ticket'), 401, 'not_authenticated');
      });

      test('a socket opened with a ticket closes with 4401 when the session behind it is logged out', async () => {
        const token = await login(app, 'erin', 'erin-password');
        const socket = opened(await upgrade(app.server.url, `/api/ws/b5?ticket=${await ticketFor(token)}`));
        await socket.firstEvent;
        assert.equal((await app.client.post('/api/auth/logout', { token })).status, 200);
        assert.equal((await socket.closed).code, 4401);
      });
    });

    describe('an instance that missed the revocation event', () => {
      test('refuses the session and closes its sockets with 4401 at its next read of the table', async () => {
        // No shared bus: B never hears of A's logout, as when Redis was down at the time.
        const instanceB = await startTestApp(dialect, {
          sharedDatabase: app.scratch.urlString,
          server: { revocationRefreshMs: 50, userCacheTtlMs: 600_000 },
        });
        try {
          const token = await login(app, 'alice', 'alice-password');
          const socket = opened(
            await upgrade(instanceB.server.url, '/api/ws/b1', { authorization: `Bearer ${token}` }),
          );
          await socket.firstEvent;
          assert.equal((await app.client.post('/api/auth/logout', { token })).status, 200);
          assert.deepEqual(await socket.closed, { code: 4401, reason: 'session ended' });
          assertError(await instanceB.client.get('/api/auth/me', { token }), 401, 'token_revoked');
        } finally {
          await instanceB.close();
        }
      });
    });

    test('an instance that missed a logout-everywhere or a deactivation (no shared bus) closes those sockets at its next refresh', async () => {
      const instanceB = await startTestApp(dialect, {
        sharedDatabase: app.scratch.urlString,
        server: { revocationRefreshMs: 50, userCacheTtlMs: 600_000 },
      });
      try {
        const admin = await app.addUser('a9', 'admin');
        await app.addUser('b7', 'buyer', { username: 'grace', password: 'grace-password' });
        const other = await app.addUser('b8', 'buyer');
        const token = await login(app, 'grace', 'grace-password');
        const sockets = [
          opened(await upgrade(instanceB.server.url, '/api/ws/b7', { authorization: `Bearer ${token}` })),
          opened(await upgrade(instanceB.server.url, '/api/ws/b8', { authorization: `Bearer ${other}` })),
        ];
        await Promise.all(sockets.map((socket) => socket.firstEvent));
        assert.equal((await app.client.post('/api/auth/logout-all', { token })).status, 200);
        assert.deepEqual(await sockets[0]?.closed, { code: 4401, reason: 'session ended' });
        assert.equal((await app.client.patch('/api/users/b8/status?status=inactive', { token: admin })).status, 200);
        assert.deepEqual(await sockets[1]?.closed, { code: 4401, reason: 'session ended' });
      } finally {
        await instanceB.close();
      }
    });

    describe('tokens issued before sessions existed (no sid)', () => {
      test('work, and logging one out ends every session of its user', async () => {
        const now = Math.floor(Date.now() / 1000);
        const legacy = (iat: number) =>
          new SignJWT({ role: 'buyer' })
            .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
            // alice: her sessions so far only ended one at a time, so her tokens_valid_after is still 0.
            .setSubject('b1')
            .setIssuedAt(iat)
            .setExpirationTime(iat + 3600)
            .sign(key);
        const [one, two] = [await legacy(now - 2), await legacy(now - 1)];
        assert.equal((await app.client.get('/api/auth/me', { token: one })).status, 200);
        assert.equal((await app.client.post('/api/auth/logout', { token: one })).status, 200);
        assertError(await app.client.get('/api/auth/me', { token: one }), 401, 'token_revoked');
        assertError(await app.client.get('/api/auth/me', { token: two }), 401, 'token_revoked');
      });
    });

    describe('issue time', () => {
      const signedAt = (iat: number) =>
        new SignJWT({ role: 'buyer' })
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setSubject('b5')
          .setIssuedAt(iat)
          .setExpirationTime(iat + 3600)
          .sign(key);

      test('a token issued more than 60 s in the future is refused; within the skew it is accepted', async () => {
        const now = Math.floor(Date.now() / 1000);
        assertError(await app.client.get('/api/auth/me', { token: await signedAt(now + 3600) }), 401, 'invalid_token');
        assertError(await app.client.get('/api/auth/me', { token: await signedAt(now + 120) }), 401, 'invalid_token');
        assert.equal((await app.client.get('/api/auth/me', { token: await signedAt(now + 30) })).status, 200);
      });
    });
  });
}

describe('sessions across two instances sharing Redis', { skip: REDIS_SKIP_REASON }, () => {
  const prefix = `chat-test:${randomUUID()}:`;
  const [dialect] = testDialects;
  assert.ok(dialect);
  let appA: TestApp;
  let appB: TestApp;

  before(async () => {
    appA = await startTestApp(dialect, { redis: { prefix, instanceId: 'A' } });
    appB = await startTestApp(dialect, {
      sharedDatabase: appA.scratch.urlString,
      redis: { prefix, instanceId: 'B' },
      // B remembers users for the whole suite: only the bus can make it refuse a token it already accepted.
      server: { userCacheTtlMs: 600_000 },
    });
    await appA.addUser('b1', 'buyer', { username: 'roamer', password: 'roamer-password' });
  });
  after(async () => {
    await appB?.close();
    await appA?.close();
    await dropPrefix(prefix);
  });

  test('a logout on one instance is refused at once on the other, and closes its sockets there with 4401', async () => {
    const [ended, kept] = [
      await login(appA, 'roamer', 'roamer-password'),
      await login(appA, 'roamer', 'roamer-password'),
    ];
    assert.equal((await appB.client.get('/api/auth/me', { token: ended })).status, 200);
    const doomed = opened(await upgrade(appB.server.url, '/api/ws/b1', { authorization: `Bearer ${ended}` }));
    const survivor = opened(await upgrade(appB.server.url, '/api/ws/b1', { authorization: `Bearer ${kept}` }));
    await Promise.all([doomed.firstEvent, survivor.firstEvent]);
    assert.equal((await appA.client.post('/api/auth/logout', { token: ended })).status, 200);
    assert.equal((await doomed.closed).code, 4401);
    assertError(await appB.client.get('/api/auth/me', { token: ended }), 401, 'token_revoked');
    assert.equal((await appB.client.get('/api/auth/me', { token: kept })).status, 200);
    assert.equal((await appA.client.post('/api/auth/logout-all', { token: kept })).status, 200);
    assert.equal((await survivor.closed).code, 4401);
    assertError(await appB.client.get('/api/auth/me', { token: kept }), 401, 'token_revoked');
  });

  test('a ticket issued by one instance opens a socket on the other, once', async () => {
    const token = await login(appA, 'roamer', 'roamer-password');
    const issued = await appA.client.post('/api/ws/ticket', { token });
    assert.equal(issued.status, 200);
    const socket = opened(await upgrade(appB.server.url, `/api/ws/b1?ticket=${issued.body.ticket}`));
    assert.partialDeepStrictEqual(await socket.firstEvent, { type: 'hello', user_id: 'b1' });
    const again = await upgrade(appA.server.url, `/api/ws/b1?ticket=${issued.body.ticket}`);
    assert.partialDeepStrictEqual(again, { open: false, status: 401, body: { error_type: 'invalid_ticket' } });
    socket.ws.close();
  });

  test('an unused ticket is not readable from Redis: its key is a digest, not the ticket', async () => {
    const token = await login(appA, 'roamer', 'roamer-password');
    const { ticket } = (await appA.client.post('/api/ws/ticket', { token })).body;
    const keys = await withRedis((redis) => redis.keys(`${prefix}*`));
    assert.ok(
      keys.some((k) => k.startsWith(`${prefix}ws-ticket:`)),
      keys.join(' '),
    );
    assert.ok(
      !keys.some((k) => k.includes(ticket)),
      'a ticket in a Redis key (MONITOR, SLOWLOG, a dump) opens a socket',
    );
    const socket = opened(await upgrade(appB.server.url, `/api/ws/b1?ticket=${ticket}`));
    await socket.firstEvent;
    socket.ws.close();
  });
});

describe('tickets while Redis is unreachable', () => {
  const [dialect] = testDialects;
  assert.ok(dialect);
  let app: TestApp;
  before(async () => {
    // The ticket store fails, and says so with 503 rather than a wrong 401.
    app = await startTestApp(dialect, { redis: 'unreachable' });
    await app.addUser('b1', 'buyer', { username: 'alice', password: 'alice-password' });
  });
  after(() => app.close());

  test('POST /api/ws/ticket and a ?ticket= upgrade answer 503 with Retry-After; ?token= still connects', async () => {
    const token = await login(app, 'alice', 'alice-password');
    const issued = await app.client.post('/api/ws/ticket', { token });
    assertError(issued, 503, 'service_unavailable');
    assert.ok(issued.headers.get('retry-after'));
    const byTicket = await upgrade(app.server.url, `/api/ws/b1?ticket=${'A'.repeat(43)}`);
    assert.partialDeepStrictEqual(byTicket, { open: false, status: 503 });
    const byToken = opened(await upgrade(app.server.url, `/api/ws/b1?token=${token}`));
    await byToken.firstEvent;
    byToken.ws.close();
  });
});
