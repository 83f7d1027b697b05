import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Connection } from 'mysql2/promise';
import { createTokenIssuer } from '../../src/modules/auth/tokens.ts';
import { nowMs, sleep, sleepUntil } from './clock.ts';
import { type ScratchDatabase, serverStatus, statusDelta } from './database.ts';
import { type CpuProfile, type ProfileEntry, selfTimeByArea, topSelfTime } from './inspector.ts';
import type { Mode, Plan, ScenarioName } from './plan.ts';
import { CpuMeter, type CpuReport, processCpuSeconds } from './proc.ts';
import { type ServiceHandle, startService } from './service.ts';
import { WorkerProcess } from './workers.ts';

/** One line of the summary table: a figure, its floor, their ratio, the goal, and what bounds it. */
export interface Figure {
  scenario: ScenarioName;
  name: string;
  value: string;
  floor: string;
  /** value / floor as the figure defines it (null when either is missing). */
  ratio: number | null;
  goal: string | null;
  met: boolean | null;
  limitedBy: string | null;
}

export interface WindowMeasurement<T> {
  result: T;
  cpu: CpuReport;
  /** Server-wide database counters over the window (SHOW GLOBAL STATUS deltas). */
  db: Record<string, number>;
  /** The service's event-loop delay over the window, ms (null without the inspector). */
  serverLoopDelay: { p50: number; p99: number; max: number; mean: number } | null;
}

export interface ProfileSummary {
  file: string;
  windowMs: number;
  top: ProfileEntry[];
  byArea: { area: string; selfPercent: number }[];
}

export interface BenchOptions {
  mode: Mode;
  only: ScenarioName[];
  mysqlUrl: string;
  profile: boolean;
  inspect: boolean;
  outDir: string;
  /** Where RESULTS.md goes; null: nowhere. */
  summaryFile: string | null;
  keepDatabase: boolean;
  /** --db: a named database kept between runs, or null for a scratch one. */
  database: string | null;
  note: string | null;
  latencyRate: number | null;
}

/** Loopback source addresses the clients bind to (each gives its own ~28k ephemeral ports). */
export const SOURCE_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7'];

export class BenchContext {
  readonly options: BenchOptions;
  readonly plan: Plan;
  readonly runDir: string;
  readonly db: ScratchDatabase;
  readonly secret = randomBytes(48).toString('base64url');
  readonly mysqldPid: number | null;
  readonly startedAt = nowMs();
  readonly results: Record<string, any> = {};
  readonly figures: Figure[] = [];
  readonly workers = new Set<WorkerProcess>();
  service: ServiceHandle | null = null;
  serviceStarts = 0;
  /** Scenario data shared by later scenarios (seeded users, the send scenario's maximum). */
  readonly shared: Record<string, any> = {};
  readonly profilesDir: string;
  #issuer: ReturnType<typeof createTokenIssuer>;

  constructor(options: BenchOptions, plan: Plan, runDir: string, db: ScratchDatabase, mysqldPid: number | null) {
    this.options = options;
    this.plan = plan;
    this.runDir = runDir;
    this.db = db;
    this.mysqldPid = mysqldPid;
    this.profilesDir = join(options.outDir, 'profiles');
    this.#issuer = createTokenIssuer({ secret: this.secret, algorithm: 'HS256', expireDays: 1 });
  }

  get admin(): Connection {
    return this.db.admin;
  }

  /** A progress line: elapsed time, scenario, message. */
  log(scenario: string, message: string): void {
    const elapsed = (nowMs() - this.startedAt) / 1000;
    const mm = String(Math.floor(elapsed / 60)).padStart(2, '0');
    const ss = String(Math.floor(elapsed % 60)).padStart(2, '0');
    console.log(`[${mm}:${ss}] ${scenario.padEnd(8)} ${message}`);
  }

