import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatWithBiome, renderMarkdown, renderTable } from './lib/report.ts';
import { REPO_ROOT } from './lib/service.ts';

/**
 * Re-renders bench/RESULTS.md from a results file (default: the newest in
 * bench/results/): `node bench/report.ts [bench/results/<date>.json]`.
 */
const resultsDir = join(REPO_ROOT, 'bench/results');
let file = process.argv[2];
if (file === '-h' || file === '--help') {
  console.log(
    'node bench/report.ts [results.json]   re-render bench/RESULTS.md (default: newest bench/results/*.json)',
  );
  process.exit(0);
}
if (!file) {
  let names: string[] = [];
  try {
    names = readdirSync(resultsDir);
  } catch {
    // no results yet
  }
  const newest = names
    .filter((name) => /^\d{4}-.*\.json$/.test(name))
    .sort()
    .at(-1);
  if (!newest) {
    console.error('no results in bench/results/; run npm run bench first');
    process.exit(1);
  }
  file = join(resultsDir, newest);
}
const results = JSON.parse(readFileSync(file, 'utf8'));
console.log(renderTable(results));
const summary = join(REPO_ROOT, 'bench/RESULTS.md');
writeFileSync(summary, renderMarkdown(results, file));
formatWithBiome(REPO_ROOT, [summary]);
console.log(`wrote bench/RESULTS.md from ${file}`);
