import mysql from 'mysql2/promise';
import { uuidv7 } from '../../src/lib/ids.ts';
import { parseQuery } from '../../src/lib/search-terms.ts';
import { findCandidates, type SearchScope, searchTermRows } from '../../src/modules/search/search.repository.ts';
import { SEARCH_CAP } from '../../src/modules/search/search.service.ts';
import { type BenchContext, SOURCE_ADDRESSES } from '../lib/context.ts';
import { explain, insertConversations, insertUsers, withoutSecondaryKeys } from '../lib/database.ts';
import { cpuLine, diagnose } from '../lib/diagnose.ts';
import { Histogram, round } from '../lib/histogram.ts';
import { recordQueries } from '../lib/send-transaction.ts';
import type { HttpLoadResult as LoadResult } from '../workers/http-load.ts';
import type { FloorRun } from './results.ts';

/**
 * Full-text search (issue 17): p50 / p99 of GET /api/search/messages, one
 * request at a time, for a rare Chinese term (10 messages in the whole table,
 * searched by an admin, everywhere), a common one (`订单`, in about one message
 * in six: the search reads its SEARCH_CAP newest candidates) and a common one
 * limited to one conversation (a buyer's, `conversation_id`), each beside the
 * floor: the index query the service issues (recorded from findCandidates) on
 * one bare mysql2 connection. Also the index's size as a share of the messages
 * table. The messages are Chinese customer-service sentences with their index
 * rows, bulk-loaded (secondary keys built after the load).
 */

const P99_GOAL_MS = 50;

/** Sentences a message is made of (two each); `订单` is in two of them. */
const PHRASES = [
  '请问这款还有货吗',
  '我的订单什么时候发货',
  '快递单号是多少呢',
  '可以开发票吗',
  '这个颜色还有库存吗',
  '退货地址在哪里',
  '已经帮您催促物流了',
  '感谢您的耐心等待',
  '优惠券怎么使用',
  '尺码偏大还是偏小',
  '包装有破损怎么办',
  '订单已经帮您改好地址',
];
const RARE = '阿莫西林';
const RARE_COUNT = 10;

interface Seeded {
  focus: string;
  messages: number;
  indexRows: number;
  seconds: number;
}

