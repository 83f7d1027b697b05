import type { Logger } from 'pino';

/**
 * The exit status after a crash the safety net caught (EX_SOFTWARE, "internal
 * software error"): non-zero, so the cluster primary (src/cluster.ts), systemd
 * or Docker restarts the process, and distinct from a failed start (1).
 */
export const CRASH_EXIT_CODE = 70;

/**
 * An unhandled rejection or uncaught exception leaves the process in a state
 * nobody planned for. Instead of dying mid-request (Node's default), log the
 * error with its stack and shut down gracefully: in-flight requests finish,
 * sockets close with 1012, then the process exits with CRASH_EXIT_CODE.
 * `shutdown` is the same path SIGTERM takes; it must tolerate being called twice.
 */
export function installProcessSafetyNet(logger: Logger, shutdown: (reason: string, exitCode: number) => void): void {
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection; shutting down gracefully');
    shutdown('unhandled rejection', CRASH_EXIT_CODE);
  });
  process.on('uncaughtException', (error, origin) => {
    logger.fatal({ err: error, origin }, 'uncaught exception; shutting down gracefully');
    shutdown('uncaught exception', CRASH_EXIT_CODE);
  });
}
