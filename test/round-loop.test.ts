import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRotatingWindow, createRoundLoop, type RoundOutcome } from '../src/lib/round-loop.ts';

describe('round loop (search indexer, report follower)', () => {
  test('a round that leaves work is followed after batchMs, never back to back; a quiet one waits for the poll', async () => {
    const batchMs = 30;
    const started: number[] = [];
    let finish: () => void = () => {};
    const sixRounds = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const loop = createRoundLoop({
      // Always more work: under steady sends every round ends with some left.
      round: async (): Promise<RoundOutcome> => {
        started.push(performance.now());
        if (started.length === 6) finish();
        return { more: true };
      },
      options: { pollMs: 60_000, batchMs },
      onError: (error) => assert.fail(String(error)),
    });
    loop.start();
    await sixRounds;
    await loop.stop();
    const gaps = started.slice(1).map((at, i) => at - (started[i] as number));
    // Timers never fire early; 1 ms for the clocks' rounding.
    assert.ok(
      gaps.every((gap) => gap >= batchMs - 1),
      `gaps ${gaps.map(Math.round)}`,
    );
  });

  test('a wake during a round that fails still brings the next within batchMs, not at the poll; the failure is logged', async () => {
    let calls = 0;
    const errors: unknown[] = [];
    let second: () => void = () => {};
    const secondRound = new Promise<void>((resolve) => {
      second = resolve;
    });
    const loop = createRoundLoop({
      round: async (): Promise<RoundOutcome> => {
        calls += 1;
        if (calls === 1) {
          loop.wake(); // a send committed meanwhile
          throw new Error('database gone');
        }
        second();
        return { more: false };
      },
      // Without the wake the next round would come a minute later (the test's own timeout first).
      options: { pollMs: 60_000, batchMs: 5 },
      onError: (error) => errors.push(error),
    });
    loop.start();
    await secondRound;
    await loop.stop();
    assert.equal(calls, 2);
    assert.match(String(errors[0]), /database gone/);
  });

  test('drain runs rounds until none knows of work left; stop waits for the running round', async () => {
    let left = 3;
    const loop = createRoundLoop({
      round: async () => {
        left -= 1;
        return { more: left > 0 };
      },
      options: { pollMs: 60_000, batchMs: 60_000 },
      onError: (error) => assert.fail(String(error)),
    });
    await loop.drain();
    assert.equal(left, 0);
    await loop.stop();
  });
});

describe('rotating window over the flagged conversations', () => {
  const flagged = new Set(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  const read = async (after: string | undefined, limit: number) =>
    [...flagged]
      .sort()
      .filter((id) => after === undefined || id > after)
      .slice(0, limit)
      .map((id) => ({ id }));

  test('each window starts after the last and wraps around, so every flagged row comes up under steady load', async () => {
    const next = createRotatingWindow(read);
    const windows: string[] = [];
    for (let i = 0; i < 4; i += 1) windows.push((await next(4)).map((row) => row.id).join(''));
    assert.deepEqual(windows, ['abcd', 'efgh', 'ijab', 'cdef']);
  });

  test('a window that holds every flagged row starts the next from the start; rows that cleared meanwhile are not seen', async () => {
    const next = createRotatingWindow(read);
    assert.equal((await next(6)).map((row) => row.id).join(''), 'abcdef');
    flagged.delete('a');
    flagged.delete('h');
    assert.equal((await next(6)).map((row) => row.id).join(''), 'gijbcd');
    assert.equal((await next(20)).map((row) => row.id).join(''), 'efgijbcd');
    assert.equal((await next(20)).map((row) => row.id).join(''), 'bcdefgij');
  });
});
