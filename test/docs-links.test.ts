/**
 * Every document's references to other files resolve: relative Markdown links
 * (`[text](docs/REALTIME.md#section)`) and file names cited in code spans
 * (`` `docs/API.md` ``), relative to the document or to the repository root.
 * Docs used to cite `API.md`, which was not in the repository.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Generated or vendored: not ours to keep in step. */
const SKIP_DIRS = new Set(['node_modules', '.git', 'results']);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isDirectory()) return SKIP_DIRS.has(entry.name) ? [] : markdownFiles(join(dir, entry.name));
    return entry.name.endsWith('.md') ? [join(dir, entry.name)] : [];
  });
}

/** Relative link targets, and file names cited in code spans, with their line numbers. */
export function referencesIn(text: string): { target: string; line: number; kind: 'link' | 'citation' }[] {
  const found: { target: string; line: number; kind: 'link' | 'citation' }[] = [];
  // Fenced code blocks hold commands and examples, not references.
  const lines = text.split('\n');
  let fenced = false;
  lines.forEach((content, index) => {
    if (/^\s*```/.test(content)) fenced = !fenced;
    if (fenced) return;
    for (const match of content.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = match[1] ?? '';
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue; // URLs, mailto:, anchors
      found.push({ target: decodeURIComponent(target.replace(/#.*$/, '')), line: index + 1, kind: 'link' });
    }
    for (const match of content.matchAll(/`([A-Za-z0-9_./-]+\.md)`/g)) {
      found.push({ target: match[1] ?? '', line: index + 1, kind: 'citation' });
    }
  });
  return found;
}

test('the link checker finds links and citations, and skips URLs, anchors and code blocks', () => {
  const text = [
    'See [the protocol](docs/REALTIME.md#close-codes), [home](https://example.com/x.md), [up](#top).',
    'The contract is `docs/API.md`; run `npm test`.',
    '```bash',
    'cat [x](missing.md) `missing.md`',
    '```',
  ].join('\n');
  assert.deepEqual(referencesIn(text), [
    { target: 'docs/REALTIME.md', line: 1, kind: 'link' },
    { target: 'docs/API.md', line: 2, kind: 'citation' },
  ]);
});

test('every relative link and cited file name in the Markdown documents resolves', () => {
  const files = markdownFiles(ROOT);
  assert.ok(
    files.some((file) => file.endsWith(join('docs', 'API.md'))),
    'docs/API.md, the wire contract, is present',
  );
  const broken: string[] = [];
  for (const file of files) {
    for (const { target, line, kind } of referencesIn(readFileSync(file, 'utf8'))) {
      // Links resolve against the document; a cited name may also be given from the repository root.
      const candidates =
        kind === 'link' ? [join(dirname(file), target)] : [join(dirname(file), target), join(ROOT, target)];
      if (!candidates.some((path) => existsSync(path))) broken.push(`${relative(ROOT, file)}:${line}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});
