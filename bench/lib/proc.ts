import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { nowMs } from './clock.ts';

/**
 * Readings from /proc (Linux): CPU time and memory of a process, of the whole
 * machine, and the kernel's socket memory. Everything degrades to null where
 * /proc is missing or a process is gone, so a benchmark never fails on it.
 */

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on every Linux that matters). */
const TICKS_PER_SECOND = 100;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds a process has used so far (its own threads, not its children). */
export function processCpuSeconds(pid: number): number | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return null;
  // The command name may contain spaces: fields start after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime + stime) ? (utime + stime) / TICKS_PER_SECOND : null;
}

/** Resident set size in bytes (VmRSS), or null. */
export function processRssBytes(pid: number): number | null {
  const status = readText(`/proc/${pid}/status`);
  const match = status ? /^VmRSS:\s+(\d+) kB/m.exec(status) : null;
  return match ? Number(match[1]) * 1024 : null;
}

/** Open file descriptors of a process, or null. */
export function processFdCount(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/**
 * Busy and total CPU seconds of the whole machine (all cores) since boot, and
 * of those the time the hypervisor gave our virtual CPUs to someone else
 * (steal: counted as busy, since we could not use it).
 */
export function machineCpuSeconds(): { busy: number; total: number; stolen: number } | null {
  const stat = readText('/proc/stat');
  const line = stat?.split('\n')[0];
  if (!line?.startsWith('cpu ')) return null;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = values;
  const busy = user + nice + system + irq + softirq + steal;
  return {
    busy: busy / TICKS_PER_SECOND,
    total: (busy + idle + iowait) / TICKS_PER_SECOND,
    stolen: steal / TICKS_PER_SECOND,
  };
}

/** The first process whose command name is one of `names` (the database server, say). */
export function findProcess(names: readonly string[]): number | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = readText(`/proc/${entry}/comm`)?.trim();
    if (comm && names.includes(comm)) return Number(entry);
  }
  return null;
}

/** Kernel memory that grows with sockets: TCP buffer pages and the slab caches. */
export interface KernelSocketMemory {
  /** /proc/net/sockstat "TCP: mem", in bytes (socket buffers). */
  tcpBufferBytes: number | null;
  /** TCP sockets in use. */
  tcpInUse: number | null;
  /** /proc/meminfo Slab (all kernel slab caches, socket structs among them), bytes. */
  slabBytes: number | null;
}

export function kernelSocketMemory(): KernelSocketMemory {
  const sockstat = readText('/proc/net/sockstat') ?? '';
  const tcp = /^TCP: inuse (\d+).* mem (\d+)/m.exec(sockstat);
  const meminfo = readText('/proc/meminfo') ?? '';
  const slab = /^Slab:\s+(\d+) kB/m.exec(meminfo);
  return {
    tcpBufferBytes: tcp ? Number(tcp[2]) * 4096 : null,
    tcpInUse: tcp ? Number(tcp[1]) : null,
    slabBytes: slab ? Number(slab[1]) * 1024 : null,
  };
}

export interface CpuShare {
  /** CPU seconds used in the window. */
  seconds: number;
  /** Of one core, in percent (200 % = both cores of this machine). */
  percent: number;
}

export interface CpuReport {
  windowSeconds: number;
  /** Per named process. */
  processes: Record<string, CpuShare>;
  /** The whole machine, in percent of one core (cores × 100 % is the ceiling). */
  machine: CpuShare | null;
  /** Machine CPU not used by any named process: other work on the machine (noise) and the kernel's. */
  other: CpuShare | null;
  cores: number;
}

/**
 * Measures how much CPU each named process, and the machine, used between
 * `start()` and `stop()`. Processes that exit in between count what they
 * used until their last reading.
 */
export class CpuMeter {
  readonly #pids: Map<string, number>;
  #start = 0;
  #startCpu = new Map<string, number>();
  #lastCpu = new Map<string, number>();
  #machine: { busy: number; total: number } | null = null;

  constructor(pids: Record<string, number | null | undefined>) {
    this.#pids = new Map(
      Object.entries(pids).filter((entry): entry is [string, number] => typeof entry[1] === 'number'),
    );
  }

  start(): this {
    this.#start = nowMs();
    this.#machine = machineCpuSeconds();
    for (const [name, pid] of this.#pids) {
      const cpu = processCpuSeconds(pid);
      if (cpu !== null) {
        this.#startCpu.set(name, cpu);
        this.#lastCpu.set(name, cpu);
      }
    }
    return this;
  }

  /** Takes an intermediate reading (so a process exiting before stop still counts). */
  sample(): void {
    for (const [name, pid] of this.#pids) {
      const cpu = processCpuSeconds(pid);
      if (cpu !== null) this.#lastCpu.set(name, cpu);
    }
  }

  stop(): CpuReport {
    this.sample();
    const windowSeconds = (nowMs() - this.#start) / 1000;
    const share = (seconds: number): CpuShare => ({
      seconds: Math.round(seconds * 1000) / 1000,
      percent: windowSeconds > 0 ? Math.round((seconds / windowSeconds) * 1000) / 10 : 0,
    });
    const processes: Record<string, CpuShare> = {};
    let named = 0;
    for (const [name, begin] of this.#startCpu) {
      const used = (this.#lastCpu.get(name) ?? begin) - begin;
      named += used;
      processes[name] = share(used);
    }
    const end = machineCpuSeconds();
    const machineBusy = end && this.#machine ? end.busy - this.#machine.busy : null;
    return {
      windowSeconds: Math.round(windowSeconds * 1000) / 1000,
      processes,
      machine: machineBusy === null ? null : share(machineBusy),
      other: machineBusy === null ? null : share(Math.max(0, machineBusy - named)),
      cores: cpus().length,
    };
  }
}

/** Sums the named processes of a report whose name starts with `prefix` (all load generators, say). */
export function cpuOf(report: CpuReport, prefix: string): CpuShare {
  let seconds = 0;
  let percent = 0;
  for (const [name, share] of Object.entries(report.processes)) {
    if (name.startsWith(prefix)) {
      seconds += share.seconds;
      percent += share.percent;
    }
  }
  return { seconds: Math.round(seconds * 1000) / 1000, percent: Math.round(percent * 10) / 10 };
}
