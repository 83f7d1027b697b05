import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sleep } from '../lib/clock.ts';
import type { BenchContext } from '../lib/context.ts';
import { round } from '../lib/histogram.ts';
import { InspectorClient } from '../lib/inspector.ts';
import { processRssBytes } from '../lib/proc.ts';

/**
 * An idle instance: a fresh service process that has started, answered its
 * readiness probe and one request, and holds no connection. Its resident set
 * after full garbage collections (through the inspector), beside Fastify's
 * hello world on the same Node, started the same way (a TypeScript file, one
 * request served, --inspect, garbage collected and read through the
 * inspector too). The difference is what the service's modules, routes,
 * schemas and pools cost before any user arrives.
 */

const HELLO = fileURLToPath(new URL('../servers/hello-process.ts', import.meta.url));

interface InspectedProcess {
  pid: number;
  port: number;
  inspector: InspectorClient;
  stop(): Promise<void>;
}

/** `node --inspect=127.0.0.1:0 servers/hello-process.ts`, with its port and an inspector connection. */
async function startHello(): Promise<InspectedProcess> {
  const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', HELLO], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const inspectorUrl = /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1];
    const port = /\{"port":(\d+)\}/.exec(stdout)?.[1];
    if (inspectorUrl && port) {
      const inspector = await InspectorClient.connect(inspectorUrl);
      return {
        pid: child.pid ?? -1,
        port: Number(port),
        inspector,
        async stop() {
          inspector.close();
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`hello world did not start:\n${stderr}`);
    }
    await sleep(100);
  }
}

/** Resident set after full collections, with the heap's figures, through the process's inspector. */
async function inspectedFootprint(pid: number, inspector: InspectorClient | null): Promise<Footprint> {
  if (inspector) await inspector.collectGarbage();
  const usage = inspector ? await inspector.memoryUsage() : null;
  return {
    rssMB: mb(processRssBytes(pid) ?? usage?.rss ?? 0),
    heapUsedMB: usage ? mb(usage.heapUsed) : null,
    externalMB: usage ? mb(usage.external + usage.arrayBuffers) : null,
  };
}

/** Readings a second apart; the median is reported (one reading can catch the allocator mid-way). */
const READINGS = 3;
const GOAL_RATIO = 1.5;

interface Footprint {
  rssMB: number;
  heapUsedMB: number | null;
  externalMB: number | null;
}

const mb = (bytes: number) => round(bytes / 2 ** 20, 1);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

function medianOf(readings: Footprint[]): Footprint {
  const pick = (key: keyof Footprint) => {
    const values = readings.map((r) => r[key]).filter((v): v is number => v !== null);
    return values.length === readings.length ? median(values) : null;
  };
  return {
    rssMB: median(readings.map((r) => r.rssMB)),
    heapUsedMB: pick('heapUsedMB'),
    externalMB: pick('externalMB'),
  };
}

export async function runFootprint(ctx: BenchContext): Promise<void> {
  const service = await ctx.ensureService({ fresh: true });
  const hello = await startHello();
  try {
    // One ordinary request each: an instance that has served, not one that only booted.
    await (await fetch(`${service.url}/api/health`)).arrayBuffer();
    await (await fetch(`http://127.0.0.1:${hello.port}/`)).arrayBuffer();
    await ctx.quiesce('footprint', 10_000);

    const serviceReadings: Footprint[] = [];
    const helloReadings: Footprint[] = [];
    for (let i = 0; i < READINGS; i++) {
      await sleep(1000);
      serviceReadings.push(await inspectedFootprint(service.pid, service.inspector));
      helloReadings.push(await inspectedFootprint(hello.pid, hello.inspector));
    }
    const svc = medianOf(serviceReadings);
    const floor = medianOf(helloReadings);
    const ratio = floor.rssMB > 0 ? round(svc.rssMB / floor.rssMB, 2) : null;
    ctx.log(
      'footprint',
      `idle instance ${svc.rssMB} MB RSS (heap ${svc.heapUsedMB} MB), Fastify hello world ${floor.rssMB} MB RSS (heap ${floor.heapUsedMB} MB): ${ratio}×`,
    );
    ctx.results.footprint = { readings: READINGS, service: svc, hello: floor, serviceReadings, helloReadings, ratio };
    ctx.addFigure({
      scenario: 'footprint',
      name: 'Idle instance memory (started, one request served, no connection)',
      value: `${svc.rssMB} MB RSS (heap ${svc.heapUsedMB} MB)`,
      floor: `${floor.rssMB} MB RSS Fastify hello world (heap ${floor.heapUsedMB} MB)`,
      ratio,
      goal: `≤ ${GOAL_RATIO} × hello world`,
      met: ratio === null ? null : ratio <= GOAL_RATIO,
      limitedBy: null,
    });
  } finally {
    await hello.stop();
    await ctx.stopService();
  }
}
