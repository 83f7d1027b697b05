import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MYSQL_SKIP_REASON, TEST_MYSQL_URL } from './helpers/databases.ts';
import { testEnv } from './helpers/test-app.ts';

const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');
// An empty working directory: no .env is read, only the environment given.
const cwd = mkdtempSync(join(tmpdir(), 'chat-main-'));
after(() => rmSync(cwd, { recursive: true, force: true }));

function runMain(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env } });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      out += chunk;
    });
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('npm start -- --help prints usage and starts nothing', async () => {
  const { code, out } = await runMain(['--help'], {});
  assert.equal(code, 0);
  assert.match(out, /Usage:/);
  assert.match(out, /start:cluster/);
});

test('an unreachable database is reported in one plain line, not a stack trace', async () => {
  const { code, out } = await runMain([], testEnv({ DATABASE_URL: 'mysql://root@127.0.0.1:1/chat', MEDIA_DIR: cwd }));
  assert.equal(code, 1);
  assert.match(out, /^Cannot use the database in DATABASE_URL: .*ECONNREFUSED/m);
  assert.doesNotMatch(out, /^\s+at /m);
});

test('a database that does not exist is reported plainly', { skip: MYSQL_SKIP_REASON }, async () => {
  const url = new URL(TEST_MYSQL_URL ?? '');
  url.pathname = '/no_such_database_for_this_test';
  const { code, out } = await runMain([], testEnv({ DATABASE_URL: url.toString(), MEDIA_DIR: cwd }));
  assert.equal(code, 1);
  assert.match(out, /Cannot use the database in DATABASE_URL: Unknown database 'no_such_database_for_this_test'/);
});
