import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './clock.ts';
import { InspectorClient } from './inspector.ts';

/**
 * The server under test: `node src/main.ts`, a separate process with the
 * production settings (DEBUG=False, info logging to a file, no Redis) on a
 * loopback port, against the scratch database. It runs with
 * --inspect=127.0.0.1:0 so the benchmark can collect garbage, read its
 * event-loop delay and profile it without any hook in the service.
 */

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(REPO_ROOT, 'src/main.ts');

export interface ServiceOptions {
  databaseUrl: string;
  secret: string;
  /** Working directory (no .env there, so only the variables given here count) and where the log goes. */
  runDir: string;
  mediaDir: string;
  inspect: boolean;
  logName: string;
  /** Added to the environment (e.g. NODE_EXTRA_CA_CERTS for a scenario's own TLS receiver). */
  env?: Record<string, string> | undefined;
}

export interface ServiceHandle {
  pid: number;
  port: number;
  url: string;
  wsBase: string;
  logPath: string;
  inspector: InspectorClient | null;
  /** The environment the service ran with (secret redacted), for the results. */
  environment: Record<string, string>;
  stop(): Promise<void>;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function waitForExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

export async function startService(options: ServiceOptions): Promise<ServiceHandle> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const environment: Record<string, string> = {
    DATABASE_URL: options.databaseUrl,
    DEBUG_SQL: 'False',
    JWT_SECRET_KEY: options.secret,
    JWT_ALGORITHM: 'HS256',
    JWT_ACCESS_TOKEN_EXPIRE_DAYS: '1',
    HOST: '127.0.0.1',
    PORT: String(port),
    RELOAD: 'False',
    DEBUG: 'False',
    BASE_URL: url,
    CORS_ORIGINS: '',
    MEDIA_DIR: options.mediaDir,
    MAX_FILE_SIZE: '10485760',
    APP_TITLE: 'bench',
    APP_DESCRIPTION: 'benchmark run',
    APP_VERSION: '0.0.0',
    REDIS_URL: '',
    REDIS_PREFIX: 'cs-chat-bench',
    PLATFORM_API_KEY: '',
    // Thousands of simulated users all connect from 127.0.0.1: loopback stands in for the proxy they would
    // arrive through, so the per-address connection cap (src/http/edge-limits.ts) does not apply to them,
    // and each socket's X-Forwarded-For names its user's own address (bench/workers/ws-common.ts), so the
    // per-address quota on new sockets (src/quotas/limits.ts) applies per simulated user, as in production.
    TRUSTED_PROXIES: 'loopback',
    ...options.env,
  };
  const logPath = join(options.runDir, options.logName);
  const log = openSync(logPath, 'a');
  const child = spawn(process.execPath, [...(options.inspect ? ['--inspect=127.0.0.1:0'] : []), MAIN], {
    cwd: options.runDir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...environment },
    stdio: ['ignore', log, 'pipe'],
  });
  let stderr = '';
  let inspectorUrl: string | undefined;
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < 20_000) stderr += chunk;
    inspectorUrl ??= /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1];
  });
  const exited = waitForExit(child);
  let dead = false;
  void exited.then(() => {
    dead = true;
  });

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (dead) throw new Error(`the service exited during start-up:\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the service did not become ready in 30 s:\n${stderr}`);
    }
    try {
      const response = await fetch(`${url}/api/health/ready`);
      await response.arrayBuffer();
      if (response.ok && (!options.inspect || inspectorUrl)) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  const inspector = inspectorUrl ? await InspectorClient.connect(inspectorUrl) : null;
  return {
    pid: child.pid ?? -1,
    port,
    url,
    wsBase: `ws://127.0.0.1:${port}`,
    logPath,
    inspector,
    environment: { ...environment, JWT_SECRET_KEY: `[${Buffer.byteLength(options.secret)} random bytes]` },
    async stop() {
      inspector?.close();
      if (!dead) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
