import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { fold, foldWithOffsets } from '../src/lib/search-terms.ts';

/**
 * fold() takes shortcuts on the send path (it folds every message's text);
 * they must give exactly what the per-character fold gives, or the index and
 * the queries would disagree.
 */

test('fold equals the per-character fold on any text', () => {
  const samples = [
    '请问阿莫西林有货吗',
    'ＡＢＣ１２３ 全角',
    'ΟΔΟΣ Σίσυφος',
    'e\u0301 café',
    'ﬁle ㈱ ① Ⅻ',
    'İstanbul',
    '订单 ORD-2024-0001',
  ];
  for (const text of samples) assert.equal(fold(text), foldWithOffsets(text).text, text);
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (text) => {
      assert.equal(fold(text), foldWithOffsets(text).text);
    }),
    { numRuns: 2000 },
  );
});
