/**
 * Issue 6, case 13: hostile uploads. MAX_FILE_SIZE is 8 MiB here.
 *
 * Already proven in test/uploads.test.ts, and not repeated: PNG bytes named
 * x.exe and sent as text/html are a PNG; HTML named x.png is refused by both
 * endpoints; a GIF/HTML polyglot is served only as image/gif with nosniff and
 * a sandbox CSP; "../../etc/报价单.pdf" and other names are sanitised; the
 * partial file is deleted as soon as the limit is crossed; an empty file is a
 * 422; markup, executables, macros, archives are 415 — each leaving nothing in
 * MEDIA_DIR/uploads. test/uploads-memory.test.ts proves a 256 MiB upload is
 * streamed (server RSS grows < 32 MiB).
 *
 * Added here, each with "4xx and MEDIA_DIR (all of it, not only uploads/)
 * exactly as before" unless accepted on purpose:
 * - names sent as raw multipart bytes (FormData would normalise them): ../
 *   and ..\ traversal, absolute paths, NUL before and inside the name,
 *   percent-encoded traversal, an RFC 5987 filename* with encoded traversal,
 *   bidi overrides, "." and "..": accepted (the bytes are a PNG) under an
 *   unguessable name in uploads/YYYY/MM/DD, with a name free of path,
 *   control and bidi characters; nothing written anywhere else;
 * - more spoofed types and polyglots (an executable as image/jpeg, SVG as a
 *   PNG, HTML behind a BOM as .txt, a zip-slip "docx", PDF/HTML and JPEG/HTML
 *   polyglots): refused, or stored as the type their bytes prove and served
 *   with nosniff (attachment or sandboxed), never extracted;
 * - a 1 GiB stream: refused with 413 while the client is still sending, far
 *   short of 1 GiB (the server stops reading at 2 × MAX_FILE_SIZE + 1 MiB),
 *   the same for 1 GiB before the first part and 1 GiB after a valid file
 *   (a PDF, and a DOCX whose check is often still running at the cut-off);
 *   nothing left on disk (eventually: within the 2 s linger below), the
 *   server fine. That the bytes read are streamed,
 *   never buffered, is test/uploads-memory.test.ts's (256 MiB, RSS < 32 MiB);
 *   here the server reads at most 2 × 8 MiB + 1 MiB of the 1 GiB at all.
 *
 * Defect found: the server read every byte of an oversized upload before
 * answering 413 (1 GiB: the whole GiB, ~1 s of CPU; an endless stream: for
 * ever). src/modules/media/upload.routes.ts now stops reading past
 * 2 × MAX_FILE_SIZE + 1 MiB and answers 413 at once, keeping the connection
 * (unread) for 2 s so the client can read the answer before it is dropped (a
 * plain close would reset a client that is still sending: it saw EPIPE instead
 * of the 413 in ~35% of tries); dropping it destroys the request, which ends
 * the parts still being read, so a file received just before the cut-off is
 * deleted too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDialects } from '../helpers/databases.ts';
import { buildZip, listFiles, SAMPLES } from '../helpers/media-samples.ts';
import { assertError } from '../helpers/rest.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';
import { eventually } from '../realtime/helpers.ts';

const MiB = 1024 * 1024;
const LIMIT = 8 * MiB;
const BODY_LIMIT = 2 * LIMIT + MiB;
const BOUNDARY = '----protocol-hostile-uploads';
const STORED = /^http:\/\/chat\.test\/api\/media\/(uploads\/\d{4}\/\d{2}\/\d{2}\/[0-9a-f]{32}\.([a-z]+))$/;
const sqlite = testDialects.find((d) => d.name === 'sqlite') ?? assert.fail('no sqlite dialect');

interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

/** One file part; `disposition` is the raw Content-Disposition parameters after form-data; (bytes as given). */
function multipart(disposition: Buffer | string, bytes: Buffer, type = 'application/octet-stream'): Buffer {
  return Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; `),
    Buffer.isBuffer(disposition) ? disposition : Buffer.from(disposition),
    Buffer.from(`\r\nContent-Type: ${type}\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}

