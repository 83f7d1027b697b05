import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { FILE_TYPES, type FileExtension } from '../src/modules/media/file-types.ts';
import { testDialects } from './helpers/databases.ts';
import { listFiles, SAMPLES } from './helpers/media-samples.ts';
import { assertError, openConversation, rowCounts } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/** Above Fastify's 1 MiB bodyLimit on purpose: multipart must not be held to it. */
const LIMIT = 3 * 1024 * 1024;
const BOUNDARY = '----chat-test-boundary-7MA4YWxkTrZu0gW';
const UPLOADED = /^http:\/\/chat\.test(\/api\/media\/uploads\/(\d{4})\/(\d{2})\/(\d{2})\/[0-9a-f]{32}\.([a-z]+))$/;

interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

async function read(response: Response): Promise<Reply> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, body, headers: response.headers };
}

/** A file part of a hand-built multipart body. */
function filePart(name: string, filename: string, type = 'application/octet-stream'): Buffer {
  return Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`,
  );
}
const closing = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);

async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(10);
  }
}

for (const dialect of testDialects) {
  describe(`uploads (${dialect.name})`, () => {
    let app: TestApp;
    let buyer: string;
    let merchant: string;
    let uploadsDir: string;

    const uploadForm = async (kind: 'image' | 'file', form: FormData, token: string | null = buyer) =>
      read(
        await fetch(`${app.server.url}/api/upload/${kind}`, {
          method: 'POST',
          body: form,
          headers: token ? { authorization: `Bearer ${token}` } : {},
        }),
      );
    const upload = (
      kind: 'image' | 'file',
      bytes: Buffer,
      filename = 'upload.bin',
      type = 'application/octet-stream',
    ) => {
      const form = new FormData();
      form.append('file', new Blob([bytes], { type }), filename);
      return uploadForm(kind, form);
    };
    const uploadRaw = async (body: Buffer | string, contentType = `multipart/form-data; boundary=${BOUNDARY}`) =>
      read(
        await fetch(`${app.server.url}/api/upload/file`, {
          method: 'POST',
          body,
          headers: { authorization: `Bearer ${buyer}`, 'content-type': contentType },
        }),
      );
    /** The stored file behind an upload answer, checked against the URL pattern. */
    const storedFile = (url: string) => {
      const match = UPLOADED.exec(url);
      assert.ok(match, url);
      return join(app.config.MEDIA_DIR, (match[1] ?? '').slice('/api/media/'.length));
    };
    /** Runs `action` and asserts the uploads directory holds exactly the same files after. */
    const storesNothing = async <T>(action: () => Promise<T>): Promise<T> => {
      const before = listFiles(uploadsDir);
      const result = await action();
      assert.deepEqual(listFiles(uploadsDir), before);
      return result;
    };

    before(async () => {
      app = await startTestApp(dialect, { env: { MAX_FILE_SIZE: String(LIMIT) } });
      buyer = await app.addUser('b1', 'buyer');
      merchant = await app.addUser('m1', 'merchant');
      uploadsDir = join(app.config.MEDIA_DIR, 'uploads');
    });
    after(() => app.close());

    describe('accepted files', () => {
      test('an image upload answers an absolute URL under today’s directory, the bytes stored as sent', async () => {
        const response = await upload('image', SAMPLES.png, 'photo.png', 'image/png');
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.deepEqual(Object.keys(response.body).sort(), ['file_type', 'filename', 'url']);
        assert.equal(response.body.file_type, 'image');
        assert.equal(response.body.filename, 'photo.png');
        const match = UPLOADED.exec(response.body.url);
        assert.ok(match, response.body.url);
        const today = new Date();
        assert.deepEqual(match.slice(2, 5).map(Number), [
          today.getUTCFullYear(),
          today.getUTCMonth() + 1,
          today.getUTCDate(),
        ]);
        assert.deepEqual(readFileSync(storedFile(response.body.url)), SAMPLES.png);
      });

      test('every accepted type is recognised from its bytes alone and served with its own type', async () => {
        const expected: [FileExtension, Buffer][] = [
          ['jpg', SAMPLES.jpg],
          ['png', SAMPLES.png],
          ['gif', SAMPLES.gif],
          ['webp', SAMPLES.webp],
          ['pdf', SAMPLES.pdf],
          ['doc', SAMPLES.doc],
          ['docx', SAMPLES.docx],
          ['xls', SAMPLES.xls],
          ['xlsx', SAMPLES.xlsx],
          ['txt', SAMPLES.txt],
        ];
        for (const [ext, bytes] of expected) {
          const response = await upload('file', bytes, 'no-clue.bin', 'application/x-whatever');
          assert.equal(response.status, 200, `${ext}: ${JSON.stringify(response.body)}`);
          assert.equal(response.body.file_type, 'file');
          assert.equal(UPLOADED.exec(response.body.url)?.[5], ext);
          assert.equal(response.body.filename, `no-clue.bin.${ext}`);
          const served = await fetch(response.body.url.replace('http://chat.test', app.server.url));
          assert.equal(served.status, 200);
          assert.equal(served.headers.get('content-type'), FILE_TYPES[ext].mime);
          assert.deepEqual(Buffer.from(await served.arrayBuffer()), bytes);
        }
      });

      test('the image endpoint takes the four raster formats and nothing else', async () => {
        for (const ext of ['jpg', 'png', 'gif', 'webp'] as const) {
          const response = await upload('image', SAMPLES[ext], `x.${ext}`);
          assert.equal(response.status, 200, ext);
          assert.equal(response.body.file_type, 'image');
        }
        for (const bytes of [SAMPLES.pdf, SAMPLES.docx, SAMPLES.doc, SAMPLES.txt]) {
          const response = await storesNothing(() => upload('image', bytes, 'x.png', 'image/png'));
          assertError(response, 415, 'upload_not_an_image');
          assert.deepEqual(response.body.errors, ['body.file: must be a JPEG, PNG, GIF or WebP image']);
        }
      });

      test('a spoofed MIME type and name change nothing: PNG bytes named x.exe, sent as text/html, are a PNG', async () => {
        const response = await upload('image', SAMPLES.png, 'x.exe', 'text/html');
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.match(response.body.url, /\.png$/);
        assert.equal(response.body.filename, 'x.exe.png');
        const served = await fetch(response.body.url.replace('http://chat.test', app.server.url));
        assert.equal(served.headers.get('content-type'), 'image/png');
      });

      test('HTML bytes named x.png and sent as image/png are refused by both endpoints', async () => {
        for (const kind of ['image', 'file'] as const) {
          const response = await storesNothing(() => upload(kind, SAMPLES.html, 'x.png', 'image/png'));
          assertError(response, 415, 'upload_unsupported_type');
        }
      });

      test('a GIF/HTML polyglot is accepted as a GIF and only ever served as image/gif, nosniff, sandboxed', async () => {
        const response = await upload('image', SAMPLES.gifPolyglot, 'cat.html', 'text/html');
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.match(response.body.url, /\.gif$/);
        assert.equal(response.body.filename, 'cat.html.gif');
        const served = await fetch(response.body.url.replace('http://chat.test', app.server.url));
        assert.equal(served.headers.get('content-type'), 'image/gif');
        assert.equal(served.headers.get('x-content-type-options'), 'nosniff');
        assert.equal(served.headers.get('content-security-policy'), "default-src 'none'; sandbox");
        // Shown inline, offered for saving under the sanitised name it was sent under.
        assert.equal(
          served.headers.get('content-disposition'),
          `inline; filename="cat.html.gif"; filename*=UTF-8''cat.html.gif`,
        );
      });

      test('the file name is sanitised: no path, no control characters, NFC, bounded', async () => {
        const cases: [string, string][] = [
          ['../../etc/报价单.pdf', '报价单.pdf'],
          ['C:\\fakepath\\quote.pdf', 'quote.pdf'],
          ['tab\there.pdf', 'tabhere.pdf'],
          ['Cafe\u0301.pdf', 'Caf\u00e9.pdf'],
          ['.pdf', 'pdf.pdf'],
        ];
        for (const [sent, stored] of cases) {
          const response = await upload('file', SAMPLES.pdf, sent);
          assert.equal(response.status, 200, sent);
          assert.equal(response.body.filename, stored, sent);
        }
        const long = await upload('file', SAMPLES.pdf, `${'长'.repeat(300)}.pdf`);
        assert.equal(long.status, 200);
        assert.ok(Buffer.byteLength(long.body.filename) <= 255);
        assert.match(long.body.filename, /^长+\.pdf$/);
      });

      test('a large text file is validated across chunk boundaries', async () => {
        const line = '第一列\t第二列\tthird column ✓\r\n';
        const text = Buffer.from(line.repeat(Math.floor((2 * 1024 * 1024) / Buffer.byteLength(line))));
        const response = await upload('file', text, 'big.csv', 'text/csv');
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(response.body.filename, 'big.csv');
        assert.deepEqual(readFileSync(storedFile(response.body.url)), text);
        // The same with one NUL near the end: refused, and the partial file is gone.
        const broken = Buffer.from(text);
        broken[broken.length - 10] = 0;
        assertError(await storesNothing(() => upload('file', broken, 'big.csv')), 415, 'upload_unsupported_type');
      });
    });

    describe('refused content', () => {
      test('markup, executables, scripts, archives, macros and unknown bytes: 415 with the reason, nothing stored', async () => {
        const cases: [string, Buffer, string][] = [
          ['html', SAMPLES.html, 'body.file: HTML, SVG, XML and other markup is not accepted'],
          ['svg', SAMPLES.svg, 'body.file: HTML, SVG, XML and other markup is not accepted'],
          ['elf', SAMPLES.elf, 'body.file: executables and scripts are not accepted'],
          ['pe', SAMPLES.pe, 'body.file: executables and scripts are not accepted'],
          ['mach-o', SAMPLES.macho, 'body.file: executables and scripts are not accepted'],
          ['wasm', SAMPLES.wasm, 'body.file: executables and scripts are not accepted'],
          ['shebang', SAMPLES.shebang, 'body.file: executables and scripts are not accepted'],
          ['docm', SAMPLES.docm, 'body.file: office documents with macros are not accepted'],
          ['zip', SAMPLES.zip, 'body.file: not a JPEG, PNG, GIF, WebP, PDF, DOC, DOCX, XLS, XLSX or UTF-8 text file'],
          [
            'binary',
            SAMPLES.binary,
            'body.file: not a JPEG, PNG, GIF, WebP, PDF, DOC, DOCX, XLS, XLSX or UTF-8 text file',
          ],
          [
            'utf-16',
            Buffer.from('\uFEFFhello', 'utf16le'),
            'body.file: not a JPEG, PNG, GIF, WebP, PDF, DOC, DOCX, XLS, XLSX or UTF-8 text file',
          ],
          [
            'broken docx',
            Buffer.concat([SAMPLES.docx, Buffer.from('trailing')]),
            'body.file: the document structure is damaged or not supported',
          ],
        ];
        for (const [name, bytes, line] of cases) {
          const response = await storesNothing(() => upload('file', bytes, `${name}.pdf`, 'application/pdf'));
          assertError(response, 415, 'upload_unsupported_type');
          assert.deepEqual(response.body.errors, [line], name);
        }
      });

      test('the detail is in English with Accept-Language: en', async () => {
        const form = new FormData();
        form.append('file', new Blob([SAMPLES.html]), 'x.html');
        const response = await read(
          await fetch(`${app.server.url}/api/upload/file`, {
            method: 'POST',
            body: form,
            headers: { authorization: `Bearer ${buyer}`, 'accept-language': 'en' },
          }),
        );
        assert.match(response.body.detail, /^Unsupported file type/);
      });
    });

    describe('size limit', () => {
      test('a file of exactly MAX_FILE_SIZE is accepted (multipart is not held to the 1 MiB JSON limit)', async () => {
        const bytes = Buffer.alloc(LIMIT, 0x41);
        SAMPLES.pdf.copy(bytes);
        const response = await upload('file', bytes, 'exact.pdf');
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(readFileSync(storedFile(response.body.url)).length, LIMIT);
      });

      test('one byte more is a 413 and leaves nothing on disk', async () => {
        const bytes = Buffer.alloc(LIMIT + 1, 0x41);
        SAMPLES.pdf.copy(bytes);
        const response = await storesNothing(() => upload('file', bytes, 'over.pdf'));
        assertError(response, 413, 'upload_too_large');
        assert.deepEqual(response.body.errors, [`body.file: must be at most ${LIMIT} bytes`]);
      });

      test('the partial file is deleted as soon as the limit is crossed, before the request ends', async () => {
        const before = listFiles(uploadsDir);
        const chunk = Buffer.alloc(64 * 1024, 0x42);
        let sent = 0;
        let release: () => void = () => {};
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (sent === 0) {
              controller.enqueue(Buffer.concat([filePart('file', 'stream.pdf'), SAMPLES.pdf]));
              sent = 1;
            } else if (sent < LIMIT + 512 * 1024) {
              controller.enqueue(chunk);
              sent += chunk.length;
            } else {
              await held;
              controller.enqueue(closing);
              controller.close();
            }
          },
        });
        const answer = fetch(`${app.server.url}/api/upload/file`, {
          method: 'POST',
          body,
          duplex: 'half',
          headers: { authorization: `Bearer ${buyer}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
        } as RequestInit);
        const temporary = () => listFiles(uploadsDir).filter((file) => file.includes('.upload-'));
        // While the client still holds its request open past the limit, nothing is on disk.
        await waitFor(() => sent >= LIMIT + 512 * 1024, 'the client to send past the limit');
        await waitFor(() => temporary().length === 0, 'the partial file to be deleted');
        assert.deepEqual(listFiles(uploadsDir), before);
        release();
        assertError(await read(await answer), 413, 'upload_too_large');
        assert.deepEqual(listFiles(uploadsDir), before);
      });

      test('a client that goes away mid-upload leaves no file behind', async () => {
        const before = listFiles(uploadsDir);
        const controller = new AbortController();
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          async pull(stream) {
            if (sent === 0) {
              stream.enqueue(Buffer.concat([filePart('file', 'gone.pdf'), SAMPLES.pdf]));
              sent = 1;
            } else if (sent < 1024 * 1024) {
              stream.enqueue(Buffer.alloc(64 * 1024, 0x43));
              sent += 64 * 1024;
            } else {
              await new Promise((resolve) => controller.signal.addEventListener('abort', resolve));
            }
          },
        });
        const answer = fetch(`${app.server.url}/api/upload/file`, {
          method: 'POST',
          body,
          duplex: 'half',
          signal: controller.signal,
          headers: { authorization: `Bearer ${buyer}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
        } as RequestInit).catch((error: unknown) => error);
        await waitFor(
          () => listFiles(uploadsDir).some((file) => file.includes('.upload-')),
          'the temporary file to appear',
        );
        controller.abort();
        assert.ok((await answer) instanceof Error);
        await waitFor(() => listFiles(uploadsDir).length === before.length, 'the temporary file to be deleted');
        assert.deepEqual(listFiles(uploadsDir), before);
        // The server is fine afterwards.
        assert.equal((await upload('file', SAMPLES.pdf, 'after.pdf')).status, 200);
      });

      test('JSON routes keep their own 1 MiB body limit', async () => {
        const response = await app.client.post('/api/messages/', {
          token: buyer,
          rawBody: JSON.stringify({ conversation_id: 'x', content: 'a'.repeat(1024 * 1024 + 10) }),
        });
        assertError(response, 413, 'payload_too_large');
      });
    });

    describe('malformed requests', () => {
      test('an empty file: 422', async () => {
        const response = await storesNothing(() => upload('file', Buffer.alloc(0), 'empty.txt'));
        assertError(response, 422, 'upload_empty_file');
        assert.deepEqual(response.body.errors, ['body.file: must not be empty']);
      });

      test('no file at all, or a file under another field name: 422', async () => {
        const fieldsOnly = new FormData();
        fieldsOnly.append('note', 'hello');
        const missing = await storesNothing(() => uploadForm('file', fieldsOnly));
        assertError(missing, 422, 'upload_file_missing');
        assert.deepEqual(missing.body.errors, ['body.file: is required']);

        const wrongField = new FormData();
        wrongField.append('upload', new Blob([SAMPLES.png]), 'a.png');
        const misnamed = await storesNothing(() => uploadForm('image', wrongField));
        assertError(misnamed, 422, 'upload_file_missing');
        assert.deepEqual(misnamed.body.errors, ['body.file: the file must be sent in the field named "file"']);

        assertError(await storesNothing(() => uploadRaw(Buffer.alloc(0))), 422, 'upload_file_missing');
      });

      test('two files: 422, neither stored', async () => {
        const form = new FormData();
        form.append('file', new Blob([SAMPLES.png]), 'a.png');
        form.append('file', new Blob([SAMPLES.gif]), 'b.gif');
        const response = await storesNothing(() => uploadForm('image', form));
        assertError(response, 422, 'upload_multiple_files');
      });

      test('extra small fields are ignored; too many of them is a 413', async () => {
        const few = new FormData();
        few.append('purpose', 'chat');
        few.append('file', new Blob([SAMPLES.png]), 'a.png');
        assert.equal((await uploadForm('image', few)).status, 200);

        const many = new FormData();
        for (let i = 0; i < 20; i++) many.append(`field${i}`, 'x');
        many.append('file', new Blob([SAMPLES.png]), 'a.png');
        assertError(await storesNothing(() => uploadForm('image', many)), 413, 'upload_too_many_parts');
      });

      test('oversized part headers: 400', async () => {
        const body = Buffer.concat([filePart('file', `${'n'.repeat(100_000)}.png`), SAMPLES.png, closing]);
        assertError(await storesNothing(() => uploadRaw(body)), 400, 'upload_headers_too_large');
      });

      test('a body cut short, or without a boundary: 400', async () => {
        const cut = Buffer.concat([filePart('file', 'a.pdf'), SAMPLES.pdf]);
        assertError(await storesNothing(() => uploadRaw(cut)), 400, 'upload_malformed');
        assertError(await storesNothing(() => uploadRaw('whatever', 'multipart/form-data')), 400, 'upload_malformed');
      });

      test('not multipart: 415', async () => {
        assertError(await uploadRaw('{"file":"x"}', 'application/json'), 415, 'upload_not_multipart');
        assertError(await uploadRaw(SAMPLES.png, 'image/png'), 415, 'unsupported_media_type');
      });

      test('no token: 401, nothing read or stored', async () => {
        const form = new FormData();
        form.append('file', new Blob([SAMPLES.png]), 'a.png');
        assertError(await storesNothing(() => uploadForm('image', form, null)), 401, 'not_authenticated');
      });
    });

    describe('image and file messages through an upload', () => {
      let conversationId: string;

      before(async () => {
        conversationId = await openConversation(app, buyer, 'b1', 'm1');
      });

      test('an uploaded image is sent as a message: stored relative, answered absolute', async () => {
        const uploaded = await upload('image', SAMPLES.jpg, 'shelf.jpg');
        assert.equal(uploaded.status, 200);
        const relative = uploaded.body.url.slice('http://chat.test'.length);
        for (const content of [uploaded.body.url, relative]) {
          const sent = await app.client.post('/api/messages/', {
            token: buyer,
            body: { conversation_id: conversationId, content, message_type: 'image' },
          });
          assert.equal(sent.status, 201, JSON.stringify(sent.body));
          assert.equal(sent.body.content, uploaded.body.url);
          assert.equal(sent.body.filename, null);
          const row = await app.server.database.db
            .selectFrom('messages')
            .select('content')
            .where('id', '=', sent.body.id)
            .executeTakeFirstOrThrow();
          assert.equal(row.content, relative);
        }
        const history = await app.client.get(`/api/conversations/${conversationId}/messages`, { token: merchant });
        assert.ok(history.body.results.some((m: { content: string }) => m.content === uploaded.body.url));
      });

      test('an uploaded file is sent as "<name>|<url>": the name lands in filename', async () => {
        const uploaded = await upload('file', SAMPLES.xlsx, '2024 报价单.xlsx');
        assert.equal(uploaded.status, 200);
        const sent = await app.client.post('/api/messages/', {
          token: merchant,
          body: {
            conversation_id: conversationId,
            content: `${uploaded.body.filename}|${uploaded.body.url}`,
            message_type: 'file',
          },
        });
        assert.equal(sent.status, 201, JSON.stringify(sent.body));
        assert.equal(sent.body.content, uploaded.body.url);
        assert.equal(sent.body.filename, '2024 报价单.xlsx');
      });

      test('a URL the server did not issue is a 422, even next to real uploads', async () => {
        const uploaded = await upload('image', SAMPLES.png, 'a.png');
        const url: string = uploaded.body.url;
        const before = await rowCounts(app);
        for (const content of [
          url.replace(/[0-9a-f]{32}/, '0'.repeat(32)),
          url.replace(/\.png$/, '.gif'),
          url.replace(/\/[0-9a-f]{32}\.png$/, '/'),
          url.replace('http://chat.test', 'https://evil.test'),
          'http://chat.test/api/media/avatars/buyer.png',
        ]) {
          const response = await app.client.post('/api/messages/', {
            token: buyer,
            body: { conversation_id: conversationId, content, message_type: 'image' },
          });
          assertError(response, 422, 'invalid_media_url');
        }
        assert.deepEqual(await rowCounts(app), before);
      });
    });
  });
}

describe('uploads when the disk refuses', () => {
  let app: TestApp;
  let token: string;

  before(async () => {
    app = await startTestApp(testDialects[0] ?? assert.fail('no sqlite'));
    token = await app.addUser('b1', 'buyer');
  });
  after(() => app.close());

  test('a storage error is a 500 that ends the request (no hang), and the server carries on', async () => {
    // A plain file where this year's upload directory should go: creating the directory fails.
    const uploads = join(app.config.MEDIA_DIR, 'uploads');
    mkdirSync(uploads, { recursive: true });
    writeFileSync(join(uploads, String(new Date().getUTCFullYear())), 'not a directory');
    const form = new FormData();
    form.append('file', new Blob([SAMPLES.png]), 'a.png');
    const response = await fetch(`${app.server.url}/api/upload/image`, {
      method: 'POST',
      body: form,
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5000),
    });
    assertError(await read(response), 500, 'internal_error');
    assert.equal((await app.client.get('/api/health')).status, 200);
  });
});
