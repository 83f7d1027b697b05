/**
 * Issue 18, part 1: the API documents are good enough to generate clients from.
 * The OpenAPI document (GET /api/openapi.json) names its schemas, gives every
 * operation an operationId and a summary, every parameter and response a
 * description, marks the public endpoints, and passes Redocly's recommended
 * rules (`npm run lint:api` runs this file); Swagger UI's "Authorize" signs in
 * with the form-encoded OAuth2 password grant; the AsyncAPI 3 document of the
 * WebSocket (GET /api/asyncapi.json) is valid for @asyncapi/parser and lists
 * every frame and event of the protocol.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Parser } from '@asyncapi/parser';
import { testDialects } from './helpers/databases.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

type Json = Record<string, any>;

function operationsOf(document: Json): { method: string; path: string; operation: Json }[] {
  return Object.entries<Json>(document.paths).flatMap(([path, item]) =>
    Object.entries<Json>(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => ({ method, path, operation })),
  );
}

/** Every `$ref` in a document, as the strings written. */
function refsIn(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) refsIn(item, found);
  else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push(value);
      else refsIn(value, found);
    }
  }
  return found;
}

function resolves(document: Json, ref: string): boolean {
  if (!ref.startsWith('#/')) return false;
  let node: unknown = document;
  for (const token of ref.slice(2).split('/')) {
    if (typeof node !== 'object' || node === null) return false;
    node = (node as Json)[token.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return node !== undefined;
}

describe('API documents', () => {
  let app: TestApp;
  let openapi: Json;

  before(async () => {
    app = await startTestApp(testDialects[0] ?? assert.fail('no dialect'));
    const response = await app.client.get('/api/openapi.json');
    assert.equal(response.status, 200);
    openapi = response.body;
  });
  after(() => app.close());

  test('every operation has a unique operationId, a summary and a tag', () => {
    const operations = operationsOf(openapi);
    assert.ok(operations.length >= 35, `only ${operations.length} operations`);
    const used = new Set(operations.flatMap(({ operation }) => operation.tags ?? []));
    for (const { name } of openapi.tags) assert.ok(used.has(name), `tag ${name} is declared but no operation has it`);
    const ids = new Map<string, string>();
    for (const { method, path, operation } of operations) {
      const where = `${method.toUpperCase()} ${path}`;
      assert.match(operation.operationId ?? '', /^[a-z][A-Za-z0-9]+$/, `${where}: operationId`);
      assert.equal(ids.get(operation.operationId), undefined, `${where}: operationId ${operation.operationId} twice`);
      ids.set(operation.operationId, where);
      assert.ok((operation.summary ?? '').length > 5, `${where}: summary`);
      assert.ok((operation.tags ?? []).length > 0, `${where}: tags`);
      for (const tag of operation.tags) {
        assert.ok(
          openapi.tags.some((declared: Json) => declared.name === tag && declared.description),
          `${where}: tag ${tag} is not declared with a description`,
        );
      }
    }
  });

  test('every parameter and every response is described; none is "Default Response"', () => {
    for (const { method, path, operation } of operationsOf(openapi)) {
      const where = `${method.toUpperCase()} ${path}`;
      for (const parameter of operation.parameters ?? []) {
        assert.ok((parameter.description ?? '').length > 3, `${where}: parameter ${parameter.name} has no description`);
      }
      const statuses = Object.keys(operation.responses);
      assert.ok(
        statuses.some((status) => status.startsWith('2')),
        `${where}: no 2xx response`,
      );
      for (const [status, response] of Object.entries<Json>(operation.responses)) {
        assert.ok(response.description && response.description !== 'Default Response', `${where} ${status}`);
        // An error is described by what its status means here, not by the generic error shape.
        if (Number(status) >= 400 && response.content?.['application/json']?.schema?.$ref?.endsWith('/ErrorResponse')) {
          assert.notEqual(
            response.description,
            openapi.components.schemas.ErrorResponse.description,
            `${where} ${status}`,
          );
        }
      }
    }
  });

  test('the contracts’ schemas are named components, referenced where used, with realistic examples', () => {
    const schemas = openapi.components.schemas as Json;
    for (const name of ['User', 'Conversation', 'Message', 'QuickReply', 'ErrorResponse', 'TokenResponse']) {
      assert.ok(schemas[name], `components.schemas.${name}`);
    }
    // A conversation's four users are one schema, referenced.
    assert.equal(schemas.Conversation.properties.customer.anyOf[0].$ref, '#/components/schemas/User');
    const me = openapi.paths['/api/auth/me'].get.responses['200'].content['application/json'].schema;
    assert.deepEqual(me, { $ref: '#/components/schemas/SignedInUser' });
    assert.equal(schemas.TokenResponse.properties.user.$ref, '#/components/schemas/SignedInUser');
    assert.equal(openapi.externalDocs.url, `${app.config.BASE_URL}/api/asyncapi.json`);
    const refs = refsIn(openapi);
    assert.ok(refs.length > 50, `${refs.length} refs`);
    for (const ref of refs) assert.ok(resolves(openapi, ref), `${ref} does not resolve`);
    // Examples in Chinese, with the ids the server really makes (UUIDv7, {letter}{n}).
    const message = schemas.Message.examples[0];
    assert.match(message.content, /[\u4e00-\u9fff]/);
    assert.match(message.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.match(message.sender_id, /^[bmpa]\d+$/);
    const notFound = openapi.paths['/api/conversations/{id}'].get.responses['404'].content['application/json'];
    assert.equal(notFound.example.error_type, 'not_found');
  });

  test('security: Bearer, the access_token cookie, X-API-Key and the OAuth2 password flow; public endpoints need none', () => {
    const schemes = openapi.components.securitySchemes as Json;
    assert.deepEqual(schemes.bearerAuth, { ...schemes.bearerAuth, type: 'http', scheme: 'bearer' });
    assert.deepEqual(schemes.cookieAuth, { ...schemes.cookieAuth, type: 'apiKey', in: 'cookie', name: 'access_token' });
    assert.deepEqual(schemes.apiKeyAuth, { ...schemes.apiKeyAuth, type: 'apiKey', in: 'header', name: 'X-API-Key' });
    assert.equal(schemes.oauth2Password.flows.password.tokenUrl, '/api/auth/oauth2/token');
    const security = (path: string, method: string) => openapi.paths[path][method].security;
    for (const [path, method] of [
      ['/api/', 'get'],
      ['/api/health', 'get'],
      ['/api/health/ready', 'get'],
      ['/api/auth/login', 'post'],
      ['/api/auth/oauth2/token', 'post'],
      ['/api/media/{path}', 'get'],
    ] as const) {
      assert.deepEqual(security(path, method), [], `${method} ${path} is public`);
    }
    assert.deepEqual(security('/api/auth/token', 'post'), [{ apiKeyAuth: [] }]);
    // The rest use the document's default: a token (header or cookie).
    assert.equal(security('/api/auth/me', 'get'), undefined);
    assert.deepEqual(openapi.security, [{ bearerAuth: [] }, { cookieAuth: [] }, { oauth2Password: [] }]);
  });

  test('Redocly lint with the recommended rules passes (offline)', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'openapi-lint-'));
    try {
      await writeFile(join(folder, 'openapi.json'), JSON.stringify(openapi, null, 2));
      await copyFile(join(ROOT, 'redocly.yaml'), join(folder, 'redocly.yaml'));
      await copyFile(join(ROOT, '.redocly.lint-ignore.yaml'), join(folder, '.redocly.lint-ignore.yaml'));
      const result = await run(
        process.execPath,
        [join(ROOT, 'node_modules/@redocly/cli/bin/cli.js'), 'lint', '--format=stylish', 'openapi.json'],
        {
          cwd: folder,
          env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
        },
      ).catch((error: { stdout?: string; stderr?: string }) =>
        assert.fail(`redocly lint failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`),
      );
      // Warnings do not fail `redocly lint`: none is allowed either.
      assert.doesNotMatch(`${result.stdout}${result.stderr}`, /warning/i, result.stdout + result.stderr);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test('GET /api/asyncapi.json: a valid AsyncAPI 3 document with every frame, event, close code and way to sign in', async () => {
    const response = await app.client.get('/api/asyncapi.json');
    assert.equal(response.status, 200);
    const document = response.body as Json;
    assert.match(document.asyncapi, /^3\./);
    const { document: parsed, diagnostics } = await new Parser().parse(JSON.stringify(document));
    const problems = diagnostics.filter((diagnostic) => diagnostic.severity <= 1);
    assert.deepEqual(
      problems.map((problem) => `${problem.code}: ${problem.message} at ${problem.path.join('.')}`),
      [],
    );
    assert.ok(parsed);
    const channel = document.channels.userSocket;
    assert.equal(channel.address, '/api/ws/{user_id}');
    assert.equal(document.channels.legacyUserSocket.address, '/ws/{user_id}');
    const names = (action: string) =>
      Object.values<Json>(document.operations)
        .filter((operation) => operation.action === action && operation.channel.$ref === '#/channels/userSocket')
        .map((operation) => document.components.messages[operation.messages[0].$ref.split('/').pop()].name)
        .sort();
    // The server sends every event type and receives every frame type of protocol.ts.
    assert.deepEqual(names('send'), [
      'ack',
      'card_updated',
      'conversation_updated',
      'error',
      'hello',
      'message',
      'message_deleted',
      'message_recalled',
      'message_rejected',
      'note',
      'online_users',
      'pong',
      'rating',
      'read',
      'resync',
      'slow_reply',
      'status',
      'typing',
    ]);
    assert.deepEqual(names('receive'), ['message', 'ping', 'read', 'typing']);
    assert.deepEqual(
      document.operations.receiveMessage.reply.messages.map((ref: Json) => ref.$ref),
      ['#/channels/userSocket/messages/EventAck', '#/channels/userSocket/messages/EventError'],
    );
    for (const code of [1008, 1009, 1012, 4401, 4403]) assert.match(channel.description, new RegExp(`\\| ${code} \\|`));
    assert.deepEqual(Object.keys(document.components.securitySchemes).sort(), ['bearer', 'cookie', 'ticket', 'token']);
    // The message event carries the REST Message's sender, the named User schema.
    assert.deepEqual(document.components.messages.EventMessage.payload.properties.sender.anyOf[0], {
      $ref: '#/components/schemas/User',
    });
    for (const ref of refsIn(document)) assert.ok(resolves(document, ref), `${ref} does not resolve`);
  });
});

for (const dialect of testDialects) {
  describe(`OAuth2 password sign-in for Swagger UI (${dialect.name})`, () => {
    let app: TestApp;

    before(async () => {
      app = await startTestApp(dialect);
      await app.addUser('b1', 'buyer', { username: '张小明', password: 'secret-123' });
    });
    after(() => app.close());

    // As Swagger UI sends it: its default puts the (empty) client id and secret in a Basic header.
    const form = (fields: Record<string, string>, contentType = 'application/x-www-form-urlencoded') =>
      fetch(`${app.server.url}/api/auth/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': contentType, authorization: `Basic ${btoa(':')}` },
        body: new URLSearchParams(fields).toString(),
      });

    test('a form-encoded username and password answer a bearer token that works; no cookie is set', async () => {
      const response = await form({ grant_type: 'password', username: '张小明', password: 'secret-123', scope: '' });
      const body = (await response.json()) as Json;
      assert.equal(response.status, 200, JSON.stringify(body));
      assert.equal(body.token_type, 'bearer');
      assert.equal(body.user.id, 'b1');
      assert.equal(response.headers.getSetCookie().length, 0);
      const me = await app.client.get('/api/auth/me', { token: body.access_token });
      assert.equal(me.status, 200);
      assert.equal(me.body.id, 'b1');
    });

    test('a wrong password is 401, a missing field or another grant 422, JSON 415', async () => {
      const wrong = await form({ grant_type: 'password', username: '张小明', password: 'nope-nope' });
      assert.equal(wrong.status, 401);
      assert.equal(((await wrong.json()) as Json).error_type, 'invalid_credentials');
      const missing = await form({ grant_type: 'password', username: '张小明' });
      assert.equal(missing.status, 422);
      const otherGrant = await form({ grant_type: 'client_credentials', username: '张小明', password: 'secret-123' });
      assert.equal(otherGrant.status, 422);
      const json = await fetch(`${app.server.url}/api/auth/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: '张小明', password: 'secret-123' }),
      });
      assert.equal(json.status, 415);
    });

    test('POST /api/auth/login keeps its contract: JSON only, a form body is 415', async () => {
      const response = await fetch(`${app.server.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: '张小明', password: 'secret-123' }).toString(),
      });
      assert.equal(response.status, 415);
    });
  });
}
