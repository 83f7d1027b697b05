import { createRequire } from 'node:module';

/**
 * vue-tsc on this package's TypeScript 5: vue-tsc is hoisted to the root,
 * where `typescript` is 7 (no JavaScript compiler API), so it is handed the
 * `tsc` this package depends on. Arguments pass through (`--noEmit -p …`).
 */
const require = createRequire(import.meta.url);
const { run } = require('vue-tsc') as { run(tscPath: string): void };
run(require.resolve('typescript/lib/tsc'));
