import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';

/** How a command run by `runNode` ended, and what it wrote. */
export interface NodeRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A command that has not exited by then is killed (SIGKILL): a hung start fails its test instead of the suite. */
const RUN_TIMEOUT_MS = 20_000;

/**
 * Runs `node <args…>` to completion in `cwd` with exactly PATH and `env` in
 * its environment (`input` on its stdin), as an operator runs `npm start` or
 * a CLI: for tests of what a command prints and how it exits.
 */
export async function runNode(
  args: string[],
  options: { env: Record<string, string>; cwd: string; input?: string },
): Promise<NodeRun> {
  const run = new NodeProcess(args, options);
  run.child.stdin.end(options.input ?? '');
  const killer = setTimeout(() => run.child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  // 'close', not 'exit': by then all it wrote has been read.
  const [code] = (await once(run.child, 'close')) as [number | null];
  clearTimeout(killer);
  return { code, stdout: run.stdout, stderr: run.stderr };
}

/** How a process ended: its exit code, or the signal that ended it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * `node <args…>` running in `cwd` with exactly PATH and `env` in its
 * environment, with what it has written so far: the base of the tests'
 * server and cluster children. It never outlives the test process (a failed
 * or cancelled test would otherwise leave it listening).
 */
export class NodeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<Exit>;
  stdout = '';
  stderr = '';
  /** stdout and stderr interleaved as they arrived. */
  output = '';

  constructor(args: string[], options: { env: Record<string, string>; cwd: string }) {
    this.child = spawn(process.execPath, args, {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', ...options.env },
    });
    this.child.stdout.on('data', (chunk) => {
      this.stdout += chunk;
      this.output += chunk;
    });
    this.child.stderr.on('data', (chunk) => {
      this.stderr += chunk;
      this.output += chunk;
    });
    this.exited = once(this.child, 'exit').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
    }));
    const kill = () => this.child.kill('SIGKILL');
    process.on('exit', kill);
    void this.exited.then(() => process.off('exit', kill));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}

/** The JSON lines of a process's output (its log lines), in order. */
export function jsonLines<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as T);
}
