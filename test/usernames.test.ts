import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkUsername } from '../src/modules/users/usernames.ts';
import { testDialects } from './helpers/databases.ts';
import { assertError } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

test('checkUsername: NFKC, hidden characters refused, staff look-alikes reserved for staff', () => {
  const reserved = [
    'admin',
    'Admin ',
    'ａｄｍｉｎ',
    'аdmin',
    'adm1n',
    'a.d.m.i.n',
    'SuperAdmin',
    'root',
    'Customer Service',
    'ådmin',
    'Sérvice',
    'r\u0301oot',
  ];
  const reservedZh = ['平台客服', '客服小王', '官方旗舰店', '管理员', '系統公告'];
  for (const name of [...reserved, ...reservedZh]) {
    assert.deepEqual(checkUsername(name, 'merchant'), { ok: false, error: 'username_reserved' }, name);
    assert.equal(checkUsername(name, 'service').ok, true, `${name} is fine for a service account`);
    assert.equal(checkUsername(name, 'admin').ok, true, `${name} is fine for an admin`);
  }
  for (const name of ['仁和大药房', '华润医药', 'badminton', 'bob', 'mod', 'rooted', 'alice smith']) {
    assert.equal(checkUsername(name, 'buyer').ok, true, name);
  }
  for (const name of [
    'a\u200bdmin',
    'x\u202ey',
    'bob\u2066',
    '\ufeffbob',
    'b\u00adob',
    'bob\u0085',
    '\u3164',
    '\u2800',
    'bob\u2800',
  ]) {
    assert.deepEqual(checkUsername(name, 'admin'), { ok: false, error: 'username_invalid_characters' }, escape(name));
  }
  assert.deepEqual(checkUsername('  ｂｏｂ\u3000 ｓｍｉｔｈ ', 'buyer'), { ok: true, username: 'bob smith' });
});

for (const dialect of testDialects) {
  describe(`usernames (${dialect.name})`, () => {
    let app: TestApp;
    let admin: string;
    let buyer: string;

    before(async () => {
      app = await startTestApp(dialect);
      admin = await app.addUser('a1', 'admin', { username: 'boss' });
      buyer = await app.addUser('b1', 'buyer', { username: 'buyer-one' });
      for (let i = 0; i < 12; i++) await app.addUser(`bt${i}`, 'buyer', { username: `taken-${i}` });
    });
    after(() => app.close());

    test('every write stores the NFKC form', async () => {
      const created = await app.client.post('/api/users/', {
        token: admin,
        body: { id: 'b20', username: 'Ｃａｒｌ', role: 'buyer', password: 'carl-password' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.username, 'Carl');
      const renamed = await app.client.put('/api/users/b1', { token: buyer, body: { username: ' ｄａｖｅ  ｘ ' } });
      assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
      assert.equal(renamed.body.username, 'dave x');
      const ensured = await app.client.post('/api/users/ensure', {
        token: admin,
        body: { users: [{ id: 'b21', role: 'buyer', username: 'ｅｖｅ' }] },
      });
      assert.equal(ensured.status, 200, JSON.stringify(ensured.body));
      assert.equal(ensured.body[0].username, 'eve');
      // Typed the way it was registered, the name still signs in.
      const login = await app.client.post('/api/auth/login', {
        body: { username: 'Ｃａｒｌ', password: 'carl-password' },
      });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      assert.equal(login.body.user.id, 'b20');
    });

    test("a blank braille pattern is no name, and accents do not make a staff name a buyer's", async () => {
      for (const [username, error] of [
        ['\u2800', 'username_invalid_characters'],
        ['buyer-one\u2800', 'username_invalid_characters'],
        ['Ådmin', 'username_reserved'],
        ['cústomer sërvice', 'username_reserved'],
      ] as const) {
        const refused = await app.client.put('/api/users/b1', { token: buyer, body: { username } });
        assertError(refused, 422, error);
      }
    });

    test('staff names are for service and admin accounts, and stay with them', async () => {
      const service = await app.client.post('/api/users/', {
        token: admin,
        body: { id: 'p20', username: '平台客服二号', role: 'service' },
      });
      assert.equal(service.status, 201, JSON.stringify(service.body));
      const anotherAdmin = await app.client.post('/api/users/', {
        token: admin,
        body: { id: 'a20', username: 'admin-two', role: 'admin', password: 'admin-two-password' },
      });
      assert.equal(anotherAdmin.status, 201, JSON.stringify(anotherAdmin.body));
      const demoted = await app.client.put('/api/users/p20', { token: admin, body: { role: 'merchant' } });
      assertError(demoted, 422, 'username_reserved');
      const renamedToo = await app.client.put('/api/users/p20', {
        token: admin,
        body: { role: 'merchant', username: '华润医药二部' },
      });
      assert.equal(renamedToo.status, 200, JSON.stringify(renamedToo.body));
    });

    test('renames onto taken usernames raced at once get no more answers than one by one', async () => {
      const token = await app.tokenFor('bt5');
      const statuses = await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const response = await app.client.put('/api/users/bt5', { token, body: { username: `taken-${i % 5}` } });
          return response.status;
        }),
      );
      assert.equal(statuses.filter((s) => s === 409).length, 10, statuses.join(' '));
      // Renames that work are not counted: 9 taken, 2 that work, then a 10th taken is still answered.
      const other = await app.tokenFor('bt6');
      const rename = (username: string) => app.client.put('/api/users/bt6', { token: other, body: { username } });
      for (let i = 0; i < 9; i++) assertError(await rename(`taken-${i % 5}`), 409, 'username_taken');
      assert.equal((await rename('free-name-6')).status, 200);
      assert.equal((await rename('taken-6')).status, 200, 'and back: the next test wants it taken');
      assertError(await rename('taken-0'), 409, 'username_taken');
      assertError(await rename('taken-1'), 429, 'too_many_username_checks');
    });

    test('renaming onto taken usernames is throttled for non-admins', async () => {
      const token = await app.tokenFor('bt0');
      for (let i = 1; i <= 10; i++) {
        assertError(
          await app.client.put('/api/users/bt0', { token, body: { username: `taken-${i}` } }),
          409,
          'username_taken',
        );
      }
      const limited = await app.client.put('/api/users/bt0', { token, body: { username: 'taken-11' } });
      assertError(limited, 429, 'too_many_username_checks');
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
      // Other changes still go through, and an admin is not held up.
      assert.equal((await app.client.put('/api/users/bt0', { token, body: { description: 'x' } })).status, 200);
      assertError(
        await app.client.put('/api/users/bt1', { token: admin, body: { username: 'taken-2' } }),
        409,
        'username_taken',
      );
    });
  });
}