async function seed(ctx: BenchContext): Promise<Seeded> {
  const plan = ctx.plan.search;
  const others = Array.from({ length: plan.conversations - 1 }, (_, i) => `sx${String(i + 1).padStart(6, '0')}`);
  await insertUsers(ctx.db.db, [
    { id: 'sb0001', role: 'buyer' },
    { id: 'sm0001', role: 'merchant' },
    { id: 'sa0001', role: 'admin' },
    ...others.map((id) => ({ id, role: 'buyer' as const })),
  ]);
  const conversations = await insertConversations(ctx.db.db, [
    ['sb0001', 'sm0001'],
    ...others.map((id) => [id, 'sm0001'] as [string, string]),
  ]);
  const focus = conversations[0];
  if (!focus) throw new Error('no conversation');
  ctx.log(
    'search',
    `seeding ${plan.messages.toLocaleString('en')} messages with their index rows in ${plan.conversations.toLocaleString('en')} conversations (${Math.round(plan.focusShare * 100)} % in one)`,
  );
  const started = Date.now();
  const restoreMessages = await withoutSecondaryKeys(ctx.db.url, 'messages');
  const restoreTerms = await withoutSecondaryKeys(ctx.db.url, 'message_search_terms');
  const connection = await mysql.createConnection({ uri: ctx.db.url, charset: 'utf8mb4_unicode_ci' });
  const seqs = new Map<string, number>();
  const baseMs = Date.now() - plan.messages * 5 - 60_000;
  const rareEvery = Math.floor(plan.messages / RARE_COUNT);
  let random = 12345;
  // A deterministic generator (xorshift32): every run loads the same table.
  const next = () => {
    random ^= random << 13;
    random ^= random >>> 17;
    random ^= random << 5;
    random >>>= 0;
    return random;
  };
  let indexRows = 0;
  let lastReport = Date.now();
  const BATCH = 2_000;
  try {
    for (let from = 0; from < plan.messages; from += BATCH) {
      const messages = [];
      for (let i = from; i < Math.min(plan.messages, from + BATCH); i++) {
        const conversation =
          next() % 1000 < plan.focusShare * 1000 ? focus : (conversations[1 + (i % others.length)] ?? focus);
        const seq = (seqs.get(conversation.id) ?? 0) + 1;
        seqs.set(conversation.id, seq);
        const a = PHRASES[next() % PHRASES.length];
        const b = PHRASES[next() % PHRASES.length];
        const rare = i % rareEvery === rareEvery - 1 ? `，${RARE}` : '';
        const ms = baseMs + i * 5;
        messages.push({
          id: uuidv7(ms),
          conversation_id: conversation.id,
          seq,
          sender_id: seq % 2 === 1 ? conversation.participant1 : conversation.participant2,
          content: `${a}，${b}${rare} #${i}`,
          message_type: 'text' as const,
          created_at: Math.floor(ms / 1000),
        });
      }
      const terms = searchTermRows(messages);
      indexRows += terms.length;
      await connection.beginTransaction();
      await connection.query(
        'INSERT INTO messages (id, conversation_id, seq, sender_id, content, message_type, filename, client_msg_id, is_read, created_at) VALUES ?',
        [
          messages.map((m) => [
            m.id,
            m.conversation_id,
            m.seq,
            m.sender_id,
            m.content,
            'text',
            null,
            null,
            1,
            m.created_at,
          ]),
        ],
      );
      for (let i = 0; i < terms.length; i += 5_000) {
        await connection.query('INSERT INTO message_search_terms (term, message_id, conversation_id) VALUES ?', [
          terms.slice(i, i + 5_000).map((t) => [t.term, t.message_id, t.conversation_id]),
        ]);
      }
      await connection.commit();
      if (Date.now() - lastReport > 5_000) {
        lastReport = Date.now();
        ctx.log(
          'search',
          `seeded ${(from + BATCH).toLocaleString('en')} / ${plan.messages.toLocaleString('en')} messages`,
        );
      }
    }
    for (const [id, seq] of seqs) {
      // Indexed up to last_seq: the rows above are the index, nothing is left for the server's indexer.
      await connection.query('UPDATE conversations SET last_seq = ?, message_count = ?, search_seq = ? WHERE id = ?', [
        seq,
        seq,
        seq,
        id,
      ]);
    }
  } finally {
    await connection.end();
  }
  ctx.log('search', 'building the indexes');
  await restoreMessages();
  await restoreTerms();
  const admin = await mysql.createConnection({ uri: ctx.db.url });
  await admin.query('ANALYZE TABLE messages, message_search_terms');
  await admin.end();
  const seconds = round((Date.now() - started) / 1000, 1);
  ctx.log(
    'search',
    `seeded ${plan.messages.toLocaleString('en')} messages and ${indexRows.toLocaleString('en')} index rows in ${seconds} s`,
  );
  return { focus: focus.id, messages: plan.messages, indexRows, seconds };
}

/** Bytes of a table (data and indexes) as InnoDB reports them, after ANALYZE TABLE. */
async function tableBytes(url: string, table: string): Promise<number> {
  const connection = await mysql.createConnection({ uri: url });
  try {
    const [rows] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT data_length + index_length AS bytes FROM information_schema.TABLES WHERE table_schema = DATABASE() AND table_name = ?',
      [table],
    );
    return Number(rows[0]?.bytes ?? 0);
  } finally {
    await connection.end();
  }
}

