import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTokenIssuer } from '../src/modules/auth/tokens.ts';
import type { RunningServer } from '../src/server.ts';
import { type LoggedServer, startLoggedServer } from './helpers/logged-server.ts';
import { TEST_SECRET } from './helpers/test-app.ts';
import { insertTestUser } from './helpers/users.ts';

/**
 * Issue 12's design constraint: revocation (tokens_valid_after, revoked
 * sessions) must not add a database round-trip to every authenticated request.
 * DEBUG_SQL logs every statement; with the user row cached, none may be left.
 */
describe('the authenticated hot path reads no revocation state from the database', () => {
  const sqlLines: string[] = [];
  const destination = {
    write(chunk: string) {
      for (const line of chunk.split('\n')) {
        if (line === '') continue;
        const parsed = JSON.parse(line) as { msg?: string; sql?: string };
        if (parsed.msg === 'sql' && parsed.sql) sqlLines.push(parsed.sql);
      }
    },
  };
  let logged: LoggedServer;
  let server: RunningServer;

  before(async () => {
    // The user row stays cached for the whole test, so any query left is one the hot path added.
    logged = await startLoggedServer(destination, 'info', { userCacheTtlMs: 600_000 });
    server = logged.server;
    await insertTestUser(server.database.db, 'b1', 'buyer');
  });
  after(() => logged.close());

  test('twenty GET /api/auth/me with one token: one read of the user row, nothing else', async () => {
    const tokens = createTokenIssuer({ secret: TEST_SECRET, algorithm: 'HS256', expireDays: 1 });
    const { token } = await tokens.issue('b1', 'buyer');
    sqlLines.length = 0;
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${server.url}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.status, 200);
    }
    assert.equal(sqlLines.length, 1, JSON.stringify(sqlLines));
    assert.match(sqlLines[0] ?? '', /from "users"/);
  });
});
