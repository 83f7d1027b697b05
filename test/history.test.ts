import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type HistoryWindow, pageWindow, seqOfRank } from '../src/modules/messages/history.ts';

/** A conversation as history sees it: seqs 1..lastSeq handed out, some deleted by a moderator. */
interface Conversation {
  lastSeq: number;
  deleted: number[];
}

function liveSeqs({ lastSeq, deleted }: Conversation): number[] {
  const gone = new Set(deleted);
  return Array.from({ length: lastSeq }, (_, i) => i + 1).filter((seq) => !gone.has(seq));
}

/** Brute force: the page exactly as "sort, skip, take" on the live messages gives it. */
function referencePage(conversation: Conversation, page: number, pageSize: number, order: 'asc' | 'desc'): number[] {
  const live = liveSeqs(conversation);
  if (order === 'desc') live.reverse();
  return live.slice((page - 1) * pageSize, page * pageSize);
}

/** What the repository does with a window: the range, ordered, at most pageSize rows. */
function applyWindow(conversation: Conversation, window: HistoryWindow, pageSize: number): number[] {
  if (window.kind === 'empty') return [];
  const { atLeast, atMost } = window.range;
  const rows = liveSeqs(conversation).filter((seq) => seq >= atLeast && seq <= atMost);
  if (window.order === 'desc') rows.reverse();
  return rows.slice(0, pageSize);
}

async function windowFor(conversation: Conversation, page: number, pageSize: number, order: 'asc' | 'desc') {
  let loads = 0;
  const live = liveSeqs(conversation);
  const window = await pageWindow(
    page,
    pageSize,
    order,
    live.length,
    async () => {
      loads++;
      return [...conversation.deleted].sort((a, b) => a - b);
    },
    conversation.deleted.length > 0,
  );
  return { window, loads };
}

