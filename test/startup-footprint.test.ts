/**
 * Issue 12, item 14: what an idle single instance loads. Modules it never
 * uses cost resident memory for the life of the process: ioredis without
 * REDIS_URL, and undici (Node's fetch/WebSocket client), which an ES import
 * of node:http drags in to build its namespace. Checked in a fresh process by
 * what it loaded, not by measuring memory (the figures are in the benchmark:
 * bench/scenarios/footprint.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

const SERVER = pathToFileURL(join(import.meta.dirname, '..', 'src', 'server.ts')).href;

/** Imports the server's whole module graph in a fresh Node and reports what got loaded. */
function loadedByServerGraph(): { undici: boolean; ioredis: boolean } {
  const script = `
    await import(${JSON.stringify(SERVER)});
    const cjs = Object.keys(process.getBuiltinModule('node:module')._cache);
    console.log(JSON.stringify({
      undici: process.moduleLoadList.some((name) => name.includes('undici')),
      ioredis: cjs.some((file) => file.includes('/node_modules/ioredis/')),
    }));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}');
}

test('the server’s modules load neither ioredis (until REDIS_URL asks for it) nor undici', () => {
  assert.deepEqual(loadedByServerGraph(), { undici: false, ioredis: false });
});
