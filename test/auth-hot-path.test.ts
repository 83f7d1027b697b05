import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../src/config/config.ts';
import { openDatabase } from '../src/db/connection.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { createLogger } from '../src/http/logging.ts';
import { createTokenIssuer } from '../src/modules/auth/tokens.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { type ScratchDatabase, testDialects } from './helpers/databases.ts';
import { TEST_SECRET, testEnv } from './helpers/test-app.ts';
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
  let scratch: ScratchDatabase;
  let mediaDir: string;
  let server: RunningServer;

  before(async () => {
    const [sqlite] = testDialects;
    assert.ok(sqlite);
    scratch = await sqlite.create();
    mediaDir = mkdtempSync(join(tmpdir(), 'chat-media-'));
    const config = parseConfig(testEnv({ DATABASE_URL: scratch.urlString, MEDIA_DIR: mediaDir, DEBUG_SQL: 'True' }));
    const migrator = openDatabase(config.DATABASE_URL);
    await migrateToLatest(migrator.db);
    await migrator.destroy();
    // The user row stays cached for the whole test, so any query left is one the hot path added.
    server = await startServer(config, createLogger({ level: 'info', destination }), { userCacheTtlMs: 600_000 });
    await insertTestUser(server.database.db, 'b1', 'buyer');
  });
  after(async () => {
    await server.close();
    await scratch.drop();
    rmSync(mediaDir, { recursive: true, force: true });
  });

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
