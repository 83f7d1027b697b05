import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  accessSync,
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, parseConfig } from '../src/config/config.ts';
import { scrape } from './helpers/metrics.ts';
import { freePort } from './helpers/polling.ts';
import { REDIS_SKIP_REASON, TEST_REDIS_URL } from './helpers/redis.ts';
import { connectSocket, type TestSocket } from './helpers/sockets.ts';
import { TEST_SECRET } from './helpers/test-app.ts';
import { type RealtimeTestApp, startRealtimeApp } from './realtime/helpers.ts';

/**
 * The deployment files cannot run here (no container engine): this checks
 * what can be checked without one, and runs deploy/nginx.conf itself in
 * front of two real instances when nginx is installed.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const APP_SERVICES = ['app1', 'app2'];

interface ComposeService {
  build?: string;
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  ports?: string[];
}

/** Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} with the values of `given`. */
function interpolate(value: string, given: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, rest?: string) => {
    const provided = given[name];
    if (provided !== undefined) return provided;
    assert.notEqual(kind, '?', `${name} is required by compose.yaml (${rest})`);
    return kind === '-' ? (rest ?? '') : '';
  });
}

describe('compose.yaml', () => {
  const compose = parse(read('compose.yaml'), { merge: true }) as { services: Record<string, ComposeService> };
  const services = compose.services;

  test('has MySQL 8, Redis 7, a migration step, two app instances and nginx', () => {
    assert.match(services.mysql?.image ?? '', /^mysql:8/);
    assert.match(services.redis?.image ?? '', /^redis:7/);
    assert.deepEqual(services.migrate?.command, ['node', 'src/cli/db.ts', 'migrate']);
    assert.deepEqual(services.migrate?.depends_on?.mysql, { condition: 'service_healthy' });
    for (const name of APP_SERVICES) {
      const app = services[name];
      assert.ok(app, name);
      assert.equal(app.build, '.');
      assert.equal(app.command, undefined, `${name} runs the image's CMD`);
      assert.deepEqual(app.depends_on?.migrate, { condition: 'service_completed_successfully' });
      assert.ok(app.volumes?.includes('media:/app/media'), `${name} shares the uploaded files`);
    }
    assert.ok(
      services.nginx?.volumes?.some((volume) => volume.startsWith('./deploy/nginx.conf:/etc/nginx/nginx.conf')),
    );
    assert.ok(services.nginx?.ports?.length, 'nginx is the only published port');
    for (const [name, service] of Object.entries(services)) {
      if (name !== 'nginx') assert.equal(service.ports, undefined, `${name} is not published`);
    }
  });

  for (const name of [...APP_SERVICES, 'migrate']) {
    test(`${name}: every configuration variable is set, and the set parses as a production configuration`, () => {
      const environment = services[name]?.environment ?? {};
      for (const variable of CONFIG_VARIABLES) {
        assert.ok(variable in environment, `${name} does not set ${variable}`);
      }
      const env = Object.fromEntries(
        Object.entries(environment).map(([key, value]) => [
          key,
          interpolate(String(value), { JWT_SECRET_KEY: TEST_SECRET, MYSQL_PASSWORD: 'secret' }),
        ]),
      );
      const config = parseConfig(env);
      assert.equal(config.DATABASE_URL.kind, 'mysql');
      assert.equal(new URL(env.DATABASE_URL ?? '').hostname, 'mysql');
      assert.match(config.REDIS_URL, /^redis:\/\/redis:6379/);
      assert.equal(config.DEBUG, false);
      assert.equal(config.RELOAD, false);
      assert.equal(config.DEBUG_SQL, false);
      assert.equal(config.HOST, '0.0.0.0');
      assert.equal(config.PORT, 11075);
      assert.equal(config.MEDIA_DIR, 'media');
    });
  }

  test('the secrets have no defaults: compose refuses to start without them', () => {
    const environment = services.app1?.environment ?? {};
    assert.throws(() => interpolate(environment.JWT_SECRET_KEY ?? '', {}), /JWT_SECRET_KEY is required/);
    assert.throws(() => interpolate(environment.DATABASE_URL ?? '', {}), /MYSQL_PASSWORD is required/);
  });
});

/** The folders of the npm workspace's packages (packages/*). */
function workspacePackages(): string[] {
  return readdirSync(join(ROOT, 'packages')).filter((entry) => statSync(join(ROOT, 'packages', entry)).isDirectory());
}

