import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, type ClientRequest, type IncomingMessage, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { seedDemoData } from '../src/cli/seed.ts';
import { parseConfig } from '../src/config/config.ts';
import { openDatabase } from '../src/db/connection.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { createTokenIssuer } from '../src/modules/auth/tokens.ts';
import { testDialects } from './helpers/databases.ts';
import { jsonLines, NodeProcess } from './helpers/node-run.ts';
import { startTestApp, TEST_SECRET, testEnv } from './helpers/test-app.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
/** Far below the 72 s keep-alive timeout a lingering socket would hold shutdown for. */
const PROMPT_MS = 8000;

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface InFlight {
  /** Sends the rest of the body; resolves with the answer. */
  finish(): Promise<{ status: number; connection: string | undefined; body: any }>;
  request: ClientRequest;
  /** The client's keep-alive agent: it keeps the socket open as long as the server lets it. */
  agent: Agent;
}

/**
 * A POST on a keep-alive socket that the server has started handling (it
 * answered `100 Continue`) but whose body is not yet complete.
 */
async function startInFlightPost(baseUrl: string, path: string, token: string, body: unknown): Promise<InFlight> {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true });
  const text = JSON.stringify(body);
  const req = request({
    agent,
    host: url.hostname,
    port: url.port,
    method: 'POST',
    path,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      expect: '100-continue',
    },
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  });
  req.flushHeaders();
  await once(req, 'continue');
  req.write(text.slice(0, 3));
  return {
    request: req,
    agent,
    async finish() {
      req.end(text.slice(3));
      const res = await response;
      let raw = '';
      for await (const chunk of res) raw += chunk;
      return { status: res.statusCode ?? 0, connection: res.headers.connection, body: JSON.parse(raw) };
    },
  };
}

/** Resolves once the server no longer takes new work (refused, reset or 503). */
async function waitUntilClosing(baseUrl: string): Promise<void> {
  const deadline = Date.now() + PROMPT_MS;
  for (;;) {
    try {
      const response = await fetch(`${baseUrl}/api/health`, { headers: { connection: 'close' } });
      await response.arrayBuffer();
      if (response.status === 503) return;
    } catch {
      return;
    }
    if (Date.now() > deadline) assert.fail('the server did not start closing');
    await delay(20);
  }
}

for (const dialect of testDialects) {
  describe(`server close (${dialect.name})`, () => {
    test('an in-flight request finishes with its real answer, and close does not wait for keep-alive', async () => {
      const app = await startTestApp(dialect);
      let closed = false;
      let inFlight: InFlight | undefined;
      try {
        const buyer = await app.addUser('b1', 'buyer');
        await app.addUser('m1', 'merchant');
        inFlight = await startInFlightPost(app.server.url, '/api/conversations/', buyer, {
          participant1_id: 'b1',
          participant2_id: 'm1',
        });
        const started = Date.now();
        const closing = app.server.close().then(() => {
          closed = true;
        });
        await waitUntilClosing(app.server.url);
        const answer = await inFlight.finish();
        assert.equal(answer.status, 201, JSON.stringify(answer.body));
        assert.equal(answer.body.participant1_id, 'b1');
        assert.equal(answer.connection, 'close', 'the socket is not kept for another request');
        await within(closing, PROMPT_MS, 'close()');
        assert.ok(Date.now() - started < PROMPT_MS);
        await assert.rejects(fetch(`${app.server.url}/api/health`), 'no longer listening');
      } finally {
        inFlight?.agent.destroy();
        if (!closed) await app.server.close().catch(() => {});
        await app.scratch.drop();
      }
    });
  });
}

describe('npm start and SIGTERM', () => {
  test('finishes the in-flight request, closes the pool and exits 0 promptly', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-sigterm-'));
    const env = testEnv({ DATABASE_URL: `sqlite:${join(dir, 'chat.db')}`, MEDIA_DIR: join(dir, 'media') });
    const database = openDatabase(parseConfig(env).DATABASE_URL);
    await migrateToLatest(database.db);
    await seedDemoData(database.db);
    await database.destroy();

    const server = new NodeProcess([MAIN], { cwd: dir, env });
    const { child } = server;
    t.after(() => {
      if (server.running) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });

    const deadline = Date.now() + 15_000;
    let url: string | undefined;
    while (!url) {
      url = jsonLines<{ url?: string }>(server.stdout).find((entry) => entry.url)?.url;
      if (child.exitCode !== null) assert.fail(`the server exited early: ${server.stderr}`);
      if (Date.now() > deadline) assert.fail(`the server did not report its address: ${server.stdout}${server.stderr}`);
      if (!url) await delay(25);
    }

    const tokens = createTokenIssuer({ secret: TEST_SECRET, algorithm: 'HS256', expireDays: 7 });
    const { token } = await tokens.issue('b1', 'buyer');
    const inFlight = await startInFlightPost(url, '/api/conversations/', token, {
      participant1_id: 'b1',
      participant2_id: 'm1',
    });
    const started = Date.now();
    child.kill('SIGTERM');
    await waitUntilClosing(url);
    const answer = await inFlight.finish();
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    const { code, signal } = await within(server.exited, PROMPT_MS, 'shutdown');
    assert.equal(signal, null);
    assert.equal(code, 0, server.stderr);
    assert.ok(Date.now() - started < PROMPT_MS);
    assert.match(server.stdout, /shut down cleanly/);
    assert.doesNotMatch(server.stdout, /took too long/);
    inFlight.agent.destroy();
  });
});
