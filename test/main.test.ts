import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../src/db/connection.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { MYSQL_SKIP_REASON, TEST_MYSQL_URL } from './helpers/databases.ts';
import { runNode } from './helpers/node-run.ts';
import { testEnv } from './helpers/test-app.ts';

const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');
// An empty working directory: no .env is read, only the environment given.
const cwd = mkdtempSync(join(tmpdir(), 'chat-main-'));
after(() => rmSync(cwd, { recursive: true, force: true }));

/** `npm start` to completion; `out` is what it wrote to stdout and stderr. */
async function runMain(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const { code, stdout, stderr } = await runNode([MAIN, ...args], { cwd, env });
  return { code, out: stdout + stderr };
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

test('an SQLite path in a folder that does not exist stops the server with a plain message', async () => {
  const missing = join(cwd, 'nonexistent', 'dir', 'x.db');
  const { code, out } = await runMain([], testEnv({ DATABASE_URL: `sqlite:${missing}`, MEDIA_DIR: cwd }));
  assert.equal(code, 1);
  assert.match(out, /^DATABASE_URL names an SQLite database in .*nonexistent.dir, which does not exist/m);
  assert.doesNotMatch(out, /^\s+at /m);
  assert.ok(!existsSync(join(cwd, 'nonexistent')), 'no folder was created');
});

/** An embedded database at head, for a real server process. */
async function migratedSqliteUrl(): Promise<string> {
  const path = join(cwd, `main-${Math.random().toString(36).slice(2)}.db`);
  const database = openDatabase({ kind: 'sqlite', path });
  try {
    await migrateToLatest(database.db);
  } finally {
    await database.destroy();
  }
  return `sqlite:${path}`;
}

/** Reads a child's stdout as JSON log lines until one matches. */
function waitForLogLine(child: ChildProcess, matches: (line: LogLine) => boolean): Promise<LogLine> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
        const text = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          continue; // npm's banner
        }
        if (matches(line)) {
          child.stdout?.off('data', onData);
          resolve(line);
          return;
        }
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code} before the expected log line`)));
  });
}

interface LogLine {
  msg: string;
  pid: number;
  address?: string;
  url?: string;
}

const isStartLine = (line: LogLine) => line.address !== undefined && / listening on /.test(line.msg);

test('the start-up log names the address and port actually bound (PORT=0)', async (t) => {
  const env = testEnv({ DATABASE_URL: await migratedSqliteUrl(), MEDIA_DIR: cwd, PORT: '0' });
  const child = spawn(process.execPath, [MAIN], { cwd, env: { PATH: process.env.PATH ?? '', ...env } });
  t.after(() => child.kill('SIGKILL'));
  const line = await waitForLogLine(child, isStartLine);
  const port = Number(/^127\.0\.0\.1:(\d+)$/.exec(line.address ?? '')?.[1]);
  assert.ok(port > 0, `a real port in ${JSON.stringify(line)}`);
  assert.match(
    line.msg,
    new RegExp(`listening on 127\\.0\\.0\\.1:${port} .*API docs at http://127\\.0\\.0\\.1:${port}/api/docs`),
  );
  const health = await fetch(`http://127.0.0.1:${port}/api/health`);
  assert.equal(health.status, 200);
  await health.arrayBuffer();
});

function npmAvailable(): string | false {
  const found = spawnSync('npm', ['--version'], { encoding: 'utf8' });
  return found.status === 0 ? false : 'npm is not on the PATH';
}

test('kill (SIGTERM) of the `npm start` process stops the server gracefully too', {
  skip: npmAvailable(),
}, async (t) => {
  const env = testEnv({ DATABASE_URL: await migratedSqliteUrl(), MEDIA_DIR: cwd, PORT: '0' });
  // `npm start` in the repository, as an operator runs it; every variable comes from the environment.
  const npm = spawn('npm', ['start'], { cwd: join(import.meta.dirname, '..'), env: { ...process.env, ...env } });
  let serverPid: number | undefined;
  t.after(() => {
    npm.kill('SIGKILL');
    if (serverPid !== undefined && isAlive(serverPid)) process.kill(serverPid, 'SIGKILL');
  });
  let output = '';
  npm.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  // The server's own start-up line (old and new wording): its signal handlers are in place after it.
  const started = await waitForLogLine(npm, (line) => line.msg.includes('API docs'));
  serverPid = started.pid;
  assert.notEqual(serverPid, npm.pid, 'the server is npm’s child');
  const npmExit = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  npm.kill('SIGTERM');
  await npmExit;
  // npm reaps its child before it exits: a server still there now was left behind.
  assert.equal(isAlive(serverPid), false, `the server process ${serverPid} outlived npm`);
  assert.match(output, /"msg":"shut down cleanly"/, 'the server shut down gracefully');
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a database migrated by newer code: the server starts and warns, naming the migrations it does not have', async (t) => {
  const url = await migratedSqliteUrl();
  const database = openDatabase({ kind: 'sqlite', path: url.slice('sqlite:'.length) });
  await sql`insert into kysely_migration (name, timestamp) values (${'29991231000000_from_newer_code'}, ${'2999-12-31T00:00:00.000Z'})`.execute(
    database.db,
  );
  await database.destroy();
  const env = testEnv({ DATABASE_URL: url, MEDIA_DIR: cwd, PORT: '0' });
  const child = spawn(process.execPath, [MAIN], { cwd, env: { PATH: process.env.PATH ?? '', ...env } });
  t.after(() => child.kill('SIGKILL'));
  const seen: LogLine[] = [];
  // The warning comes before the start-up line (it is written while the server starts).
  await waitForLogLine(child, (line) => {
    seen.push(line);
    return isStartLine(line);
  });
  const warning = seen.find((line) => line.msg.includes('this code does not have'));
  assert.ok(warning, `no warning among ${JSON.stringify(seen.map((line) => line.msg))}`);
  assert.match(warning.msg, /29991231000000_from_newer_code/);
  assert.match(warning.msg, /npm run db:status/);
});
