import { spawn } from 'node:child_process';
import cluster from 'node:cluster';
import { ConfigError } from './config/config.ts';
import { loadConfig } from './config/environment.ts';
import { DatabaseLocationError } from './db/connection.ts';
import { isAccessOrMissingDatabase, isDatabaseUnavailable } from './db/errors.ts';
import { createLogger } from './http/logging.ts';
import { installProcessSafetyNet } from './process-safety-net.ts';
import { type RunningServer, SchemaNotAtHeadError, startServer, WORKER_SHUTDOWN_MESSAGE } from './server.ts';

const WATCHED_FLAG = '--watched';
/** npm run dev: reload on source changes and human-readable logs, whatever RELOAD says. */
const DEV_FLAG = '--dev';
const SHUTDOWN_TIMEOUT_MS = 10_000;

const USAGE = `Run the chat server with the configuration in .env and the environment.

Usage:
  npm start                              one process (RELOAD=True restarts it on source changes)
  npm run dev                            one process, restarted on source changes, readable logs
  npm run start:cluster -- --workers N   N worker processes on one port (needs REDIS_URL)

Every variable of .env.example is required; npm run setup writes a .env for a fresh clone.`;

/** pino-pretty as the log destination, in this thread (no transport worker). */
async function prettyDestination(): Promise<NodeJS.WritableStream> {
  const { default: pretty } = await import('pino-pretty');
  return pretty({ colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig();

  // RELOAD=True or npm run dev: run the server under Node's own watcher, which restarts it on source changes.
  // Not in a cluster worker (src/cluster.ts): the primary supervises those. The workspace
  // packages (packages/contracts: the wire schemas) are the server's source too.
  const dev = process.argv.includes(DEV_FLAG);
  if ((config.RELOAD || dev) && cluster.isPrimary && !process.argv.includes(WATCHED_FLAG)) {
    const script = process.argv[1] ?? 'src/main.ts';
    const watched = ['--watch-path=src', '--watch-path=packages'];
    const child = spawn(process.execPath, [...watched, script, WATCHED_FLAG, ...(dev ? [DEV_FLAG] : [])], {
      stdio: 'inherit',
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
    child.on('exit', (code) => process.exit(code ?? 0));
    return;
  }

  const logger = createLogger({
    level: config.DEBUG ? 'debug' : 'info',
    // npm run dev: human-readable lines (pino-pretty is a dev dependency, loaded only here).
    ...(dev ? { destination: await prettyDestination() } : {}),
  });
  const worker = cluster.worker;
  let server: RunningServer | undefined;

  let closing = false;
  const shutdown = async (signal: string, exitCode = 0) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    force.unref();
    await server?.close();
    logger.info({ exitCode }, exitCode === 0 ? 'shut down cleanly' : 'shut down after a crash');
    process.exit(exitCode);
  };
  // Before starting, so nothing can die unlogged; a crash while starting has no server to close yet.
  installProcessSafetyNet(logger, (reason, exitCode) => void shutdown(reason, exitCode));

  server = await startServer(config, logger, worker ? { workerId: String(worker.id) } : {});
  // What the socket is bound to (PORT=0 gives a port chosen by the system), not what was asked for.
  const bound = server.app.server.address();
  const listening = bound && typeof bound === 'object' ? `${bound.address}:${bound.port}` : String(bound);
  logger.info(
    { address: listening, url: server.url, publicUrl: config.BASE_URL },
    `${config.APP_TITLE} listening on ${listening} (${server.url}); API docs at ${server.url}/api/docs`,
  );
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  if (worker) {
    // The primary stops workers one at a time; Ctrl-C reaches every process of the terminal's group at once.
    process.on('SIGINT', () => {});
    // Where signals cannot be sent gracefully (Windows) the primary asks over IPC instead.
    process.on('message', (message: unknown) => {
      if (message === WORKER_SHUTDOWN_MESSAGE) void shutdown('cluster primary');
    });
  } else {
    process.on('SIGINT', () => void shutdown('SIGINT'));
  }
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof SchemaNotAtHeadError || error instanceof DatabaseLocationError) {
    console.error(error.message);
  } else if (isDatabaseUnavailable(error) || isAccessOrMissingDatabase(error)) {
    const reason = error instanceof Error ? error.message : String(error);
    console.error(
      `Cannot use the database in DATABASE_URL: ${reason}\nSee "The database connection fails" in README.md (FAQ).`,
    );
  } else {
    console.error(error);
  }
  process.exit(1);
});
