import mysql from 'mysql2/promise';
import { uuidv7 } from '../../src/lib/ids.ts';
import { dailyRows } from '../../src/modules/reports/report.repository.ts';
import { backfillReports } from '../../src/modules/reports/report-backfill.ts';
import type { BenchContext } from '../lib/context.ts';
import { explain, insertConversations, insertUsers, withoutSecondaryKeys } from '../lib/database.ts';
import { cpuLine, diagnose } from '../lib/diagnose.ts';
import { Histogram, round } from '../lib/histogram.ts';
import { xorshift32 } from '../lib/random.ts';
import { bareQueryWindow, planLine, serviceReadWindow } from '../lib/read-windows.ts';
import { recordQueries } from '../lib/send-transaction.ts';

/**
 * Response-time reports (issue 14): one shop's team with `agents` agents and a
 * history of `messages` messages over `days` days (each conversation alternates
 * a buyer's message and an agent's answer 5–400 s later), counted by the backfill
 * (the follower's own rounds: its messages/s is a figure too), then the 90-day
 * report — per day and per agent — one request at a time: p50 / p99 beside the
 * floor, the bare SQL the report runs (its daily rows, recorded from the
 * repository) on one mysql2 connection. The report reads days × members rows and
 * never a message, so its cost does not grow with the messages.
 */

const P99_GOAL_MS = 50;
const SHOP = 'rm0001';
/** Messages per conversation (half the buyer's). */
const PER_CONVERSATION = 20;
const DAY = 86_400;

const pad = (n: number, width = 6) => String(n).padStart(width, '0');

interface Seeded {
  messages: number;
  conversations: number;
  from: string;
  to: string;
  seedSeconds: number;
  backfillSeconds: number;
}

async function seed(ctx: BenchContext): Promise<Seeded> {
  const plan = ctx.plan.reports;
  const db = ctx.db.db;
  const conversationCount = Math.max(1, Math.floor(plan.messages / PER_CONVERSATION));
  const agents = Array.from({ length: plan.agents }, (_, i) => `ra${pad(i + 1, 4)}`);
  const buyers = Array.from({ length: conversationCount }, (_, i) => `rb${pad(i + 1)}`);
  const started = Date.now();
  ctx.log(
    'reports',
    `seeding ${plan.messages.toLocaleString('en')} messages in ${conversationCount.toLocaleString('en')} conversations of one team (${plan.agents} agents) over ${plan.days} days`,
  );
  await insertUsers(db, [
    { id: SHOP, role: 'merchant' },
    ...agents.map((id) => ({ id, role: 'merchant' as const })),
    ...buyers.map((id) => ({ id, role: 'buyer' as const })),
  ]);
  await db.deleteFrom('teams').where('owner_id', 'in', agents).execute();
  await db.updateTable('users').set({ team_id: SHOP, team_role: 'agent' }).where('id', 'in', agents).execute();
  const conversations = await insertConversations(
    db,
    buyers.map((buyer) => [buyer, SHOP] as [string, string]),
  );
  // The last `days` whole days before today (UTC): the report's range.
  const end = Math.floor(Date.now() / 1000 / DAY) * DAY;
  const start = end - plan.days * DAY;
  // The same history every run.
  const next = xorshift32(2024);
  const restoreMessages = await withoutSecondaryKeys(ctx.db.url, 'messages');
  const connection = await mysql.createConnection({ uri: ctx.db.url, charset: 'utf8mb4_unicode_ci' });
  let written = 0;
  let lastReport = Date.now();
  try {
    const BATCH = 100; // conversations per INSERT: 2,000 messages
    for (let from = 0; from < conversations.length; from += BATCH) {
      const rows: unknown[][] = [];
      for (const conversation of conversations.slice(from, from + BATCH)) {
        const buyer = conversation.participant1 === SHOP ? conversation.participant2 : conversation.participant1;
        const agent = agents[next() % agents.length] as string;
        let at = start + (next() % ((plan.days - 1) * DAY));
        for (let seq = 1; seq <= PER_CONVERSATION; seq++) {
          const fromBuyer = seq % 2 === 1;
          at += fromBuyer ? 60 + (next() % 3_000) : 5 + (next() % 400);
          const id = uuidv7(at * 1000);
          rows.push([
            id,
            conversation.id,
            seq,
            fromBuyer ? buyer : agent,
            fromBuyer ? '请问什么时候发货？' : '今天下午发出',
            'text',
            null,
            null,
            1,
            at,
          ]);
        }
      }
      await connection.query(
        'INSERT INTO messages (id, conversation_id, seq, sender_id, content, message_type, filename, client_msg_id, is_read, created_at) VALUES ?',
        [rows],
      );
      written += rows.length;
      if (Date.now() - lastReport > 5_000) {
        lastReport = Date.now();
        ctx.log('reports', `seeded ${written.toLocaleString('en')} / ${plan.messages.toLocaleString('en')} messages`);
      }
    }
    // Caught up for search (nothing for the server's indexer); behind for the reports (report_seq 0).
    await connection.query(
      'UPDATE conversations SET last_seq = ?, message_count = ?, search_seq = ? WHERE team_id = ?',
      [PER_CONVERSATION, PER_CONVERSATION, PER_CONVERSATION, SHOP],
    );
  } finally {
    await connection.end();
  }
  ctx.log('reports', 'building the indexes');
  await restoreMessages();
  const seedSeconds = round((Date.now() - started) / 1000, 1);
  const backfillStarted = Date.now();
  let lastProgress = Date.now();
  const result = await backfillReports(db, {
    onProgress: (p) => {
      if (Date.now() - lastProgress < 5_000) return;
      lastProgress = Date.now();
      ctx.log(
        'reports',
        `backfill: ${p.messages.toLocaleString('en')} messages counted, ${p.behind.toLocaleString('en')} conversations behind`,
      );
    },
  });
  const backfillSeconds = round((Date.now() - backfillStarted) / 1000, 1);
  ctx.log(
    'reports',
    `backfill counted ${result.messages.toLocaleString('en')} messages in ${backfillSeconds} s (${Math.round(result.messages / Math.max(backfillSeconds, 0.001)).toLocaleString('en')} messages/s)`,
  );
  const day = (unix: number) => new Date(unix * 1000).toISOString().slice(0, 10);
  return {
    messages: written,
    conversations: conversations.length,
    from: day(start),
    to: day(end - DAY),
    seedSeconds,
    backfillSeconds,
  };
}