export async function runSearch(ctx: BenchContext): Promise<void> {
  const plan = ctx.plan.search;
  const seeded = await seed(ctx);
  const service = await ctx.ensureService({ fresh: true });
  await ctx.quiesce('search');
  const tokens = { admin: await ctx.token('sa0001', 'admin'), buyer: await ctx.token('sb0001', 'buyer') };
  const loader = ctx.startWorker('http-load', 'workers/http-load.ts');
  const floor = ctx.startWorker('floor', 'workers/mysql-floor.ts');
  try {
    await floor.call('init', { mysqlUrl: ctx.db.url, conversations: [] });
    const cases: { name: string; q: string; token: string; scope: SearchScope; query: string; goal: boolean }[] = [
      {
        name: `rare term ${RARE} (${RARE_COUNT} messages), admin, everywhere`,
        q: RARE,
        token: tokens.admin,
        scope: { kind: 'all' },
        query: '',
        goal: true,
      },
      {
        name: 'common term 订单 (about 1 message in 6), admin, everywhere',
        q: '订单',
        token: tokens.admin,
        scope: { kind: 'all' },
        query: '',
        goal: false,
      },
      {
        name: 'common term 发货 in one conversation (buyer, conversation_id)',
        q: '发货',
        token: tokens.buyer,
        scope: { kind: 'conversations', ids: [seeded.focus] },
        query: `&conversation_id=${seeded.focus}`,
        goal: true,
      },
    ];
    const measured: Record<string, any> = {};
    for (const c of cases) {
      const path = `/api/search/messages?q=${encodeURIComponent(c.q)}${c.query}&page_size=20`;
      const [statement] = await recordQueries((db) =>
        findCandidates(db, parseQuery(c.q).terms, c.scope, {}, SEARCH_CAP + 1),
      );
      if (!statement) throw new Error('no statement recorded');
      const svc = await ctx.window(
        { warmupMs: plan.warmupMs, durationMs: plan.durationMs, pids: ctx.pids([loader]) },
        (startAt) =>
          loader.call<LoadResult>('run', {
            host: '127.0.0.1',
            port: service.port,
            localAddresses: SOURCE_ADDRESSES.slice(0, 1),
            requests: [{ path, headers: { authorization: `Bearer ${c.token}` } }],
            connections: 1,
            startAt,
            warmupMs: plan.warmupMs,
            durationMs: plan.durationMs,
          }),
      );
      const bad = Object.entries(svc.result.statuses).filter(([status]) => status !== '200');
      if (bad.length || svc.result.errors) {
        throw new Error(
          `search requests failed: statuses ${JSON.stringify(svc.result.statuses)}, ${svc.result.firstErrors.join('; ')}`,
        );
      }
      const bare = await ctx.window(
        { warmupMs: plan.warmupMs, durationMs: plan.durationMs, pids: ctx.pids([floor]) },
        (startAt) =>
          floor.call<FloorRun>('query', {
            sql: statement.sql,
            params: [statement.parameters as unknown[]],
            concurrency: 1,
            startAt,
            warmupMs: plan.warmupMs,
            durationMs: plan.durationMs,
          }),
      );
      const s = Histogram.from(svc.result.latency).summary();
      const b = Histogram.from(bare.result.latency).summary();
      const row = await explain(ctx.db.url, statement.sql, statement.parameters as unknown[]);
      const queryPlan = `database plan: ${row.type} on ${row.key}, ~${row.rows} rows estimated${row.Extra ? `, ${row.Extra}` : ''}`;
      ctx.log(
        'search',
        `${c.name}: service p50 ${s.p50} p99 ${s.p99} ms (${s.count} requests), bare index query p50 ${b.p50} p99 ${b.p99} ms (${bare.result.rows} rows); ${cpuLine(svc.cpu)}`,
      );
      measured[c.name] = {
        path,
        statement: statement.sql,
        plan: queryPlan,
        candidates: bare.result.rows ?? null,
        service: { latency: s, cpu: svc.cpu, db: svc.db, serverLoopDelay: svc.serverLoopDelay },
        bare: { latency: b, cpu: bare.cpu },
        limitedBy: diagnose(svc, { operations: s.count, generatorLoopDelayP99: svc.result.loopDelay.p99 }),
      };
      ctx.addFigure({
        scenario: 'search',
        name: `Search, ${c.name}, ${seeded.messages.toLocaleString('en')}-message table (p50 / p99)`,
        value: `${s.p50} / ${s.p99} ms`,
        floor: `${b.p50} / ${b.p99} ms bare index query (${bare.result.rows} candidate rows)`,
        ratio: s.p99 && b.p99 ? round(s.p99 / b.p99, 2) : null,
        goal: c.goal ? `p99 < ${P99_GOAL_MS} ms` : '—',
        met: c.goal ? s.p99 !== null && s.p99 < P99_GOAL_MS : null,
        limitedBy: `${measured[c.name].limitedBy}; ${queryPlan}`,
      });
    }
    const messagesBytes = await tableBytes(ctx.db.url, 'messages');
    const indexBytes = await tableBytes(ctx.db.url, 'message_search_terms');
    const share = messagesBytes ? round(indexBytes / messagesBytes, 2) : null;
    ctx.log(
      'search',
      `index ${(indexBytes / 2 ** 20).toFixed(1)} MiB, messages ${(messagesBytes / 2 ** 20).toFixed(1)} MiB (${share}×)`,
    );
    ctx.results.search = { seed: seeded, cases: measured, messagesBytes, indexBytes, indexShare: share };
    ctx.addFigure({
      scenario: 'search',
      name: `Search index size (${seeded.indexRows.toLocaleString('en')} rows for ${seeded.messages.toLocaleString('en')} messages)`,
      value: `${(indexBytes / 2 ** 20).toFixed(1)} MiB`,
      floor: `${(messagesBytes / 2 ** 20).toFixed(1)} MiB messages table (data and indexes)`,
      ratio: share,
      goal: '—',
      met: null,
      limitedBy:
        'InnoDB data_length + index_length after ANALYZE TABLE; both term keys hold (term, conversation_id, message_id)',
    });
  } finally {
    await ctx.stopWorkers([loader, floor]);
  }
}
