import { messagesBySeq } from '../../src/modules/messages/message.repository.ts';
import { sleep } from '../lib/clock.ts';
import type { BenchContext } from '../lib/context.ts';
import { SOURCE_ADDRESSES } from '../lib/context.ts';
import {
  bufferPoolDirty,
  explain,
  insertConversations,
  insertUsers,
  type SeededConversation,
  seedMessages,
} from '../lib/database.ts';
import { cpuLine, diagnose } from '../lib/diagnose.ts';
import { Histogram, round } from '../lib/histogram.ts';
import { bareQueryWindow, planLine, serviceReadWindow } from '../lib/read-windows.ts';
import { recordQueries } from '../lib/send-transaction.ts';

/**
 * History paging: GET /api/conversations/{id}/messages?order=desc&page_size=50
 * for the first page (the newest messages, what a client opens with) and the
 * deepest page (the oldest) of a conversation of 1,000,000 messages, one
 * request at a time, against the bare SELECT the service issues for that page
 * (recorded from the service's own messagesBySeq), on one mysql2 connection.
 * In --full the table also holds 9,000,000 messages of 9,000 other
 * conversations, interleaved in time, and random deep pages are measured too.
 */

const PAGE_SIZE = 50;

async function seed(ctx: BenchContext): Promise<SeededConversation> {
  if (ctx.shared.history) return ctx.shared.history as SeededConversation;
  const plan = ctx.plan.history;
  const others = plan.otherConversations;
  const otherBuyers = Array.from({ length: others }, (_, i) => `hx${String(i + 1).padStart(6, '0')}`);
  await insertUsers(ctx.db.db, [
    { id: 'hb0001', role: 'buyer' },
    { id: 'hm0001', role: 'merchant' },
    ...otherBuyers.map((id) => ({ id, role: 'buyer' as const })),
  ]);
  const [long] = await insertConversations(ctx.db.db, [['hb0001', 'hm0001']]);
  if (!long) throw new Error('no conversation');
  const otherConversations = await insertConversations(
    ctx.db.db,
    otherBuyers.map((buyer) => [buyer, 'hm0001'] as [string, string]),
  );
  const perOther = others ? Math.floor(plan.otherMessages / others) : 0;
  const total = plan.messages + perOther * others;
  ctx.log(
    'history',
    `seeding ${total.toLocaleString('en')} messages (${plan.messages.toLocaleString('en')} in one conversation${others ? `, ${perOther} in each of ${others} others` : ''})`,
  );
  const seeded = await seedMessages(
    ctx.db.url,
    [
      { conversation: long, count: plan.messages },
      ...otherConversations.map((conversation) => ({ conversation, count: perOther })),
    ],
    {
      onProgress: (done, all, step) =>
        ctx.log(
          'history',
          `seeded ${done.toLocaleString('en')} / ${all.toLocaleString('en')} messages${step ? `; ${step}` : ''}`,
        ),
    },
  );
  ctx.log(
    'history',
    `seeded ${seeded.rows.toLocaleString('en')} rows in ${seeded.seconds} s (${seeded.rowsPerSecond.toLocaleString('en')} rows/s)`,
  );
  ctx.shared.history = long;
  ctx.shared.historyJustSeeded = seeded.rows >= 100_000;
  ctx.shared.historySeed = { ...seeded, longConversation: plan.messages, otherConversations: others, perOther };
  return long;
}