export async function runReports(ctx: BenchContext): Promise<void> {
  const plan = ctx.plan.reports;
  const seeded = await seed(ctx);
  ctx.addFigure({
    scenario: 'reports',
    name: `Reports backfill, ${seeded.messages.toLocaleString('en')} messages of one team (the follower's rounds)`,
    value: `${Math.round(seeded.messages / Math.max(seeded.backfillSeconds, 0.001)).toLocaleString('en')} messages/s`,
    floor: '—',
    ratio: null,
    goal: '—',
    met: null,
    limitedBy: `${seeded.backfillSeconds} s in the benchmark's process, rounds of 2,000 messages`,
  });
  const service = await ctx.ensureService({ fresh: true });
  await ctx.quiesce('reports');
  const token = await ctx.token(SHOP, 'merchant');
  const loader = ctx.startWorker('http-load', 'workers/http-load.ts');
  const floor = ctx.startWorker('floor', 'workers/mysql-floor.ts');
  try {
    await floor.call('init', { mysqlUrl: ctx.db.url, conversations: [] });
    const [statement] = await recordQueries((db) => dailyRows(db, { teamId: SHOP, from: seeded.from, to: seeded.to }));
    if (!statement) throw new Error('no statement recorded');
    const measured: Record<string, unknown> = {};
    for (const group of ['day', 'agent'] as const) {
      const path = `/api/reports/teams/${SHOP}?from=${seeded.from}&to=${seeded.to}&group=${group}`;
      const svc = await serviceReadWindow(ctx, {
        loader,
        port: service.port,
        token,
        paths: [path],
        what: 'report requests',
        window: plan,
      });
      const bare = await bareQueryWindow(ctx, {
        floor,
        sql: statement.sql,
        params: [statement.parameters as unknown[]],
        window: plan,
      });
      const s = Histogram.from(svc.result.latency).summary();
      const b = Histogram.from(bare.result.latency).summary();
      const row = await explain(ctx.db.url, statement.sql, statement.parameters as unknown[]);
      const queryPlan = `database plan: ${planLine(row)}`;
      ctx.log(
        'reports',
        `${plan.days}-day report per ${group}: service p50 ${s.p50} p99 ${s.p99} ms (${s.count} requests), bare SQL p50 ${b.p50} p99 ${b.p99} ms (${bare.result.rows} daily rows); ${cpuLine(svc.cpu)}`,
      );
      const limitedBy = diagnose(svc, { operations: s.count, generatorLoopDelayP99: svc.result.loopDelay.p99 });
      measured[group] = {
        path,
        statement: statement.sql,
        plan: queryPlan,
        dailyRows: bare.result.rows ?? null,
        service: { latency: s, cpu: svc.cpu, db: svc.db, serverLoopDelay: svc.serverLoopDelay },
        bare: { latency: b, cpu: bare.cpu },
        limitedBy,
      };
      ctx.addFigure({
        scenario: 'reports',
        name: `Team report, ${plan.days} days per ${group}, ${seeded.messages.toLocaleString('en')}-message team (p50 / p99)`,
        value: `${s.p50} / ${s.p99} ms`,
        floor: `${b.p50} / ${b.p99} ms bare SQL (${bare.result.rows} daily rows)`,
        ratio: s.p99 && b.p99 ? round(s.p99 / b.p99, 2) : null,
        goal: `p99 < ${P99_GOAL_MS} ms`,
        met: s.p99 !== null && s.p99 < P99_GOAL_MS,
        limitedBy: `${limitedBy}; ${queryPlan}`,
      });
    }
    ctx.results.reports = { seed: seeded, cases: measured };
  } finally {
    await ctx.stopWorkers([loader, floor]);
  }
}
