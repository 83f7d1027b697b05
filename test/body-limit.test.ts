import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { JSON_BODY_LIMIT_BYTES } from '../src/http/http-app.ts';
import { testDialects } from './helpers/databases.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

let app: TestApp;
before(async () => {
  const sqlite = testDialects.find((dialect) => dialect.name === 'sqlite');
  assert.ok(sqlite);
  app = await startTestApp(sqlite);
});
after(() => app.close());

test('a JSON body over the limit is refused with 413 before it is parsed, even unauthenticated', async () => {
  const nested = `${'['.repeat(JSON_BODY_LIMIT_BYTES / 2)}${']'.repeat(JSON_BODY_LIMIT_BYTES / 2)}`;
  const response = await app.client.post('/api/auth/login', { rawBody: `{"username":"a","password":${nested}}` });
  assert.equal(response.status, 413);
  assert.equal(response.body.error_type, 'payload_too_large');
});

test('a body just under the limit is parsed and validated as usual', async () => {
  const password = 'x'.repeat(JSON_BODY_LIMIT_BYTES - 100);
  const response = await app.client.post('/api/auth/login', { body: { username: 'a', password } });
  assert.equal(response.status, 422);
  assert.match(response.body.errors.join('\n'), /body\.password/);
});