export async function runHistory(ctx: BenchContext): Promise<void> {
  const plan = ctx.plan.history;
  const conversation = await seed(ctx);
  const service = await ctx.ensureService({ fresh: true });
  await ctx.quiesce('history');
  // After our bulk load InnoDB flushes dirty pages in the background for a while: let it, within
  // reason (until under 15 % of the pool, no longer draining, or the time is up).
  if (ctx.shared.historyJustSeeded) {
    ctx.shared.historyJustSeeded = false;
    const flushDeadline = Date.now() + (ctx.options.mode === 'full' ? 180_000 : 30_000);
    let previous = Number.POSITIVE_INFINITY;
    let stalled = 0;
    for (;;) {
      const { dirty, total } = await bufferPoolDirty(ctx.admin);
      stalled = dirty >= previous * 0.98 ? stalled + 1 : 0;
      previous = dirty;
      if (total === 0 || dirty / total < 0.15 || stalled >= 3) break;
      if (Date.now() > flushDeadline) {
        ctx.log('history', `InnoDB still flushing (${dirty} of ${total} buffer-pool pages dirty); measuring anyway`);
        break;
      }
      await sleep(1000);
    }
  }
  const token = await ctx.token('hb0001', 'buyer');
  const loader = ctx.startWorker('http-load', 'workers/http-load.ts');
  const floor = ctx.startWorker('floor', 'workers/mysql-floor.ts');
  try {
    await floor.call('init', { mysqlUrl: ctx.db.url, conversations: [] });
    const count = plan.messages;
    const lastPage = Math.ceil(count / PAGE_SIZE);
    const pathOf = (page: number) =>
      `/api/conversations/${conversation.id}/messages?order=desc&page=${page}&page_size=${PAGE_SIZE}`;
    // The page's seq window as the service computes it (pageWindow, no deletions): both ends bounded,
    // recorded from the service's messagesBySeq with stand-in bounds, filled in per page.
    const HIGH = 987_654_321;
    const LOW = 123_456_789;
    const [statement] = await recordQueries((db) =>
      messagesBySeq(db, conversation.id, { atLeast: LOW, atMost: HIGH }, 'desc', PAGE_SIZE),
    );
    // For reference, the same page bounded on one side only (seq <= high, LIMIT 50): what a plain
    // query would ask, and why pageWindow bounds both ends (the database may walk the whole index).
    const [oneSided] = await recordQueries((db) =>
      messagesBySeq(db, conversation.id, { atMost: HIGH }, 'desc', PAGE_SIZE),
    );
    if (!statement || !oneSided) throw new Error('no statement recorded');
    const fill = (parameters: readonly unknown[], page: number) => {
      const high = count - (page - 1) * PAGE_SIZE;
      return parameters.map((p) => (p === HIGH ? high : p === LOW ? Math.max(1, high - PAGE_SIZE + 1) : p));
    };
    const paramsOf = (page: number) => fill(statement.parameters, page);
    const oneSidedParamsOf = (page: number) => fill(oneSided.parameters, page);

    // Deep pages at two depths: the middle of the history and its very beginning (the last page in
    // newest-first order). The database may plan the two differently, so both are measured.
    const cases: { name: string; pages: number[] }[] = [
      { name: 'first', pages: [1] },
      { name: 'middle', pages: [Math.ceil(lastPage / 2)] },
      { name: 'last', pages: [lastPage] },
    ];
    if (plan.randomPages) {
      const random = Array.from({ length: 500 }, () => 1 + Math.floor(Math.random() * lastPage));
      cases.push({ name: 'random', pages: random });
    }

    const measured: Record<string, any> = {};
    for (const c of cases) {
      const svc = await serviceReadWindow(ctx, {
        loader,
        port: service.port,
        token,
        paths: c.pages.map(pathOf),
        what: 'history requests',
        window: plan,
      });
      const svcLatency = Histogram.from(svc.result.latency).summary();
      const bare = await bareQueryWindow(ctx, {
        floor,
        sql: statement.sql,
        params: c.pages.map(paramsOf),
        window: plan,
      });
      const bareLatency = Histogram.from(bare.result.latency).summary();
      if (bare.result.rows !== undefined && bare.result.rows !== PAGE_SIZE) {
        throw new Error(`the bare query returned ${bare.result.rows} rows, expected ${PAGE_SIZE}`);
      }
      const reference = await bareQueryWindow(ctx, {
        floor,
        sql: oneSided.sql,
        params: c.pages.map(oneSidedParamsOf),
        window: plan,
      });
      const oneSidedLatency = Histogram.from(reference.result.latency).summary();
      ctx.log(
        'history',
        `${c.name} page${c.pages.length > 1 ? 's' : ` ${c.pages[0]}`}: service p50 ${svcLatency.p50} p99 ${svcLatency.p99} ms (${svcLatency.count} requests), bare SELECT p50 ${bareLatency.p50} p99 ${bareLatency.p99} ms, one-sided reference p50 ${oneSidedLatency.p50} p99 ${oneSidedLatency.p99} ms; ${cpuLine(svc.cpu)}`,
      );
      const row = await explain(ctx.db.url, statement.sql, paramsOf(c.pages[0] as number));
      const queryPlan = `database plan${c.pages.length > 1 ? ` (page ${c.pages[0]})` : ''}: ${planLine(row)}`;
      measured[c.name] = {
        plan: queryPlan,
        pages: c.pages.length > 1 ? `${c.pages.length} random pages` : c.pages[0],
        service: { latency: svcLatency, cpu: svc.cpu, db: svc.db, serverLoopDelay: svc.serverLoopDelay },
        bare: { latency: bareLatency, cpu: bare.cpu },
        oneSided: {
          latency: oneSidedLatency,
          plan: await explain(ctx.db.url, oneSided.sql, oneSidedParamsOf(c.pages[0] as number)),
        },
        bufferPoolReadsFromDisk: {
          service: svc.db.Innodb_buffer_pool_reads ?? null,
          bare: bare.db.Innodb_buffer_pool_reads ?? null,
        },
        limitedBy: diagnose(svc, { operations: svcLatency.count, generatorLoopDelayP99: svc.result.loopDelay.p99 }),
      };
    }
    const profile = await ctx.profile('history', (startAt, durationMs) =>
      loader.call('run', {
        host: '127.0.0.1',
        port: service.port,
        localAddresses: SOURCE_ADDRESSES.slice(0, 1),
        requests: [{ path: pathOf(lastPage), headers: { authorization: `Bearer ${token}` } }],
        connections: 1,
        startAt,
        warmupMs: 0,
        durationMs,
      }),
    );
    const first = measured.first;
    const firstP99 = first.service.latency.p99 as number | null;
    const overFirst = (p99: number | null) => (p99 !== null && firstP99 ? round(p99 / firstP99, 2) : null);
    const deepRatios = Object.entries(measured)
      .filter(([name]) => name !== 'first')
      .map(([, m]) => overFirst(m.service.latency.p99))
      .filter((r): r is number => r !== null);
    ctx.results.history = {
      pageSize: PAGE_SIZE,
      conversationMessages: count,
      seed: ctx.shared.historySeed,
      statement: statement.sql,
      oneSidedStatement: oneSided.sql,
      cases: measured,
      deepOverFirstP99: deepRatios.length ? Math.max(...deepRatios) : null,
      profile,
    };
    const size = `${count.toLocaleString('en')}-message conversation${plan.otherMessages ? `, ${(count + plan.otherMessages).toLocaleString('en')}-row table` : ''}`;
    for (const [name, m] of Object.entries(measured)) {
      const s = m.service.latency;
      const b = m.bare.latency;
      const deep = name !== 'first';
      const ratio = deep ? overFirst(s.p99) : null;
      ctx.addFigure({
        scenario: 'history',
        name: `History ${name} page (${typeof m.pages === 'number' ? `page ${m.pages}` : m.pages}) of a ${size} (p50 / p99)`,
        value: `${s.p50} / ${s.p99} ms${ratio !== null ? `; ${name}/first p99 ${ratio}` : ''}`,
        floor: `${b.p50} / ${b.p99} ms bare SELECT (bounded on one side only, for reference: ${m.oneSided.latency.p50 ?? '—'} / ${m.oneSided.latency.p99 ?? '—'} ms)`,
        ratio: s.p99 && b.p99 ? round(s.p99 / b.p99, 2) : null,
        goal: deep ? 'p99 < 5 ms; deep/first < 1.5' : 'p99 < 5 ms',
        met: s.p99 !== null && s.p99 < 5 && (deep ? ratio !== null && ratio < 1.5 : true),
        limitedBy: `${m.limitedBy}; ${m.plan}`,
      });
    }
  } finally {
    await ctx.stopWorkers([loader, floor]);
  }
}