/** A small deterministic PRNG (mulberry32), so a failure names a reproducible case. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('seqOfRank', () => {
  test('without deletions the k-th message has seq k', () => {
    for (const rank of [1, 2, 10, 1000]) assert.equal(seqOfRank(rank, []), rank);
  });

  test('deletions at the start shift every rank', () => {
    assert.equal(seqOfRank(1, [1]), 2);
    assert.equal(seqOfRank(1, [1, 2, 3]), 4);
    assert.equal(seqOfRank(5, [1, 2, 3]), 8);
  });

  test('a deletion in the middle shifts only the ranks at or after it', () => {
    // live: 1 2 3 4 6 7 8
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((rank) => seqOfRank(rank, [5])),
      [1, 2, 3, 4, 6, 7, 8],
    );
  });

  test('consecutive deletions are skipped as one gap', () => {
    // live: 1 2 6 7
    assert.deepEqual(
      [1, 2, 3, 4].map((rank) => seqOfRank(rank, [3, 4, 5])),
      [1, 2, 6, 7],
    );
  });

  test('deletions at the end do not move the live messages before them', () => {
    // live: 1 2 3 (4 and 5 deleted)
    assert.deepEqual(
      [1, 2, 3].map((rank) => seqOfRank(rank, [4, 5])),
      [1, 2, 3],
    );
  });

  test('start, middle, end and runs together', () => {
    const conversation = { lastSeq: 20, deleted: [1, 2, 7, 10, 11, 12, 19, 20] };
    const live = liveSeqs(conversation);
    assert.deepEqual(live, [3, 4, 5, 6, 8, 9, 13, 14, 15, 16, 17, 18]);
    live.forEach((seq, index) => {
      assert.equal(seqOfRank(index + 1, conversation.deleted), seq, `rank ${index + 1}`);
    });
  });

  test('matches the brute-force rank on random conversations', () => {
    const next = random(0x5eed);
    for (let trial = 0; trial < 500; trial++) {
      const lastSeq = 1 + Math.floor(next() * 60);
      const deleteRate = next();
      const deleted = Array.from({ length: lastSeq }, (_, i) => i + 1).filter(() => next() < deleteRate);
      const live = liveSeqs({ lastSeq, deleted });
      live.forEach((seq, index) => {
        assert.equal(
          seqOfRank(index + 1, deleted),
          seq,
          `trial ${trial}: lastSeq ${lastSeq}, deleted [${deleted}], rank ${index + 1}`,
        );
      });
    }
  });
});

describe('pageWindow', () => {
  test('a page past the end is empty, and needs no deleted seqs', async () => {
    const conversation = { lastSeq: 12, deleted: [3] };
    for (const order of ['asc', 'desc'] as const) {
      const { window, loads } = await windowFor(conversation, 3, 10, order);
      assert.deepEqual(window, { kind: 'empty' });
      assert.equal(loads, 0);
    }
    const none = await windowFor({ lastSeq: 0, deleted: [] }, 1, 20, 'desc');
    assert.deepEqual(none.window, { kind: 'empty' });
  });

  test('without deletions the window is computed without loading anything', async () => {
    const conversation = { lastSeq: 45, deleted: [] };
    const asc = await windowFor(conversation, 2, 20, 'asc');
    assert.deepEqual(asc.window, { kind: 'range', range: { atLeast: 21, atMost: 40 }, order: 'asc' });
    assert.equal(asc.loads, 0);
    const desc = await windowFor(conversation, 2, 20, 'desc');
    assert.deepEqual(desc.window, { kind: 'range', range: { atLeast: 6, atMost: 25 }, order: 'desc' });
    assert.equal(desc.loads, 0);
  });

  test('with deletions the deleted seqs are loaded once and the window skips them', async () => {
    // live: 3 4 5 6 8 9 13 14 15 16 17 18
    const conversation = { lastSeq: 20, deleted: [1, 2, 7, 10, 11, 12, 19, 20] };
    const cases: [number, 'asc' | 'desc', number[]][] = [
      [1, 'asc', [3, 4, 5, 6, 8]],
      [2, 'asc', [9, 13, 14, 15, 16]],
      [3, 'asc', [17, 18]],
      [1, 'desc', [18, 17, 16, 15, 14]],
      [2, 'desc', [13, 9, 8, 6, 5]],
      [3, 'desc', [4, 3]],
    ];
    for (const [page, order, expected] of cases) {
      const { window, loads } = await windowFor(conversation, page, 5, order);
      assert.equal(loads, 1);
      assert.deepEqual(applyWindow(conversation, window, 5), expected, `page ${page} ${order}`);
      assert.deepEqual(referencePage(conversation, page, 5, order), expected, 'the reference agrees');
    }
  });

  test('every page of random conversations matches sort-skip-take', async () => {
    const next = random(0xc0ffee);
    for (let trial = 0; trial < 300; trial++) {
      const lastSeq = Math.floor(next() * 80);
      const deleteRate = next() < 0.3 ? 0 : next();
      const deleted = Array.from({ length: lastSeq }, (_, i) => i + 1).filter(() => next() < deleteRate);
      const conversation = { lastSeq, deleted };
      const liveCount = lastSeq - deleted.length;
      const pageSize = 1 + Math.floor(next() * 12);
      const pages = Math.ceil(liveCount / pageSize) + 1;
      for (const order of ['asc', 'desc'] as const) {
        const seen: number[] = [];
        for (let page = 1; page <= pages; page++) {
          const { window } = await windowFor(conversation, page, pageSize, order);
          const got = applyWindow(conversation, window, pageSize);
          const expected = referencePage(conversation, page, pageSize, order);
          assert.deepEqual(
            got,
            expected,
            `trial ${trial}: lastSeq ${lastSeq}, deleted [${deleted}], page ${page} of ${pageSize} ${order}`,
          );
          seen.push(...got);
        }
        // The pages together are every live message exactly once.
        const live = liveSeqs(conversation);
        assert.deepEqual(seen, order === 'asc' ? live : [...live].reverse(), `trial ${trial} ${order}`);
      }
    }
  });
});
