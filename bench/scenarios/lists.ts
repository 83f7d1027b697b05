import { type CompiledQuery, Kysely, MysqlDialect } from 'kysely';
import { createPool } from 'mysql2';
import mysql from 'mysql2/promise';
import { COUNT_CAP } from '../../src/db/capped-count.ts';
import type { Database } from '../../src/db/types.ts';
import { listConversations } from '../../src/modules/conversations/conversation.repository.ts';
import * as repo from '../../src/modules/messages/message.repository.ts';
import { listUsers } from '../../src/modules/users/user.repository.ts';
import { DEFAULT_QUOTAS } from '../../src/quotas/limits.ts';
import { type BenchContext, SOURCE_ADDRESSES } from '../lib/context.ts';
import { insertConversations, insertUsers, seedMessages } from '../lib/database.ts';
import { cpuLine, diagnose } from '../lib/diagnose.ts';
import { Histogram, round } from '../lib/histogram.ts';
import type { HttpLoadResult as LoadResult } from '../workers/http-load.ts';

/**
 * Expensive lists under attack (issue 12, item 3). The messages table holds
 * at least 300,000 messages; one buyer (the attacker, whose conversation holds
 * most of them) hammers every list endpoint with every filter from many
 * keep-alive connections in a closed loop, while another user's ordinary
 * requests (their conversations, their messages, the directory) are timed
 * from one connection. The figure is that user's p99 and their 503s; the
 * floor is the same user's requests with nobody attacking, in the same run.
 * Before the fix, 40 attacking loops made every other user's request 503
 * after 5 s (each attacking request counted 300k rows, and they held every
 * pool connection).
 */

const P99_GOAL_MS = 100;

interface Seeded {
  attackerConversation: string;
}

async function seed(ctx: BenchContext): Promise<Seeded> {
  if (ctx.shared.lists) return ctx.shared.lists as Seeded;
  const plan = ctx.plan.lists;
  const others = Array.from({ length: plan.otherBuyers }, (_, i) => `lo${String(i + 1).padStart(5, '0')}`);
  await insertUsers(ctx.db.db, [
    { id: 'la0001', role: 'buyer' },
    { id: 'lv0001', role: 'buyer' },
    { id: 'lm0001', role: 'merchant' },
    ...others.map((id) => ({ id, role: 'buyer' as const })),
  ]);
  const [attacker, victim, ...rest] = await insertConversations(ctx.db.db, [
    ['la0001', 'lm0001'],
    ['lv0001', 'lm0001'],
    ...others.map((id) => [id, 'lm0001'] as [string, string]),
  ]);
  if (!attacker || !victim) throw new Error('no conversations');
  const perOther = Math.floor(plan.otherMessages / Math.max(1, rest.length));
  ctx.log(
    'lists',
    `seeding ${plan.messages.toLocaleString('en')} messages in the attacker's conversation and ${(
      perOther * rest.length + plan.victimMessages
    ).toLocaleString('en')} elsewhere`,
  );
  const seeded = await seedMessages(
    ctx.db.url,
    [
      { conversation: attacker, count: plan.messages },
      { conversation: victim, count: plan.victimMessages },
      ...rest.map((conversation) => ({ conversation, count: perOther })),
    ],
    { onProgress: (done, all, step) => ctx.log('lists', `seeded ${done} / ${all}${step ? `; ${step}` : ''}`) },
  );
  ctx.log('lists', `seeded ${seeded.rows.toLocaleString('en')} rows in ${seeded.seconds} s`);
  ctx.shared.lists = { attackerConversation: attacker.id };
  ctx.shared.listsRows = seeded.rows;
  return ctx.shared.lists as Seeded;
}

/** Every list endpoint with every filter, as the attacking buyer may call them. */
function attackPaths(conversation: string): string[] {
  const self = 'la0001';
  return [
    '/api/messages/?message_type=text&page_size=1',
    '/api/messages/?page_size=1',
    '/api/messages/?message_type=image',
    '/api/messages/?message_type=file&page_size=100',
    `/api/messages/?sender_id=${self}`,
    `/api/messages/?sender_id=lm0001&message_type=text`,
    `/api/messages/?conversation_id=${conversation}&message_type=text`,
    `/api/messages/?conversation_id=${conversation}&sender_id=lm0001`,
    `/api/messages/?conversation_id=${conversation}&sender_id=${self}&message_type=image`,
    `/api/messages/?message_type=text&page=200&page_size=50`,
    `/api/conversations/${conversation}/messages?order=desc&page=2000&page_size=50`,
    `/api/conversations/${conversation}/messages?order=asc&page=1&page_size=100`,
    `/api/messages/?conversation_id=${conversation}&page=1500&page_size=100`,
    '/api/conversations/',
    `/api/conversations/?user_id=${self}&page=1&page_size=100`,
    '/api/users/?page_size=100',
    '/api/users/?role=merchant&q=bench',
    '/api/users/?q=zz%25',
    `/api/quick-replies/user/${self}`,
  ];
}

