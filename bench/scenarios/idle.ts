import { readFileSync } from 'node:fs';
import { nowMs, sleep } from '../lib/clock.ts';
import type { BenchContext } from '../lib/context.ts';
import { insertUsers } from '../lib/database.ts';
import { cpuLine } from '../lib/diagnose.ts';
import { round } from '../lib/histogram.ts';
import { type KernelSocketMemory, kernelSocketMemory, processRssBytes } from '../lib/proc.ts';
import type { WorkerProcess } from '../lib/workers.ts';

/**
 * Idle connections: N authenticated WebSockets of N distinct users (no
 * conversations) held open by client processes bound to several loopback
 * source addresses, against a fresh service process. Memory per connection
 * is the growth of the service's resident set after full garbage collections
 * (through the inspector), next to the heap's share of it; the kernel's
 * socket memory is the growth of the machine's slab and TCP buffer pages
 * (both ends of each loopback connection, machine-wide, so approximate).
 * Then CPU over a window of whole 30 s heartbeat periods (the service pings
 * every socket each period). The floor: a bare `ws` server holding as many
 * idle sockets with the same heartbeat, measured alongside.
 */

const SOCKETS_PER_WORKER = 5_000;
/** An idle authenticated socket may cost at most this many times a bare `ws` server's. */
const PER_SOCKET_GOAL_RATIO = 1.3;

function openFileLimit(): number {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match ? Number(match[1]) : 1024;
  } catch {
    return 1024;
  }
}

function kernelDelta(before: KernelSocketMemory, after: KernelSocketMemory, n: number) {
  const per = (a: number | null, b: number | null) => (a === null || b === null ? null : round((b - a) / n / 1024, 2));
  return {
    slabKBPerConnection: per(before.slabBytes, after.slabBytes),
    tcpBufferKBPerConnection: per(before.tcpBufferBytes, after.tcpBufferBytes),
    tcpSocketsAdded: before.tcpInUse === null || after.tcpInUse === null ? null : after.tcpInUse - before.tcpInUse,
  };
}

async function settle(ctx: BenchContext, label: string): Promise<void> {
  await ctx.quiesce(label, 30_000);
  await sleep(500);
}

