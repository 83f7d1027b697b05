import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  addressBucket,
  createLoginThrottle,
  DEFAULT_LOGIN_THROTTLE,
  throttleName,
} from '../src/modules/auth/login-throttle.ts';
import { createMemoryThrottleStore } from '../src/modules/auth/throttle-store.ts';
import { testDialects } from './helpers/databases.ts';
import { dropPrefix, REDIS_SKIP_REASON } from './helpers/redis.ts';
import { assertError } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

type Client = TestApp['client'];

const [sqlite] = testDialects;
assert.ok(sqlite);

/** A sign-in from `address`, as the trusted proxy in front (loopback) reports it. */
function loginFrom(client: Client, address: string, username: string, password: string) {
  return client.post('/api/auth/login', { body: { username, password }, headers: { 'x-forwarded-for': address } });
}

test('the wait doubles with each failure past the free ones, up to its ceiling', async () => {
  let now = 1_000_000;
  const clock = () => now;
  const throttle = createLoginThrottle(createMemoryThrottleStore(1000, clock), DEFAULT_LOGIN_THROTTLE, clock);
  const attempt = { address: '192.0.2.1', username: 'victim' };
  const waits: number[] = [];
  for (let failure = 1; failure <= 12; failure++) {
    assert.equal(await throttle.begin(attempt, true), 0, 'a failed attempt that was let in');
    const wait = await throttle.retryAfterSeconds(attempt);
    waits.push(wait);
    if (wait > 0) assert.equal(await throttle.begin(attempt, true), wait, 'refused, and not counted, while it waits');
    now += wait * 1000;
  }
  assert.deepEqual(waits, [0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900]);
});

test('address buckets: IPv6 per /64, IPv4-mapped as IPv4', () => {
  for (const address of [
    '2001:db8:0:1::1',
    '2001:DB8:0:1:ffff:ffff:ffff:ffff',
    '2001:db8::1:0:0:0:9',
    'fe80::1%eth0',
  ]) {
    assert.equal(addressBucket(address), address.startsWith('fe80') ? 'fe80:0:0:0::/64' : '2001:db8:0:1::/64', address);
  }
  assert.equal(addressBucket('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(addressBucket('192.0.2.1'), '192.0.2.1');
  assert.equal(addressBucket('::1'), '0:0:0:0::/64');
});

test('bucket names: NFKC, trimmed and lower-cased', () => {
  for (const name of ['admin', 'Admin', 'admin   ', '  ADMIN', 'ａｄｍｉｎ']) assert.equal(throttleName(name), 'admin');
  assert.notEqual(throttleName('ad min'), 'admin');
});

for (const dialect of testDialects) {
  describe(`login throttle behind a trusted proxy (${dialect.name})`, () => {
    let app: TestApp;

    before(async () => {
      app = await startTestApp(dialect, { env: { TRUSTED_PROXIES: 'loopback' } });
      await app.addUser('a1', 'admin', { username: 'admin', password: 'admin-password' });
      await app.addUser('b1', 'buyer', { username: 'owner', password: 'owner-password' });
      await app.addUser('b2', 'buyer', { username: 'besieged', password: 'besieged-password' });
      await app.addUser('b3', 'buyer', { username: 'bystander', password: 'bystander-password' });
    });
    after(() => app.close());

    test('an attacker hammering one account from one address does not keep its owner out elsewhere', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) statuses.push((await loginFrom(app.client, '203.0.113.7', 'owner', 'guess')).status);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
      const limited = await loginFrom(app.client, '203.0.113.7', 'owner', 'owner-password');
      assertError(limited, 429, 'too_many_attempts');
      assert.equal(limited.headers.get('retry-after'), '30');
      const owner = await loginFrom(app.client, '198.51.100.1', 'owner', 'owner-password');
      assert.equal(owner.status, 200, 'the owner, at their own address, gets in');
    });

    test('"admin   ", "Admin" and "ａｄｍｉｎ" count in the bucket of admin', async () => {
      for (const name of ['admin   ', 'Admin', 'ａｄｍｉｎ', ' admin', 'ADMIN']) {
        assertError(await loginFrom(app.client, '203.0.113.8', name, 'guess'), 401, 'invalid_credentials');
      }
      assertError(await loginFrom(app.client, '203.0.113.8', 'admin', 'admin-password'), 429, 'too_many_attempts');
      assert.equal((await loginFrom(app.client, '198.51.100.2', 'admin', 'admin-password')).status, 200);
    });

    test('many addresses guessing one account hold its owner up for a minute at most, and never at a known address', async () => {
      assert.equal((await loginFrom(app.client, '198.51.100.3', 'besieged', 'besieged-password')).status, 200);
      for (let i = 1; i <= 20; i++) {
        assertError(await loginFrom(app.client, `203.0.113.${100 + i}`, 'besieged', 'guess'), 401);
      }
      const elsewhere = await loginFrom(app.client, '198.51.100.4', 'besieged', 'besieged-password');
      assertError(elsewhere, 429, 'too_many_attempts');
      assert.ok(Number(elsewhere.headers.get('retry-after')) <= 60, elsewhere.headers.get('retry-after') ?? '');
      const known = await loginFrom(app.client, '198.51.100.3', 'besieged', 'besieged-password');
      assert.equal(known.status, 200, 'the address the owner signed in from before is not held up');
    });

    test('guesses sent all at once get no more tries than guesses sent one by one', async () => {
      await app.addUser('b4', 'buyer', { username: 'raced', password: 'raced-password' });
      const statuses = await Promise.all(
        Array.from({ length: 40 }, async () => (await loginFrom(app.client, '203.0.113.10', 'raced', 'guess')).status),
      );
      assert.equal(statuses.filter((s) => s === 401).length, 5, statuses.join(' '));
      assert.equal(statuses.filter((s) => s === 429).length, 35);
      // Many made-up names at once from one address: its bucket holds as well.
      const unknown = await Promise.all(
        Array.from(
          { length: 60 },
          async (_, i) => (await loginFrom(app.client, '203.0.113.11', `ghost-${i}`, 'x')).status,
        ),
      );
      assert.equal(unknown.filter((s) => s === 401).length, 30, unknown.join(' '));
    });

    test('an IPv6 client changing its address within its /64 at each guess stays in one bucket', async () => {
      await app.addUser('b5', 'buyer', { username: 'ipv6-owner', password: 'ipv6-password' });
      for (let i = 1; i <= 5; i++) {
        assertError(await loginFrom(app.client, `2001:db8:7:7::${i.toString(16)}`, 'ipv6-owner', 'guess'), 401);
      }
      const next = await loginFrom(app.client, '2001:db8:7:7:abcd::6', 'ipv6-owner', 'guess');
      assertError(next, 429, 'too_many_attempts');
      assert.equal((await loginFrom(app.client, '2001:db8:7:8::1', 'ipv6-owner', 'ipv6-password')).status, 200);
    });

    test('one password tried on many real accounts from one address (spraying) is slowed per address', async () => {
      for (let i = 0; i < 100; i++) await app.addUser(`s${i}`, 'merchant', { username: `shop-${i}` });
      for (let i = 0; i < 100; i++) {
        assertError(await loginFrom(app.client, '203.0.113.12', `shop-${i}`, '123456'), 401, 'invalid_credentials');
      }
      assertError(await loginFrom(app.client, '203.0.113.12', 'bystander', '123456'), 429, 'too_many_attempts');
      assertError(await loginFrom(app.client, '198.51.100.6', 'shop-0', '123456'), 401, 'invalid_credentials');
    });

    test('unknown usernames are counted per address: that address waits, others do not', async () => {
      for (let i = 0; i < 30; i++) {
        assertError(await loginFrom(app.client, '203.0.113.9', `nobody-${i}`, 'guess'), 401, 'invalid_credentials');
      }
      assertError(await loginFrom(app.client, '203.0.113.9', 'nobody-new', 'guess'), 429, 'too_many_attempts');
      // A locked address is refused whatever the username, so a 429 says nothing about which names exist.
      assertError(await loginFrom(app.client, '203.0.113.9', 'bystander', 'bystander-password'), 429);
      assert.equal((await loginFrom(app.client, '198.51.100.5', 'bystander', 'bystander-password')).status, 200);
    });
  });

  describe(`login throttle without a trusted proxy (${dialect.name})`, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp(dialect);
      await app.addUser('b1', 'buyer', { username: 'owner', password: 'owner-password' });
    });
    after(() => app.close());

    test('X-Forwarded-For from an untrusted peer is ignored: a new header per attempt does not escape the bucket', async () => {
      for (let i = 1; i <= 5; i++) assertError(await loginFrom(app.client, `192.0.2.${i}`, 'owner', 'guess'), 401);
      assertError(await loginFrom(app.client, '192.0.2.99', 'owner', 'owner-password'), 429, 'too_many_attempts');
    });
  });
}

