import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { UsageError } from './cli/cli.ts';
import { type Config, ConfigError } from './config/config.ts';
import { loadConfig } from './config/environment.ts';
import { DatabaseLocationError, openDatabase } from './db/connection.ts';
import { pendingMigrations } from './db/migrator.ts';
import { createLogger } from './http/logging.ts';
import { SchemaNotAtHeadError, WORKER_SHUTDOWN_MESSAGE } from './server.ts';

/**
 * `npm run start:cluster -- --workers N`: N processes serving one port (the
 * seed's `gunicorn -w 4`). This primary process serves nothing itself: it
 * checks the configuration and the schema once, forks workers that run
 * src/main.ts, restarts any that crash, and stops them one at a time.
 */

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const MAX_WORKERS = 256;
/** A restarted worker waits this long, doubled for every crash in a row, up to RESTART_MAX_DELAY_MS. */
const RESTART_BASE_DELAY_MS = 1_000;
const RESTART_MAX_DELAY_MS = 30_000;
/** A worker that ran this long before crashing starts the backoff afresh. */
const STABLE_AFTER_MS = 60_000;
/** Past main.ts's own 10 s shutdown limit: a worker still alive then is killed. */
const WORKER_STOP_TIMEOUT_MS = 15_000;

const USAGE = `Run the server as several worker processes sharing HOST:PORT (Node's cluster
module; the original FastAPI backend's \`gunicorn -w 4\`).

Usage:
  npm run start:cluster -- [--workers N]

Options:
  -w, --workers N   worker processes, 1-${MAX_WORKERS} (default: one per CPU, ${availableParallelism()} here)
  -h, --help        show this text

Configuration comes from the environment and .env, as for \`npm start\`. More than
one worker needs REDIS_URL: workers deliver messages to each other's sockets and
keep presence through Redis. The schema must be at head (\`npm run db:migrate\`).

A worker that crashes is restarted (after 1 s, doubling while it keeps crashing,
up to 30 s). SIGTERM or SIGINT stops the workers one at a time, each finishing
its requests and closing its WebSockets with 1012; the command exits 0 when all
of them stopped cleanly.`;

interface ClusterOptions {
  help: boolean;
  workers: number;
}

