import { type BenchContext, SOURCE_ADDRESSES } from '../lib/context.ts';
import { insertConversations, insertUsers } from '../lib/database.ts';
import { cpuLine, diagnose } from '../lib/diagnose.ts';
import { Histogram, round } from '../lib/histogram.ts';
import type { HttpLoadResult as LoadResult } from '../workers/http-load.ts';

/**
 * REST baseline: requests/s of an authenticated GET /api/conversations/ (a
 * merchant with a full first page of 20 conversations) against Fastify's
 * hello world, both driven by the same raw keep-alive HTTP generator with
 * the same number of connections.
 */

export async function runRest(ctx: BenchContext): Promise<void> {
  const plan = ctx.plan.rest;
  const merchant = 'rm0001';
  if (!ctx.shared.restSeeded) {
    const buyers = Array.from({ length: 20 }, (_, i) => `rb${String(i + 1).padStart(4, '0')}`);
    await insertUsers(ctx.db.db, [
      { id: merchant, role: 'merchant' },
      ...buyers.map((id) => ({ id, role: 'buyer' as const })),
    ]);
    await insertConversations(
      ctx.db.db,
      buyers.map((buyer) => [buyer, merchant] as [string, string]),
    );
    ctx.shared.restSeeded = true;
  }
  const service = await ctx.ensureService({ fresh: true });
  const token = await ctx.token(merchant, 'merchant');
  const loader = ctx.startWorker('http-load', 'workers/http-load.ts');
  const hello = ctx.startWorker('hello', 'servers/hello.ts');
  try {
    const { port: helloPort } = await hello.call<{ port: number }>('listen', { host: '127.0.0.1' });
    const load = (
      port: number,
      path: string,
      headers: Record<string, string>,
      startAt: number,
      warmupMs = plan.warmupMs,
      durationMs = plan.durationMs,
    ) =>
      loader.call<LoadResult>('run', {
        host: '127.0.0.1',
        port,
        localAddresses: SOURCE_ADDRESSES.slice(0, 1),
        requests: [{ path, headers }],
        connections: plan.connections,
        startAt,
        warmupMs,
        durationMs,
      });
    const auth = { authorization: `Bearer ${token}` };

    ctx.log(
      'rest',
      `service: GET /api/conversations/ as a merchant with 20 conversations, ${plan.connections} connections`,
    );
    const svc = await ctx.window(
      { warmupMs: plan.warmupMs, durationMs: plan.durationMs, pids: ctx.pids([loader]) },
      (at) => load(service.port, '/api/conversations/', auth, at),
    );
    const svcRate = svc.result.completed / (svc.result.windowMs / 1000);
    const svcLatency = Histogram.from(svc.result.latency).summary();
    ctx.log(
      'rest',
      `service ${round(svcRate, 0)} req/s, p50 ${svcLatency.p50} ms, p99 ${svcLatency.p99} ms, statuses ${JSON.stringify(svc.result.statuses)}; ${cpuLine(svc.cpu)}`,
    );

    ctx.log('rest', `floor: Fastify hello world, same generator and connections`);
    const ref = await ctx.window(
      { warmupMs: plan.warmupMs, durationMs: plan.durationMs, pids: { ...ctx.pids([loader]), hello: hello.pid } },
      (at) => load(helloPort, '/', {}, at),
    );
    const refRate = ref.result.completed / (ref.result.windowMs / 1000);
    const refLatency = Histogram.from(ref.result.latency).summary();
    ctx.log(
      'rest',
      `hello world ${round(refRate, 0)} req/s, p50 ${refLatency.p50} ms, p99 ${refLatency.p99} ms; ${cpuLine(ref.cpu)}`,
    );

    const profile = await ctx.profile('rest', (at, ms) => load(service.port, '/api/conversations/', auth, at, 0, ms));
    const non200 = Object.entries(svc.result.statuses).filter(([status]) => status !== '200');
    const ok = svc.result.errors === 0 && non200.length === 0;
    const limitedBy = diagnose(svc, {
      operations: svc.result.completed,
      generatorLoopDelayP99: svc.result.loopDelay.p99,
    });
    ctx.results.rest = {
      connections: plan.connections,
      service: {
        requestsPerSecond: round(svcRate, 0),
        latency: svcLatency,
        statuses: svc.result.statuses,
        errors: svc.result.errors,
        firstErrors: svc.result.firstErrors,
        cpu: svc.cpu,
        db: svc.db,
        serverLoopDelay: svc.serverLoopDelay,
        generatorLoopDelay: svc.result.loopDelay,
      },
      helloWorld: {
        requestsPerSecond: round(refRate, 0),
        latency: refLatency,
        errors: ref.result.errors,
        cpu: ref.cpu,
        generatorLoopDelay: ref.result.loopDelay,
      },
      profile,
      limitedBy,
      helloLimitedBy: diagnose(ref, { server: 'hello', generatorLoopDelayP99: ref.result.loopDelay.p99 }),
    };
    ctx.addFigure({
      scenario: 'rest',
      name: 'REST: authenticated GET /api/conversations/',
      value: `${round(svcRate, 0)} req/s (p50 ${svcLatency.p50} ms, p99 ${svcLatency.p99} ms)${ok ? '' : ' (errors!)'}`,
      floor: `${round(refRate, 0)} req/s Fastify hello world`,
      ratio: refRate > 0 ? round(svcRate / refRate, 3) : null,
      goal: null,
      met: null,
      limitedBy,
    });
  } finally {
    await ctx.stopWorkers([loader, hello]);
  }
}