  async token(userId: string, role: string): Promise<string> {
    return (await this.#issuer.issue(userId, role)).token;
  }

  /**
   * The running service, or a new one (fresh: always a new process, for clean
   * memory and state; `env` is added to a new one's environment).
   */
  async ensureService(options: { fresh?: boolean; env?: Record<string, string> } = {}): Promise<ServiceHandle> {
    if (this.service && !options.fresh) return this.service;
    await this.stopService();
    this.serviceStarts += 1;
    this.service = await startService({
      databaseUrl: this.db.url,
      secret: this.secret,
      runDir: this.runDir,
      mediaDir: join(this.runDir, 'media'),
      inspect: this.options.inspect,
      logName: `service-${this.serviceStarts}.log`,
      env: options.env,
    });
    this.results.serviceEnvironment ??= this.service.environment;
    return this.service;
  }

  async stopService(): Promise<void> {
    await this.closeFixtures();
    if (this.service) {
      await this.service.stop();
      this.service = null;
    }
  }

  /** Forks a load generator or reference server, registered for clean-up. */
  startWorker(name: string, script: string, options: { deadlineMs?: number; execArgv?: string[] } = {}): WorkerProcess {
    const worker = WorkerProcess.start(name, script, {
      // Bounded in time: a worker outliving the whole run's budget kills itself.
      deadlineMs: options.deadlineMs ?? (this.options.mode === 'full' ? 90 : 20) * 60_000,
      ...(options.execArgv ? { execArgv: options.execArgv } : {}),
    });
    this.workers.add(worker);
    void worker.exited.then(() => this.workers.delete(worker));
    return worker;
  }

  async stopWorkers(workers: Iterable<WorkerProcess>): Promise<void> {
    await Promise.all([...workers].map((worker) => worker.stop()));
  }

  // ------------------------------------------------------------------ fixtures shared by send/latency/fanout

  fixtures: {
    pairWorkers: WorkerProcess[];
    adminWorkers: WorkerProcess[];
    adminsConnected: number;
  } | null = null;

  async closeFixtures(): Promise<void> {
    if (!this.fixtures) return;
    const { pairWorkers, adminWorkers } = this.fixtures;
    this.fixtures = null;
    await this.stopWorkers([...pairWorkers, ...adminWorkers]);
  }

  /** Waits until the service's CPU use drops (presence work after disconnects, InnoDB after loads). */
  async quiesce(label: string, maxMs = 20_000): Promise<void> {
    const pid = this.service?.pid;
    if (!pid) return;
    const deadline = nowMs() + maxMs;
    for (;;) {
      const a = processCpuSeconds(pid) ?? 0;
      await sleep(500);
      const b = processCpuSeconds(pid) ?? 0;
      if ((b - a) / 0.5 < 0.05) return;
      if (nowMs() > deadline) {
        this.log(label, `service still busy (${Math.round(((b - a) / 0.5) * 100)}% CPU) after ${maxMs} ms; going on`);
        return;
      }
    }
  }

  /** The processes whose CPU a window reports: the service, the database server, and the given workers. */
  pids(workers: Iterable<WorkerProcess>, extra: Record<string, number> = {}): Record<string, number> {
    const pids: Record<string, number> = { ...extra };
    if (this.service) pids.server = this.service.pid;
    if (this.mysqldPid) pids.mysqld = this.mysqldPid;
    for (const worker of workers) pids[`gen:${worker.name}`] = worker.pid;
    return pids;
  }

  /**
   * Runs one measured window: `run` gets the common start instant (a little
   * ahead, so every worker has its command) and starts its load then; after
   * the warm-up the CPU of every named process, the database counters and
   * the service's event-loop delay are read over exactly the measured part.
   */
  async window<T>(
    spec: { warmupMs: number; durationMs: number; pids: Record<string, number>; loopDelay?: boolean },
    run: (startAt: number) => Promise<T>,
  ): Promise<WindowMeasurement<T>> {
    const startAt = nowMs() + 400;
    const inspector = spec.loopDelay === false ? null : (this.service?.inspector ?? null);
    const measurement = (async () => {
      await sleepUntil(startAt + spec.warmupMs);
      const meter = new CpuMeter(spec.pids).start();
      const [before] = await Promise.all([serverStatus(this.admin), inspector?.startLoopDelay()]);
      const sampler = setInterval(() => meter.sample(), 1000);
      await sleepUntil(startAt + spec.warmupMs + spec.durationMs);
      clearInterval(sampler);
      const cpu = meter.stop();
      const [after, serverLoopDelay] = await Promise.all([
        serverStatus(this.admin),
        inspector ? inspector.readLoopDelay().catch(() => null) : Promise.resolve(null),
      ]);
      return { cpu, db: statusDelta(before, after), serverLoopDelay };
    })();
    const [result, measured] = await Promise.all([run(startAt), measurement]);
    return { result, ...measured };
  }

  /**
   * A CPU profile of the service over a window of `run` (extra to the
   * measured windows, so the profiler's cost never touches a figure).
   */
  async profile(
    name: string,
    run: (startAt: number, durationMs: number) => Promise<unknown>,
  ): Promise<ProfileSummary | null> {
    const inspector = this.service?.inspector;
    if (!this.options.profile || !inspector) return null;
    const durationMs = this.plan.profileMs;
    const startAt = nowMs() + 400;
    const profiled = (async () => {
      await sleepUntil(startAt);
      await inspector.startProfile();
      await sleepUntil(startAt + durationMs);
      return inspector.stopProfile();
    })();
    const [, profile] = await Promise.all([run(startAt, durationMs), profiled]);
    mkdirSync(this.profilesDir, { recursive: true });
    const file = join(this.profilesDir, `${name}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    const summary = {
      file,
      windowMs: durationMs,
      top: topSelfTime(profile as CpuProfile, 12),
      byArea: selfTimeByArea(profile as CpuProfile, 10),
    };
    this.log(
      'profile',
      `${name}: ${summary.top
        .slice(0, 4)
        .map((e) => `${e.function} ${e.selfPercent}%`)
        .join(', ')}`,
    );
    return summary;
  }

  addFigure(figure: Figure): void {
    this.figures.push(figure);
  }
}