export async function runIdle(ctx: BenchContext): Promise<void> {
  const plan = ctx.plan.idle;
  const fdLimit = openFileLimit();
  const perPhase: any[] = [];
  for (const [phase, target] of plan.counts.entries()) {
    // The service holds one descriptor per socket, and inherits this process's limit.
    const cap = Math.max(100, fdLimit - 1_000);
    const n = Math.min(target, cap);
    const cappedNote =
      n < target
        ? `capped at ${n}: the open-file limit here is ${fdLimit} per process (raise it with ulimit -n; raising the hard limit needs root/CAP_SYS_RESOURCE)`
        : null;
    if (cappedNote) ctx.log('idle', `${target} connections: ${cappedNote}`);

    const seeded = (ctx.shared.idleUsers as number | undefined) ?? 0;
    if (seeded < n) {
      const ids = Array.from({ length: n - seeded }, (_, i) => ({
        id: `iu${String(seeded + i + 1).padStart(7, '0')}`,
        role: 'buyer' as const,
      }));
      await insertUsers(ctx.db.db, ids);
      ctx.shared.idleUsers = n;
    }
    const users = Array.from({ length: n }, (_, i) => `iu${String(i + 1).padStart(7, '0')}`);

    const service = await ctx.ensureService({ fresh: true });
    const inspector = service.inspector;
    const bare = ctx.startWorker('bare-ws', 'servers/bare-ws.ts', {
      execArgv: ['--expose-gc'],
    });
    const workerCount = Math.ceil(n / SOCKETS_PER_WORKER);
    const workers: WorkerProcess[] = Array.from({ length: workerCount }, (_, w) =>
      ctx.startWorker(`idle-clients${w}`, 'workers/ws-listeners.ts'),
    );
    const addressOf = (w: number) => [`127.0.${10 + phase}.${2 + w}`];
    try {
      const { port } = await bare.call<{ port: number }>('listen', { host: '127.0.0.1' });

      // Warm-up: a few hundred connections opened and closed, so code paths are compiled and pools sized.
      const warm = ctx.startWorker('idle-warmup', 'workers/ws-listeners.ts');
      await warm.call('connect', {
        kind: 'service',
        wsBase: service.wsBase,
        secret: ctx.secret,
        users: users.slice(0, Math.min(300, n)),
        role: 'buyer',
        localAddresses: [`127.0.${10 + phase}.200`],
        concurrency: 50,
      });
      await warm.call('connect', {
        kind: 'bare',
        url: `ws://127.0.0.1:${port}/`,
        count: Math.min(300, n),
        localAddresses: [`127.0.${10 + phase}.200`],
        concurrency: 50,
      });
      await warm.stop();
      await settle(ctx, 'idle');

      const memoryOf = async () => {
        if (!inspector) return { rss: processRssBytes(service.pid) ?? 0, heapUsed: null, external: null };
        await inspector.collectGarbage();
        await sleep(200);
        await inspector.collectGarbage();
        const usage = await inspector.memoryUsage();
        return {
          rss: processRssBytes(service.pid) ?? usage.rss,
          heapUsed: usage.heapUsed,
          external: usage.external + usage.arrayBuffers,
        };
      };
      const bareMemory = async () => {
        const usage = await bare.call<NodeJS.MemoryUsage>('memory');
        return {
          rss: processRssBytes(bare.pid) ?? usage.rss,
          heapUsed: usage.heapUsed,
          external: usage.external + usage.arrayBuffers,
        };
      };

      const kernel0 = kernelSocketMemory();
      const service0 = await memoryOf();
      const bare0 = await bareMemory();

      ctx.log('idle', `connecting ${n} authenticated sockets to the service from ${workerCount} processes`);
      let t0 = nowMs();
      const connected = await Promise.all(
        workers.map((worker, w) =>
          worker.call<{ connected: number; failed: number; firstErrors: string[] }>('connect', {
            kind: 'service',
            wsBase: service.wsBase,
            secret: ctx.secret,
            users: users.slice(w * SOCKETS_PER_WORKER, (w + 1) * SOCKETS_PER_WORKER),
            role: 'buyer',
            localAddresses: addressOf(w),
            concurrency: 100,
          }),
        ),
      );
      const serviceConnectSeconds = (nowMs() - t0) / 1000;
      const serviceFailed = connected.reduce((s, r) => s + r.failed, 0);
      if (serviceFailed > 0) {
        throw new Error(
          `${serviceFailed} service sockets failed: ${connected.flatMap((r) => r.firstErrors).join('; ')}`,
        );
      }
      ctx.log(
        'idle',
        `${n} service sockets open in ${round(serviceConnectSeconds, 1)} s (${round(n / serviceConnectSeconds, 0)}/s)`,
      );
      await settle(ctx, 'idle');
      const kernel1 = kernelSocketMemory();
      const service1 = await memoryOf();

      ctx.log('idle', `connecting ${n} sockets to the bare ws server`);
      t0 = nowMs();
      const bareConnected = await Promise.all(
        workers.map((worker, w) =>
          worker.call<{ connected: number; failed: number; firstErrors: string[] }>('connect', {
            kind: 'bare',
            url: `ws://127.0.0.1:${port}/`,
            count: Math.min(SOCKETS_PER_WORKER, n - w * SOCKETS_PER_WORKER),
            localAddresses: addressOf(w),
            concurrency: 200,
          }),
        ),
      );
      const bareFailed = bareConnected.reduce((s, r) => s + r.failed, 0);
      if (bareFailed > 0)
        throw new Error(`${bareFailed} bare sockets failed: ${bareConnected.flatMap((r) => r.firstErrors).join('; ')}`);
      const bareConnectSeconds = (nowMs() - t0) / 1000;
      await sleep(1000);
      const kernel2 = kernelSocketMemory();
      const bare1 = await bareMemory();

      const perConnection = (a: { rss: number; heapUsed: number | null; external: number | null }, b: typeof a) => ({
        rssKB: round((b.rss - a.rss) / n / 1024, 2),
        heapKB: a.heapUsed === null || b.heapUsed === null ? null : round((b.heapUsed - a.heapUsed) / n / 1024, 2),
        externalKB: a.external === null || b.external === null ? null : round((b.external - a.external) / n / 1024, 2),
      });
      const svcPer = perConnection(service0, service1);
      const barePer = perConnection(bare0, bare1);
      const kernelService = kernelDelta(kernel0, kernel1, n);
      const kernelBare = kernelDelta(kernel1, kernel2, n);
      ctx.log(
        'idle',
        `memory per connection: service ${svcPer.rssKB} KB RSS (heap ${svcPer.heapKB} KB), bare ws ${barePer.rssKB} KB RSS (heap ${barePer.heapKB} KB); kernel ≈ ${kernelService.slabKBPerConnection} KB slab per connection (both ends)`,
      );

      ctx.log(
        'idle',
        `CPU of ${n} + ${n} idle sockets over ${plan.cpuWindowMs / 1000} s (heartbeat every ${plan.heartbeatMs / 1000} s)`,
      );
      // process.cpuUsage() (microseconds, every thread) of both servers, besides /proc's 10 ms ticks.
      const preciseCpu = async () => {
        const [svc, ref] = await Promise.all([
          inspector
            ? inspector.evaluate<{ user: number; system: number }>('process.cpuUsage()')
            : Promise.resolve(null),
          bare.call<{ user: number; system: number }>('cpu'),
        ]);
        return { service: svc ? svc.user + svc.system : null, bare: ref.user + ref.system, at: nowMs() };
      };
      const precise0 = await preciseCpu();
      const cpuWindow = await ctx.window(
        // No event-loop delay sampling here: its timer would add to the idle CPU being measured.
        { warmupMs: 0, durationMs: plan.cpuWindowMs, pids: { ...ctx.pids(workers), bare: bare.pid }, loopDelay: false },
        async () => {},
      );
      const precise1 = await preciseCpu();
      const preciseSeconds = (precise1.at - precise0.at) / 1000;
      const stats = await Promise.all(workers.map((w) => w.call<{ open: number }>('stats')));
      const stillOpen = stats.reduce((s, r) => s + r.open, 0);
      const serviceMicros =
        precise0.service !== null && precise1.service !== null ? precise1.service - precise0.service : null;
      const bareMicros = precise1.bare - precise0.bare;
      const msPerSecond = (micros: number | null) =>
        micros === null ? null : round(micros / 1000 / preciseSeconds, 3);
      ctx.log(
        'idle',
        `idle CPU: service ${msPerSecond(serviceMicros)} ms/s, bare ${msPerSecond(bareMicros)} ms/s; ${stillOpen}/${2 * n} sockets still open; ${cpuLine(cpuWindow.cpu)}`,
      );

      const phaseResult = {
        target,
        connections: n,
        capped: cappedNote,
        connectPerSecond: { service: round(n / serviceConnectSeconds, 0), bare: round(n / bareConnectSeconds, 0) },
        service: { before: service0, after: service1, perConnection: svcPer, kernel: kernelService },
        bare: { before: bare0, after: bare1, perConnection: barePer, kernel: kernelBare },
        cpu: {
          windowSeconds: cpuWindow.cpu.windowSeconds,
          heartbeatSeconds: plan.heartbeatMs / 1000,
          wholeHeartbeats: plan.cpuWindowMs >= plan.heartbeatMs,
          serviceMsPerSecond: msPerSecond(serviceMicros),
          bareMsPerSecond: msPerSecond(bareMicros),
          serviceMicrosecondsPerConnectionSecond:
            serviceMicros === null ? null : round(serviceMicros / preciseSeconds / n, 4),
          report: cpuWindow.cpu,
          serverLoopDelay: cpuWindow.serverLoopDelay,
        },
        stillOpen,
      };
      perPhase.push(phaseResult);
      const perSocketRatio = barePer.rssKB > 0 ? round(svcPer.rssKB / barePer.rssKB, 2) : null;
      const label = `${n.toLocaleString('en')}${cappedNote ? ` (of ${target.toLocaleString('en')} asked)` : ''}`;
      ctx.addFigure({
        scenario: 'idle',
        name: `Idle WebSocket memory at ${label} connections`,
        value: `${svcPer.rssKB} KB/conn RSS (heap ${svcPer.heapKB} KB); kernel ≈ ${kernelService.slabKBPerConnection} KB/conn both ends`,
        floor: `${barePer.rssKB} KB/conn bare ws (heap ${barePer.heapKB} KB)`,
        ratio: perSocketRatio,
        goal: `≤ ${PER_SOCKET_GOAL_RATIO} × bare ws per connection`,
        met: perSocketRatio === null ? null : perSocketRatio <= PER_SOCKET_GOAL_RATIO,
        limitedBy: cappedNote,
      });
      ctx.addFigure({
        scenario: 'idle',
        name: `Idle CPU at ${label} connections, ${plan.heartbeatMs / 1000} s heartbeats`,
        value: `${msPerSecond(serviceMicros)} ms CPU/s (${phaseResult.cpu.serviceMicrosecondsPerConnectionSecond} µs per connection-second)${phaseResult.cpu.wholeHeartbeats ? '' : ' — window shorter than one heartbeat'}`,
        floor: `${msPerSecond(bareMicros)} ms CPU/s bare ws`,
        ratio: serviceMicros !== null && bareMicros > 0 ? round(serviceMicros / bareMicros, 2) : null,
        goal: null,
        met: null,
        limitedBy: stillOpen < 2 * n ? `${2 * n - stillOpen} sockets dropped during the window` : null,
      });
    } finally {
      await ctx.stopWorkers([...workers, bare]);
      // The next phase or scenario starts a fresh service anyway.
      await ctx.stopService();
    }
  }
  ctx.results.idle = { openFileLimit: fdLimit, socketsPerClientProcess: SOCKETS_PER_WORKER, phases: perPhase };
}
