import { DEFAULT_POOL_SIZE } from '../../src/db/connection.ts';
import type { BenchContext } from '../lib/context.ts';
import { searchIndexCatchUpMs } from '../lib/database.ts';
import { cpuLine, diagnose } from '../lib/diagnose.ts';
import { Histogram, round } from '../lib/histogram.ts';
import { ensurePairs } from './pairs.ts';
import {
  combineListeners,
  combinePairs,
  type FloorRun,
  type ListenRun,
  type PairsRun,
  split,
  streamShares,
} from './results.ts';
import { startFloor } from './send.ts';

/**
 * Send → deliver latency at a fixed open-loop rate (half the send
 * scenario's maximum): messages leave on schedule whatever the server does,
 * from the connected pairs in turn, while the 10 admins listen. Latency is
 * from the sender's send to the recipient's receipt (and, corrected for
 * coordinated omission, from the scheduled send time). The floor: the same
 * transaction on bare mysql2 at the same rate on a pool the size of the
 * service's, timed from its scheduled start; and one transaction alone.
 */

export async function runLatency(ctx: BenchContext): Promise<void> {
  const plan = ctx.plan.latency;
  const fixture = await ensurePairs(ctx);
  const generators = [...fixture.pairWorkers, ...fixture.adminWorkers];
  const floor = await startFloor(ctx, fixture.conversations);
  try {
    let rate = ctx.options.latencyRate;
    let rateSource = '--latency-rate';
    if (rate === null && typeof ctx.shared.sendMax === 'number' && ctx.shared.sendMax > 0) {
      rate = ctx.shared.sendMax / 2;
      rateSource = `half the send scenario's maximum (${ctx.shared.sendMax} msg/s)`;
    }
    if (rate === null) {
      // The send scenario did not run: a short closed-loop probe at c=32 stands in for the maximum.
      const probeMs = Math.min(3_000, plan.durationMs);
      const probe = await ctx.window({ warmupMs: 500, durationMs: probeMs, pids: ctx.pids(generators) }, (startAt) =>
        Promise.all(
          fixture.pairWorkers.map((worker, i) =>
            worker.call<PairsRun>('closed', {
              concurrency: split(32, fixture.pairWorkers.length)[i],
              startAt,
              warmupMs: 500,
              durationMs: probeMs,
            }),
          ),
        ),
      );
      const max = combinePairs(probe.result).perSecond;
      rate = Math.max(1, max / 2);
      rateSource = `half a ${probeMs / 1000} s probe at c=32 (${round(max, 0)} msg/s; the send scenario did not run)`;
    }
    rate = round(rate, 1);
    ctx.log(
      'latency',
      `open loop at ${rate} msg/s (${rateSource}), ${fixture.conversations.length} pairs, ${ctx.plan.admins} admins`,
    );

    const shares = streamShares(rate, fixture.pairWorkers.length);
    const svc = await ctx.window(
      { warmupMs: plan.warmupMs, durationMs: plan.durationMs, pids: ctx.pids(generators) },
      (startAt) =>
        Promise.all([
          Promise.all(
            fixture.pairWorkers.map((worker, i) =>
              worker.call<PairsRun>('open', {
                ...shares[i],
                startAt,
                warmupMs: plan.warmupMs,
                durationMs: plan.durationMs,
              }),
            ),
          ),
          Promise.all(
            fixture.adminWorkers.map((worker) =>
              worker.call<ListenRun>('measure', { startAt, warmupMs: plan.warmupMs, durationMs: plan.durationMs }),
            ),
          ),
        ]),
    );
    const sends = combinePairs(svc.result[0]);
    const admins = combineListeners(svc.result[1]);
    const searchCatchUpMs = await searchIndexCatchUpMs(ctx.db.url);
    ctx.log(
      'latency',
      `service deliver p50 ${sends.deliver.p50} p99 ${sends.deliver.p99} p99.9 ${sends.deliver.p999} ms (${sends.deliver.count} msgs), admins p99 ${admins.latency.p99} ms, search index caught up ${searchCatchUpMs} ms after${sends.errorCount ? `, errors ${JSON.stringify(sends.errors)}` : ''}${sends.lost ? `, lost ${sends.lost}` : ''}; ${cpuLine(svc.cpu)}`,
    );

    const bare = await ctx.window(
      { warmupMs: plan.warmupMs, durationMs: plan.durationMs, pids: ctx.pids([floor]) },
      (startAt) =>
        floor.call<FloorRun>('open', {
          rate,
          poolSize: DEFAULT_POOL_SIZE,
          startAt,
          warmupMs: plan.warmupMs,
          durationMs: plan.durationMs,
        }),
    );
    const floorLatency = Histogram.from(bare.result.latency).summary();
    ctx.log(
      'latency',
      `floor (same rate, pool ${DEFAULT_POOL_SIZE}) p50 ${floorLatency.p50} p99 ${floorLatency.p99} p99.9 ${floorLatency.p999} ms; ${cpuLine(bare.cpu)}`,
    );

    const aloneMs = Math.min(3_000, plan.durationMs);
    const alone = await ctx.window({ warmupMs: 300, durationMs: aloneMs, pids: ctx.pids([floor]) }, (startAt) =>
      floor.call<FloorRun>('closed', { concurrency: 1, startAt, warmupMs: 300, durationMs: aloneMs }),
    );
    const aloneLatency = Histogram.from(alone.result.latency).summary();
    ctx.log('latency', `floor, one transaction at a time: p50 ${aloneLatency.p50} p99 ${aloneLatency.p99} ms`);

    const profile = await ctx.profile('latency', (startAt, durationMs) =>
      Promise.all(
        fixture.pairWorkers.map((worker, i) => worker.call('open', { ...shares[i], startAt, warmupMs: 0, durationMs })),
      ),
    );
    const limitedBy = diagnose(svc, {
      operations: sends.completed,
      generatorLoopDelayP99: Math.max(sends.generatorLoopDelayP99, admins.generatorLoopDelayP99),
    });
    ctx.results.latency = {
      rate,
      rateSource,
      pairs: fixture.conversations.length,
      admins: ctx.plan.admins,
      service: {
        deliver: sends.deliver,
        deliverFromScheduled: sends.deliverFromIntended,
        ack: sends.ack,
        admins: admins.latency,
        sent: sends.sent,
        completed: sends.completed,
        errors: sends.errors,
        lost: sends.lost,
        cpu: svc.cpu,
        db: svc.db,
        serverLoopDelay: svc.serverLoopDelay,
        generatorLoopDelayP99: Math.max(sends.generatorLoopDelayP99, admins.generatorLoopDelayP99),
        searchCatchUpMs,
      },
      floor: { poolSize: DEFAULT_POOL_SIZE, latency: floorLatency, cpu: bare.cpu, errors: bare.result.errors },
      floorAlone: { latency: aloneLatency },
      profile,
      limitedBy,
    };
    const p99Ok = sends.deliver.p99 !== null && sends.deliver.p99 < 25;
    const p50Ok = sends.deliver.p50 !== null && floorLatency.p50 !== null && sends.deliver.p50 < 2 * floorLatency.p50;
    ctx.addFigure({
      scenario: 'latency',
      name: `Send → deliver latency at ${rate} msg/s (p50 / p99 / p99.9)`,
      value: `${sends.deliver.p50} / ${sends.deliver.p99} / ${sends.deliver.p999} ms`,
      floor: `${floorLatency.p50} / ${floorLatency.p99} / ${floorLatency.p999} ms bare transaction at the same rate (alone: p50 ${aloneLatency.p50} ms)`,
      ratio: sends.deliver.p50 !== null && floorLatency.p50 ? round(sends.deliver.p50 / floorLatency.p50, 2) : null,
      goal: 'p99 < 25 ms; p50 < 2 × floor p50',
      met: p99Ok && p50Ok,
      limitedBy,
    });
  } finally {
    await floor.stop();
  }
}