describe('login throttle shared through Redis', { skip: REDIS_SKIP_REASON }, () => {
  const prefix = `chat-test:${randomUUID()}:`;
  const dialect = sqlite;
  let appA: TestApp;
  let appB: TestApp;

  before(async () => {
    const env = { TRUSTED_PROXIES: 'loopback' };
    appA = await startTestApp(dialect, { env, redis: { prefix, instanceId: 'A' } });
    appB = await startTestApp(dialect, {
      env,
      sharedDatabase: appA.scratch.urlString,
      redis: { prefix, instanceId: 'B' },
    });
    await appA.addUser('b1', 'buyer', { username: 'shared', password: 'shared-password' });
  });
  after(async () => {
    await appB?.close();
    await appA?.close();
    await dropPrefix(prefix);
  });

  test('failures counted by one instance lock the bucket on the other', async () => {
    for (let i = 0; i < 5; i++) {
      const app = i % 2 === 0 ? appA : appB;
      assertError(await loginFrom(app.client, '203.0.113.50', 'shared', 'guess'), 401);
    }
    assertError(await loginFrom(appB.client, '203.0.113.50', 'shared', 'shared-password'), 429, 'too_many_attempts');
    assertError(await loginFrom(appA.client, '203.0.113.50', 'shared', 'shared-password'), 429, 'too_many_attempts');
  });

  test('guesses raced at two instances at once get no more tries than guesses sent one by one', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const app = i % 2 === 0 ? appA : appB;
        return (await loginFrom(app.client, '203.0.113.51', 'shared', 'guess')).status;
      }),
    );
    assert.equal(statuses.filter((s) => s === 401).length, 5, statuses.join(' '));
  });
});

describe('login throttle while Redis is unreachable', () => {
  let app: TestApp;
  before(async () => {
    // Every throttle command fails, and sign-ins must go on.
    app = await startTestApp(sqlite, { redis: 'unreachable' });
    await app.addUser('b1', 'buyer', { username: 'offline', password: 'offline-password' });
  });
  after(() => app.close());

  test('sign-ins work and are throttled in this process instead', async () => {
    assert.equal((await loginFrom(app.client, '', 'offline', 'offline-password')).status, 200);
    for (let i = 0; i < 5; i++) assertError(await loginFrom(app.client, '', 'offline', 'guess'), 401);
    assertError(await loginFrom(app.client, '', 'offline', 'offline-password'), 429, 'too_many_attempts');
  });
});