describe('hostile uploads (case 13)', () => {
  let app: TestApp;
  let token: string;
  let mediaDir: string;
  const marker = `pwned-${randomBytes(4).toString('hex')}`;

  before(async () => {
    app = await startTestApp(sqlite, { env: { MAX_FILE_SIZE: String(LIMIT) } });
    token = await app.addUser('b1', 'buyer');
    mediaDir = app.config.MEDIA_DIR;
  });
  after(() => app.close());

  async function send(kind: 'image' | 'file', body: Buffer): Promise<Reply> {
    const response = await fetch(`${app.server.url}/api/upload/${kind}`, {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }

  const served = (url: string) => fetch(url.replace('http://chat.test', app.server.url));

  /** Nothing named after the marker anywhere a traversal could have put it. */
  function assertNoEscape(): void {
    const candidates = [
      join(mediaDir, '..', `${marker}.png`),
      join(mediaDir, `${marker}.png`),
      join(mediaDir, 'uploads', `${marker}.png`),
      join(tmpdir(), `${marker}.png`),
      join('/tmp', `${marker}.png`),
      join(process.cwd(), `${marker}.png`),
      join(process.cwd(), 'evil.txt'),
      join(mediaDir, '..', 'evil.txt'),
    ];
    for (const path of candidates) assert.equal(existsSync(path), false, path);
    const stray = listFiles(mediaDir).filter((file) => file.includes(marker) || file.includes('evil'));
    assert.deepEqual(stray, []);
  }

  test('traversal, NUL, absolute, encoded and bidi file names: stored only under an unguessable name, name sanitised', async () => {
    const before = listFiles(mediaDir);
    const names: [string, Buffer | string][] = [
      ['../ traversal', `filename="../../../../../../tmp/${marker}.png"`],
      ['..\\ traversal', `filename="..\\..\\..\\${marker}.png"`],
      ['absolute path', 'filename="/etc/passwd"'],
      ['Windows path', `filename="C:\\Windows\\System32\\${marker}.png"`],
      ['NUL inside', Buffer.from(`filename="${marker}.png\0.html"`)],
      ['NUL before traversal', Buffer.from(`filename="\0../../${marker}.png"`)],
      ['percent-encoded traversal', `filename="%2e%2e%2f%2e%2e%2f${marker}.png"`],
      ['RFC 5987 encoded traversal', `filename*=UTF-8''..%2F..%2F${marker}.png`],
      ['bidi override', Buffer.from(`filename="${marker}\u202Egnp.exe"`)],
      ['CR inside the name', Buffer.from(`filename="${marker}\r.png"`)],
      ['a dot', 'filename="."'],
      ['two dots', 'filename=".."'],
      ['nothing but slashes', 'filename="////"'],
    ];
    const stored: string[] = [];
    for (const [label, disposition] of names) {
      const reply = await send('image', multipart(disposition, SAMPLES.png, 'image/png'));
      if (reply.status !== 200) {
        // Refusing a name the parser cannot read is fine too, as long as it is a clean 4xx.
        assert.ok(reply.status >= 400 && reply.status < 500, `${label}: ${reply.status}`);
        assertError(reply, reply.status);
        continue;
      }
      const match = STORED.exec(reply.body.url);
      assert.ok(match, `${label}: ${reply.body.url}`);
      assert.equal(match[2], 'png', label);
      stored.push(match[1] ?? '');
      const filename: string = reply.body.filename;
      assert.doesNotMatch(
        filename,
        /[/\\]|[\p{Cc}\u202A-\u202E\u2066-\u2069]/u,
        `${label}: ${JSON.stringify(filename)}`,
      );
      assert.ok(!filename.startsWith('.'), `${label}: ${filename}`);
      assert.match(filename, /\.png$/, label);
      assert.ok(Buffer.byteLength(filename) <= 255);
      assert.ok(existsSync(join(mediaDir, match[1] ?? '')), label);
      // Beside it, the hidden record of the sanitised name (never served), and nothing else.
      const file = match[1] ?? '';
      const record = `${file.slice(0, file.lastIndexOf('/'))}/.${file.slice(file.lastIndexOf('/') + 1)}.name`;
      assert.equal(readFileSync(join(mediaDir, record), 'utf8'), filename, label);
      stored.push(record);
    }
    assert.ok(stored.length / 2 >= names.length - 3, `most names are accepted and sanitised (${stored.length / 2})`);
    assert.deepEqual(listFiles(mediaDir), [...before, ...stored].sort(), 'only the expected files were added');
    assertNoEscape();
  });

  test('spoofed types and polyglots: refused with a 4xx leaving MEDIA_DIR as it was, or stored as their bytes prove', async () => {
    const refusals: [string, 'image' | 'file', Buffer, string, string][] = [
      ['an executable as photo.jpg, image/jpeg', 'image', SAMPLES.pe, 'filename="photo.jpg"', 'image/jpeg'],
      ['SVG as x.png, image/png', 'image', SAMPLES.svg, 'filename="x.png"', 'image/png'],
      [
        'HTML behind a BOM as notes.txt',
        'file',
        Buffer.from('\uFEFF  <!DOCTYPE html><script>alert(1)</script>'),
        'filename="notes.txt"',
        'text/plain',
      ],
      [
        'a script as x.txt',
        'file',
        Buffer.from('<script>alert(document.cookie)</script>'),
        'filename="x.txt"',
        'text/plain',
      ],
      ['a PDF sent to the image endpoint', 'image', SAMPLES.pdf, 'filename="x.png"', 'image/png'],
      ['an empty file with a traversal name', 'file', Buffer.alloc(0), `filename="../../${marker}.png"`, 'image/png'],
      ['a shell script named .jpg', 'image', SAMPLES.shebang, 'filename="x.jpg"', 'image/jpeg'],
    ];
    for (const [label, kind, bytes, disposition, type] of refusals) {
      const before = listFiles(mediaDir);
      const reply = await send(kind, multipart(disposition, bytes, type));
      assert.ok(reply.status >= 400 && reply.status < 500, `${label}: ${reply.status} ${JSON.stringify(reply.body)}`);
      assertError(reply, reply.status);
      assert.deepEqual(listFiles(mediaDir), before, `${label}: nothing stored`);
    }

    // Accepted as what the bytes prove, and served so a browser can never run them.
    const polyglots: [string, 'image' | 'file', Buffer, string, string, string][] = [
      [
        'PDF header then HTML',
        'file',
        Buffer.concat([Buffer.from('%PDF-1.7\n'), SAMPLES.html]),
        'pdf',
        'application/pdf',
        'attachment',
      ],
      ['JPEG header then HTML', 'image', Buffer.concat([SAMPLES.jpg, SAMPLES.html]), 'jpg', 'image/jpeg', 'inline'],
      [
        'a zip-slip "docx" (an entry named ../../../evil.txt)',
        'file',
        buildZip(['[Content_Types].xml', '_rels/.rels', 'word/document.xml', '../../../evil.txt']),
        'docx',
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        'attachment',
      ],
    ];
    for (const [label, kind, bytes, ext, type, disposition] of polyglots) {
      const reply = await send(kind, multipart('filename="payload.html"', bytes, 'text/html'));
      assert.equal(reply.status, 200, `${label}: ${JSON.stringify(reply.body)}`);
      const match = STORED.exec(reply.body.url);
      assert.equal(match?.[2], ext, label);
      assert.equal(reply.body.filename, `payload.html.${ext}`);
      const response = await served(reply.body.url);
      await response.arrayBuffer();
      assert.equal(response.headers.get('content-type'), type, label);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', label);
      assert.ok((response.headers.get('content-disposition') ?? '').startsWith(disposition), label);
      assert.match(response.headers.get('content-security-policy') ?? '', /sandbox/, label);
    }
    assertNoEscape();
  });

  /**
   * Streams `total` bytes of body (after `prefix`) through node:http, one reused 1 MiB chunk at a
   * time, until the server answers; resolves with the answer and how much had been sent by then.
   */
  function stream(prefix: Buffer, total: number): Promise<{ status: number; body: any; sent: number }> {
    const url = new URL(app.server.url);
    const chunk = Buffer.alloc(MiB, 0x20);
    return new Promise((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const req = request({
        host: url.hostname,
        port: url.port,
        path: '/api/upload/file',
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      });
      req.on('response', (res) => {
        answered = true;
        const sentWhenAnswered = sent;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (part: string) => {
          text += part;
        });
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), sent: sentWhenAnswered });
        });
      });
      req.on('error', (error) => {
        if (!answered) reject(error);
      });
      req.write(prefix);
      const pump = () => {
        while (!answered && sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        if (!answered) req.end(`\r\n--${BOUNDARY}--\r\n`);
      };
      pump();
    });
  }

  test('a 1 GiB stream is refused with 413 while still sending, long before its end; nothing stored', async (t) => {
    const GiB = 1024 * MiB;
    const before = listFiles(mediaDir);
    const head = (name: string) =>
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
          'Content-Type: application/pdf\r\n\r\n',
      );
    // Each variant three times: the answer must reach a client that is still sending, every time.
    const variants: [string, Buffer][] = [
      ['1 GiB in the file part', Buffer.concat([head('big.pdf'), SAMPLES.pdf])],
      ['1 GiB before the first part', Buffer.alloc(0)],
      [
        '1 GiB after a valid file',
        Buffer.concat([head('ok.pdf'), SAMPLES.pdf, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]),
      ],
      // A DOCX is checked after it arrives (its zip directory read back from disk), so the
      // cut-off tends to come while that upload is still being received: its file must go too.
      [
        '1 GiB after a valid docx',
        Buffer.concat([head('ok.docx'), SAMPLES.docx, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]),
      ],
    ];
    for (const [label, prefix] of [...variants, ...variants, ...variants]) {
      const started = performance.now();
      const answer = await stream(prefix, GiB);
      const ms = performance.now() - started;
      t.diagnostic(`${label}: ${answer.status} after ${(answer.sent / MiB).toFixed(0)} MiB sent, ${ms.toFixed(0)} ms`);
      assert.equal(answer.status, 413, `${label}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error_type, 'upload_too_large');
      assert.equal(typeof answer.body.detail, 'string');
      // The server stops at BODY_LIMIT; what the client got out beyond it sat in socket buffers.
      assert.ok(answer.sent < BODY_LIMIT + 32 * MiB, `${label}: ${answer.sent} bytes sent before the answer`);
      // Nothing stays on disk (the temporary file goes as the connection closes).
      await eventually(() => assert.deepEqual(listFiles(mediaDir), before), `${label}: nothing left in MEDIA_DIR`);
    }
    // The server carries on: a file just over the limit still gets its clean 413, a normal one a 200.
    const over = Buffer.alloc(LIMIT + 1, 0x41);
    SAMPLES.pdf.copy(over);
    const overReply = await send('file', multipart('filename="over.pdf"', over));
    assertError(overReply, 413, 'upload_too_large');
    assert.equal((await send('file', multipart('filename="fine.pdf"', SAMPLES.pdf))).status, 200);
  });
});
