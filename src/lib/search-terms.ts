/**
 * How text becomes search terms, the same for every message and every query
 * (and for the index backfill), on every database:
 *
 * - Folding: each code point is NFKC-normalised and lower-cased on its own
 *   (full-width `ＡＢＣ１２３` is `abc123`), so every folded code unit maps back
 *   to the characters it came from (highlights are offsets into the original).
 * - Runs of CJK characters (Han, kana, Hangul) give their overlapping bigrams
 *   (`阿莫西林` → `阿莫 莫西 西林`): any substring of two or more characters is
 *   found through the bigrams it contains. A lone CJK character gives no term.
 * - Runs of other letters and digits are words (`ord-2024` → `ord`, `2024`),
 *   cut to MAX_TERM_LENGTH code points.
 */

export const MAX_TERM_LENGTH = 32;

const CJK = /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Hangul}]/u;
const RUNS =
  /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Hangul}]+|[[\p{L}\p{N}\p{M}]--[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Hangul}]]+/gv;
/** Printable ASCII only: folding is lower-casing. */
const PRINTABLE_ASCII = /^[ -~]*$/;

export interface Folded {
  /** The folded text. */
  text: string;
  /** For each UTF-16 unit of `text`: the start, in the original, of the character it came from. */
  starts: number[];
  /** For each UTF-16 unit of `text`: the end, in the original, of the character it came from. */
  ends: number[];
}

/** Folds text (NFKC, lower case), keeping where each folded unit came from. */
export function foldWithOffsets(original: string): Folded {
  let text = '';
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < original.length; ) {
    const cp = original.codePointAt(i) ?? 0;
    const char = String.fromCodePoint(cp);
    const folded = char.normalize('NFKC').toLowerCase();
    for (let k = 0; k < folded.length; k++) {
      starts.push(i);
      ends.push(i + char.length);
    }
    text += folded;
    i += char.length;
  }
  return { text, starts, ends };
}

/** A capital sigma: the one letter whole-string lower-casing treats by context (final ς), unlike per character. */
const CAPITAL_SIGMA = '\u03a3';

/**
 * The folded text alone, as foldWithOffsets would give it. Every send folds
 * its text, so the common cases skip the per-character walk (and its
 * garbage): text that NFKC leaves as it is is left as it is character by
 * character too, and then only lower-casing remains, which is the same for
 * the whole string as per character except for a capital sigma.
 */
export function fold(original: string): string {
  if (PRINTABLE_ASCII.test(original)) return original.toLowerCase();
  if (!original.includes(CAPITAL_SIGMA) && original.normalize('NFKC') === original) return original.toLowerCase();
  return foldWithOffsets(original).text;
}

/** The distinct terms of already folded text. */
export function termsOfFolded(folded: string): string[] {
  const terms = new Set<string>();
  for (const [run] of folded.matchAll(RUNS)) {
    const chars = Array.from(run);
    if (CJK.test(run)) {
      for (let i = 0; i + 1 < chars.length; i++) terms.add(`${chars[i]}${chars[i + 1]}`);
    } else {
      terms.add(chars.length > MAX_TERM_LENGTH ? chars.slice(0, MAX_TERM_LENGTH).join('') : run);
    }
  }
  return [...terms];
}

/** The distinct search terms of a text (a message's content). */
export function searchTerms(text: string): string[] {
  return termsOfFolded(fold(text));
}

export interface SearchQuery {
  /** What the index is asked for: every one must be among a message's terms. */
  terms: string[];
  /** The folded query's white-space-separated parts, trimmed of punctuation: each must occur in the folded content. */
  parts: string[];
}

/** A query as the index and the verification read it; `terms` is empty when nothing in it can be looked up. */
export function parseQuery(q: string): SearchQuery {
  const folded = fold(q);
  // Punctuation around a part ("阿莫西林？", "(7781)") is not asked for; inside one ("ord-2024") it is.
  const parts = folded
    .split(/\s+/u)
    .map((part) => part.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, ''))
    .filter((part) => part.length > 0);
  return { terms: termsOfFolded(folded), parts: [...new Set(parts)] };
}

/**
 * Where the query's parts occur in a message's content, as [start, end)
 * offsets (UTF-16 units) into the content as stored; undefined when a part is
 * missing (an index candidate whose bigrams are there but not side by side).
 */
export function matchRanges(content: string, parts: readonly string[]): Array<[number, number]> | undefined {
  const folded = foldWithOffsets(content);
  const ranges: Array<[number, number]> = [];
  for (const part of parts) {
    let at = folded.text.indexOf(part);
    if (at < 0) return undefined;
    while (at >= 0) {
      ranges.push([folded.starts[at] ?? 0, folded.ends[at + part.length - 1] ?? content.length]);
      at = folded.text.indexOf(part, at + part.length);
    }
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: Array<[number, number]> = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last && range[0] <= last[1]) last[1] = Math.max(last[1], range[1]);
    else merged.push([...range]);
  }
  return merged;
}
