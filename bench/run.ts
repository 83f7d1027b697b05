import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { DEFAULT_POOL_SIZE } from '../src/db/connection.ts';
import { DEFAULT_LIMITS } from '../src/realtime/realtime.ts';
import { nowMs } from './lib/clock.ts';
import { BenchContext, type BenchOptions, type BenchContext as Ctx } from './lib/context.ts';
import { createScratchDatabase, listBenchDatabases, serverSettings } from './lib/database.ts';
import { type Mode, planWithOverrides, SCENARIOS, type ScenarioName } from './lib/plan.ts';
import { findProcess, machineCpuSeconds } from './lib/proc.ts';
import { formatWithBiome, renderMarkdown, renderTable } from './lib/report.ts';
import { REPO_ROOT } from './lib/service.ts';
import { runFanout } from './scenarios/fanout.ts';
import { runFootprint } from './scenarios/footprint.ts';
import { runGuard } from './scenarios/guard.ts';
import { runHistory } from './scenarios/history.ts';
import { runIdle } from './scenarios/idle.ts';
import { runLatency } from './scenarios/latency.ts';
import { runLists } from './scenarios/lists.ts';
import { runReports } from './scenarios/reports.ts';
import { runRest } from './scenarios/rest.ts';
import { runSearch } from './scenarios/search.ts';
import { runSend } from './scenarios/send.ts';
import { runTeams } from './scenarios/teams.ts';
import { runWebhooks } from './scenarios/webhooks.ts';

const HELP = `npm run bench [-- options]

Measures the service against floors taken in the same run on the same machine
(bare mysql2, a bare ws server, Fastify's hello world) and writes
bench/results/<date>.json and bench/RESULTS.md. The service is started by the
benchmark (node src/main.ts, DEBUG=False, REDIS_URL="") against a scratch
database bench_* on the MySQL/MariaDB server, which is dropped at the end.
Load generators are separate processes on loopback. No timing ever fails.

Scenarios (in this order): ${SCENARIOS.join(', ')}
  footprint resident memory of an idle instance vs Fastify hello world on the same Node
  rest     requests/s of GET /api/conversations/ vs Fastify hello world
  send     durable send throughput (closed loop per concurrency) vs bare mysql2 transaction
  latency  send → deliver p50/p99/p99.9 at half the send maximum, 1,000 pairs + 10 admins
  guard    the content guard's precision / recall on test/fixtures/guard-corpus.tsv and its µs per
           message, beside the send path's µs per message (when send ran too)
  fanout   deliveries/s to 10/100/1,000 admins vs a bare ws broadcaster
  idle     memory and CPU per idle authenticated WebSocket (10k; 50k in --full)
  history  GET …/messages first and deep page of a 1,000,000-message conversation vs the bare SELECT
  lists    another user's p99 and 503s while one buyer hammers every list (300,000 messages) vs that user alone
  search   GET /api/search/messages p50/p99 (rare term, common term, one conversation) on 300,000 Chinese
           messages (10,000,000 in --full) vs the bare index query; the index's size beside the messages table
  webhooks durable send with one endpoint subscribed to message.created (delivered meanwhile to an HTTPS
           receiver on loopback) vs the bare send transaction + outbox insert; commit → receipt p50/p99;
           events/s draining a committed backlog
  teams    automatic assignment: 200 buyers write to one shop of 20 agents (capacity 10) going on- and offline;
           buyer's message → assigned p50/p99, and the most conversations one agent ever held
  reports  a team's 90-day response-time report (per day, per agent) p50/p99 on 200,000 messages
           (1,000,000 in --full), computed by the backfill (its messages/s), vs the bare SQL it runs

Options:
  --full               longer and larger (about 30 minutes; 10M-row history table, 50k idle)
  --smoke              seconds-long check that the harness works; numbers meaningless;
                       results go to a temporary folder and RESULTS.md is left alone
  --only a,b           run only these scenarios (e.g. --only send,fanout)
  --mysql-url URL      server for the scratch database (default $BENCH_MYSQL_URL or
                       mysql://root@127.0.0.1:3306/)
  --profile            take a CPU profile of the service per scenario (default in --full)
  --no-profile         never profile
  --no-inspect         run the service without --inspect (no GC before memory readings,
                       no event-loop delay, no profiles)
  --latency-rate N     messages/s for the latency scenario (default: half the send maximum)
  --out DIR            where results go, RESULTS.md included (default: bench/results, and
                       the summary to bench/RESULTS.md)
  --no-summary         write no RESULTS.md
  --keep-db            keep the scratch database (its name is printed)
  --db NAME            use the database NAME (bench_…), created if missing, and keep it; only
                       with --only search, which then reuses a table it loaded earlier for the
                       same plan (the full load took 45 minutes here): drop it when done
  --note TEXT          a remark stored with the results and shown in RESULTS.md
  -h, --help           this text

Environment:
  BENCH_MYSQL_URL      as --mysql-url
  BENCH_PLAN           JSON replacing parts of the mode's sizes and durations (bench/lib/plan.ts),
                       e.g. BENCH_PLAN='{"idle":{"counts":[20000]},"history":{"messages":200000}}'
                       (results record the plan used)
`;

