import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Role } from '@cs-chat/contracts/rest/user.schemas';
import type { Kysely } from 'kysely';
import { type DatabaseHandle, openDatabase } from '../../../src/db/connection.ts';
import { migrateToLatest } from '../../../src/db/migrator.ts';
import type { Database } from '../../../src/db/types.ts';
import { createTokenIssuer } from '../../../src/modules/auth/tokens.ts';
import { type ScratchDatabase, TEST_MYSQL_URL, testDialects } from '../../helpers/databases.ts';
import { createClient, type TestClient } from '../../helpers/http.ts';
import { scrape } from '../../helpers/metrics.ts';
import { type Exit, jsonLines, NodeProcess } from '../../helpers/node-run.ts';
import { freePort, until } from '../../helpers/polling.ts';
import { TEST_SECRET, testEnv } from '../../helpers/test-app.ts';
import { insertTestUser } from '../../helpers/users.ts';

/**
 * The real server (`node src/main.ts`, as `npm start` runs it) as a child
 * process against a scratch MariaDB database, for the fault tests that kill,
 * stop or starve it.
 */

export { freePort, until };

const MAIN = fileURLToPath(new URL('../../../src/main.ts', import.meta.url));
/** How long a server child may take to load, check the schema and listen. */
export const START_MS = 20_000;

/** MariaDB's address in TEST_MYSQL_URL, the target of a TCP proxy. */
export function mysqlTarget(): { host: string; port: number } {
  assert.ok(TEST_MYSQL_URL);
  const url = new URL(TEST_MYSQL_URL);
  return { host: url.hostname, port: Number(url.port || 3306) };
}

/**
 * A migrated scratch MariaDB database with a direct connection (never through
 * a proxy) for setting up users and checking what was stored.
 */
export interface FaultDatabase {
  scratch: ScratchDatabase;
  url: string;
  db: Kysely<Database>;
  /** Inserts an active user and returns a bearer token for it. */
  addUser(id: string, role: Role): Promise<string>;
  drop(): Promise<void>;
}

export async function createFaultDatabase(): Promise<FaultDatabase> {
  const mysql = testDialects.find((dialect) => dialect.name === 'mysql');
  assert.ok(mysql, 'TEST_MYSQL_URL is required');
  const scratch = await mysql.create();
  const handle: DatabaseHandle = openDatabase(scratch.url);
  await migrateToLatest(handle.db);
  const tokens = createTokenIssuer({ secret: TEST_SECRET, algorithm: 'HS256', expireDays: 7 });
  return {
    scratch,
    url: scratch.urlString,
    db: handle.db,
    async addUser(id, role) {
      await insertTestUser(handle.db, id, role);
      return (await tokens.issue(id, role)).token;
    },
    async drop() {
      await handle.destroy();
      await scratch.drop();
    },
  };
}

/** One run of `node src/main.ts`: its output, and how it ended. */
export class ServerProcess extends NodeProcess {
  readonly baseUrl: string;
  readonly client: TestClient;

  /** `nodeArgs` go before the script (e.g. `--import` of a test-only preload). */
  constructor(env: Record<string, string>, cwd: string, nodeArgs: readonly string[] = []) {
    super([...nodeArgs, MAIN], { env, cwd });
    this.baseUrl = `http://127.0.0.1:${env.PORT}`;
    this.client = createClient(this.baseUrl);
  }

  /** Resolves once GET /api/health answers 200; fails if the process exits first or takes over START_MS. */
  async ready(): Promise<void> {
    await until(
      async () => {
        if (!this.running) assert.fail(`the server exited while starting:\n${this.output}`);
        try {
          return (await fetch(`${this.baseUrl}/api/health`, { signal: AbortSignal.timeout(2_000) })).status;
        } catch {
          return 0;
        }
      },
      (status) => status === 200,
      `the server child to listen; output:\n${this.output}`,
      START_MS,
    );
  }

  /** Sends `signal` and waits (at most `ms`) for the exit. */
  async stop(signal: NodeJS.Signals, ms = 15_000): Promise<Exit> {
    if (this.running) this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no exit within ${ms} ms after ${signal}`)), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The process's JSON log lines. */
  get logs(): { msg?: string; level?: number; [key: string]: unknown }[] {
    return jsonLines(this.output);
  }
}

/**
 * Starts and restarts the server child on one port with one environment
 * (like a supervisor would), and cleans everything up at the end.
 */
export class ServerSupervisor {
  readonly port: number;
  readonly env: Record<string, string>;
  readonly cwd: string;
  current: ServerProcess | undefined;

  private constructor(port: number, databaseUrl: string, extraEnv: Record<string, string>) {
    this.port = port;
    // An empty working directory: no .env is read, only the environment given.
    this.cwd = mkdtempSync(join(tmpdir(), 'chat-fault-'));
    this.env = testEnv({
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      MEDIA_DIR: join(this.cwd, 'media'),
      ...extraEnv,
    });
  }

  static async create(databaseUrl: string, extraEnv: Record<string, string> = {}): Promise<ServerSupervisor> {
    return new ServerSupervisor(await freePort(), databaseUrl, extraEnv);
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get server(): ServerProcess {
    assert.ok(this.current, 'no server started');
    return this.current;
  }

  async start(nodeArgs: readonly string[] = []): Promise<ServerProcess> {
    assert.ok(!this.current?.running, 'a server is already running');
    this.current = new ServerProcess(this.env, this.cwd, nodeArgs);
    await this.current.ready();
    return this.current;
  }

  async close(): Promise<void> {
    if (this.current?.running) await this.current.stop('SIGKILL');
    rmSync(this.cwd, { recursive: true, force: true });
  }
}

/** What the server child reported about itself while a fault lasted, one sample per period. */
export interface ServerSamples {
  /** chat_event_loop_delay_seconds{stat="max"} of each scrape (the max since the previous one), in ms. */
  loopDelayMaxMs: number[];
  /** GET /api/health (no database involved) round trips, in ms. */
  healthMs: number[];
  heapUsedBytes: number[];
  rssBytes: number[];
}

/**
 * Samples the server every `periodMs` (a sampling rate, not a synchronisation)
 * until `done` resolves or `maxMs` passes. The first scrape only resets the
 * event-loop statistics, so start-up work is not counted.
 */
export async function sampleServer(
  baseUrl: string,
  done: Promise<unknown>,
  options: { periodMs?: number; maxMs?: number } = {},
): Promise<ServerSamples> {
  const samples: ServerSamples = { loopDelayMaxMs: [], healthMs: [], heapUsedBytes: [], rssBytes: [] };
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  const deadline = Date.now() + (options.maxMs ?? 60_000);
  await scrape(baseUrl);
  while (!finished && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, options.periodMs ?? 250));
    const started = performance.now();
    const health = await fetch(`${baseUrl}/api/health`, { signal: AbortSignal.timeout(5_000) });
    await health.text();
    samples.healthMs.push(performance.now() - started);
    const metrics = await scrape(baseUrl);
    samples.loopDelayMaxMs.push(metrics.value('chat_event_loop_delay_seconds', { stat: 'max' }) * 1000);
    samples.heapUsedBytes.push(metrics.value('chat_process_heap_used_bytes'));
    samples.rssBytes.push(metrics.value('chat_process_resident_memory_bytes'));
  }
  return samples;
}
