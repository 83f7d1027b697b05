import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { openDatabase } from '../src/db/connection.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { createTokenIssuer } from '../src/modules/auth/tokens.ts';
import { CRASH_EXIT_CODE } from '../src/process-safety-net.ts';
import { TEST_SECRET, testEnv } from './helpers/test-app.ts';
import { insertTestUser } from './helpers/users.ts';

/**
 * Issue 12 item 11: an unhandled rejection or an uncaught exception in the
 * real server process (`node src/main.ts`) is logged with its stack, the
 * request in flight at that moment still gets its answer, and the process
 * exits non-zero (so a supervisor restarts it) after a graceful shutdown.
 */

const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');
const CRASH_ON_REQUEST = pathToFileURL(join(import.meta.dirname, 'helpers', 'crash-on-request.ts')).href;

interface LogLine {
  level: number;
  msg: string;
  err?: { message?: string; stack?: string };
  url?: string;
  [key: string]: unknown;
}

/** The server child, its JSON log lines as they come, and a wait for a line. */
class ServerChild {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  readonly lines: LogLine[] = [];
  output = '';
  #waiters = new Set<() => void>();

  constructor(env: Record<string, string>, cwd: string) {
    this.child = spawn(process.execPath, ['--import', CRASH_ON_REQUEST, MAIN], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let pending = '';
    const take = (chunk: Buffer) => {
      this.output += chunk;
      pending += chunk;
      const complete = pending.split('\n');
      pending = complete.pop() ?? '';
      for (const line of complete) if (line.startsWith('{')) this.lines.push(JSON.parse(line) as LogLine);
      for (const waiter of this.#waiters) waiter();
    };
    this.child.stdout.on('data', take);
    this.child.stderr.on('data', take);
    this.exited = once(this.child, 'exit').then(([code]) => code as number | null);
    const kill = () => this.child.kill('SIGKILL');
    process.on('exit', kill);
    void this.exited.then(() => process.off('exit', kill));
  }

  /** The first log line matching `test`, once it is written; fails if the process exits first. */
  line(test: (line: LogLine) => boolean): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.lines.find(test);
        if (!found) return;
        this.#waiters.delete(check);
        resolve(found);
      };
      this.#waiters.add(check);
      void this.exited.then(() => {
        check();
        reject(new Error(`the server exited first; output:\n${this.output}`));
      });
      check();
    });
  }
}

describe('process safety net (node src/main.ts)', () => {
  let cwd: string;
  let env: Record<string, string>;
  let token: string;

  before(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'chat-safety-net-'));
    const databaseUrl = `sqlite:${join(cwd, 'chat.db')}`;
    env = testEnv({ DATABASE_URL: databaseUrl, MEDIA_DIR: join(cwd, 'media'), PORT: '0' });
    const database = openDatabase({ kind: 'sqlite', path: join(cwd, 'chat.db') });
    await migrateToLatest(database.db);
    await insertTestUser(database.db, 'b1', 'buyer');
    await insertTestUser(database.db, 'm1', 'merchant');
    await database.destroy();
    const issuer = createTokenIssuer({ secret: TEST_SECRET, algorithm: 'HS256', expireDays: 1 });
    token = (await issuer.issue('b1', 'buyer')).token;
  });
  after(() => rmSync(cwd, { recursive: true, force: true }));

  for (const [crash, message] of [
    ['unhandled-rejection', /unhandled promise rejection/],
    ['uncaught-exception', /uncaught exception/],
  ] as const) {
    test(`${crash}: logged with its stack, the request in flight is answered, exit ${CRASH_EXIT_CODE}`, async () => {
      const server = new ServerChild(env, cwd);
      const listening = await server.line((line) => typeof line.url === 'string' && /listening/.test(line.msg));
      const { hostname, port } = new URL(String(listening.url));
      const opened = await fetch(`${listening.url}/api/conversations/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ participant1_id: 'b1', participant2_id: 'm1' }),
      });
      assert.ok(opened.status === 201 || opened.status === 200, String(opened.status));
      const conversationId = ((await opened.json()) as { id: string }).id;

      // A send whose headers carry the trigger and whose body arrives only after the crash.
      const body = JSON.stringify({ conversation_id: conversationId, content: `sent across a ${crash}` });
      const socket = connect(Number(port), hostname);
      socket.on('error', () => {});
      let answer = '';
      socket.on('data', (chunk: Buffer) => {
        answer += chunk.toString();
      });
      const closed = once(socket, 'close');
      await once(socket, 'connect');
      socket.write(
        `POST /api/messages/ HTTP/1.1\r\nHost: chat.test\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Test-Crash: ${crash}\r\n\r\n` +
          body.slice(0, 10),
      );

      const fatal = await server.line((line) => message.test(line.msg));
      assert.equal(fatal.level, 60, 'logged at fatal level');
      assert.match(fatal.err?.message ?? '', /^test: /);
      assert.match(fatal.err?.stack ?? '', /\n\s+at /, 'the stack is logged');
      await server.line((line) => /shutting down: finishing in-flight requests/.test(line.msg));

      socket.write(body.slice(10));
      await closed;
      assert.match(answer, /^HTTP\/1\.1 201 /, answer);
      assert.match(answer, /sent across a/);

      assert.equal(await server.exited, CRASH_EXIT_CODE, server.output);
      assert.ok(
        server.lines.some((line) => line.msg === 'shut down after a crash'),
        server.output,
      );
    });
  }
});
