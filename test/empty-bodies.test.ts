import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { assertError, openConversation, sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Issue 12 item 1: endpoints that take no body accept an empty body under any
 * content type (axios sends `put(url, null)` as an empty form body), while a
 * non-empty body of an unsupported type stays 415.
 */

const AXIOS_FORM = 'application/x-www-form-urlencoded';
const CONTENT_TYPES = [
  AXIOS_FORM,
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/octet-stream',
  'application/x-anything',
];

interface RawResponse {
  status: number;
  body: any;
}

/**
 * One request over node:http with exactly these headers: `Content-Length: 0`
 * (what axios and browsers send) or, with `chunked`, a chunked body of no chunks.
 */
function emptyBodyRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  options: { chunked?: boolean; body?: string } = {},
): Promise<RawResponse> {
  const body = options.body ?? '';
  const framing = options.chunked
    ? { 'transfer-encoding': 'chunked' }
    : { 'content-length': String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${baseUrl}${path}`, { method, headers: { ...headers, ...framing } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, body: text === '' ? null : JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

for (const dialect of testDialects) {
  describe(`empty bodies under any content type (${dialect.name})`, () => {
    let app: TestApp;
    let admin: string;
    let buyer: string;
    let merchant: string;

    before(async () => {
      app = await startTestApp(dialect);
      [admin, buyer, merchant] = await Promise.all([
        app.addUser('a1', 'admin'),
        app.addUser('b1', 'buyer'),
        app.addUser('m1', 'merchant'),
      ]);
    });
    after(() => app.close());

    /** The merchant's (participant 2's) unread count. */
    const unread = async (conversationId: string, token: string) => {
      const response = await app.client.get(`/api/conversations/${conversationId}`, { token });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return (response.body as { participant2_unread: number }).participant2_unread;
    };

    test("the Vue client's read receipts: axios put(url, null) with an empty form body is 200 and marks read", async () => {
      const conversation = await openConversation(app, buyer, 'b1', 'm1');
      const message = await sendText(app, buyer, conversation, 'hello');
      const auth = { authorization: `Bearer ${merchant}`, 'content-type': AXIOS_FORM, accept: 'application/json' };

      const readAll = await emptyBodyRequest(
        app.client.baseUrl,
        'PUT',
        `/api/conversations/${conversation}/messages/read-all`,
        auth,
      );
      assert.equal(readAll.status, 200, JSON.stringify(readAll.body));
      const history = await app.client.get(`/api/conversations/${conversation}/messages`, { token: merchant });
      const stored = history.body.results.find((m: { id: string }) => m.id === message.id);
      assert.equal(stored.is_read, true);

      await sendText(app, buyer, conversation, 'again');
      assert.ok((await unread(conversation, merchant)) > 0);
      const read = await emptyBodyRequest(app.client.baseUrl, 'PUT', `/api/conversations/${conversation}/read`, auth);
      assert.equal(read.status, 200, JSON.stringify(read.body));
      assert.equal(await unread(conversation, merchant), 0);
    });

    for (const contentType of CONTENT_TYPES) {
      for (const chunked of [false, true]) {
        test(`PUT read-all with an empty ${chunked ? 'chunked ' : ''}body as ${contentType}: 200`, async () => {
          const conversation = await openConversation(app, buyer, 'b1', 'm1');
          const response = await emptyBodyRequest(
            app.client.baseUrl,
            'PUT',
            `/api/conversations/${conversation}/messages/read-all`,
            { authorization: `Bearer ${merchant}`, 'content-type': contentType },
            { chunked },
          );
          assert.equal(response.status, 200, JSON.stringify(response.body));
        });
      }
    }

    test('a chunked empty body without a content type: 200', async () => {
      const conversation = await openConversation(app, buyer, 'b1', 'm1');
      const response = await emptyBodyRequest(
        app.client.baseUrl,
        'PUT',
        `/api/conversations/${conversation}/read`,
        { authorization: `Bearer ${merchant}` },
        { chunked: true },
      );
      assert.equal(response.status, 200, JSON.stringify(response.body));
    });

    test('a non-empty body of an unsupported type stays 415, chunked or not', async () => {
      const conversation = await openConversation(app, buyer, 'b1', 'm1');
      for (const chunked of [false, true]) {
        const response = await emptyBodyRequest(
          app.client.baseUrl,
          'PUT',
          `/api/conversations/${conversation}/read`,
          { authorization: `Bearer ${merchant}`, 'content-type': AXIOS_FORM },
          { chunked, body: 'a=1' },
        );
        assertError(response, 415, 'unsupported_media_type');
      }
    });

    test('endpoints that read a body keep their answers: empty JSON 400, empty form 415', async () => {
      const headers = { authorization: `Bearer ${buyer}` };
      const json = await emptyBodyRequest(app.client.baseUrl, 'POST', '/api/messages/', {
        ...headers,
        'content-type': 'application/json',
      });
      assertError(json, 400, 'invalid_json');
      const form = await emptyBodyRequest(app.client.baseUrl, 'POST', '/api/messages/', {
        ...headers,
        'content-type': AXIOS_FORM,
      });
      assertError(form, 415, 'unsupported_media_type');
      const upload = await emptyBodyRequest(app.client.baseUrl, 'POST', '/api/upload/image', {
        ...headers,
        'content-type': AXIOS_FORM,
      });
      assert.equal(upload.status, 415, JSON.stringify(upload.body));
    });

    test('every body-less write endpoint of the OpenAPI document accepts an empty form body', async () => {
      const document = (await app.client.get('/api/openapi.json')).body as {
        paths: Record<string, Record<string, { requestBody?: unknown }>>;
      };
      const bodyless = Object.entries(document.paths).flatMap(([path, operations]) =>
        Object.entries(operations)
          .filter(
            ([method, operation]) => ['post', 'put', 'patch', 'delete'].includes(method) && !operation.requestBody,
          )
          .map(([method]) => ({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, 'no-such-id') })),
      );
      // read-all, both read receipts, the deletions, user status...: the list grows with the API.
      assert.ok(bodyless.length >= 6, JSON.stringify(bodyless));
      for (const { method, path } of bodyless) {
        for (const contentType of [AXIOS_FORM, 'application/json']) {
          const response = await emptyBodyRequest(app.client.baseUrl, method, path, {
            authorization: `Bearer ${admin}`,
            'content-type': contentType,
          });
          assert.ok(
            response.status !== 415 && response.status !== 400,
            `${method} ${path} as ${contentType}: ${response.status} ${JSON.stringify(response.body)}`,
          );
        }
      }
    });
  });
}
