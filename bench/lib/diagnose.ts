import type { WindowMeasurement } from './context.ts';
import { type CpuReport, cpuOf } from './proc.ts';

/**
 * A one-line account of what bounded a measured window, from the CPU each
 * process used, the service's event-loop delay, the load generators' own
 * loop delay and the database's counters. Heuristic, and says so through
 * the numbers it quotes.
 */
export function diagnose(
  m: Pick<WindowMeasurement<unknown>, 'cpu' | 'serverLoopDelay' | 'db'>,
  options: {
    /** Process name of the server measured (service: "server"; a reference server's name otherwise). */
    server?: string;
    /** Operations in the window (messages, requests), for per-operation database counts. */
    operations?: number;
    generatorLoopDelayP99?: number;
  } = {},
): string {
  const { cpu } = m;
  const serverName = options.server ?? 'server';
  const server = cpu.processes[serverName]?.percent ?? 0;
  const mysqld = cpu.processes.mysqld?.percent ?? 0;
  const generators = cpuOf(cpu, 'gen:').percent;
  const machine = cpu.machine?.percent ?? null;
  const other = cpu.other?.percent ?? null;
  const ceiling = cpu.cores * 100;
  const parts: string[] = [];
  const saturated = machine !== null && machine >= 0.9 * ceiling;
  if (saturated) {
    parts.push(
      `machine CPU saturated (${machine}% of ${ceiling}%: ${serverName} ${server}%, mysqld ${mysqld}%, load generators ${generators}%, other ${other ?? '?'}%)`,
    );
  }
  if (server >= 90) {
    parts.push(`${serverName} thread CPU-bound (${server}% of one core)`);
  } else if (saturated) {
    parts.push(`${serverName} at ${server}% of one core, competing for the saturated CPU`);
  } else if (server >= 60) {
    parts.push(`${serverName} thread ${server}% busy`);
  } else if (serverName === 'server') {
    const waits = `${serverName} thread ${server}% busy, so mostly waiting`;
    const fsyncs = m.db.Innodb_data_fsyncs;
    const perSecond = fsyncs === undefined ? '?' : Math.round(fsyncs / cpu.windowSeconds);
    parts.push(mysqld > 0 || fsyncs ? `${waits} on the database (mysqld ${mysqld}%, ${perSecond} fsyncs/s)` : waits);
  }
  if (serverName === 'server' && mysqld >= 30 && mysqld >= 2 * server) {
    parts.push(`database-bound: mysqld ${mysqld}% of a core against the service's ${server}%`);
  }
  if (m.serverLoopDelay && m.serverLoopDelay.p99 > 20) {
    parts.push(`service event-loop delay p99 ${m.serverLoopDelay.p99} ms`);
  }
  if (options.generatorLoopDelayP99 !== undefined && options.generatorLoopDelayP99 > 50) {
    parts.push(`load generator lagging (its event-loop delay p99 ${options.generatorLoopDelayP99} ms)`);
  }
  if (options.operations && options.operations > 0 && m.db.Questions) {
    parts.push(`${(m.db.Questions / options.operations).toFixed(1)} SQL statements per operation (server-wide count)`);
  }
  if (other !== null && other >= 30 && !saturated) {
    parts.push(`${other}% CPU used by other work on the machine (noise)`);
  }
  return parts.join('; ');
}

export function cpuLine(cpu: CpuReport): string {
  const named = Object.entries(cpu.processes)
    .filter(([, share]) => share.percent >= 1)
    .map(([name, share]) => `${name.replace(/^gen:/, '')} ${share.percent}%`)
    .join(', ');
  return `cpu: ${named}${cpu.machine ? `; machine ${cpu.machine.percent}%/${cpu.cores * 100}%` : ''}`;
}
