import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Role } from '@cs-chat/contracts/rest/user.schemas';
import WebSocket from 'ws';
import { UsageError } from '../src/cli/cli.ts';
import { parseClusterArgs } from '../src/cluster.ts';
import { parseConfig } from '../src/config/config.ts';
import { openDatabase } from '../src/db/connection.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { createTokenIssuer } from '../src/modules/auth/tokens.ts';
import { redisKeyPrefix } from '../src/realtime/redis-bus.ts';
import { jsonLines, NodeProcess } from './helpers/node-run.ts';
import { freePort, until } from './helpers/polling.ts';
import { dropPrefix, REDIS_SKIP_REASON, TEST_REDIS_URL, withRedis } from './helpers/redis.ts';
import { TEST_SECRET, testEnv } from './helpers/test-app.ts';
import { insertTestUser } from './helpers/users.ts';
import { type Event, TestSocket } from './realtime/helpers.ts';

/**
 * `npm run start:cluster`: the real command as a child process, two workers
 * on one port, against a scratch SQLite file and Redis.
 */

const CLUSTER = fileURLToPath(new URL('../src/cluster.ts', import.meta.url));
/** How long the cluster may take to start (two workers loading the app) or to replace a worker. */
const START_MS = 20_000;
const WAIT_MS = 10_000;
/** The cluster's own deployment prefix (REDIS_PREFIX) on the test Redis; its keys are removed afterwards. */
const CLUSTER_REDIS_PREFIX = `chat-cluster-test-${randomUUID()}`;
const CLUSTER_KEYS = redisKeyPrefix(CLUSTER_REDIS_PREFIX);

type LogLine = { msg?: string; worker?: number; workerPid?: number; [key: string]: unknown };

/** The cluster command as a child process, with its JSON log lines. */
class ClusterProcess extends NodeProcess {
  constructor(args: string[], env: Record<string, string>, cwd: string) {
    super([CLUSTER, ...args], { env, cwd });
  }

  get logs(): LogLine[] {
    return jsonLines(this.stdout);
  }

  /** The primary's log lines with this message (its `pid` is the primary's). */
  primaryLogs(msg: string): LogLine[] {
    return this.logs.filter((line) => line.msg === msg && line.pid === this.child.pid);
  }

  waitForLog(msg: string, count = 1, ms = START_MS): Promise<LogLine[]> {
    return until(
      () => {
        if (this.child.exitCode !== null) assert.fail(`the cluster exited: ${this.stdout}${this.stderr}`);
        return this.primaryLogs(msg);
      },
      (lines) => lines.length >= count,
      `log "${msg}" ×${count}; so far:\n${this.stdout}${this.stderr}`,
      ms,
    );
  }

  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

/** A WebSocket with the worker that took it (the upgrade's X-Worker header). */
interface WorkerSocket {
  socket: TestSocket;
  worker: string;
}

describe('npm run start:cluster: usage and refusals', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-cluster-cli-'));
  const env = testEnv({ DATABASE_URL: `sqlite:${join(dir, 'chat.db')}`, MEDIA_DIR: join(dir, 'media') });
  const run = (args: string[], overrides: Record<string, string> = {}) =>
    spawnSync(process.execPath, [CLUSTER, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...env, ...overrides },
      encoding: 'utf8',
      timeout: WAIT_MS,
    });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('--help prints the usage and exits 0', () => {
    const result = run(['--help']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /npm run start:cluster -- \[--workers N\]/);
    assert.match(result.stdout, /REDIS_URL/);
  });

  test('a usage mistake exits 2 with the usage', () => {
    const result = run(['--workers', 'many']);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /--workers must be a whole number/);
    assert.match(result.stderr, /Usage:/);
    for (const args of [
      ['--workers', '0'],
      ['--workers', '1.5'],
      ['--workers', '257'],
      ['--bogus'],
      ['extra'],
      ['-w'],
    ]) {
      assert.throws(() => parseClusterArgs(args), UsageError, args.join(' '));
    }
    assert.deepEqual(parseClusterArgs(['--workers', '3']), { help: false, workers: 3 });
    assert.deepEqual(parseClusterArgs(['-w', '2']), { help: false, workers: 2 });
    assert.equal(parseClusterArgs([]).workers, availableParallelism());
  });

  test('more than one worker without Redis is refused with a clear message', () => {
    const result = run(['--workers', '2'], { REDIS_URL: '' });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /Refusing to start 2 workers with REDIS_URL=""/);
    assert.match(result.stderr, /Set REDIS_URL/);
    assert.doesNotMatch(result.stdout, /worker listening/);
  });

  test('a bad configuration or a schema not at head stops it before any worker starts', () => {
    const { JWT_SECRET_KEY: _, ...missing } = env;
    const misconfigured = spawnSync(process.execPath, [CLUSTER, '--workers', '1'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...missing },
      encoding: 'utf8',
      timeout: WAIT_MS,
    });
    assert.equal(misconfigured.status, 1);
    assert.match(misconfigured.stderr, /JWT_SECRET_KEY/);

    const stale = run(['--workers', '1']);
    assert.equal(stale.status, 1);
    assert.match(stale.stderr, /npm run db:migrate/);
    assert.doesNotMatch(stale.stdout, /worker listening/);
  });
});