/** The npm packages the .ts files under `dir` import (Node's built-ins and relative imports aside). */
function packagesImportedBy(dir: string): Set<string> {
  const imported = new Set<string>();
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder)) {
      const path = join(folder, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^'.][^']*)'/gm)) {
          const specifier = m[1] ?? '';
          if (specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
          const parts = specifier.split('/');
          imported.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? ''));
        }
      }
    }
  };
  walk(dir);
  return imported;
}

describe('Dockerfile and .dockerignore', () => {
  const dockerfile = read('Dockerfile');

  test('multi-stage on node:24-slim, production dependencies only, non-root, started with node src/main.ts', () => {
    const stages = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((match) => match[1]);
    assert.ok(stages.length >= 2, 'multi-stage');
    for (const image of stages) assert.equal(image, 'node:24-slim');
    assert.match(dockerfile, /^RUN npm ci --omit=dev\b/m);
    assert.match(dockerfile, /^COPY src \.\/src$/m);
    // The workspace: npm ci installs the packages' dependencies too and needs each manifest.
    assert.match(dockerfile, /^RUN npm ci .*--workspaces --include-workspace-root\b/m);
    assert.match(dockerfile, /^COPY packages \.\/packages$/m);
    for (const name of workspacePackages()) {
      const manifest = new RegExp(`^COPY packages/${name}/package\\.json \\./packages/${name}/$`, 'm');
      assert.match(dockerfile, manifest, `npm ci needs packages/${name}/package.json`);
    }
    assert.match(dockerfile, /^COPY package\.json package-lock\.json \.\/$/m, 'package.json makes src/*.ts ES modules');
    assert.match(dockerfile, /^USER node$/m);
    assert.match(dockerfile, /^EXPOSE 11075$/m);
    assert.match(dockerfile, /^CMD \["node", "src\/main\.ts"\]$/m);
  });

  test('the HEALTHCHECK command passes against a live server and fails against a dead port', async (t) => {
    const match = /^\s*CMD (\[.*\])$/m.exec(dockerfile.slice(dockerfile.indexOf('HEALTHCHECK')));
    assert.ok(match?.[1], 'HEALTHCHECK CMD in exec form');
    const [command, ...args] = JSON.parse(match[1]) as string[];
    assert.equal(command, 'node', 'no curl in the slim image');
    assert.match(args.join(' '), /\/api\/health/);
    const app = await startRealtimeApp();
    t.after(() => app.close());
    // Asynchronously: the server answering it lives in this process.
    const run = (port: string) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, args, { env: { PORT: port }, stdio: 'ignore', timeout: 10_000 });
        child.on('exit', (code) => resolve(code));
      });
    assert.equal(await run(new URL(app.url).port), 0);
    assert.equal(await run(String(await freePort())), 1);
  });

  test('the image has every package src/ imports: all are production dependencies', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const imported = packagesImportedBy(join(ROOT, 'src'));
    assert.ok(imported.has('fastify'));
    assert.ok(imported.has('@cs-chat/contracts'));
    for (const name of imported) assert.ok(name in pkg.dependencies, `src/ imports ${name}, not a dependency`);
  });

  test('each workspace package imports only its own production dependencies', () => {
    assert.ok(workspacePackages().includes('contracts'));
    for (const name of workspacePackages()) {
      const pkg = JSON.parse(read(`packages/${name}/package.json`)) as { dependencies?: Record<string, string> };
      for (const imported of packagesImportedBy(join(ROOT, 'packages', name, 'src'))) {
        assert.ok(imported in (pkg.dependencies ?? {}), `packages/${name} imports ${imported}, not its dependency`);
      }
    }
  });

  test('.dockerignore keeps secrets, local data and node_modules out, and lets in what the image copies', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    for (const entry of ['.env', 'node_modules', '.git', 'data', 'media']) assert.ok(ignored.includes(entry), entry);
    for (const needed of ['src', 'packages', 'package.json', 'package-lock.json']) {
      assert.ok(!ignored.includes(needed), `${needed} is copied into the image`);
    }
  });
});

// ------------------------------------------------------------------ nginx in front of two instances

/** nginx from PATH (or Debian's /usr/sbin), or undefined. */
function findNginx(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'nginx');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

const REDIS_URL = TEST_REDIS_URL;

const NGINX = findNginx();
const nginxSkip = NGINX
  ? REDIS_SKIP_REASON && `${REDIS_SKIP_REASON}: the two instances need it`
  : 'nginx is not installed (apt-get install nginx-light): deploy/nginx.conf not exercised';

