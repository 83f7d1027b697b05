import { execFileSync } from 'node:child_process';
import { basename, isAbsolute, join, relative } from 'node:path';
import { REPO_ROOT } from './service.ts';

/**
 * Renders a results file: the console table at the end of a run, and
 * bench/RESULTS.md (the summary the README links). Works on the JSON alone,
 * so `node bench/report.ts <file>` can re-render any earlier run.
 */

type Results = any;

const dash = (value: unknown) => (value === null || value === undefined || value === '' ? '—' : String(value));
const metMark = (met: boolean | null | undefined) => (met === true ? 'yes' : met === false ? '**no**' : '—');
const cell = (value: unknown) => dash(value).replaceAll('|', '\\|').replaceAll('\n', ' ');

function table(headers: string[], rows: unknown[][]): string {
  return [
    `| ${headers.join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}

const pct = (share: { percent: number } | undefined) => (share ? `${share.percent}%` : '—');

function generatorsCpu(cpu: any): string {
  if (!cpu) return '—';
  let total = 0;
  for (const [name, share] of Object.entries(cpu.processes ?? {})) {
    if (name.startsWith('gen:')) total += (share as { percent: number }).percent;
  }
  return `${Math.round(total * 10) / 10}%`;
}

function cpuCells(cpu: any, server = 'server'): string[] {
  return [
    pct(cpu?.processes?.[server]),
    pct(cpu?.processes?.mysqld),
    generatorsCpu(cpu),
    cpu?.machine ? `${cpu.machine.percent}% (other ${cpu.other?.percent ?? '?'}%)` : '—',
  ];
}

const lat = (l: any) => (l ? `${dash(l.p50)} / ${dash(l.p99)}` : '—');
const lat3 = (l: any) => (l ? `${dash(l.p50)} / ${dash(l.p99)} / ${dash(l.p999)}` : '—');

/** The console table printed at the end of a run. */
export function renderTable(results: Results): string {
  const figures: any[] = results.figures ?? [];
  if (figures.length === 0)
    return 'bench: no figures (every selected scenario failed; see the errors in the results file)';
  const lines = figures.map((f) => [
    f.name,
    f.value,
    f.floor,
    f.ratio === null ? '—' : String(f.ratio),
    f.goal ?? '—',
    f.met === true ? 'yes' : f.met === false ? 'NO' : '—',
  ]);
  const header = ['figure', 'service', 'floor', 'ratio', 'goal', 'met'];
  const out: string[] = [];
  out.push(
    `${results.mode === 'smoke' ? 'SMOKE RUN: numbers only show that the harness works\n' : ''}${'='.repeat(100)}`,
  );
  for (const [i, line] of lines.entries()) {
    out.push(`${header[0]}: ${line[0]}`);
    for (let k = 1; k < header.length; k++) out.push(`    ${header[k]?.padEnd(8)} ${line[k]}`);
    const limit = figures[i]?.limitedBy;
    if (limit) out.push(`    bounds   ${limit}`);
    out.push('-'.repeat(100));
  }
  return out.join('\n');
}

function machineSection(r: Results): string {
  const db = r.settings?.database ?? {};
  const v = r.versions ?? {};
  const m = r.machine ?? {};
  const env = r.settings?.serviceEnvironment ?? {};
  const rows: [string, string][] = [
    ['Machine', `${dash(m.cpuModel)}, ${dash(m.cores)} cores, ${dash(m.memoryGiB)} GiB, Linux ${dash(m.kernel)}`],
    ['Load average at start', (m.loadAverageAtStart ?? []).map((x: number) => x.toFixed(2)).join(', ')],
    [
      'CPU stolen by the hypervisor during the run',
      m.stolenPercent === undefined || m.stolenPercent === null ? '—' : `${m.stolenPercent}% of all CPU time (noise)`,
    ],
    ['Open-file limit (soft / hard)', `${dash(m.openFileLimit?.soft)} / ${dash(m.openFileLimit?.hard)}`],
    ['Node.js', dash(v.node)],
    [
      'Libraries',
      `fastify ${dash(v.fastify)}, ws ${dash(v.ws)}, @fastify/websocket ${dash(v['@fastify/websocket'])}, mysql2 ${dash(v.mysql2)}, kysely ${dash(v.kysely)}`,
    ],
    ['Database', dash(v.database)],
    [
      'Database settings (server defaults, untouched)',
      `innodb_flush_log_at_trx_commit=${dash(db.innodb_flush_log_at_trx_commit)} (durable commits), sync_binlog=${dash(db.sync_binlog)}, log_bin=${dash(db.log_bin)}, innodb_doublewrite=${dash(db.innodb_doublewrite)}, innodb_flush_method=${dash(db.innodb_flush_method)}, innodb_buffer_pool_size=${db.innodb_buffer_pool_size ? `${Math.round(Number(db.innodb_buffer_pool_size) / 2 ** 20)} MiB` : '—'}, max_connections=${dash(db.max_connections)}`,
    ],
    [
      'Service',
      `node src/main.ts as its own process: DEBUG=${dash(env.DEBUG)}, REDIS_URL="${dash(env.REDIS_URL) === '—' ? '' : env.REDIS_URL}" (in-process fan-out), HOST=${dash(env.HOST)}; database pool ${dash(r.settings?.servicePoolSize)} connections; ${dash(r.settings?.serviceLogging)}; heartbeat ${dash(r.settings?.heartbeatIntervalMs)} ms; WebSocket send limit ${dash(r.settings?.wsRateLimit?.perSecond)}/s per connection (burst ${dash(r.settings?.wsRateLimit?.burst)}); inspector ${r.settings?.inspector ? 'on (127.0.0.1, idle unless the benchmark asks)' : 'off'}`,
    ],
    ['Commit', `${dash(v.commit)}${v.uncommittedChanges ? ' (with uncommitted changes in src/)' : ''}`],
    [
      'Run',
      `${r.mode} mode, ${r.startedAt} → ${r.finishedAt} (${r.durationSeconds} s); scenarios ${(r.scenarios ?? []).join(', ')}${r.settings?.profiled ? '; profiled' : ''}`,
    ],
  ];
  if (r.note) rows.push(['Note', r.note]);
  return table(['', ''], rows);
}

function restSection(rest: any): string {
  if (!rest) return '';
  return `### REST baseline

Closed loop, ${rest.connections} keep-alive connections from one generator process (raw HTTP/1.1).

${table(
  ['', 'req/s', 'p50 / p99 ms', 'server CPU', 'mysqld CPU', 'generators CPU', 'machine CPU'],
  [
    [
      'Service: GET /api/conversations/ (20 conversations)',
      rest.service.requestsPerSecond,
      lat(rest.service.latency),
      ...cpuCells(rest.service.cpu),
    ],
    [
      'Fastify hello world',
      rest.helloWorld.requestsPerSecond,
      lat(rest.helloWorld.latency),
      ...cpuCells(rest.helloWorld.cpu, 'hello'),
    ],
  ],
)}

Bounded by: ${dash(rest.limitedBy)}. Hello world: ${dash(rest.helloLimitedBy)}.
`;
}

function sendSection(send: any): string {
  if (!send) return '';
  const rows = send.steps.map((s: any) => [
    s.concurrency,
    s.service.messagesPerSecond,
    lat(s.service.deliver),
    s.service.admins.latency?.p99,
    s.service.sustained ? 'yes' : 'no',
    s.floor.transactionsPerSecond,
    lat(s.floor.latency),
    s.floor.transactionsPerSecond
      ? Math.round((s.service.messagesPerSecond / s.floor.transactionsPerSecond) * 1000) / 1000
      : '—',
    ...cpuCells(s.service.cpu),
    s.service.statementsPerMessage,
    s.service.messagesPerCommit ?? '—',
  ]);
  return `### Durable send throughput

Closed loop: at concurrency c, c sends in flight, each a WebSocket \`message\` frame from one of the ${send.pairs} connected buyer–merchant pairs in turn; a send completes when the sender has its \`ack\` and the recipient its push. ${send.admins} admins online receive every message. Sustained: delivery p99 < ${send.sustainedP99Ms} ms to the recipient and to the admins, no error, nothing lost. Floor: the service's own one-message send transaction (its statements recorded from \`appendMessages\` with one message) on c bare mysql2 connections, one transaction per message. The service's database pool has ${send.servicePoolSize} connections; concurrent sends share a transaction (group commit, at most ${send.batching?.maxConcurrent ?? '—'} send transactions at once, so "msg / commit" is the mean batch). The headline ratio compares the service's best sustained rate with the floor's best rate at any concurrency.

${table(
  [
    'c',
    'service msg/s',
    'deliver p50 / p99 ms',
    'admins p99 ms',
    'sustained',
    'floor tx/s',
    'floor p50 / p99 ms',
    'ratio',
    'server CPU',
    'mysqld CPU',
    'generators CPU',
    'machine CPU',
    'SQL / msg',
    'msg / commit',
  ],
  rows,
)}

${send.steps.map((s: any) => `- c=${s.concurrency}: ${dash(s.service.limitedBy)}`).join('\n')}
`;
}

function latencySection(l: any): string {
  if (!l) return '';
  return `### Send → deliver latency

Open loop at ${l.rate} msg/s (${l.rateSource}): messages leave on schedule from the ${l.pairs} connected pairs in turn, ${l.admins} admins online. Latency from the sender's send to the recipient's receipt (same process, one clock); "from schedule" counts from each message's scheduled send time (coordinated omission corrected). Floor: the bare transaction at the same rate on a pool of ${l.floor.poolSize}, timed from its scheduled start.

${table(
  ['', 'p50 / p99 / p99.9 ms', 'count'],
  [
    ['Service: send → recipient', lat3(l.service.deliver), l.service.deliver.count],
    ['Service: from schedule', lat3(l.service.deliverFromScheduled), l.service.deliverFromScheduled.count],
    ['Service: send → ack', lat3(l.service.ack), l.service.ack.count],
    ['Service: send → admins (cross-process clock)', lat3(l.service.admins), l.service.admins.count],
    ['Floor: bare transaction, same rate', lat3(l.floor.latency), l.floor.latency.count],
    ['Floor: one transaction at a time', lat3(l.floorAlone.latency), l.floorAlone.latency.count],
  ],
)}

CPU during the service window: ${cpuCells(l.service.cpu)
    .join(' server, ')
    .replace(
      /, ([^,]*)$/,
      ', $1',
    )} (server, mysqld, generators, machine). Service event-loop delay p99: ${dash(l.service.serverLoopDelay?.p99)} ms. Bounded by: ${dash(l.limitedBy)}.
`;
}

function fanoutSection(f: any): string {
  if (!f) return '';
  const parts = f.perAdminCount.map((entry: any) => {
    const row = (server: string) => (s: any) => [
      server,
      s.rate,
      s.expectedPerSecond,
      s.deliveriesPerSecond,
      lat(s.latency),
      s.passed ? 'yes' : 'no',
      `${s.serverCpuPercent}%`,
      s.cpuMicrosecondsPerDelivery,
      s.cpu?.machine ? `${s.cpu.machine.percent}%` : '—',
    ];
    const rows = [...entry.service.map(row('service')), ...entry.bare.map(row('bare ws'))];
    return `#### ${entry.admins} admins${entry.bareNotSaturated ? ' (the bare server sustained every step tried: its maximum is higher)' : ''}

${table(['server', 'msg/s', 'due deliveries/s', 'delivered/s', 'p50 / p99 ms', 'sustained', 'server CPU', 'µs CPU / delivery', 'machine CPU'], rows)}
`;
  });
  return `### Fan-out

A step is sustained when at least ${Math.round(f.deliveredShare * 100)} % of the due deliveries arrive within the window with p99 under ${f.p99LimitMs} ms (and, for the service, every send succeeds). The service's stream is real sends from the connected pairs (each stored, acknowledged and pushed to the recipient and every admin); the bare server broadcasts a pre-serialised ${f.templateBytes}-byte message event to the same number of clients, starting at the service's best rate. Deliveries are counted by the receiving processes.

${parts.join('\n')}`;
}

function footprintSection(f: any): string {
  if (!f) return '';
  const row = (name: string, m: any) => [name, m.rssMB, m.heapUsedMB, m.externalMB];
  return `### Idle instance

A fresh service process after start-up, its readiness probe and one request, with no connection; beside Fastify's hello world (one route, no plugins) started the same way on the same Node (a TypeScript file, one request served). Resident set after full garbage collections, the median of ${f.readings} readings a second apart. Ratio ${dash(f.ratio)}.

${table(['', 'RSS MB', 'heap used MB', 'external MB'], [row('service', f.service), row('Fastify hello world', f.hello)])}
`;
}

function idleSection(idle: any): string {
  if (!idle) return '';
  const rows = idle.phases.flatMap((p: any) => [
    [
      `service, ${p.connections}${p.capped ? ' (capped)' : ''}`,
      p.service.perConnection.rssKB,
      p.service.perConnection.heapKB,
      p.service.perConnection.externalKB,
      p.service.kernel.slabKBPerConnection,
      p.cpu.serviceMsPerSecond,
      p.connectPerSecond.service,
    ],
    [
      `bare ws, ${p.connections}`,
      p.bare.perConnection.rssKB,
      p.bare.perConnection.heapKB,
      p.bare.perConnection.externalKB,
      p.bare.kernel.slabKBPerConnection,
      p.cpu.bareMsPerSecond,
      p.connectPerSecond.bare,
    ],
  ]);
  return `### Idle connections

Distinct authenticated users (no conversations), sockets held by client processes bound to several loopback source addresses, ${idle.socketsPerClientProcess} per process. Memory: growth of the resident set after full garbage collections (via the inspector), per connection; kernel: growth of the machine's slab memory per connection, both loopback ends, machine-wide (approximate). CPU: over ${idle.phases[0]?.cpu.windowSeconds ?? '?'} s, whole heartbeat periods of ${idle.phases[0]?.cpu.heartbeatSeconds ?? '?'} s. Open-file limit: ${idle.openFileLimit}.

${table(['', 'RSS KB/conn', 'heap KB/conn', 'external KB/conn', 'kernel slab KB/conn', 'CPU ms/s', 'connects/s'], rows)}

${idle.phases
  .map((p: any) => (p.capped ? `- ${p.target}: ${p.capped}` : ''))
  .filter(Boolean)
  .join('\n')}
`;
}

function historySection(h: any): string {
  if (!h) return '';
  const rows = Object.entries(h.cases).map(([name, c]: [string, any]) => [
    name,
    c.pages,
    lat3(c.service.latency),
    lat3(c.bare.latency),
    lat3(c.oneSided?.latency),
    c.service.latency.p99 && c.bare.latency.p99
      ? Math.round((c.service.latency.p99 / c.bare.latency.p99) * 100) / 100
      : '—',
    c.bufferPoolReadsFromDisk.service,
    ...cpuCells(c.service.cpu).slice(0, 2),
  ]);
  const seed = h.seed ?? {};
  return `### History paging

\`GET /api/conversations/{id}/messages?order=desc&page=N&page_size=${h.pageSize}\`, one request at a time, on a conversation of ${h.conversationMessages?.toLocaleString?.('en') ?? h.conversationMessages} messages${seed.otherConversations ? ` in a table with ${seed.otherConversations.toLocaleString('en')} other conversations of ${seed.perOther} messages (interleaved in time, so in the primary key)` : ''}. Seeded at ${dash(seed.rowsPerSecond)} rows/s. Floor: the SELECT the service issues for the page (\`${h.statement}\`) on one bare connection; for reference, the same page bounded on one side only (\`${dash(h.oneSidedStatement)}\`), which the database may answer by walking the index from the conversation's far end. Deep/first p99 (worst deep page): ${dash(h.deepOverFirstP99)}.

${table(['page', 'which', 'service p50 / p99 / p99.9 ms', 'bare p50 / p99 / p99.9 ms', 'one-sided reference p50 / p99 / p99.9 ms', 'p99 ratio', 'pages read from disk', 'server CPU', 'mysqld CPU'], rows)}

${Object.entries(h.cases)
  .map(([name, c]: [string, any]) => `- ${name}: ${dash(c.limitedBy)}; ${dash(c.plan)}`)
  .join('\n')}
`;
}

function profilesSection(r: Results): string {
  const found: [string, any][] = [];
  const res = r.results ?? {};
  for (const name of ['rest', 'send', 'latency', 'history', 'webhooks'])
    if (res[name]?.profile) found.push([name, res[name].profile]);
  for (const entry of res.fanout?.perAdminCount ?? [])
    if (entry.profile) found.push([`fanout ${entry.admins} admins`, entry.profile]);
  if (found.length === 0) return '';
  return `## Where the service's time goes (CPU profiles)

Each profile is an extra window after the scenario's measurements (profiling slows the server; no figure above was profiled). Self time; "(idle)" is the event loop waiting (for the database, the network), "(garbage collector)" is GC. Files: ${found.map(([, p]) => `\`${basename(p.file)}\``).join(', ')} (open in Chrome DevTools or speedscope).

