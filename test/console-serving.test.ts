import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { seedDemoData } from '../src/cli/seed.ts';
import { DEMO_USERS } from '../src/modules/users/demo-users.ts';
import { testDialects } from './helpers/databases.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Issue 18, part 3: the server serves the web console at /console/ (hashed
 * assets cached for a year, index.html revalidated, a 503 page saying how to
 * build it when it is not built), and with DEBUG=True only the console's
 * one-click sign-in as a seeded demo user.
 */

/** A GET of `path` exactly as written: fetch would resolve its `..` before sending it. */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const request = httpGet({ host: url.hostname, port: url.port, path }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
  });
}

const sqlite = testDialects.find((dialect) => dialect.name === 'sqlite');

describe('the console at /console/', () => {
  let built: TestApp;
  let unbuilt: TestApp;
  const dist = mkdtempSync(join(tmpdir(), 'console-dist-'));

  before(async () => {
    assert.ok(sqlite);
    mkdirSync(join(dist, 'assets'));
    writeFileSync(
      join(dist, 'index.html'),
      '<!doctype html><title>console</title><script src="/console/assets/a-1.js"></script>',
    );
    writeFileSync(join(dist, 'assets', 'a-1.js'), 'console.log(1)');
    built = await startTestApp(sqlite, { server: { consoleDir: dist } });
    unbuilt = await startTestApp(sqlite, { server: { consoleDir: join(dist, 'missing') } });
  });
  after(async () => {
    await built?.close();
    await unbuilt?.close();
    rmSync(dist, { recursive: true, force: true });
  });

  test('index.html is revalidated on every visit; hashed assets are cached for a year', async () => {
    const page = await built.client.get('/console/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(String(page.body), /<title>console<\/title>/);
    const asset = await built.client.get('/console/assets/a-1.js');
    assert.equal(asset.status, 200);
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal((await built.client.get('/console/assets/nope.js')).status, 404);
  });

  test('a path out of the console or to a dotfile is a 404 in the standard body, never a file', async () => {
    writeFileSync(join(dist, '.env'), 'SECRET=1');
    for (const path of [
      '/console/../package.json',
      '/console/%2e%2e/package.json',
      '/console/assets/..%2f..%2f..%2fpackage.json',
      '/console//etc/passwd',
      '/console/.env',
      '/console/%2eenv',
    ]) {
      const response = await rawGet(built.server.url, path);
      assert.equal(response.status, 404, `${path}: ${response.body}`);
      assert.equal(JSON.parse(response.body).error_type, 'route_not_found', path);
    }
  });

  test('/console redirects to /console/', async () => {
    const response = await fetch(`${built.server.url}/console`, { redirect: 'manual' });
    assert.equal(response.status, 301);
    assert.equal(response.headers.get('location'), '/console/');
  });

  test('not built: every console path answers 503 with a page saying how to build it', async () => {
    for (const path of ['/console/', '/console/assets/a-1.js']) {
      const response = await unbuilt.client.get(path);
      assert.equal(response.status, 503, path);
      assert.match(String(response.body), /npm run console:build/);
      assert.match(String(response.body), /npm run setup/);
    }
  });

  test('the console routes stay out of the API document', async () => {
    const document = (await built.client.get('/api/openapi.json')).body;
    assert.deepEqual(
      Object.keys(document.paths).filter((path) => path.startsWith('/console')),
      [],
    );
  });
});

for (const dialect of testDialects) {
  describe(`demo sign-in (${dialect.name})`, () => {
    let debug: TestApp;
    let production: TestApp;

    before(async () => {
      debug = await startTestApp(dialect, { env: { DEBUG: 'True' } });
      await seedDemoData(debug.server.database.db);
      production = await startTestApp(dialect, { sharedDatabase: debug.scratch.urlString });
    });
    after(async () => {
      await production?.close();
      await debug?.close();
    });

    test('DEBUG=True: lists the active demo users and signs in as one without a password', async () => {
      const list = await debug.client.get('/api/auth/demo-users');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.map((user: { id: string }) => user.id),
        DEMO_USERS.map((user) => user.id),
      );
      const login = await debug.client.post('/api/auth/demo-login', { body: { user_id: 'm1' } });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      assert.equal(login.body.user.id, 'm1');
      assert.ok(login.headers.getSetCookie().some((cookie) => cookie.startsWith('access_token=')));
      const me = await debug.client.get('/api/auth/me', { token: login.body.access_token });
      assert.equal(me.body.id, 'm1');
    });

    test('DEBUG=True: a user who is not a demo user is refused (404), and so is an inactive one (403)', async () => {
      await debug.addUser('b9', 'buyer');
      const stranger = await debug.client.post('/api/auth/demo-login', { body: { user_id: 'b9' } });
      assert.equal(stranger.status, 404);
      assert.equal(stranger.body.error_type, 'user_not_found');
      await debug.server.database.db.updateTable('users').set({ status: 'inactive' }).where('id', '=', 'b2').execute();
      const inactive = await debug.client.post('/api/auth/demo-login', { body: { user_id: 'b2' } });
      assert.equal(inactive.status, 403);
      const list = await debug.client.get('/api/auth/demo-users');
      assert.ok(!list.body.some((user: { id: string }) => user.id === 'b2'));
    });

    test('DEBUG=False: both endpoints answer 404, as if they did not exist', async () => {
      assert.equal((await production.client.get('/api/auth/demo-users')).status, 404);
      const login = await production.client.post('/api/auth/demo-login', { body: { user_id: 'b1' } });
      assert.equal(login.status, 404);
      assert.equal(login.body.error_type, 'route_not_found');
    });
  });
}
