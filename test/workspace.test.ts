import assert from 'node:assert/strict';
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The npm workspace (packages/README.md): the server at the root imports the
 * packages by name, and the packages stand alone, so an SDK or a console can
 * use them without the server.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = join(ROOT, 'packages');

const packageNames = readdirSync(PACKAGES).filter((entry) => statSync(join(PACKAGES, entry)).isDirectory());

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('npm workspace', () => {
  test('the server reaches @cs-chat/contracts through its link, outside node_modules, so Node strips its types', async () => {
    const url = import.meta.resolve('@cs-chat/contracts/ws/protocol');
    const path = realpathSync(fileURLToPath(url));
    assert.equal(path, join(PACKAGES, 'contracts', 'src', 'ws', 'protocol.ts'));
    const protocol = (await import('@cs-chat/contracts/ws/protocol')) as Record<string, unknown>;
    assert.equal(protocol.MAX_FRAME_BYTES, 64 * 1024);
  });

  for (const name of packageNames) {
    test(`packages/${name} imports nothing outside itself by a relative path (never the server's src/)`, () => {
      const home = join(PACKAGES, name);
      const files = sourceFiles(join(home, 'src'));
      assert.ok(files.length > 0);
      for (const file of files) {
        for (const match of readFileSync(file, 'utf8').matchAll(/\bfrom\s+'(\.[^']*)'|\bimport\(\s*'(\.[^']*)'/g)) {
          const target = resolve(dirname(file), match[1] ?? match[2] ?? '');
          assert.ok(!relative(home, target).startsWith('..'), `${relative(ROOT, file)} imports ${target}`);
        }
      }
    });
  }
});
