import assert from 'node:assert/strict';

/** One sample of a Prometheus text exposition: `name{label="value",…} number`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed scrape, with lookups by metric name and (a subset of) labels. */
export class Scrape {
  readonly samples: Sample[];
  readonly text: string;

  constructor(text: string) {
    this.text = text;
    this.samples = text
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map(parseSample);
  }

  /** Samples of `name` whose labels include every one of `labels`. */
  find(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter(
      (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    );
  }

  /** The value of the one sample of `name` with exactly these labels; 0 when absent (a counter not yet counted). */
  value(name: string, labels: Record<string, string> = {}): number {
    const matches = this.find(name, labels).filter(
      (sample) => Object.keys(sample.labels).length === Object.keys(labels).length,
    );
    assert.ok(matches.length <= 1, `several samples of ${name} ${JSON.stringify(labels)}`);
    return matches[0]?.value ?? 0;
  }

  has(name: string): boolean {
    return this.samples.some((sample) => sample.name === name);
  }
}

function parseSample(line: string): Sample {
  const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
  assert.ok(match, `not a sample line: ${line}`);
  const [, name = '', labelText = '', value = ''] = match;
  const labels: Record<string, string> = {};
  for (const pair of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    labels[pair[1] ?? ''] = (pair[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return { name, labels, value: value === '+Inf' ? Number.POSITIVE_INFINITY : Number(value) };
}

/** GET /metrics of a running server. */
export async function scrape(baseUrl: string): Promise<Scrape> {
  const response = await fetch(`${baseUrl}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return new Scrape(await response.text());
}
