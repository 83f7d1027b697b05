import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';

/**
 * The directions imports may take inside src/, so a new module (teams, webhooks,
 * search) plugs in beside the others instead of into the layers below them:
 *
 *   app.ts, server.ts, services.ts  (composition)
 *        ↓
 *   modules/  →  http/, quotas/, lib/, db/, config/
 *   realtime/ →  modules/ (services it calls), http/, lib/, db/
 *   db/       →  lib/, config/ only
 *
 * A plain scan of import specifiers: `from '…'`, `import '…'` and `import('…')`.
 */

const SRC = resolve(import.meta.dirname, '..', 'src');

interface Import {
  /** The importing file, relative to src/ ("modules/users/user.service.ts"). */
  file: string;
  /** The imported file, relative to src/ ("realtime/publisher.ts"). */
  target: string;
}

const IMPORT_PATTERNS = [
  /\bfrom\s*['"]([^'"]+)['"]/g,
  /\bimport\s*['"]([^'"]+)['"]/g,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
];

function sourceFiles(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.ts'))
    .map((path) => path.split('\\').join('/'))
    .sort();
}

/** Every relative import of every file under src/, resolved to a path under src/ (packages are left out). */
function importsOf(files: readonly string[]): Import[] {
  return files.flatMap((file) => {
    const text = readFileSync(join(SRC, file), 'utf8');
    const specifiers = IMPORT_PATTERNS.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[1] ?? ''));
    return specifiers
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier) => ({
        file,
        target: relative(SRC, resolve(SRC, dirname(file), specifier))
          .split('\\')
          .join('/'),
      }));
  });
}

const within = (folder: string) => (path: string) => path.startsWith(`${folder}/`);

function violations(imports: readonly Import[], from: (path: string) => boolean, allowed: (path: string) => boolean) {
  return imports.filter((i) => from(i.file) && !allowed(i.target)).map((i) => `${i.file} imports ${i.target}`);
}

describe('import directions', () => {
  const files = sourceFiles();
  const imports = importsOf(files);

  test('the scan sees imports (the rules below are not vacuous)', () => {
    const targets = (file: string) => imports.filter((i) => i.file === file).map((i) => i.target);
    assert.ok(files.includes('app.ts') && files.some(within('modules')) && files.some(within('realtime')));
    assert.ok(targets('app.ts').includes('modules/users/user.routes.ts'), 'the composition root imports the modules');
    assert.ok(targets('server.ts').includes('realtime/redis-bus.ts'), "a dynamic import('…') is seen too");
  });

  test('modules do not import realtime (they publish domain events; realtime subscribes)', () => {
    assert.deepEqual(
      violations(imports, within('modules'), (target) => !within('realtime')(target)),
      [],
    );
  });

  test('http/ does not import the modules nor the composition (every route shares it)', () => {
    const composition = new Set(['app.ts', 'server.ts', 'services.ts', 'main.ts', 'cluster.ts']);
    assert.deepEqual(
      violations(imports, within('http'), (target) => !within('modules')(target) && !composition.has(target)),
      [],
    );
  });

  test('db/ imports nothing above it: only db/, lib/ and config/ (the database URL type)', () => {
    const below = (target: string) => ['db', 'lib', 'config'].some((folder) => within(folder)(target));
    assert.deepEqual(violations(imports, within('db'), below), []);
  });

  test('realtime does not read the message tables (message rules live in the messages module)', () => {
    // Kysely's table arguments ('messages', 'messages as m', 'deleted_messages') and raw SQL's `from messages`.
    const messageTable =
      /\b(?:selectFrom|innerJoin|leftJoin|rightJoin|fullJoin|updateTable|deleteFrom|insertInto)\(\s*['"](?:deleted_)?messages(?:\s+as\s+\w+)?['"]|\b(?:from|join)\s+`?(?:deleted_)?messages\b`?\s/gi;
    const reads = files.filter(within('realtime')).flatMap((file) => {
      const text = readFileSync(join(SRC, file), 'utf8');
      return [...text.matchAll(messageTable)].map((match) => `${file}: ${match[0].trim()}`);
    });
    assert.deepEqual(reads, []);
  });

  test('only the messages module appends messages (a server message goes through writeServerMessages, with the send hooks)', () => {
    const appenders = files
      .filter((file) => !within('modules/messages')(file))
      // Imported or called (a comment may name it).
      .filter((file) => /\bappendMessages\s*[(,}]/.test(readFileSync(join(SRC, file), 'utf8')));
    assert.ok(
      readFileSync(join(SRC, 'modules/messages/message.repository.ts'), 'utf8').includes('function appendMessages('),
      'the rule is not vacuous',
    );
    assert.deepEqual(appenders, []);
  });
});
