import { spawn } from 'node:child_process';

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
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  child.stdin.end(options.input ?? '');
  const killer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(killer);
  return { code, stdout, stderr };
}
