import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { testDialects } from './helpers/databases.ts';
import { assertError, rowCounts } from './helpers/rest.ts';
import { startTestApp, TEST_SECRET, type TestApp } from './helpers/test-app.ts';

const PLATFORM_KEY = 'platform-key-for-tests-0123456789abcdef';
const key = new TextEncoder().encode(TEST_SECRET);
const nowSeconds = () => Math.floor(Date.now() / 1000);
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function signed(
  claims: Record<string, unknown>,
  options: { alg?: string; secret?: Uint8Array; exp?: number } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .setSubject('b1')
    .setIssuedAt()
    .setExpirationTime(options.exp ?? nowSeconds() + 3600)
    .sign(options.secret ?? key);
}

for (const dialect of testDialects) {
  describe(`auth (${dialect.name})`, () => {
    let app: TestApp;

    before(async () => {
      app = await startTestApp(dialect, { env: { PLATFORM_API_KEY: PLATFORM_KEY } });
      await Promise.all([
        app.addUser('b1', 'buyer', { username: 'alice', password: 'alice-password' }),
        app.addUser('b2', 'buyer', { username: 'carol', password: 'carol-password' }),
        app.addUser('m1', 'merchant', { username: 'merchant-one' }),
        app.addUser('a1', 'admin', { username: 'root' }),
      ]);
    });
    after(() => app.close());

    describe('POST /api/auth/login', () => {
      test('a right password answers a token that works, and sets the access_token cookie', async () => {
        const login = await app.client.post('/api/auth/login', {
          body: { username: 'alice', password: 'alice-password' },
        });
        assert.equal(login.status, 200, JSON.stringify(login.body));
        assert.equal(login.body.token_type, 'bearer');
        assert.equal(login.body.user.id, 'b1');
        assert.equal(login.body.user.role, 'buyer');
        assert.equal('password_hash' in login.body.user, false);

        const me = await app.client.get('/api/auth/me', { token: login.body.access_token });
        assert.equal(me.status, 200);
        assert.equal(me.body.id, 'b1');
        assert.equal(me.body.username, 'alice');

        const cookies = login.headers.getSetCookie();
        assert.equal(cookies.length, 1);
        const [pair = '', ...attributes] = (cookies[0] ?? '').split(';').map((part) => part.trim());
        assert.equal(pair, `access_token=${login.body.access_token}`);
        const names = attributes.map((attribute) => attribute.split('=')[0]?.toLowerCase());
        assert.ok(names.includes('httponly'), cookies[0]);
        assert.ok(
          attributes.some((a) => a.toLowerCase() === 'samesite=lax'),
          cookies[0],
        );
        assert.ok(attributes.includes('Path=/'), cookies[0]);
        assert.ok(!names.includes('secure'), 'no Secure with an http BASE_URL');
        assert.ok(!names.includes('domain'), 'no Domain');
        const expires = attributes.find((a) => a.toLowerCase().startsWith('expires='));
        assert.ok(expires, 'the cookie expires with the token');
        const expiresAt = Date.parse(expires.slice('expires='.length)) / 1000;
        assert.ok(Math.abs(expiresAt - (nowSeconds() + 7 * 86_400)) < 120, expires);
      });

      test('a wrong username and a wrong password give the same 401', async () => {
        const wrongUser = await app.client.post('/api/auth/login', {
          body: { username: 'nobody-here', password: 'alice-password' },
        });
        const wrongPassword = await app.client.post('/api/auth/login', {
          body: { username: 'alice', password: 'not-the-password' },
        });
        assertError(wrongUser, 401, 'invalid_credentials');
        assert.equal(wrongPassword.status, wrongUser.status);
        assert.deepEqual(wrongPassword.body, wrongUser.body);
        assert.equal(wrongPassword.headers.getSetCookie().length, 0);
      });

      test('repeated failures are rate limited with Retry-After, even for the right password', async () => {
        for (let attempt = 1; attempt <= 5; attempt++) {
          const failed = await app.client.post('/api/auth/login', { body: { username: 'carol', password: 'wrong' } });
          assertError(failed, 401, 'invalid_credentials');
        }
        const limited = await app.client.post('/api/auth/login', { body: { username: 'carol', password: 'wrong' } });
        assertError(limited, 429, 'too_many_attempts');
        const retryAfter = Number(limited.headers.get('retry-after'));
        assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 15 * 60, `${retryAfter}`);
        const right = await app.client.post('/api/auth/login', {
          body: { username: 'carol', password: 'carol-password' },
        });
        assertError(right, 429, 'too_many_attempts');
        // Another account from the same address is not locked out by carol's failures.
        const other = await app.client.post('/api/auth/login', {
          body: { username: 'alice', password: 'alice-password' },
        });
        assert.equal(other.status, 200);
      });

      test('a body that is not {username, password} is a 422', async () => {
        const missing = await app.client.post('/api/auth/login', { body: { username: 'alice' } });
        assertError(missing, 422, 'validation_error');
        assert.ok(missing.body.errors.includes('body.password: is required'), JSON.stringify(missing.body));
      });
    });

    describe('tokens', () => {
      test('/api/auth/me answers the caller', async () => {
        const me = await app.client.get('/api/auth/me', { token: await app.tokenFor('m1', 'merchant') });
        assert.equal(me.status, 200);
        assert.deepEqual(Object.keys(me.body).sort(), [
          'avatar',
          'created_at',
          'description',
          'id',
          'role',
          'status',
          'team_id',
          'team_role',
          'username',
        ]);
        assert.equal(me.body.role, 'merchant');
      });

      test("/api/auth/me and the sign-in name the caller's team and role in it (null without one)", async () => {
        await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
        await app.addUser('m1a', 'merchant', {
          username: 'agent-one',
          team_id: 'm1',
          team_role: 'agent',
          password: 'agent-password',
        });
        const expected: [string, string, string | null, string | null][] = [
          ['b1', 'buyer', null, null],
          ['a1', 'admin', null, null],
          ['m1', 'merchant', 'm1', 'owner'],
          ['m1s', 'merchant', 'm1', 'supervisor'],
          ['m1a', 'merchant', 'm1', 'agent'],
        ];
        for (const [id, role, teamId, teamRole] of expected) {
          const me = await app.client.get('/api/auth/me', { token: await app.tokenFor(id, role) });
          assert.equal(me.status, 200, JSON.stringify(me.body));
          assert.deepEqual([me.body.id, me.body.team_id, me.body.team_role], [id, teamId, teamRole]);
        }
        // An agent with an empty queue learns their team at sign-in, from the login's user.
        const login = await app.client.post('/api/auth/login', {
          body: { username: 'agent-one', password: 'agent-password' },
        });
        assert.equal(login.status, 200, JSON.stringify(login.body));
        assert.deepEqual([login.body.user.team_id, login.body.user.team_role], ['m1', 'agent']);
        // Elsewhere a user stays a plain User: another user's team is not shown.
        const other = await app.client.get('/api/users/m1a', { token: await app.tokenFor('a1', 'admin') });
        assert.equal(other.status, 200);
        assert.equal('team_id' in other.body, false);
      });

      test('an inactive user is refused with 403 even with a valid token', async () => {
        const token = await app.addUser('b7', 'buyer', { status: 'inactive' });
        assertError(await app.client.get('/api/auth/me', { token }), 403, 'user_inactive');
        assertError(await app.client.get('/api/users/', { token }), 403, 'user_inactive');
      });

      test('a deleted user is refused with 401 even with a valid token', async () => {
        const token = await app.addUser('b8', 'buyer', { status: 'deleted' });
        const me = await app.client.get('/api/auth/me', { token });
        assertError(me, 401, 'invalid_token');
        assert.equal(me.headers.get('www-authenticate'), 'Bearer');
      });

      test('a token whose user never existed is a 401', async () => {
        assertError(
          await app.client.get('/api/auth/me', { token: await app.tokenFor('ghost', 'buyer') }),
          401,
          'invalid_token',
        );
      });

      const refused: [string, () => Promise<Record<string, string>>, string][] = [
        ['no Authorization header', async () => ({}), 'not_authenticated'],
        [
          'a scheme other than Bearer',
          async () => ({ authorization: `Token ${await signed({})}` }),
          'not_authenticated',
        ],
        ['garbage', async () => ({ authorization: 'Bearer not.a.jwt' }), 'invalid_token'],
        [
          'an expired token',
          async () => ({ authorization: `Bearer ${await signed({ role: 'buyer' }, { exp: nowSeconds() - 60 })}` }),
          'token_expired',
        ],
        [
          'a forged signature',
          async () => ({
            authorization: `Bearer ${await signed({ role: 'buyer' }, { secret: new TextEncoder().encode(`${TEST_SECRET}-other`) })}`,
          }),
          'invalid_token',
        ],
        [
          'a signature cut off',
          async () => ({ authorization: `Bearer ${(await signed({ role: 'buyer' })).replace(/\.[^.]+$/, '.')}` }),
          'invalid_token',
        ],
        [
          'alg: none',
          async () => ({
            authorization: `Bearer ${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: 'b1', exp: nowSeconds() + 3600 })}.`,
          }),
          'invalid_token',
        ],
        [
          'HS512 when HS256 is configured',
          async () => ({ authorization: `Bearer ${await signed({ role: 'buyer' }, { alg: 'HS512' })}` }),
          'invalid_token',
        ],
        [
          'a token without exp',
          async () => ({
            authorization: `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('b1').sign(key)}`,
          }),
          'invalid_token',
        ],
      ];
      for (const [name, headers, errorType] of refused) {
        test(`${name} → 401 ${errorType}`, async () => {
          const response = await app.client.get('/api/auth/me', { headers: await headers() });
          assertError(response, 401, errorType);
          assert.deepEqual(Object.keys(response.body).sort(), ['detail', 'error_type']);
        });
      }

      test('a token signed the same way as the server but with the right secret works (control)', async () => {
        const me = await app.client.get('/api/auth/me', { headers: { authorization: `Bearer ${await signed({})}` } });
        assert.equal(me.status, 200);
        assert.equal(me.body.id, 'b1');
      });

      test('Accept-Language: en gives English messages; Chinese otherwise', async () => {
        const en = await app.client.get('/api/auth/me', { headers: { 'accept-language': 'en-US,en;q=0.9' } });
        assert.equal(en.body.detail, 'Not authenticated: missing or invalid token');
        const zh = await app.client.get('/api/auth/me');
        assert.equal(zh.body.detail, '未认证：缺少或无效的访问令牌');
        assert.equal(zh.body.error_type, en.body.error_type);
      });
    });

    describe('POST /api/auth/token (platform)', () => {
      const mint = (body: unknown, headers: Record<string, string> = { 'x-api-key': PLATFORM_KEY }) =>
        app.client.post('/api/auth/token', { body, headers });

      test('a wrong or missing key is a 401 and creates nothing', async () => {
        const before = await rowCounts(app);
        assertError(await mint({ user_id: 'ext1', role: 'buyer' }, { 'x-api-key': 'wrong' }), 401, 'invalid_api_key');
        assertError(await mint({ user_id: 'ext1', role: 'buyer' }, {}), 401, 'invalid_api_key');
        assertError(
          await mint({ user_id: 'ext1', role: 'buyer' }, { 'x-api-key': `${PLATFORM_KEY}x` }),
          401,
          'invalid_api_key',
        );
        assert.deepEqual(await rowCounts(app), before);
      });

      test('Accept-Language: en gives an English detail', async () => {
        const response = await mint(
          { user_id: 'ext1', role: 'buyer' },
          { 'x-api-key': 'wrong', 'accept-language': 'en' },
        );
        assertError(response, 401, 'invalid_api_key');
        assert.equal(response.body.detail, 'Invalid API key');
      });

      test('creates an absent user and answers a working token', async () => {
        const response = await mint({ user_id: 'ext-42', role: 'merchant', username: 'Outside Shop' });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(response.body.token_type, 'bearer');
        assert.deepEqual(
          { id: response.body.user.id, role: response.body.user.role, username: response.body.user.username },
          { id: 'ext-42', role: 'merchant', username: 'Outside Shop' },
        );
        const me = await app.client.get('/api/auth/me', { token: response.body.access_token });
        assert.equal(me.status, 200);
        assert.equal(me.body.id, 'ext-42');
        // A merchant of no team owns a team of one.
        assert.deepEqual([response.body.user.team_id, response.body.user.team_role], ['ext-42', 'owner']);
      });

      test('20 concurrent first tokens for new users without usernames all succeed', async () => {
        const responses = await Promise.all(
          Array.from({ length: 20 }, (_, i) => mint({ user_id: `burst-${i}`, role: 'buyer' })),
        );
        assert.deepEqual(
          responses.map((r) => r.status),
          Array(20).fill(200),
          JSON.stringify(responses.filter((r) => r.status !== 200).map((r) => r.body)),
        );
        const names = responses.map((r) => r.body.user.username);
        assert.equal(new Set(names).size, 20);
        assert.ok(names.every((name) => name.startsWith('买家')));
      });

      test('the legacy role "platform" is stored as service', async () => {
        const response = await mint({ user_id: 'ext-svc', role: 'platform' });
        assert.equal(response.status, 200);
        assert.equal(response.body.user.role, 'service');
      });

      test("never changes an existing user's role or profile", async () => {
        const response = await mint({ user_id: 'm1', role: 'buyer', username: 'renamed' });
        assert.equal(response.status, 200);
        assert.equal(response.body.user.role, 'merchant');
        assert.equal(response.body.user.username, 'merchant-one');
        const me = await app.client.get('/api/users/m1', { token: await app.tokenFor('a1', 'admin') });
        assert.equal(me.body.role, 'merchant');
        assert.equal(me.body.username, 'merchant-one');
      });

      test('the admin role is refused by the schema (422) and nothing is created', async () => {
        const before = await rowCounts(app);
        const response = await mint({ user_id: 'ext-admin', role: 'admin' });
        assertError(response, 422, 'validation_error');
        assert.ok(Array.isArray(response.body.errors) && response.body.errors.length > 0);
        assert.deepEqual(await rowCounts(app), before);
      });

      test('no token for an existing admin or an inactive user', async () => {
        assertError(await mint({ user_id: 'a1', role: 'buyer' }), 403);
        await app.addUser('b9', 'buyer', { status: 'inactive' });
        assertError(await mint({ user_id: 'b9', role: 'buyer' }), 403, 'user_inactive');
      });
    });
  });

  describe(`auth without PLATFORM_API_KEY (${dialect.name})`, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp(dialect, { env: { PLATFORM_API_KEY: '' } });
    });
    after(() => app.close());

    test('POST /api/auth/token is a 404 whatever key is sent', async () => {
      for (const headers of [{}, { 'x-api-key': '' }, { 'x-api-key': PLATFORM_KEY }] as Record<string, string>[]) {
        const response = await app.client.post('/api/auth/token', {
          body: { user_id: 'ext1', role: 'buyer' },
          headers,
        });
        assertError(response, 404);
      }
      assert.equal((await rowCounts(app)).users, 0);
    });
  });
}