/** What the other user does meanwhile, in turn. */
const VICTIM_PATHS = [
  '/api/conversations/',
  '/api/messages/?page_size=20',
  '/api/users/?role=merchant',
  '/api/messages/?message_type=text&page_size=20',
];

interface PlannedStatement {
  sql: string;
  plan: Record<string, unknown>[];
  /** Per table read: the key used, the rows estimated, and the Extra notes. */
  summary: string;
}

/** Every statement the service's list functions issue for each filter shape, with MariaDB's EXPLAIN of it. */
async function explainShapes(url: string, conversationId: string): Promise<Record<string, PlannedStatement[]>> {
  const recorded: CompiledQuery[] = [];
  const pool = createPool({ uri: url, connectionLimit: 2, charset: 'utf8mb4_unicode_ci', supportBigNumbers: true });
  const db = new Kysely<Database>({
    dialect: new MysqlDialect({ pool }),
    log: (event) => {
      if (event.level === 'query') recorded.push(event.query);
    },
  });
  const explainer = await mysql.createConnection({ uri: url, charset: 'utf8mb4_unicode_ci' });
  const attacker = await repo.participantScope(db, { id: 'la0001', team_id: null, team_role: null });
  const merchant = await repo.participantScope(db, { id: 'lm0001', team_id: 'lm0001', team_role: 'owner' });
  const one: repo.ListScope = { kind: 'conversations', ids: [conversationId] };
  const shapes: Record<string, () => Promise<unknown>> = {
    'buyer type=text': () => repo.listMessages(db, attacker, { messageType: 'text' }, 1, 0),
    'buyer sender': () => repo.listMessages(db, attacker, { senderId: 'la0001' }, 50, 0),
    'buyer conversation+type': () => repo.listMessages(db, one, { messageType: 'text' }, 50, 0),
    'buyer conversation+sender': () => repo.listMessages(db, one, { senderId: 'lm0001' }, 50, 0),
    'buyer conversation+sender+type': () =>
      repo.listMessages(db, one, { senderId: 'la0001', messageType: 'image' }, 50, 0),
    'buyer type=text page 200': () => repo.listMessages(db, attacker, { messageType: 'text' }, 50, 199 * 50),
    'merchant (many conversations)': () => repo.listMessages(db, merchant, {}, 20, 0),
    'merchant type=image': () => repo.listMessages(db, merchant, { messageType: 'image' }, 20, 0),
    'admin all': () => repo.listMessages(db, { kind: 'all' }, {}, 50, 0),
    'admin type=text': () => repo.listMessages(db, { kind: 'all' }, { messageType: 'text' }, 50, 0),
    'admin sender+type': () =>
      repo.listMessages(db, { kind: 'all' }, { senderId: 'la0001', messageType: 'text' }, 50, 0),
    'conversations of the merchant': () =>
      listConversations(db, { id: 'lm0001', team_id: 'lm0001', team_role: 'owner' }, {}, 100, 0),
    'users q': () => listUsers(db, { roles: ['merchant'], search: 'bench' }, 20, 0),
  };
  const plans: Record<string, PlannedStatement[]> = {};
  try {
    for (const [shape, run] of Object.entries(shapes)) {
      recorded.length = 0;
      await run();
      plans[shape] = [];
      for (const query of recorded) {
        const [rows] = await explainer.query<mysql.RowDataPacket[]>(`EXPLAIN ${query.sql}`, [...query.parameters]);
        const plan = rows.map((row) => ({ ...row }));
        const summary = plan
          .map((row) => `${row.table}:${row.key ?? 'no key'} ~${row.rows}${row.Extra ? ` (${row.Extra})` : ''}`)
          .join(', ');
        plans[shape]?.push({ sql: query.sql, plan, summary });
      }
    }
  } finally {
    await explainer.end();
    await db.destroy();
  }
  return plans;
}

