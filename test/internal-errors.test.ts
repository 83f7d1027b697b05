import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { testDialects } from './helpers/databases.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

// A real internal failure, not a mocked one: the table behind an endpoint is
// renamed away under the running server, so its query fails with a SQL error
// that is not an outage.
for (const dialect of testDialects) {
  for (const debug of [true, false]) {
    describe(`500 responses with DEBUG=${debug ? 'True' : 'False'} (${dialect.name})`, () => {
      let app: TestApp;
      let token: string;

      before(async () => {
        app = await startTestApp(dialect, { env: { DEBUG: debug ? 'True' : 'False' } });
        token = await app.addUser('m1', 'merchant');
        await sql`ALTER TABLE quick_replies RENAME TO quick_replies_gone`.execute(app.server.database.db);
      });
      after(async () => {
        await sql`ALTER TABLE quick_replies_gone RENAME TO quick_replies`.execute(app.server.database.db);
        await app.close();
      });

      test('the body follows the DEBUG setting and the process keeps serving', async () => {
        const response = await app.client.get('/api/quick-replies/user/m1', { token });
        assert.equal(response.status, 500);
        if (debug) {
          assert.equal(response.body.detail, '服务器内部错误');
          assert.notEqual(response.body.error_type, 'internal_error');
          assert.match(response.body.error_message, /quick_replies/);
          assert.ok(Array.isArray(response.body.traceback) && response.body.traceback.length > 0);
        } else {
          assert.deepEqual(response.body, { detail: '服务器内部错误，请稍后重试', error_type: 'internal_error' });
        }
        const english = await app.client.get('/api/quick-replies/user/m1', {
          token,
          headers: { 'accept-language': 'en' },
        });
        assert.equal(english.status, 500);
        assert.match(english.body.detail, /Internal server error/);
        assert.equal((await app.client.get('/api/auth/me', { token })).status, 200);
      });
    });
  }
}