/** Share of the machine's CPU time the hypervisor gave to other guests between two readings (noise). */
function stolenPercent(
  from: ReturnType<typeof machineCpuSeconds>,
  to: ReturnType<typeof machineCpuSeconds>,
): number | null {
  if (!from || !to || to.total <= from.total) return null;
  return Math.round(((to.stolen - from.stolen) / (to.total - from.total)) * 1000) / 10;
}

function parseOptions(): BenchOptions {
  const { values } = parseArgs({
    options: {
      full: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      only: { type: 'string' },
      'mysql-url': { type: 'string' },
      profile: { type: 'boolean' },
      'no-profile': { type: 'boolean', default: false },
      'no-inspect': { type: 'boolean', default: false },
      'latency-rate': { type: 'string' },
      out: { type: 'string' },
      'no-summary': { type: 'boolean', default: false },
      'keep-db': { type: 'boolean', default: false },
      db: { type: 'string' },
      note: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  if (values.full && values.smoke) throw new Error('--full and --smoke exclude each other');
  const mode: Mode = values.full ? 'full' : values.smoke ? 'smoke' : 'quick';
  const only = values.only
    ? values.only.split(',').map((name) => {
        const trimmed = name.trim();
        if (!(SCENARIOS as readonly string[]).includes(trimmed)) {
          throw new Error(`unknown scenario "${trimmed}"; scenarios: ${SCENARIOS.join(', ')}`);
        }
        return trimmed as ScenarioName;
      })
    : [...SCENARIOS];
  if (values.db !== undefined && (only.length !== 1 || only[0] !== 'search')) {
    // Other scenarios seed fixed ids: a second run into the same database would collide.
    throw new Error('--db goes with --only search');
  }
  const inspect = !values['no-inspect'];
  const rate = values['latency-rate'] === undefined ? null : Number(values['latency-rate']);
  if (rate !== null && !(rate > 0)) throw new Error('--latency-rate must be a positive number');
  return {
    mode,
    only: SCENARIOS.filter((s) => only.includes(s)),
    mysqlUrl: values['mysql-url'] ?? process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/',
    profile: inspect && !values['no-profile'] && (values.profile ?? mode === 'full'),
    inspect,
    outDir: values.out ?? (mode === 'smoke' ? join(tmpdir(), 'chat-bench-smoke') : join(REPO_ROOT, 'bench/results')),
    // An explicit --out is a side run: its summary stays beside its results.
    summaryFile:
      values['no-summary'] || mode === 'smoke'
        ? null
        : values.out !== undefined
          ? join(values.out, 'RESULTS.md')
          : join(REPO_ROOT, 'bench/RESULTS.md'),
    keepDatabase: values['keep-db'] || values.db !== undefined,
    database: values.db ?? null,
    note: values.note ?? null,
    latencyRate: rate,
  };
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

function packageVersion(name: string): string | null {
  try {
    return JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

function fileLimits(): { soft: number | null; hard: number | null } {
  try {
    const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return { soft: line ? Number(line[1]) : null, hard: line ? Number(line[2]) : null };
  } catch {
    return { soft: null, hard: null };
  }
}

function stamp(date: Date): string {
  return date.toISOString().replace(/\..*$/, 'Z').replaceAll(':', '-');
}

const RUNNERS: Record<ScenarioName, (ctx: Ctx) => Promise<void>> = {
  footprint: runFootprint,
  rest: runRest,
  send: runSend,
  latency: runLatency,
  guard: runGuard,
  fanout: runFanout,
  idle: runIdle,
  history: runHistory,
  lists: runLists,
  search: runSearch,
  webhooks: runWebhooks,
  teams: runTeams,
  reports: runReports,
};

async function main(): Promise<void> {
  const options = parseOptions();
  const plan = planWithOverrides(options.mode, process.env.BENCH_PLAN);
  const started = new Date();
  const cpuAtStart = machineCpuSeconds();
  console.log(
    `bench: ${options.mode} mode, scenarios ${options.only.join(', ')}; ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );

  const probe = await mysql.createConnection(options.mysqlUrl).catch((error: unknown) => {
    throw new Error(
      `cannot reach MySQL/MariaDB at ${options.mysqlUrl}: ${error instanceof Error ? error.message : error}`,
    );
  });
  const settings = await serverSettings(probe);
  const leftovers = await listBenchDatabases(probe);
  await probe.end();
  if (leftovers.length) console.log(`bench: note: bench_* databases already on the server: ${leftovers.join(', ')}`);

  const runDir = mkdtempSync(join(tmpdir(), 'chat-bench-'));
  mkdirSync(join(runDir, 'media'), { recursive: true });
  const db = await createScratchDatabase(options.mysqlUrl, options.database ?? undefined);
  const mysqldPid = findProcess(['mariadbd', 'mysqld']);
  const ctx = new BenchContext(options, plan, runDir, db, mysqldPid);
  ctx.log(
    'setup',
    `scratch database ${db.name} migrated; service logs in ${runDir}; mysqld pid ${mysqldPid ?? 'not visible'}`,
  );

  let interrupted = false;
  const cleanup = async () => {
    for (const worker of ctx.workers) worker.child.kill('SIGKILL');
    await ctx.stopService().catch(() => {});
    if (!options.keepDatabase) await db.drop().catch(() => {});
    else await db.close().catch(() => {});
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true;
      console.log(
        `\nbench: ${signal}; stopping the service and the load generators, ${options.keepDatabase ? 'keeping' : 'dropping'} ${db.name}`,
      );
      void cleanup().finally(() => process.exit(130));
    });
  }

  const scenarioErrors: Record<string, string> = {};
  const timings: Record<string, number> = {};
  try {
    for (const name of options.only) {
      if (interrupted) break;
      const t0 = nowMs();
      ctx.log(name, '— start');
      try {
        await RUNNERS[name](ctx);
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        scenarioErrors[name] = message;
        ctx.log(name, `FAILED: ${message.split('\n').slice(0, 3).join(' | ')}`);
        await ctx.closeFixtures().catch(() => {});
      }
      timings[name] = Math.round((nowMs() - t0) / 100) / 10;
      ctx.log(name, `— done in ${timings[name]} s`);
    }
  } finally {
    await cleanup();
  }

  const finished = new Date();
  const results = {
    schema: 1,
    mode: options.mode,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: Math.round((finished.getTime() - started.getTime()) / 1000),
    argv: process.argv.slice(2),
    note: options.note,
    scenarios: options.only,
    timings,
    errors: scenarioErrors,
    machine: {
      cpuModel: cpus()[0]?.model ?? null,
      cores: cpus().length,
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      kernel: release(),
      loadAverageAtStart: loadavg(),
      stolenPercent: stolenPercent(cpuAtStart, machineCpuSeconds()),
      openFileLimit: fileLimits(),
    },
    versions: {
      node: process.version,
      fastify: packageVersion('fastify'),
      ws: packageVersion('ws'),
      '@fastify/websocket': packageVersion('@fastify/websocket'),
      mysql2: packageVersion('mysql2'),
      kysely: packageVersion('kysely'),
      database: `${settings.version ?? '?'} (${settings.version_comment ?? ''})`,
      commit: git(['rev-parse', '--short', 'HEAD']),
      uncommittedChanges: (git(['status', '--porcelain', '--', 'src']) ?? '') !== '',
    },
    settings: {
      database: settings,
      servicePoolSize: DEFAULT_POOL_SIZE,
      heartbeatIntervalMs: DEFAULT_LIMITS.heartbeatIntervalMs,
      wsRateLimit: DEFAULT_LIMITS.rateLimit,
      serviceEnvironment: ctx.results.serviceEnvironment ?? null,
      serviceLogging: 'pino at info (one line per request), written to a file',
      inspector: options.inspect,
      profiled: options.profile,
      plan,
    },
    figures: ctx.figures,
    results: ctx.results,
  };
  mkdirSync(options.outDir, { recursive: true });
  const file = join(options.outDir, `${options.mode === 'smoke' ? 'smoke-' : ''}${stamp(started)}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n${renderTable(results)}\n`);
  console.log(`bench: results written to ${file}`);
  const written = [file];
  if (options.summaryFile) {
    const summary = options.summaryFile;
    writeFileSync(summary, renderMarkdown(results, file));
    written.push(summary);
    console.log(`bench: summary written to ${summary}`);
  }
  formatWithBiome(REPO_ROOT, written);
  rmSync(runDir, { recursive: true, force: true });
  if (Object.keys(scenarioErrors).length) {
    console.log(
      `bench: scenarios that failed to run: ${Object.keys(scenarioErrors).join(', ')} (see the results file)`,
    );
  }
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
