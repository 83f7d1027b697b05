import { type BenchContext, SOURCE_ADDRESSES } from '../lib/context.ts';
import { insertConversations, insertUsers, type SeededConversation } from '../lib/database.ts';
import type { WorkerProcess } from '../lib/workers.ts';
import { split } from './results.ts';

/**
 * The population the send, latency and fan-out scenarios share: buyer–
 * merchant pairs with a conversation each, connected over WebSocket in
 * `pairWorkers` processes, and admins connected in listener processes. Kept
 * between those scenarios (same service process) to save reconnecting.
 */

export const ADMINS_PER_WORKER = 500;

export interface PairsFixture {
  conversations: SeededConversation[];
  pairWorkers: WorkerProcess[];
  adminWorkers: WorkerProcess[];
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
export const adminId = (i: number) => `pa${pad(i + 1, 5)}`;

/** Seeds the pairs and the admins once per database. */
async function seed(ctx: BenchContext): Promise<SeededConversation[]> {
  if (ctx.shared.pairs) return ctx.shared.pairs as SeededConversation[];
  const n = ctx.plan.pairs;
  const admins = Math.max(ctx.plan.admins, ...ctx.plan.fanout.adminCounts);
  const buyers = Array.from({ length: n }, (_, i) => `pb${pad(i + 1, 6)}`);
  const merchants = Array.from({ length: n }, (_, i) => `pm${pad(i + 1, 6)}`);
  await insertUsers(ctx.db.db, [
    ...buyers.map((id) => ({ id, role: 'buyer' as const })),
    ...merchants.map((id) => ({ id, role: 'merchant' as const })),
    ...Array.from({ length: admins }, (_, i) => ({ id: adminId(i), role: 'admin' as const })),
  ]);
  const conversations = await insertConversations(
    ctx.db.db,
    buyers.map((buyer, i) => [buyer, merchants[i] as string]),
  );
  ctx.shared.pairs = conversations;
  return conversations;
}

export async function ensurePairs(ctx: BenchContext): Promise<PairsFixture> {
  const conversations = await seed(ctx);
  const service = await ctx.ensureService();
  if (ctx.fixtures) return { conversations, ...ctx.fixtures };
  const workers = ctx.plan.pairWorkers;
  const pairWorkers: WorkerProcess[] = [];
  ctx.log(
    'pairs',
    `connecting ${conversations.length} buyer–merchant pairs (${conversations.length * 2} sockets) in ${workers} processes`,
  );
  const results = await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const worker = ctx.startWorker(`pairs${w}`, 'workers/ws-pairs.ts');
      pairWorkers.push(worker);
      return worker.call<{ connected: number; ms: number }>('init', {
        wsBase: service.wsBase,
        secret: ctx.secret,
        pairs: conversations
          .filter((_, i) => i % workers === w)
          .map((c) => ({ conversationId: c.id, buyer: c.participant1, merchant: c.participant2 })),
        localAddresses: [SOURCE_ADDRESSES[w % SOURCE_ADDRESSES.length]],
        connectMerchants: true,
        contentBytes: 64,
        connectConcurrency: 50,
      });
    }),
  );
  ctx.log(
    'pairs',
    `connected ${results.reduce((s, r) => s + r.connected, 0)} sockets in ${Math.max(...results.map((r) => r.ms))} ms`,
  );
  ctx.fixtures = { pairWorkers, adminWorkers: [], adminsConnected: 0 };
  await ensureAdmins(ctx, ctx.plan.admins);
  return { conversations, ...ctx.fixtures };
}

/** Connects more admins until `count` are online (500 per listener process). */
export async function ensureAdmins(ctx: BenchContext, count: number): Promise<WorkerProcess[]> {
  const fixtures = ctx.fixtures;
  const service = ctx.service;
  if (!fixtures || !service) throw new Error('pairs fixture missing');
  const started = Date.now();
  const calls: Promise<{ connected: number; failed: number; firstErrors: string[] }>[] = [];
  let next = fixtures.adminsConnected;
  while (next < count) {
    const workerIndex = Math.floor(next / ADMINS_PER_WORKER);
    let worker = fixtures.adminWorkers[workerIndex];
    if (!worker) {
      worker = ctx.startWorker(`admins${workerIndex}`, 'workers/ws-listeners.ts');
      fixtures.adminWorkers.push(worker);
    }
    const upTo = Math.min(count, (workerIndex + 1) * ADMINS_PER_WORKER);
    const users = Array.from({ length: upTo - next }, (_, i) => adminId(next + i));
    calls.push(
      worker.call('connect', {
        kind: 'service',
        wsBase: service.wsBase,
        secret: ctx.secret,
        users,
        role: 'admin',
        localAddresses: [SOURCE_ADDRESSES[(workerIndex + 2) % SOURCE_ADDRESSES.length]],
        concurrency: 20,
      }),
    );
    next = upTo;
  }
  const results = await Promise.all(calls);
  const failed = results.reduce((s, r) => s + r.failed, 0);
  if (failed > 0)
    throw new Error(`${failed} admin sockets failed to connect: ${results.flatMap((r) => r.firstErrors).join('; ')}`);
  if (calls.length > 0)
    ctx.log('pairs', `${count} admins online (+${count - fixtures.adminsConnected} in ${Date.now() - started} ms)`);
  fixtures.adminsConnected = Math.max(count, fixtures.adminsConnected);
  return fixtures.adminWorkers;
}

/** A CPU profile of the service while the pairs send in a closed loop at `concurrency` (null: no step to profile). */
export function profileClosedLoop(
  ctx: BenchContext,
  name: Parameters<BenchContext['profile']>[0],
  fixture: PairsFixture,
  concurrency: number | undefined,
) {
  if (concurrency === undefined) return Promise.resolve(null);
  return ctx.profile(name, (startAt, durationMs) =>
    Promise.all(
      fixture.pairWorkers.map((worker, i) =>
        worker.call('closed', {
          concurrency: split(concurrency, fixture.pairWorkers.length)[i],
          startAt,
          warmupMs: 0,
          durationMs,
        }),
      ),
    ),
  );
}
