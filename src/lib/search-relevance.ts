import { fold } from './search-terms.ts';

/**
 * `sort=relevance` (README, "Search"): Okapi BM25 over the query's parts,
 * scored for the matches a search has read (each holds every part), best
 * first, newest first among equals.
 *
 * - tf: how often a part occurs in the folded content (`退款退款` has 退款 twice);
 *   it counts less and less (k1) and less in long messages than in short ones (b).
 * - idf: how rare the part is among all messages: the index rows of its rarest
 *   term, counted up to RARITY_CAP, which also stands for the collection's
 *   size (a part in RARITY_CAP messages or more weighs almost nothing beside a
 *   rare one; counting further would cost a scan of the common term).
 */

export const RARITY_CAP = 10_000;
const K1 = 1.2;
const B = 0.75;

/** Non-overlapping occurrences of `part` in `text` (both folded). */
export function occurrences(text: string, part: string): number {
  let count = 0;
  for (let at = text.indexOf(part); at >= 0; at = text.indexOf(part, at + part.length)) count++;
  return count;
}

/** BM25's idf for a part found in `withPart` of RARITY_CAP messages (at least 0). */
export function rarity(withPart: number): number {
  const n = Math.min(withPart, RARITY_CAP);
  return Math.log(1 + (RARITY_CAP - n + 0.5) / (n + 0.5));
}

/**
 * `items` by BM25 score, best first; equal scores keep their order (the
 * caller's, newest first). `weights` holds each part's rarity().
 */
export function byRelevance<T>(
  items: readonly T[],
  contentOf: (item: T) => string,
  weights: ReadonlyMap<string, number>,
): T[] {
  if (items.length === 0) return [];
  const texts = items.map((item) => fold(contentOf(item)));
  const averageLength = texts.reduce((sum, text) => sum + text.length, 0) / texts.length || 1;
  const scores = texts.map((text) => {
    const lengthNorm = 1 - B + (B * text.length) / averageLength;
    let score = 0;
    for (const [part, weight] of weights) {
      const tf = occurrences(text, part);
      score += (weight * tf * (K1 + 1)) / (tf + K1 * lengthNorm);
    }
    return score;
  });
  return items
    .map((item, i) => ({ item, i, score: scores[i] as number }))
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .map((entry) => entry.item);
}