${found
  .map(
    ([name, p]) => `#### ${name}

${table(
  ['self %', 'function', 'where'],
  p.top.slice(0, 10).map((e: any) => [e.selfPercent, e.function, e.location]),
)}

By area: ${p.byArea.map((a: any) => `${a.area} ${a.selfPercent}%`).join(', ')}
`,
  )
  .join('\n')}`;
}

const METHOD = `## Method and caveats

- Everything runs on the one machine described above: the service, MariaDB, the load generators and the reference servers share its cores, so each table shows every process's CPU and the machine's; "other" is CPU used by anything else running at the time (noise) and by the kernel outside these processes. A figure taken while "other" is high should be re-run.
- The service is a separate \`node src/main.ts\` process started by the benchmark with production settings (DEBUG=False, info logging, no Redis), against a scratch database \`bench_*\` migrated with the project's own migrations and dropped afterwards. The database server's settings are never changed (commits are durable: \`innodb_flush_log_at_trx_commit=1\`).
- Load generators are separate Node processes (bounded in number and lifetime), talking to 127.0.0.0/8 only. Latencies are measured by the receiving process; send → recipient latency uses one process's clock; admin latencies compare two processes' clocks (the same machine clock; skew in microseconds).
- Floors are measured in the same run: the service's own send transaction and history SELECT on bare mysql2 connections (statements recorded from the service's repository functions, so they are the same SQL), a bare \`ws\` server broadcasting a pre-serialised buffer and holding idle sockets with the same heartbeat, and Fastify's hello world.
- Ratios are service / floor: for throughputs higher is better, for latencies and memory lower is better.
- "SQL / msg" and similar per-operation database counts come from the server-wide \`Questions\` counter, so other clients of the same database server inflate them.
- Timings never fail anything: the goals are reported, not enforced.
`;

