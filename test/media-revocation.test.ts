import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { buildZip, listFiles, SAMPLES } from './helpers/media-samples.ts';
import { assertError, openConversation, rowCounts } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Issue 12, item 8: media a moderator removes is gone (404, off the disk once
 * nothing refers to it) and never cached for long; what a message claims
 * about a file (its name, that it is an image) is checked; downloads keep the
 * name they were uploaded under; Office zip bombs are refused.
 */
for (const dialect of testDialects) {
  describe(`media revocation and naming (${dialect.name})`, () => {
    let app: TestApp;
    let admin: string;
    let buyer: string;
    let merchant: string;
    let toM1: string;
    let toM2: string;

    /** Uploads `bytes` as `name`; answers the stored path ("/api/media/uploads/…") and the upload's answer. */
    async function upload(kind: 'image' | 'file', bytes: Buffer, name: string) {
      const form = new FormData();
      form.append('file', new Blob([bytes]), name);
      const response = await fetch(`${app.server.url}/api/upload/${kind}`, {
        method: 'POST',
        body: form,
        headers: { authorization: `Bearer ${buyer}` },
      });
      const body = (await response.json()) as any;
      return { status: response.status, body, path: String(body.url ?? '').slice('http://chat.test'.length) };
    }
    async function send(conversationId: string, content: string, type: 'image' | 'file') {
      const response = await app.client.post('/api/messages/', {
        token: buyer,
        body: { conversation_id: conversationId, content, message_type: type },
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body as { id: string; filename: string | null; content: string };
    }
    const fetchMedia = (path: string) => fetch(`${app.server.url}${path}`);
    const status = async (path: string) => {
      const response = await fetchMedia(path);
      await response.arrayBuffer();
      return response.status;
    };
    async function moderate(messageId: string): Promise<void> {
      const response = await app.client.delete(`/api/messages/${messageId}`, { token: admin });
      assert.equal(response.status, 200, JSON.stringify(response.body));
    }
    /** Every file under MEDIA_DIR/uploads, hidden name records included, relative. */
    const storedFiles = () => listFiles(join(app.config.MEDIA_DIR, 'uploads'));
    const storedName = (path: string) => path.slice(path.lastIndexOf('/') + 1);
    const onDisk = (path: string) => storedFiles().filter((file) => file.includes(storedName(path)));

    before(async () => {
      app = await startTestApp(dialect);
      admin = await app.addUser('a1', 'admin');
      buyer = await app.addUser('b1', 'buyer');
      merchant = await app.addUser('m1', 'merchant');
      await app.addUser('m2', 'merchant');
      toM1 = await openConversation(app, buyer, 'b1', 'm1');
      toM2 = await openConversation(app, buyer, 'b1', 'm2');
    });
    after(() => app.close());

    test("a moderator's delete of an image message: its URL answers 404 and the file leaves the disk", async () => {
      const image = await upload('image', SAMPLES.png, 'shelf.png');
      assert.equal(image.status, 200);
      const message = await send(toM1, image.body.url, 'image');
      assert.equal(await status(image.path), 200);
      assert.equal(onDisk(image.path).length, 2, 'the file and its name record');

      await moderate(message.id);
      assert.equal(await status(image.path), 404);
      assert.deepEqual(onDisk(image.path), []);
      // Nor can it be sent again: the URL no longer names a file.
      const again = await app.client.post('/api/messages/', {
        token: buyer,
        body: { conversation_id: toM1, content: image.body.url, message_type: 'image' },
      });
      assertError(again, 422, 'invalid_media_url');
    });

    test('a file another live message refers to stays until the last such message is deleted', async () => {
      const file = await upload('file', SAMPLES.pdf, 'offer.pdf');
      const first = await send(toM1, `offer.pdf|${file.body.url}`, 'file');
      const second = await send(toM2, file.body.url, 'file');
      await moderate(first.id);
      assert.equal(await status(file.path), 200, 'the other conversation still shows it');
      await moderate(second.id);
      assert.equal(await status(file.path), 404);
      assert.deepEqual(onDisk(file.path), []);
    });

    test('an upload someone uses as their avatar stays when a message showing it is deleted', async () => {
      const image = await upload('image', SAMPLES.jpg, 'me.jpg');
      const message = await send(toM1, image.body.url, 'image');
      const profile = await app.client.put('/api/users/b1', { token: buyer, body: { avatar: image.body.url } });
      assert.equal(profile.status, 200, JSON.stringify(profile.body));
      await moderate(message.id);
      assert.equal(await status(image.path), 200);
    });

    test('deleting a text message or an unsent upload touches no file', async () => {
      const unsent = await upload('image', SAMPLES.gif, 'later.gif');
      const text = await app.client.post('/api/messages/', {
        token: buyer,
        body: { conversation_id: toM1, content: unsent.body.url },
      });
      assert.equal(text.status, 201);
      const before = storedFiles();
      await moderate(text.body.id);
      assert.deepEqual(storedFiles(), before);
      assert.equal(await status(unsent.path), 200);
    });

    test('uploads are cached privately and briefly, so a revocation reaches browsers and no shared cache keeps them', async () => {
      const image = await upload('image', SAMPLES.webp, 'x.webp');
      const response = await fetchMedia(image.path);
      await response.arrayBuffer();
      const cacheControl = response.headers.get('cache-control') ?? '';
      assert.match(cacheControl, /\bprivate\b/);
      assert.match(cacheControl, /\bmust-revalidate\b/);
      assert.doesNotMatch(cacheControl, /immutable|public/);
      const maxAge = Number(/max-age=(\d+)/.exec(cacheControl)?.[1]);
      assert.ok(maxAge <= 300, cacheControl);
    });

    test('a download carries the name it was uploaded under (RFC 6266 filename* and an ASCII fallback)', async () => {
      const file = await upload('file', SAMPLES.pdf, '测试文档.pdf');
      assert.equal(file.body.filename, '测试文档.pdf');
      const response = await fetchMedia(file.path);
      assert.equal(response.status, 200);
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), SAMPLES.pdf);
      assert.equal(
        response.headers.get('content-disposition'),
        `attachment; filename="____.pdf"; filename*=UTF-8''%E6%B5%8B%E8%AF%95%E6%96%87%E6%A1%A3.pdf`,
      );
      // The stored name stays random; the original is metadata and is never served itself.
      assert.match(file.path, /\/[0-9a-f]{32}\.pdf$/);
      const [record] = onDisk(file.path).filter((name) => name.endsWith('.name'));
      assert.ok(record, 'a name record beside the file');
      assert.equal(await status(`/api/media/uploads/${record}`), 404);
    });

    test("a file message's name is sanitised exactly like an upload's", async () => {
      const file = await upload('file', SAMPLES.pdf, 'quote.pdf');
      const cases: [string, string][] = [
        ['..\\..\\tmp/evil\u202Etxt.exe', 'eviltxt.exe.pdf'],
        ['/etc/passwd', 'passwd.pdf'],
        ['bell\u0007\u0000 name.pdf', 'bell name.pdf'],
        ['...hidden.pdf. . ', 'hidden.pdf'],
        ['Cafe\u0301.pdf', 'Café.pdf'],
        ['   ', ''],
      ];
      for (const [raw, expected] of cases) {
        const message = await send(toM1, `${raw}|${file.body.url}`, 'file');
        assert.equal(message.filename, expected === '' ? null : expected, JSON.stringify(raw));
        const row = await app.server.database.db
          .selectFrom('messages')
          .select('filename')
          .where('id', '=', message.id)
          .executeTakeFirstOrThrow();
        assert.equal(row.filename, message.filename);
      }
    });

    test('an image message must refer to an image upload (422); a file message may carry an image', async () => {
      const pdf = await upload('file', SAMPLES.pdf, 'not-a-picture.pdf');
      const before = await rowCounts(app);
      for (const content of [pdf.body.url, pdf.path]) {
        const response = await app.client.post('/api/messages/', {
          token: buyer,
          body: { conversation_id: toM1, content, message_type: 'image' },
        });
        assertError(response, 422, 'media_not_an_image');
      }
      assert.deepEqual(await rowCounts(app), before);
      const picture = await upload('file', SAMPLES.png, 'picture.png');
      const asFile = await send(toM1, `picture.png|${picture.body.url}`, 'file');
      assert.equal(asFile.filename, 'picture.png');
      // The merchant sees the same answer.
      const history = await app.client.get(`/api/conversations/${toM1}/messages?order=desc&page_size=1`, {
        token: merchant,
      });
      assert.equal(history.body.results[0]?.id, asFile.id);
    });

    test('an Office file whose directory claims an absurd expansion is refused (415), nothing stored', async () => {
      const before = storedFiles();
      const names = ['[Content_Types].xml', '_rels/.rels', 'word/document.xml'];
      for (const bomb of [
        buildZip(names, { declaredSize: 1024 * 1024 * 1024 }),
        buildZip([...names, ...Array.from({ length: 10_000 }, (_, i) => `word/media/p${i}.xml`)]),
      ]) {
        const response = await upload('file', bomb, 'report.docx');
        assert.equal(response.status, 415, JSON.stringify(response.body));
        assert.equal(response.body.error_type, 'upload_unsupported_type');
        assert.ok(
          response.body.errors.some((line: string) => /absurd/.test(line)),
          JSON.stringify(response.body),
        );
      }
      assert.deepEqual(storedFiles(), before);
      assert.equal((await upload('file', SAMPLES.docx, 'report.docx')).status, 200, 'a real document still passes');
    });
  });
}