export async function runLists(ctx: BenchContext): Promise<void> {
  const plan = ctx.plan.lists;
  const seeded = await seed(ctx);
  const service = await ctx.ensureService({ fresh: true });
  await ctx.quiesce('lists');
  const attackerAuth = { authorization: `Bearer ${await ctx.token('la0001', 'buyer')}` };
  const victimAuth = { authorization: `Bearer ${await ctx.token('lv0001', 'buyer')}` };
  const attacker = ctx.startWorker('http-load', 'workers/http-load.ts');
  const victim = ctx.startWorker('http-load', 'workers/http-load.ts');
  try {
    const victimLoad = (startAt: number) =>
      victim.call<LoadResult>('run', {
        host: '127.0.0.1',
        port: service.port,
        localAddresses: SOURCE_ADDRESSES.slice(0, 1),
        requests: VICTIM_PATHS.map((path) => ({ path, headers: victimAuth })),
        connections: 1,
        startAt,
        warmupMs: plan.warmupMs,
        durationMs: plan.durationMs,
      });
    const attackLoad = (startAt: number) =>
      attacker.call<LoadResult>('run', {
        host: '127.0.0.1',
        port: service.port,
        localAddresses: SOURCE_ADDRESSES.slice(1, 2),
        requests: attackPaths(seeded.attackerConversation).map((path) => ({ path, headers: attackerAuth })),
        connections: plan.attackerConnections,
        startAt,
        warmupMs: plan.warmupMs,
        durationMs: plan.durationMs,
      });

    ctx.log('lists', `floor: the other user's requests alone (${VICTIM_PATHS.length} paths in turn, 1 connection)`);
    const alone = await ctx.window(
      { warmupMs: plan.warmupMs, durationMs: plan.durationMs, pids: ctx.pids([victim]) },
      (at) => victimLoad(at),
    );
    const aloneLatency = Histogram.from(alone.result.latency).summary();
    ctx.log(
      'lists',
      `alone: p50 ${aloneLatency.p50} ms, p99 ${aloneLatency.p99} ms, ${JSON.stringify(alone.result.statuses)}`,
    );

    ctx.log(
      'lists',
      `attack: ${plan.attackerConnections} connections of one buyer over ${attackPaths('x').length} list requests, the other user timed meanwhile`,
    );
    const attacked = await ctx.window(
      { warmupMs: plan.warmupMs, durationMs: plan.durationMs, pids: ctx.pids([victim, attacker]) },
      (at) => Promise.all([victimLoad(at), attackLoad(at)]),
    );
    const [victimRun, attackRun] = attacked.result;
    const latency = Histogram.from(victimRun.latency).summary();
    const p99 = latency.p99 ?? Number.POSITIVE_INFINITY;
    const aloneP99 = aloneLatency.p99 ?? 0;
    const victim503 = victimRun.statuses['503'] ?? 0;
    const attack503 = attackRun.statuses['503'] ?? 0;
    const victimNon200 = Object.entries(victimRun.statuses).filter(([status]) => status !== '200');
    ctx.log(
      'lists',
      `under attack: other user p50 ${latency.p50} ms, p99 ${latency.p99} ms, statuses ${JSON.stringify(victimRun.statuses)}; attacker ${round(
        attackRun.completed / (attackRun.windowMs / 1000),
        0,
      )} req/s, statuses ${JSON.stringify(attackRun.statuses)}; ${cpuLine(attacked.cpu)}`,
    );

    // The plans MariaDB gives every statement of every filter shape, recorded from the service's own
    // repository functions against the loaded table.
    const plans = await explainShapes(ctx.db.url, seeded.attackerConversation);
    for (const [shape, statements] of Object.entries(plans)) {
      ctx.log('lists', `plan ${shape}: ${statements.map((st) => st.summary).join(' | ')}`);
    }

    const met = victim503 === 0 && p99 < P99_GOAL_MS && victimNon200.length === 0;
    const limitedBy = diagnose(attacked, { operations: victimRun.completed + attackRun.completed });
    ctx.results.lists = {
      rows: ctx.shared.listsRows,
      attackerConnections: plan.attackerConnections,
      listConcurrencyPerUser: DEFAULT_QUOTAS.listConcurrencyPerUser,
      countCap: COUNT_CAP,
      alone: { latency: aloneLatency, statuses: alone.result.statuses, cpu: alone.cpu },
      attacked: {
        victim: { latency, statuses: victimRun.statuses, errors: victimRun.errors, firstErrors: victimRun.firstErrors },
        attacker: {
          requestsPerSecond: round(attackRun.completed / (attackRun.windowMs / 1000), 0),
          statuses: attackRun.statuses,
          errors: attackRun.errors,
        },
        cpu: attacked.cpu,
        db: attacked.db,
        serverLoopDelay: attacked.serverLoopDelay,
      },
      plans,
      limitedBy,
    };
    ctx.addFigure({
      scenario: 'lists',
      name: `Lists under attack: another user's p99 while one buyer hammers every list (${(
        ctx.shared.listsRows as number
      ).toLocaleString('en')} messages)`,
      value: `p99 ${latency.p99} ms (p50 ${latency.p50} ms), ${victim503} × 503 (attacker: ${attack503} × 503, ${
        attackRun.statuses['429'] ?? 0
      } × 429)`,
      floor: `p99 ${aloneLatency.p99} ms alone`,
      ratio: aloneP99 > 0 && Number.isFinite(p99) ? round(p99 / aloneP99, 2) : null,
      goal: `p99 < ${P99_GOAL_MS} ms, no 503`,
      met,
      limitedBy,
    });
  } finally {
    await ctx.stopWorkers([attacker, victim]);
  }
}