/**
 * deploy/nginx.conf with only what must differ on this machine: the upstream
 * addresses, a loopback listen port, and the log, pid and temp paths in `dir`.
 */
function localNginxConfig(ports: { listen: number; app1: number; app2: number }, dir: string, version: string): string {
  let config = read('deploy/nginx.conf');
  const substitute = (pattern: RegExp, replacement: string) => {
    assert.match(config, pattern, `deploy/nginx.conf no longer has ${pattern}`);
    config = config.replace(pattern, replacement);
  };
  substitute(/server app1:11075\b/, `server 127.0.0.1:${ports.app1}`);
  substitute(/server app2:11075\b/, `server 127.0.0.1:${ports.app2}`);
  substitute(/listen 80;/, `listen 127.0.0.1:${ports.listen};`);
  substitute(/access_log \/dev\/stdout main;/, `access_log ${join(dir, 'access.log')} main;`);
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .filter((kind) => kind === 'client_body' || kind === 'proxy' || !version.includes(`--without-http_${kind}_module`))
    .map((kind) => `    ${kind}_temp_path ${join(dir, `${kind}_temp`)};`)
    .join('\n');
  substitute(/^http \{$/m, `http {\n${temps}`);
  return config;
}

describe('deploy/nginx.conf in front of two instances sharing a database and Redis', { skip: nginxSkip }, () => {
  let dir: string;
  let nginx: ChildProcess | undefined;
  let proxy: string;
  const apps: RealtimeTestApp[] = [];
  const prefix = `chat-deploy-test:${randomUUID()}:`;
  const tokens: Record<string, string> = {};
  const token = (id: string) => tokens[id] ?? '';
  let conversationId: string;
  const sockets: TestSocket[] = [];

  before(async () => {
    const first = await startRealtimeApp({ redis: { prefix, busOnly: true } });
    apps.push(first);
    apps.push(await startRealtimeApp({ redis: { prefix, busOnly: true }, databasePath: first.databasePath }));
    tokens.b1 = await first.addUser('b1', 'buyer');
    tokens.m1 = await first.addUser('m1', 'merchant');
    conversationId = await first.conversation(token('b1'), 'b1', 'm1');

    dir = mkdtempSync(join(tmpdir(), 'chat-nginx-'));
    const nginxPath = NGINX ?? 'nginx';
    // nginx -V prints the build options (which temp-path directives exist) on stderr.
    const built = spawnSync(nginxPath, ['-V'], { encoding: 'utf8' });
    const versionText = `${built.stdout}${built.stderr}`;
    const listen = await freePort();
    const [app1, app2] = apps.map((app) => Number(new URL(app.url).port));
    const config = join(dir, 'nginx.conf');
    writeFileSync(config, localNginxConfig({ listen, app1: app1 ?? 0, app2: app2 ?? 0 }, dir, versionText));
    const globals = [`daemon off;`, `pid ${join(dir, 'nginx.pid')};`];
    // Run as the current user: as root, the workers would otherwise switch to nobody.
    if (process.getuid?.() === 0) globals.push(`user ${userInfo().username};`);
    execFileSync(
      nginxPath,
      ['-t', '-q', '-p', dir, '-c', config, '-e', join(dir, 'error.log'), '-g', globals.join(' ')],
      {
        stdio: 'pipe',
      },
    );
    nginx = spawn(nginxPath, ['-p', dir, '-c', config, '-e', join(dir, 'error.log'), '-g', globals.join(' ')], {
      stdio: 'ignore',
    });
    proxy = `http://127.0.0.1:${listen}`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ok = await fetch(`${proxy}/api/health`).then(
        (response) => response.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) {
        throw new Error(`nginx did not come up: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  after(async () => {
    for (const socket of sockets) socket.ws.terminate();
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx?.once('exit', resolve));
      nginx.kill('SIGTERM');
      await exited;
    }
    await Promise.all(apps.map((app) => app.close()));
    if (dir) rmSync(dir, { recursive: true, force: true });
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  /** Which instance holds a given socket (by its connection id). */
  function instanceOf(socket: TestSocket): number {
    return apps.findIndex((app) => app.realtime.registry.all().some((c) => c.id === socket.connectionId));
  }

  async function connectThroughProxy(userId: string): Promise<TestSocket> {
    const socket = await connectSocket(proxy, userId, token(userId));
    sockets.push(socket);
    return socket;
  }

  test('requests are balanced over both instances, and carry nginx request id to the app', async () => {
    const before = await Promise.all(apps.map((app) => scrape(app.url)));
    for (let i = 0; i < 6; i += 1) {
      const response = await fetch(`${proxy}/api/health`);
      assert.equal(response.status, 200);
      assert.match(
        response.headers.get('x-request-id') ?? '',
        /^[0-9a-f]{32}$/,
        "nginx's $request_id, kept by the app",
      );
    }
    const after = await Promise.all(apps.map((app) => scrape(app.url)));
    const route = { method: 'GET', route: '/api/health', status_code: '200' };
    const served = apps.map(
      (_, i) =>
        (after[i]?.value('chat_http_request_duration_seconds_count', route) ?? 0) -
        (before[i]?.value('chat_http_request_duration_seconds_count', route) ?? 0),
    );
    assert.deepEqual(served, [3, 3], 'round-robin, no stickiness');
  });

  test('/metrics is refused at the proxy under every spelling, and served by each instance directly', async () => {
    for (const path of [
      '/metrics',
      '/metrics?format=text',
      '//metrics',
      '/%6Detrics',
      '/./metrics',
      '/api/../metrics',
    ]) {
      const response = await fetch(`${proxy}${path}`);
      const text = await response.text();
      assert.equal(response.status, 403, `${path}: ${response.status}`);
      assert.doesNotMatch(text, /chat_http_request_duration_seconds/, path);
    }
    for (const app of apps) assert.equal((await fetch(`${app.url}/metrics`)).status, 200);
  });

  test('the access log has paths without their query strings: no token or ticket in it', async () => {
    const secret = 'SECRETTOKEN0123456789';
    await (await fetch(`${proxy}/api/health?token=${secret}&%74oken=${secret}&ticket=${secret}`)).text();
    const refused = new WebSocket(`${proxy.replace(/^http/, 'ws')}/api/ws/b1?token=${secret}`);
    await new Promise<void>((resolve) => {
      refused.once('unexpected-response', () => resolve());
      refused.once('error', () => resolve());
    });
    refused.terminate();
    const logFile = join(dir, 'access.log');
    let log = '';
    // nginx writes each line once the response is done: wait for both.
    for (const deadline = Date.now() + 5_000; Date.now() < deadline; ) {
      log = readFileSync(logFile, 'utf8');
      if (log.includes('GET /api/health HTTP') && log.includes('GET /api/ws/b1 HTTP')) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.match(log, /"GET \/api\/health HTTP\/1\.1" 200/);
    assert.match(log, /"GET \/api\/ws\/b1 HTTP\/1\.1" 401/);
    assert.doesNotMatch(log, new RegExp(secret));
  });

  test('WebSocket upgrades pass through, and a message crosses from one instance to the other', async () => {
    const buyer = await connectThroughProxy('b1');
    const home = instanceOf(buyer);
    assert.ok(home >= 0);
    // Round-robin puts the next upgrade on the other instance; retry a few times should it not.
    let merchant = await connectThroughProxy('m1');
    for (let attempt = 0; instanceOf(merchant) === home && attempt < 6; attempt += 1) {
      await merchant.close();
      merchant = await connectThroughProxy('m1');
    }
    assert.equal(instanceOf(merchant), 1 - home, 'the two users are on different instances');

    const there = apps[1 - home];
    assert.ok(there);
    const before = await scrape(there.url);
    buyer.send({ type: 'message', conversation_id: conversationId, content: '通过代理', client_msg_id: 'via-nginx' });
    const ack = await buyer.waitFor('ack');
    const received = await merchant.waitFor((event) => event.type === 'message' && event.content === '通过代理');
    assert.equal(received.id, ack.id);
    assert.equal(received.sender_id, 'b1');
    // The receiving instance measured the publish-to-write time of an event published by the other one.
    const after = await scrape(there.url);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      after.value(name, labels) - before.value(name, labels);
    assert.equal(delta('chat_realtime_events_fanned_out_total', { event_type: 'message' }), 1);
    assert.equal(delta('chat_realtime_fanout_latency_seconds_count'), 1);
    assert.equal(delta('chat_realtime_events_published_total', { event_type: 'message' }), 0, 'published elsewhere');

    // And back the other way, through the same proxy.
    merchant.send({ type: 'message', conversation_id: conversationId, content: 'reply', client_msg_id: 'reply-1' });
    await buyer.waitFor((event) => event.type === 'message' && event.content === 'reply');
    await Promise.all([buyer.close(), merchant.close()]);
  });
});
