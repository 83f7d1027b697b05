import WebSocket from 'ws';

/**
 * A minimal Chrome DevTools Protocol client for the server under test, which
 * the benchmark starts with --inspect=127.0.0.1:0. It lets the benchmark
 * collect garbage before reading memory, read the event-loop delay, and take
 * a CPU profile of one measured window, without any hook in the service.
 */
export class InspectorClient {
  readonly #ws: WebSocket;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
      if (message.id === undefined) return;
      const waiter = this.#pending.get(message.id);
      if (!waiter) return;
      this.#pending.delete(message.id);
      if (message.error) waiter.reject(new Error(message.error.message));
      else waiter.resolve(message.result);
    });
    ws.on('close', () => {
      for (const waiter of this.#pending.values()) waiter.reject(new Error('inspector connection closed'));
      this.#pending.clear();
    });
  }

  static async connect(url: string): Promise<InspectorClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1024 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new InspectorClient(ws);
  }

  send<T = any>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Evaluates an expression in the server's main context and returns its (JSON) value. */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const result = await this.send<{ result: { value: T }; exceptionDetails?: { text: string; exception?: any } }>(
      'Runtime.evaluate',
      { expression, returnByValue: true, awaitPromise: true },
    );
    if (result.exceptionDetails) {
      throw new Error(
        `inspector evaluate failed: ${result.exceptionDetails.exception?.description ?? result.exceptionDetails.text}`,
      );
    }
    return result.result.value;
  }

  /** Full garbage collections (twice, so finalisers' garbage goes too). */
  async collectGarbage(): Promise<void> {
    await this.send('HeapProfiler.collectGarbage');
    await this.send('HeapProfiler.collectGarbage');
  }

  memoryUsage(): Promise<NodeJS.MemoryUsage> {
    return this.evaluate('process.memoryUsage()');
  }

  /** Starts (or restarts) an event-loop delay histogram in the server (10 ms resolution sampling timer). */
  async startLoopDelay(): Promise<void> {
    await this.evaluate(`(() => {
      const h = (globalThis.__benchLoopDelay ??= process.getBuiltinModule('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 }));
      h.enable();
      h.reset();
      return true;
    })()`);
  }

  /** The event-loop delay since startLoopDelay, in milliseconds; stops the sampling timer until the next start. */
  readLoopDelay(): Promise<{ p50: number; p99: number; max: number; mean: number } | null> {
    return this.evaluate(`(() => {
      const h = globalThis.__benchLoopDelay;
      if (!h) return null;
      h.disable();
      if (h.count === 0) return null;
      const ms = (ns) => Math.round(ns / 1e4) / 100;
      return { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) };
    })()`);
  }

  async startProfile(samplingIntervalUs = 500): Promise<void> {
    await this.send('Profiler.enable');
    await this.send('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
    await this.send('Profiler.start');
  }

  async stopProfile(): Promise<CpuProfile> {
    const { profile } = await this.send<{ profile: CpuProfile }>('Profiler.stop');
    await this.send('Profiler.disable');
    return profile;
  }

  close(): void {
    this.#ws.close();
  }
}

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileEntry {
  /** Share of all samples, percent. */
  selfPercent: number;
  function: string;
  /** File (relative to the repository when inside it) and line. */
  location: string;
}

function shortUrl(url: string): string {
  if (!url) return '';
  const cleaned = url.replace(/^file:\/\//, '');
  const nodeModules = cleaned.lastIndexOf('/node_modules/');
  if (nodeModules >= 0) return cleaned.slice(nodeModules + 1);
  const repo = cleaned.indexOf('/src/');
  if (repo >= 0) return cleaned.slice(repo + 1);
  return cleaned.startsWith('node:') ? cleaned : cleaned.split('/').slice(-2).join('/');
}

/**
 * Self time by function, largest first: where the server's thread spends its
 * samples. "(idle)" is the event loop waiting (for the database, the network).
 */
export function topSelfTime(profile: CpuProfile, limit = 15): ProfileEntry[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  /** A native frame (no script) is named with its nearest JavaScript caller: socket write vs log write. */
  const callerOf = (id: number): string => {
    let current = parentOf.get(id);
    while (current !== undefined) {
      const node = byId.get(current);
      if (node?.callFrame.url)
        return `${node.callFrame.functionName || '(anonymous)'} ${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
      current = parentOf.get(current);
    }
    return '';
  };
  const totals = new Map<string, { hits: number; name: string; location: string }>();
  let all = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    all += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const native = !url && !name.startsWith('(');
    const location = url
      ? `${shortUrl(url)}:${lineNumber + 1}`
      : native
        ? `native, called from ${callerOf(node.id) || '?'}`
        : '';
    const key = `${name}@${location}`;
    const entry = totals.get(key) ?? { hits: 0, name, location };
    entry.hits += hits;
    totals.set(key, entry);
  }
  return [...totals.values()]
    .sort((a, b) => b.hits - a.hits)
    .slice(0, limit)
    .map((entry) => ({
      selfPercent: all ? Math.round((entry.hits / all) * 1000) / 10 : 0,
      function: entry.name,
      location: entry.location,
    }));
}

/** Self time grouped by package / source area (node_modules/<pkg>, src/<dir>, node internals, GC, idle). */
export function selfTimeByArea(profile: CpuProfile, limit = 12): { area: string; selfPercent: number }[] {
  const totals = new Map<string, number>();
  let all = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    all += hits;
    const { functionName, url } = node.callFrame;
    let area: string;
    const short = shortUrl(url);
    if (!url) area = functionName.startsWith('(') ? functionName : '(native)';
    else if (short.startsWith('node_modules/')) {
      const parts = short.split('/');
      area = parts[1]?.startsWith('@') ? `${parts[1]}/${parts[2]}` : (parts[1] ?? short);
    } else if (short.startsWith('src/')) area = short.split('/').slice(0, 2).join('/');
    else if (short.startsWith('node:')) area = `node:${short.slice(5).split('/')[0]}`;
    else area = short;
    totals.set(area, (totals.get(area) ?? 0) + hits);
  }
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([area, hits]) => ({ area, selfPercent: all ? Math.round((hits / all) * 1000) / 10 : 0 }));
}
