import { readFileSync } from 'node:fs';
import { compileRules, DEFAULT_RULES, judge } from '../../src/modules/guard/guard-rules.ts';
import type { BenchContext } from '../lib/context.ts';
import { round } from '../lib/histogram.ts';

/**
 * The content guard (issue 16) on its labelled corpus
 * (test/fixtures/guard-corpus.tsv: innocent lines, and contact details and
 * lures with their evasions): precision and recall of "flagged", and what it
 * costs per message, in this process, as the send path runs it (the default
 * rules: detection, then masking where a rule masks). Beside it, the send
 * path's own time per message at the send scenario's maximum, when that ran
 * in the same run. The per-message cost is the median of many passes over the
 * corpus, for all lines and for the innocent ones alone (nearly all traffic).
 */

const CORPUS_FILE = new URL('../../test/fixtures/guard-corpus.tsv', import.meta.url);
const PRECISION_GOAL = 0.95;
const RECALL_GOAL = 0.9;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Median µs per line over `passes` passes of `lines` (after a warm-up pass). */
function microsPerLine(lines: readonly string[], passes: number): number {
  const rules = compileRules(DEFAULT_RULES, []);
  for (const line of lines) judge(rules, 'buyer', line);
  const perPass: number[] = [];
  for (let pass = 0; pass < passes; pass++) {
    const started = process.hrtime.bigint();
    for (const line of lines) judge(rules, 'buyer', line);
    perPass.push(Number(process.hrtime.bigint() - started) / 1000 / lines.length);
  }
  return median(perPass);
}

export async function runGuard(ctx: BenchContext): Promise<void> {
  const corpus = readFileSync(CORPUS_FILE, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [label, text] = line.split('\t') as [string, string];
      return { label, text };
    });
  const rules = compileRules(DEFAULT_RULES, []);
  let truePositives = 0;
  let falsePositives = 0;
  let falseNegatives = 0;
  const misses: string[] = [];
  for (const { label, text } of corpus) {
    const flagged = judge(rules, 'buyer', text) !== undefined;
    if (label === 'clean' && flagged) {
      falsePositives += 1;
      misses.push(`false positive: ${text}`);
    } else if (label !== 'clean' && flagged) truePositives += 1;
    else if (label !== 'clean') {
      falseNegatives += 1;
      misses.push(`missed (${label}): ${text}`);
    }
  }
  const precision = truePositives / (truePositives + falsePositives || 1);
  const recall = truePositives / (truePositives + falseNegatives || 1);

  const passes = ctx.options.mode === 'smoke' ? 20 : ctx.options.mode === 'full' ? 2_000 : 500;
  const all = microsPerLine(
    corpus.map((line) => line.text),
    passes,
  );
  const innocent = microsPerLine(
    corpus.filter((line) => line.label === 'clean').map((line) => line.text),
    passes,
  );
  const sendRate: number | undefined = ctx.results.send?.maximum?.messagesPerSecond;
  const sendMicros = sendRate ? 1e6 / sendRate : null;
  ctx.log(
    'guard',
    `${corpus.length} lines: precision ${round(precision, 3)}, recall ${round(recall, 3)}; ${round(all, 2)} µs/line (innocent ${round(innocent, 2)} µs)`,
  );
  for (const miss of misses) ctx.log('guard', miss);

  ctx.results.guard = {
    lines: corpus.length,
    innocent: corpus.filter((line) => line.label === 'clean').length,
    truePositives,
    falsePositives,
    falseNegatives,
    precision: round(precision, 4),
    recall: round(recall, 4),
    microsPerLine: round(all, 2),
    microsPerInnocentLine: round(innocent, 2),
    passes,
    sendMicrosPerMessage: sendMicros === null ? null : round(sendMicros, 1),
    misses,
  };
  ctx.addFigure({
    scenario: 'guard',
    name: 'Content guard on the labelled corpus (precision / recall of flagged; cost per message)',
    value: `precision ${round(precision, 3)}, recall ${round(recall, 3)} (${corpus.length} lines); ${round(all, 2)} µs/message (innocent lines ${round(innocent, 2)} µs)`,
    floor:
      sendMicros === null
        ? 'send path per message: run with the send scenario'
        : `send path: ${round(sendMicros, 1)} µs/message of wall time at its maximum (${sendRate} msg/s)`,
    ratio: sendMicros === null ? null : round(all / sendMicros, 4),
    goal: `precision ≥ ${PRECISION_GOAL}, recall ≥ ${RECALL_GOAL}`,
    met: precision >= PRECISION_GOAL && recall >= RECALL_GOAL,
    limitedBy: 'in-process, one core: the regular expressions and the digit scan over the folded text',
  });
}
