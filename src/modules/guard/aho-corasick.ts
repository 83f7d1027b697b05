/**
 * Aho–Corasick over UTF-16 code units: every occurrence of any of a set of
 * words in one pass over the text, whatever the number of words (an admin's
 * sensitive-word list may hold thousands). Ours rather than a package: the
 * maintained pure-JS ones (mint-filter and the like) fold or replace text by
 * their own rules, while the guard must match on its own NFKC folding and map
 * matches back to the original text.
 */

export interface WordMatch {
  /** Folded-text offsets: [start, end). */
  start: number;
  end: number;
  word: string;
}

interface Node {
  next: Map<number, number>;
  fail: number;
  /** Lengths of the words ending here (its own and its failure chain's), longest first. */
  outputs: number[];
}

export interface WordMatcher {
  readonly size: number;
  /** Every occurrence (overlapping ones included), in order of their end. */
  findAll(text: string): WordMatch[];
}

export function createWordMatcher(words: Iterable<string>): WordMatcher {
  const nodes: Node[] = [{ next: new Map(), fail: 0, outputs: [] }];
  const distinct = new Set<string>();
  for (const word of words) {
    if (word === '' || distinct.has(word)) continue;
    distinct.add(word);
    let state = 0;
    for (let i = 0; i < word.length; i++) {
      const unit = word.charCodeAt(i);
      const node = nodes[state] as Node;
      let target = node.next.get(unit);
      if (target === undefined) {
        target = nodes.length;
        nodes.push({ next: new Map(), fail: 0, outputs: [] });
        node.next.set(unit, target);
      }
      state = target;
    }
    (nodes[state] as Node).outputs.push(word.length);
  }

  // Breadth first: a node's failure link is set before its children's.
  const queue: number[] = [];
  for (const child of (nodes[0] as Node).next.values()) queue.push(child);
  for (let head = 0; head < queue.length; head++) {
    const index = queue[head] as number;
    const node = nodes[index] as Node;
    for (const [unit, child] of node.next) {
      let fail = node.fail;
      while (fail !== 0 && !(nodes[fail] as Node).next.has(unit)) fail = (nodes[fail] as Node).fail;
      const target = (nodes[fail] as Node).next.get(unit);
      const childNode = nodes[child] as Node;
      childNode.fail = target !== undefined && target !== child ? target : 0;
      childNode.outputs.push(...(nodes[childNode.fail] as Node).outputs);
      queue.push(child);
    }
  }

  return {
    size: distinct.size,
    findAll(text) {
      const matches: WordMatch[] = [];
      if (distinct.size === 0) return matches;
      let state = 0;
      for (let i = 0; i < text.length; i++) {
        const unit = text.charCodeAt(i);
        let target = (nodes[state] as Node).next.get(unit);
        while (target === undefined && state !== 0) {
          state = (nodes[state] as Node).fail;
          target = (nodes[state] as Node).next.get(unit);
        }
        state = target ?? 0;
        for (const length of (nodes[state] as Node).outputs) {
          matches.push({ start: i + 1 - length, end: i + 1, word: text.slice(i + 1 - length, i + 1) });
        }
      }
      return matches;
    },
  };
}