/** The results file as the summary names it: relative to the repository when inside it. */
function resultsLabel(file: string): string {
  const inRepo = relative(REPO_ROOT, file);
  return inRepo.startsWith('..') || isAbsolute(inRepo) ? file : inRepo;
}

export function renderMarkdown(results: Results, file: string): string {
  const r = results;
  const res = r.results ?? {};
  const figures: any[] = r.figures ?? [];
  const errors = Object.entries(r.errors ?? {});
  return `# Benchmark results

Generated by \`npm run bench${r.mode === 'full' ? ' -- --full' : ''}\` on ${r.startedAt?.slice(0, 10)} from \`${resultsLabel(file)}\`; do not edit by hand — run the benchmark again (or \`node bench/report.ts <results file>\`) to refresh it. How to run it and what each scenario does: [bench/README.md](README.md).

## Summary

${
  figures.length
    ? table(
        ['Figure', 'Service', 'Floor (same run, same machine)', 'Ratio', 'Goal', 'Met', 'What bounds it'],
        figures.map((f) => [f.name, f.value, f.floor, f.ratio, f.goal, metMark(f.met), f.limitedBy]),
      )
    : '_No figures: every selected scenario failed._'
}
${errors.length ? `\nScenarios that failed to run: ${errors.map(([name, message]) => `**${name}** (${String(message).split('\n')[0]})`).join('; ')}.\n` : ''}
## Machine and settings

${machineSection(r)}

## Scenarios

${[footprintSection(res.footprint), restSection(res.rest), sendSection(res.send), latencySection(res.latency), fanoutSection(res.fanout), idleSection(res.idle), historySection(res.history)].filter(Boolean).join('\n')}
${profilesSection(r)}
${METHOD}`;
}

/**
 * Formats written files with the project's Biome (its `lint` checks bench/**,
 * results included), when it is installed; silently does nothing otherwise.
 */
export function formatWithBiome(repoRoot: string, files: string[]): void {
  try {
    execFileSync(join(repoRoot, 'node_modules/.bin/biome'), ['format', '--write', ...files], {
      cwd: repoRoot,
      stdio: 'ignore',
    });
  } catch {
    // Not installed, or it declined: the files stay as written.
  }
}