const parse = (args: string[]) =>
  parseArgs({
    args,
    options: { workers: { type: 'string', short: 'w' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false,
  });

export function parseClusterArgs(args: string[]): ClusterOptions {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { workers, help } = parsed.values;
  if (help) return { help: true, workers: 0 };
  if (workers === undefined) return { help: false, workers: availableParallelism() };
  const count = Number(workers);
  if (!/^\d+$/.test(workers) || count < 1 || count > MAX_WORKERS) {
    throw new UsageError(`--workers must be a whole number from 1 to ${MAX_WORKERS}, not "${workers}".`);
  }
  return { help: false, workers: count };
}

/** Why the cluster will not start; printed as is, exit status 1. */
class ClusterRefusal extends Error {}

function checkClusterConfig(config: Config, workers: number): void {
  if (workers > 1 && config.REDIS_URL === '') {
    throw new ClusterRefusal(
      `Refusing to start ${workers} workers with REDIS_URL="": without Redis each worker only delivers ` +
        'to its own sockets and sees only its own users online.\n' +
        'Set REDIS_URL (e.g. redis://127.0.0.1:6379), or run one worker: npm start.',
    );
  }
}

/** Checked once here, so a stale schema is one clear message rather than N workers failing. */
async function checkSchema(config: Config): Promise<void> {
  const database = openDatabase(config.DATABASE_URL);
  try {
    const pending = await pendingMigrations(database.db);
    if (pending.length > 0) throw new SchemaNotAtHeadError(pending);
  } finally {
    await database.destroy();
  }
}

interface Slot {
  worker: Worker | undefined;
  /** Crashes in a row (reset once a worker stays up STABLE_AFTER_MS). */
  crashes: number;
  startedAt: number;
  listening: boolean;
  restartTimer: NodeJS.Timeout | undefined;
}

/** Log fields naming a worker (`pid` is the primary's own, on every line). */
function describe(worker: Worker) {
  return { worker: worker.id, workerPid: worker.process.pid };
}

/**
 * Stops one worker gracefully: SIGTERM (its shutdown in main.ts), or a message
 * on Windows, where a signal would kill it outright. Resolves true when it
 * exited with status 0; a worker still alive after the timeout is killed.
 */
function stopWorker(worker: Worker, logger: Logger): Promise<boolean> {
  return new Promise((resolve) => {
    if (worker.isDead()) {
      resolve(worker.process.exitCode === 0);
      return;
    }
    const timer = setTimeout(() => {
      logger.error(describe(worker), `worker did not stop within ${WORKER_STOP_TIMEOUT_MS} ms; killing it`);
      worker.process.kill('SIGKILL');
    }, WORKER_STOP_TIMEOUT_MS);
    worker.once('exit', (code, signal) => {
      clearTimeout(timer);
      logger.info({ ...describe(worker), code, signal }, 'worker stopped');
      resolve(code === 0);
    });
    logger.info(describe(worker), 'stopping worker');
    if (process.platform === 'win32' && worker.isConnected()) worker.send(WORKER_SHUTDOWN_MESSAGE);
    else worker.process.kill('SIGTERM');
  });
}

function runPrimary(workers: number, logger: Logger): void {
  cluster.setupPrimary({ exec: MAIN, args: [] });
  const slots: Slot[] = Array.from({ length: workers }, () => ({
    worker: undefined,
    crashes: 0,
    startedAt: 0,
    listening: false,
    restartTimer: undefined,
  }));
  let phase: 'starting' | 'running' | 'stopping' = 'starting';

  function fork(slot: Slot): void {
    const worker = cluster.fork();
    slot.worker = worker;
    slot.startedAt = Date.now();
    slot.listening = false;
    worker.on('listening', (address) => {
      if (slot.listening) return;
      slot.listening = true;
      logger.info({ ...describe(worker), port: address.port }, 'worker listening');
      if (phase === 'starting' && slots.every((s) => s.listening)) {
        phase = 'running';
        logger.info({ workers, port: address.port }, `cluster ready: ${workers} workers listening`);
      }
    });
    worker.on('exit', (code, signal) => onExit(slot, worker, code, signal));
  }

  function onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    if (phase === 'stopping') return;
    if (phase === 'starting' && !slot.listening) {
      // Whatever stopped it (port taken, database or Redis unreachable) would stop the next one too.
      logger.error({ ...describe(worker), code, signal }, 'a worker failed to start; stopping the cluster');
      void stop('a worker failed to start', 1);
      return;
    }
    const uptime = Date.now() - slot.startedAt;
    slot.crashes = uptime >= STABLE_AFTER_MS ? 1 : slot.crashes + 1;
    const delay = Math.min(RESTART_BASE_DELAY_MS * 2 ** (slot.crashes - 1), RESTART_MAX_DELAY_MS);
    logger.error(
      { ...describe(worker), code, signal, uptimeMs: uptime, restartInMs: delay },
      'worker exited unexpectedly; restarting it',
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (phase !== 'stopping') fork(slot);
    }, delay);
  }

  let stopping: Promise<void> | undefined;
  function stop(reason: string, exitCode = 0): Promise<void> {
    if (stopping) {
      // A second signal: stop the rest at once rather than one by one (each still gracefully).
      logger.warn({ reason }, 'stopping the remaining workers at once');
      for (const slot of slots) if (slot.worker && !slot.worker.isDead()) slot.worker.process.kill('SIGTERM');
      return stopping;
    }
    phase = 'stopping';
    stopping = (async () => {
      logger.info({ reason }, 'stopping workers one at a time');
      let clean = exitCode === 0;
      for (const slot of slots) {
        clearTimeout(slot.restartTimer);
        const { worker } = slot;
        // One at a time: the others keep serving (and take the reconnecting sockets) meanwhile.
        if (worker && !(await stopWorker(worker, logger))) clean = false;
      }
      logger.info({ clean }, 'all workers stopped');
      process.exit(clean ? 0 : 1);
    })();
    return stopping;
  }

  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  logger.info({ workers, primary: process.pid }, `starting ${workers} workers`);
  for (const slot of slots) fork(slot);
}

function main(): void {
  let options: ClusterOptions;
  try {
    options = parseClusterArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options.help) {
    console.log(USAGE);
    return;
  }
  const { workers } = options;
  (async () => {
    const config = loadConfig();
    checkClusterConfig(config, workers);
    const logger = createLogger({ level: config.DEBUG ? 'debug' : 'info' });
    if (config.RELOAD) logger.warn('RELOAD=True is ignored by start:cluster; use npm start while developing');
    await checkSchema(config);
    runPrimary(workers, logger);
  })().catch((error: unknown) => {
    const known =
      error instanceof ConfigError ||
      error instanceof SchemaNotAtHeadError ||
      error instanceof DatabaseLocationError ||
      error instanceof ClusterRefusal;
    console.error(known ? (error as Error).message : error);
    process.exit(1);
  });
}

// Only when run as the command (tests import parseClusterArgs).
if (import.meta.main) main();