describe('npm run start:cluster: two workers sharing Redis', { skip: REDIS_SKIP_REASON }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-cluster-'));
  const suffix = randomBytes(4).toString('hex');
  const buyer = `b-${suffix}`;
  const merchant = `m-${suffix}`;
  const tokens = createTokenIssuer({ secret: TEST_SECRET, algorithm: 'HS256', expireDays: 7 });
  const tokenOf: Record<string, string> = {};
  let cluster: ClusterProcess;
  let baseUrl: string;
  let conversationId: string;
  const sockets: TestSocket[] = [];

  before(async () => {
    const port = await freePort();
    const env = testEnv({
      DATABASE_URL: `sqlite:${join(dir, 'chat.db')}`,
      MEDIA_DIR: join(dir, 'media'),
      PORT: String(port),
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: CLUSTER_REDIS_PREFIX,
    });
    const database = openDatabase(parseConfig(env).DATABASE_URL);
    await migrateToLatest(database.db);
    for (const [id, role] of [
      [buyer, 'buyer'],
      [merchant, 'merchant'],
    ] as [string, Role][]) {
      await insertTestUser(database.db, id, role);
      tokenOf[id] = (await tokens.issue(id, role)).token;
    }
    await database.destroy();

    cluster = new ClusterProcess(['--workers', '2'], env, dir);
    await cluster.waitForLog('cluster ready: 2 workers listening');
    baseUrl = `http://127.0.0.1:${port}`;
    const created = await post('/api/conversations/', buyer, { participant1_id: buyer, participant2_id: merchant });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    conversationId = created.body.id;
  });

  after(async () => {
    cluster?.kill();
    for (const socket of sockets) socket.ws.terminate();
    rmSync(dir, { recursive: true, force: true });
    await dropPrefix(CLUSTER_KEYS);
  });

  /** A request on a connection of its own, so the cluster may hand it to any worker. */
  function post(path: string, as: string, body: unknown): Promise<{ status: number; worker: string; body: any }> {
    const text = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(`${baseUrl}${path}`, {
        method: 'POST',
        agent: false,
        headers: {
          authorization: `Bearer ${tokenOf[as]}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
        },
      });
      req.on('response', async (res) => {
        let raw = '';
        for await (const chunk of res) raw += chunk;
        resolve({ status: res.statusCode ?? 0, worker: String(res.headers['x-worker']), body: JSON.parse(raw) });
      });
      req.on('error', reject);
      req.end(text);
    });
  }

  async function connect(userId: string): Promise<WorkerSocket> {
    const url = `${baseUrl.replace(/^http/, 'ws')}/api/ws/${userId}`;
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${tokenOf[userId]}` } });
    const socket = new TestSocket(ws);
    sockets.push(socket);
    const worker = await new Promise<string>((resolve, reject) => {
      ws.once('upgrade', (response) => resolve(String(response.headers['x-worker'])));
      ws.once('error', reject);
      ws.once('unexpected-response', (_request, response) => reject(new Error(`refused: ${response.statusCode}`)));
    });
    await socket.waitFor('online_users');
    return { socket, worker };
  }

  /** Connections of `userId` until they span `workers` distinct workers (the primary hands them out in turn). */
  async function spread(userId: string, workers: number): Promise<WorkerSocket[]> {
    const opened: WorkerSocket[] = [];
    while (new Set(opened.map((o) => o.worker)).size < workers) {
      assert.ok(opened.length < 10, `10 connections all landed on ${opened[0]?.worker}`);
      opened.push(await connect(userId));
    }
    return opened;
  }

  const statusOf = (socket: TestSocket, value: 'online' | 'offline') =>
    socket.events.filter((e: Event) => e.type === 'status' && e.user_id === buyer && e.status === value);
  const presenceEntries = () => withRedis((redis) => redis.zcard(`${CLUSTER_KEYS}presence:${buyer}`));

  test('sockets land on both workers; presence is per user across them; messages cross them', async () => {
    const merchants = await spread(merchant, 2);
    const watcher = merchants[0]?.socket;
    assert.ok(watcher);

    // The buyer opens one tab on each worker: online once, offline only when both closed.
    const [first, ...rest] = await spread(buyer, 2);
    assert.ok(first);
    const second = rest.find((o) => o.worker !== first.worker);
    assert.ok(second);
    for (const extra of rest.filter((o) => o !== second)) await extra.socket.close();
    await watcher.waitFor((e) => e.type === 'status' && e.user_id === buyer && e.status === 'online');
    // Any second announcement is published right after `online_users` went to `second`, so
    // before this typing relay from the same worker reaches the watcher.
    second.socket.send({ type: 'typing', conversation_id: conversationId, is_typing: true });
    await watcher.waitFor((e) => e.type === 'typing' && e.user_id === buyer);
    assert.equal(statusOf(watcher, 'online').length, 1, 'a second tab on another worker is no arrival');
    assert.equal(await presenceEntries(), 2, 'one presence entry per worker');

    // A REST send, handled by whichever worker, reaches every merchant tab on both.
    const sent = await post('/api/messages/', buyer, { conversation_id: conversationId, content: 'across workers' });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    for (const { socket } of merchants) {
      const event = await socket.waitFor((e) => e.type === 'message' && e.content === 'across workers');
      assert.equal(event.id, sent.body.id);
    }
    assert.ok(
      merchants.some((m) => m.worker !== sent.worker),
      'a recipient on another worker than the one that stored it',
    );

    await first.socket.close();
    // Once that worker's leave ran (one entry left), it has decided: not the last tab, no announcement.
    await until(presenceEntries, (n) => n === 1, 'the first tab left');
    assert.equal(statusOf(watcher, 'offline').length, 0);
    await second.socket.close();
    await watcher.waitFor((e) => e.type === 'status' && e.user_id === buyer && e.status === 'offline');
    assert.equal(statusOf(watcher, 'offline').length, 1);
  });

  test('a crashed worker is restarted after a pause; the other keeps serving', async () => {
    const before = cluster.primaryLogs('worker listening');
    const victim = before[0];
    assert.ok(victim?.workerPid);
    const onVictim = await spread(merchant, 2).then((all) => all.filter((o) => o.worker === String(victim.worker)));
    process.kill(victim.workerPid, 'SIGKILL');
    for (const { socket } of onVictim) assert.equal((await socket.closed).code, 1006);

    const [restarting] = await cluster.waitForLog('worker exited unexpectedly; restarting it');
    assert.equal(restarting?.worker, victim.worker);
    assert.ok(Number(restarting?.restartInMs) >= 1000, 'not a tight loop');
    // Meanwhile the survivor takes every connection.
    const meanwhile = await connect(merchant);
    assert.notEqual(meanwhile.worker, String(victim.worker));

    const [replacement] = (await cluster.waitForLog('worker listening', before.length + 1)).slice(before.length);
    assert.ok(replacement && replacement.worker !== victim.worker);
    const spanning = await spread(merchant, 2);
    assert.ok(spanning.some((o) => o.worker === String(replacement.worker)));
  });

  test('SIGTERM stops the workers one at a time: sockets close with 1012, exit 0 within 10 s', async () => {
    const open = await spread(merchant, 2);
    const started = Date.now();
    cluster.child.kill('SIGTERM');
    const codes = await Promise.all(open.map(({ socket }) => socket.closed.then((c) => c.code)));
    assert.deepEqual(
      codes,
      open.map(() => 1012),
    );
    const { code, signal } = await Promise.race([
      cluster.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no exit within 10 s')), 10_000)),
    ]);
    assert.equal(signal, null);
    assert.equal(code, 0, cluster.stderr);
    assert.ok(Date.now() - started < 10_000);

    // Rolling: each worker is asked to stop only after the previous one has exited.
    const steps = cluster.logs
      .filter((line) => line.msg === 'stopping worker' || line.msg === 'worker stopped')
      .map((line) => `${line.msg}:${line.worker}`);
    assert.equal(steps.length, 4, steps.join(', '));
    const [a, b] = [steps[0]?.split(':')[1], steps[2]?.split(':')[1]];
    assert.deepEqual(steps, [
      `stopping worker:${a}`,
      `worker stopped:${a}`,
      `stopping worker:${b}`,
      `worker stopped:${b}`,
    ]);
    assert.notEqual(a, b);
    assert.equal(cluster.primaryLogs('all workers stopped')[0]?.clean, true);
  });
});
