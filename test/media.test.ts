import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { seedDemoData } from '../src/cli/seed.ts';
import { ensureDefaultAvatars, renderAvatar } from '../src/modules/media/avatars.ts';
import { testDialects } from './helpers/databases.ts';
import { SAMPLES } from './helpers/media-samples.ts';
import { assertError } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

const PLATFORM_KEY = 'platform-key-for-media-tests-0123456789';
const SECRET = `TOP-SECRET-${randomBytes(8).toString('hex')}`;

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A request with the path and headers exactly as given: fetch would normalise
 * "..", "//" and the like away, and adds Cache-Control: no-cache to
 * conditional requests (which rightly defeats a 304).
 */
function rawRequest(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET', headers }, (response) => {
      let body = '';
      response.setEncoding('latin1');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

for (const dialect of testDialects) {
  describe(`media (${dialect.name})`, () => {
    let app: TestApp;
    let admin: string;
    let buyer: string;
    let media: string;
    let secretFile: string;
    let pngUrl: string;
    let pdfPath: string;

    const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
      fetch(`${app.server.url}${path}`, { method, headers });

    before(async () => {
      app = await startTestApp(dialect, { env: { PLATFORM_API_KEY: PLATFORM_KEY } });
      admin = await app.addUser('a1', 'admin');
      buyer = await app.addUser('b9', 'buyer');
      media = app.config.MEDIA_DIR;
      const uploadOne = async (bytes: Buffer, name: string) => {
        const form = new FormData();
        form.append('file', new Blob([bytes]), name);
        const response = await fetch(`${app.server.url}/api/upload/file`, {
          method: 'POST',
          body: form,
          headers: { authorization: `Bearer ${buyer}` },
        });
        assert.equal(response.status, 200);
        return ((await response.json()) as { url: string }).url.slice('http://chat.test'.length);
      };
      pngUrl = await uploadOne(SAMPLES.png, 'a.png');
      pdfPath = await uploadOne(SAMPLES.pdf, 'a.pdf');
      // What an operator (or an attacker with a foothold) might have put in or next to MEDIA_DIR.
      secretFile = join(dirname(media), `secret-${randomBytes(6).toString('hex')}.txt`);
      writeFileSync(secretFile, SECRET);
      mkdirSync(join(media, 'docs'), { recursive: true });
      writeFileSync(join(media, 'docs', 'page.html'), '<script>alert(1)</script>');
      writeFileSync(join(media, 'docs', 'drawing.svg'), SAMPLES.svg);
      writeFileSync(join(media, 'docs', 'app.js'), 'alert(1)');
      writeFileSync(join(media, 'docs', 'noextension'), 'x');
      writeFileSync(join(media, '.env'), SECRET);
      writeFileSync(join(media, 'docs', '.upload-0123456789abcdef.tmp'), SECRET);
      symlinkSync(secretFile, join(media, 'docs', 'outside.png'));
      symlinkSync(dirname(media), join(media, 'docs', 'parent'));
      symlinkSync(join(media, 'avatars', 'buyer.png'), join(media, 'docs', 'inside.png'));
    });
    after(async () => {
      await app.close();
      rmSync(secretFile, { force: true });
    });

    describe('serving', () => {
      test('an image is public and inline, with its type, nosniff, a sandbox CSP and short private caching', async () => {
        const response = await get(pngUrl);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('content-type'), 'image/png');
        assert.equal(response.headers.get('content-disposition'), `inline; filename="a.png"; filename*=UTF-8''a.png`);
        assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
        assert.equal(response.headers.get('content-security-policy'), "default-src 'none'; sandbox");
        // Revocable (a moderator's delete removes it): never immutable, never in a shared cache.
        assert.equal(response.headers.get('cache-control'), 'private, max-age=60, must-revalidate');
        assert.equal(response.headers.get('accept-ranges'), 'bytes');
        assert.equal(response.headers.get('content-length'), String(SAMPLES.png.length));
        assert.deepEqual(Buffer.from(await response.arrayBuffer()), SAMPLES.png);
      });

      test('everything that is not a raster image is an attachment; unknown types are octet-stream', async () => {
        const cases: [string, string, string][] = [
          [pdfPath, 'application/pdf', `attachment; filename="a.pdf"; filename*=UTF-8''a.pdf`],
          ['/api/media/docs/page.html', 'application/octet-stream', 'attachment'],
          ['/api/media/docs/drawing.svg', 'application/octet-stream', 'attachment'],
          ['/api/media/docs/app.js', 'application/octet-stream', 'attachment'],
          ['/api/media/docs/noextension', 'application/octet-stream', 'attachment'],
        ];
        for (const [path, type, disposition] of cases) {
          const response = await get(path);
          assert.equal(response.status, 200, path);
          assert.equal(response.headers.get('content-type'), type, path);
          assert.equal(response.headers.get('content-disposition'), disposition, path);
          assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
          assert.equal(response.headers.get('content-security-policy'), "default-src 'none'; sandbox", path);
          await response.arrayBuffer();
        }
      });

      test('ETag and Last-Modified; a matching If-None-Match or If-Modified-Since is a 304 without a body', async () => {
        const first = await get(pngUrl);
        await first.arrayBuffer();
        const etag = first.headers.get('etag') ?? '';
        const lastModified = first.headers.get('last-modified') ?? '';
        assert.ok(etag.length > 2);
        assert.ok(!Number.isNaN(Date.parse(lastModified)));

        for (const headers of [
          { 'if-none-match': etag },
          { 'if-none-match': `"other", ${etag}` },
          { 'if-none-match': '*' },
          { 'if-modified-since': lastModified },
        ] as Record<string, string>[]) {
          const cached = await rawRequest(app.server.url, pngUrl, headers);
          assert.equal(cached.status, 304, JSON.stringify(headers));
          assert.equal(cached.body, '');
          assert.equal(cached.headers.etag, etag);
          assert.equal(cached.headers['x-content-type-options'], 'nosniff');
        }
        const older = new Date(Date.parse(lastModified) - 60_000).toUTCString();
        for (const headers of [
          { 'if-none-match': '"something-else"' },
          { 'if-modified-since': older },
          // A reload (what fetch sends with conditional headers) always gets the file.
          { 'if-none-match': etag, 'cache-control': 'no-cache' },
        ] as Record<string, string>[]) {
          const response = await rawRequest(app.server.url, pngUrl, headers);
          assert.equal(response.status, 200, JSON.stringify(headers));
          assert.equal(response.body, SAMPLES.png.toString('latin1'));
        }
      });

      test('ranges: 206 for one range, 416 with Content-Range when unsatisfiable, the whole file otherwise', async () => {
        const size = SAMPLES.pdf.length;
        const ranges: [string, number, number][] = [
          ['bytes=0-4', 0, 4],
          ['bytes=5-', 5, size - 1],
          ['bytes=-6', size - 6, size - 1],
          [`bytes=10-${size + 100}`, 10, size - 1],
        ];
        for (const [range, start, end] of ranges) {
          const response = await get(pdfPath, { range });
          assert.equal(response.status, 206, range);
          assert.equal(response.headers.get('content-range'), `bytes ${start}-${end}/${size}`);
          assert.deepEqual(Buffer.from(await response.arrayBuffer()), SAMPLES.pdf.subarray(start, end + 1));
        }
        const unsatisfiable = await get(pdfPath, { range: `bytes=${size}-` });
        assert.equal(unsatisfiable.status, 416);
        assert.equal(unsatisfiable.headers.get('content-range'), `bytes */${size}`);
        assertError({ status: unsatisfiable.status, body: await unsatisfiable.json() }, 416, 'range_not_satisfiable');
        // Several ranges, a malformed one or a stale If-Range: the whole file, like most static servers.
        for (const headers of [
          { range: 'bytes=0-1,4-5' },
          { range: 'lines=1-2' },
          { range: 'bytes=0-4', 'if-range': '"stale"' },
        ] as Record<string, string>[]) {
          const response = await get(pdfPath, headers);
          assert.equal(response.status, 200, JSON.stringify(headers));
          assert.deepEqual(Buffer.from(await response.arrayBuffer()), SAMPLES.pdf);
        }
        const etag = (await get(pdfPath, {}, 'HEAD')).headers.get('etag') ?? '';
        const fresh = await get(pdfPath, { range: 'bytes=0-4', 'if-range': etag });
        assert.equal(fresh.status, 206);
        await fresh.arrayBuffer();
      });

      test('HEAD answers the headers without the body', async () => {
        const response = await get(pdfPath, {}, 'HEAD');
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('content-length'), String(SAMPLES.pdf.length));
        assert.equal(
          response.headers.get('content-disposition'),
          `attachment; filename="a.pdf"; filename*=UTF-8''a.pdf`,
        );
        assert.equal(await response.text(), '');
      });

      test('directories are never listed', async () => {
        const day = dirname(pngUrl);
        for (const path of [
          '/api/media/',
          '/api/media/uploads',
          '/api/media/uploads/',
          day,
          `${day}/`,
          '/api/media/avatars',
        ]) {
          const response = await get(path);
          assertError({ status: response.status, body: await response.json() }, 404);
          assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
        }
      });
    });

    describe('no escape from MEDIA_DIR', () => {
      test('traversal in every spelling is a 404, and the secret never leaks', async () => {
        const secret = secretFile.slice(dirname(media).length + 1);
        const paths = [
          `/api/media/../${secret}`,
          `/api/media/avatars/../../${secret}`,
          `/api/media/%2e%2e/${secret}`,
          `/api/media/%2E%2E/%2e%2e/etc/passwd`,
          `/api/media/..%2f${secret}`,
          `/api/media/..%2F${secret}`,
          `/api/media/..%5c${secret}`,
          `/api/media/avatars/..%5c..%5c${secret}`,
          `/api/media/%252e%252e/${secret}`,
          `/api/media/.%2e/${secret}`,
          '/api/media//etc/passwd',
          '/api/media/%2fetc%2fpasswd',
          `/api/media/${encodeURIComponent(secretFile)}`,
          `/api/media/${secretFile}`,
          '/api/media/avatars/buyer.png%00.txt',
          '/api/media/avatars/buyer.png%00',
          '/api/media/./avatars/buyer.png',
          '/api/media/avatars/./buyer.png',
          '/api/media/avatars/buyer.png/',
          '/api/media/avatars/buyer.png/..',
          '/api/media/.env',
          '/api/media/%2eenv',
          '/api/media/docs/.upload-0123456789abcdef.tmp',
          `/api/media/docs/parent/${secret}`,
          '/api/media/docs/outside.png',
        ];
        for (const path of paths) {
          const response = await rawRequest(app.server.url, path);
          assert.equal(response.status, 404, `${path}: ${response.status} ${response.body.slice(0, 100)}`);
          assert.ok(!response.body.includes(SECRET), path);
          assert.ok(!response.body.includes('PNG'), path);
        }
        // Malformed percent-encoding never reaches the route: Fastify answers 400.
        for (const path of ['/api/media/%c0%ae%c0%ae/etc/passwd', '/api/media/%', '/api/media/%zz']) {
          const response = await rawRequest(app.server.url, path);
          assert.ok([400, 404].includes(response.status), `${path}: ${response.status}`);
          assert.ok(!response.body.includes(SECRET), path);
        }
      });

      test('a symlink inside MEDIA_DIR to a file inside it is served as its target', async () => {
        const response = await get('/api/media/docs/inside.png');
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('content-type'), 'image/png');
        assert.deepEqual(Buffer.from(await response.arrayBuffer()), readFileSync(join(media, 'avatars', 'buyer.png')));
      });

      test('media is read-only over HTTP', async () => {
        const response = await app.client.post('/api/media/avatars/buyer.png', { body: {} });
        assertError(response, 404, 'route_not_found');
      });
    });

    describe('default avatars', () => {
      test('every role has one, drawn at startup and served as an inline PNG', async () => {
        for (const role of ['buyer', 'merchant', 'service', 'admin'] as const) {
          const response = await get(`/api/media/avatars/${role}.png`);
          assert.equal(response.status, 200, role);
          assert.equal(response.headers.get('content-type'), 'image/png');
          assert.equal(response.headers.get('content-disposition'), 'inline');
          assert.equal(response.headers.get('cache-control'), 'public, max-age=3600');
          assert.deepEqual(Buffer.from(await response.arrayBuffer()), renderAvatar(role));
        }
      });

      test('drawing them again changes nothing, keeps an operator’s own file and restores a missing one', async () => {
        const avatars = join(media, 'avatars');
        const mtime = statSync(join(avatars, 'buyer.png')).mtimeMs;
        writeFileSync(join(avatars, 'merchant.png'), SAMPLES.png);
        unlinkSync(join(avatars, 'admin.png'));
        assert.deepEqual(await ensureDefaultAvatars(media), ['admin']);
        assert.deepEqual(await ensureDefaultAvatars(media), []);
        assert.equal(statSync(join(avatars, 'buyer.png')).mtimeMs, mtime);
        assert.deepEqual(readFileSync(join(avatars, 'merchant.png')), SAMPLES.png);
        assert.deepEqual(readFileSync(join(avatars, 'admin.png')), renderAvatar('admin'));
        writeFileSync(join(avatars, 'merchant.png'), renderAvatar('merchant'));
      });

      test('POST /api/users/ensure gives new users their role’s avatar unless one is given', async () => {
        const response = await app.client.post('/api/users/ensure', {
          token: admin,
          body: {
            users: [
              { id: 'ext-b', role: 'buyer' },
              { id: 'ext-m', role: 'merchant' },
              { id: 'ext-p', role: 'platform' },
              { id: 'ext-own', role: 'buyer', avatar: 'https://cdn.example.test/me.png' },
              { id: 'b9', role: 'buyer' },
            ],
          },
        });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.deepEqual(
          response.body.map((user: { avatar: string | null }) => user.avatar),
          [
            'http://chat.test/api/media/avatars/buyer.png',
            'http://chat.test/api/media/avatars/merchant.png',
            'http://chat.test/api/media/avatars/service.png',
            'https://cdn.example.test/me.png',
            null, // existing users are returned unchanged
          ],
        );
        const stored = await app.server.database.db
          .selectFrom('users')
          .select('avatar')
          .where('id', '=', 'ext-b')
          .executeTakeFirstOrThrow();
        assert.equal(stored.avatar, '/api/media/avatars/buyer.png');
        const served = await get(new URL(response.body[0].avatar).pathname);
        assert.equal(served.status, 200);
        await served.arrayBuffer();
      });

      test('POST /api/auth/token creating a user gives the default avatar too', async () => {
        const response = await app.client.post('/api/auth/token', {
          headers: { 'x-api-key': PLATFORM_KEY },
          body: { user_id: 'platform-m1', role: 'merchant' },
        });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(response.body.user.avatar, 'http://chat.test/api/media/avatars/merchant.png');
      });

      test('the demo seed gives every demo user their role’s avatar', async () => {
        await seedDemoData(app.server.database.db);
        const users = await app.server.database.db
          .selectFrom('users')
          .select(['id', 'role', 'avatar'])
          .where('id', 'in', ['a2', 'p1', 'b1', 'b2', 'm1', 'm2', 'm3'])
          .execute();
        assert.equal(users.length, 7);
        for (const user of users) assert.equal(user.avatar, `/api/media/avatars/${user.role}.png`, user.id);
      });
    });
  });
}
