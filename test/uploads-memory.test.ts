/**
 * An upload is streamed to disk, never buffered: a 256 MiB file sent to a
 * server in a child process (so this process's own buffers, the client's,
 * do not count) must not grow that server's resident memory by more than
 * 32 MiB. Linux only: the child's RSS is read from /proc/<pid>/status.
 *
 * GC noise: every socket read is a fresh 64 KiB buffer outside the JS heap,
 * and V8 only collects those once some 64 MiB of them are garbage, so left
 * alone the first big upload lifts RSS to that plateau once (measured: about
 * +64 MiB, the same for 256 MiB as for 1 GiB). The child therefore runs with
 * --expose-gc and the test asks it to collect every 100 ms while measuring,
 * after a warm-up upload: what is left is what the server actually holds. A
 * server that buffered the file would still grow by its whole size.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseConfig } from '../src/config/config.ts';
import { openDatabase } from '../src/db/connection.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { createTokenIssuer } from '../src/modules/auth/tokens.ts';
import { testDialects } from './helpers/databases.ts';
import { SAMPLES } from './helpers/media-samples.ts';
import { testEnv } from './helpers/test-app.ts';
import { insertTestUser } from './helpers/users.ts';

const MiB = 1024 * 1024;
const FILE_SIZE = 256 * MiB;
const WARM_UP_SIZE = 64 * MiB;
const RSS_BUDGET = 32 * MiB;
const BOUNDARY = '----memory-test-boundary';
const HAS_PROC = existsSync('/proc/self/status');

const moduleUrl = (path: string) => JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', path)).href);
const CHILD = `
import { parseConfig } from ${moduleUrl('src/config/config.ts')};
import { createLogger } from ${moduleUrl('src/http/logging.ts')};
import { startServer } from ${moduleUrl('src/server.ts')};
const server = await startServer(parseConfig(JSON.parse(process.env.MEMORY_TEST_ENV)), createLogger({ level: 'warn' }));
process.send({ url: server.url });
process.on('message', async (message) => {
  if (message === 'gc') return globalThis.gc();
  await server.close();
  process.exit(0);
});
`;

/** A field of /proc/<pid>/status, in bytes. */
function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, field);
  return Number(match[1]) * 1024;
}

describe('upload memory', { skip: HAS_PROC ? false : 'needs /proc (Linux)' }, () => {
  let child: ChildProcess;
  let url: string;
  let token: string;
  let workDir: string;
  let mediaDir: string;
  let dropDatabase: () => Promise<void>;

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'chat-memory-'));
    mediaDir = join(workDir, 'media');
    const scratch = await (testDialects[0] ?? assert.fail('no sqlite dialect')).create();
    dropDatabase = scratch.drop;
    const env = testEnv({
      DATABASE_URL: scratch.urlString,
      MEDIA_DIR: mediaDir,
      MAX_FILE_SIZE: String(FILE_SIZE + MiB),
    });
    const config = parseConfig(env);
    const database = openDatabase(config.DATABASE_URL);
    await migrateToLatest(database.db);
    await insertTestUser(database.db, 'b1', 'buyer', { username: 'memory-buyer' });
    await database.destroy();
    const tokens = createTokenIssuer({
      secret: config.JWT_SECRET_KEY,
      algorithm: config.JWT_ALGORITHM,
      expireDays: config.JWT_ACCESS_TOKEN_EXPIRE_DAYS,
    });
    token = (await tokens.issue('b1', 'buyer')).token;

    child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', CHILD], {
      env: { ...process.env, MEMORY_TEST_ENV: JSON.stringify(env) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    url = await new Promise<string>((resolve, reject) => {
      child.once('message', (message) => resolve((message as { url: string }).url));
      child.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
    });
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('close');
      await Promise.race([exited, delay(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await dropDatabase?.();
    rmSync(workDir, { recursive: true, force: true });
  });

  test('a 256 MiB upload streams to disk with the server RSS growing < 32 MiB', { timeout: 60_000 }, async (t) => {
    const pid = child.pid ?? assert.fail('no child pid');
    const upload = (body: RequestInit['body'], extra: RequestInit = {}) =>
      fetch(`${url}/api/upload/file`, {
        method: 'POST',
        body,
        headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
        ...extra,
      } as RequestInit);
    const head = Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n` +
        'Content-Type: application/pdf\r\n\r\n',
    );
    const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);

    const streamedBody = (size: number) => {
      const chunk = Buffer.alloc(MiB, 0x20);
      const first = Buffer.alloc(MiB, 0x20);
      SAMPLES.pdf.copy(first);
      let sent = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) {
            controller.enqueue(Buffer.concat([head, first]));
            sent = MiB;
          } else if (sent < size) {
            controller.enqueue(chunk);
            sent += MiB;
          } else {
            controller.enqueue(tail);
            controller.close();
          }
        },
      });
    };
    const storedPath = (answer: { url: string }) =>
      join(mediaDir, new URL(answer.url).pathname.slice('/api/media/'.length));

    // Warm up: every code path compiled once.
    const warmUp = await upload(streamedBody(WARM_UP_SIZE), { duplex: 'half' } as RequestInit);
    const warmUpAnswer = (await warmUp.json()) as { url: string };
    assert.equal(warmUp.status, 200, JSON.stringify(warmUpAnswer));
    rmSync(storedPath(warmUpAnswer));

    // Peak RSS from here on: reset the high-water mark when the kernel lets us, and sample too.
    child.send('gc');
    await delay(200);
    const baseline = procStatus(pid, 'VmRSS');
    let hwmReset = false;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
      hwmReset = true;
    } catch {
      // Not permitted here: the samples below still catch the peak within their resolution.
    }
    let peak = baseline;
    let sampling = true;
    const sampler = (async () => {
      for (let tick = 0; sampling; tick++) {
        peak = Math.max(peak, procStatus(pid, 'VmRSS'));
        if (tick % 20 === 0) child.send('gc');
        await delay(5);
      }
    })();

    const started = Date.now();
    const response = await upload(streamedBody(FILE_SIZE), { duplex: 'half' } as RequestInit);
    const answer = (await response.json()) as { url: string; filename: string };
    sampling = false;
    await sampler;
    if (hwmReset) peak = Math.max(peak, procStatus(pid, 'VmHWM'));

    assert.equal(response.status, 200, JSON.stringify(answer));
    assert.equal(answer.filename, 'big.pdf');
    const stored = storedPath(answer);
    assert.equal(statSync(stored).size, FILE_SIZE);
    rmSync(stored);
    const growth = peak - baseline;
    const report =
      `server RSS grew by ${(growth / MiB).toFixed(1)} MiB (baseline ${(baseline / MiB).toFixed(1)} MiB, ` +
      `${Date.now() - started} ms, peak from ${hwmReset ? 'VmHWM and samples' : 'samples'})`;
    t.diagnostic(report);
    assert.ok(growth < RSS_BUDGET, report);
  });
});
