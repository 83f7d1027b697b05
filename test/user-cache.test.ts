import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { UserRow } from '../src/db/types.ts';
import { createUserCache } from '../src/modules/users/user-cache.ts';

const row = (id: string, status: UserRow['status'] = 'active'): UserRow => ({
  id,
  username: `user-${id}`,
  role: 'buyer',
  avatar: null,
  description: null,
  status,
  password_hash: null,
  created_at: 1,
  updated_at: 1,
  tokens_valid_after: 0,
  team_id: null,
  team_role: null,
  available: 1,
  max_open: null,
  last_assigned_at: null,
  offline_since: null,
});

/** A loader whose answers the test hands out one by one, counting the reads. */
function controlledLoader() {
  const pending: { id: string; resolve: (row: UserRow | undefined) => void; reject: (e: Error) => void }[] = [];
  return {
    pending,
    load: (id: string) =>
      new Promise<UserRow | undefined>((resolve, reject) => {
        pending.push({ id, resolve, reject });
      }),
  };
}

describe('user cache', () => {
  test('reuses a row until it expires, then reads again', async () => {
    let clock = 0;
    let reads = 0;
    const cache = createUserCache({ ttlMs: 1000, now: () => clock });
    const load = async (id: string) => {
      reads++;
      return row(id);
    };
    assert.equal((await cache.get('u1', load))?.id, 'u1');
    clock = 999;
    await cache.get('u1', load);
    assert.equal(reads, 1);
    clock = 1000;
    await cache.get('u1', load);
    assert.equal(reads, 2);
  });

  test('concurrent misses share one read, and the row handed out cannot be changed', async () => {
    const loader = controlledLoader();
    const cache = createUserCache({ ttlMs: 1000 });
    const both = Promise.all([cache.get('u1', loader.load), cache.get('u1', loader.load)]);
    assert.equal(loader.pending.length, 1);
    loader.pending[0]?.resolve(row('u1'));
    const [a, b] = await both;
    assert.equal(a, b);
    assert.ok(Object.isFrozen(a));
  });

  test('forgetting a row drops a read in flight, so a change is never overwritten by an older row', async () => {
    const loader = controlledLoader();
    const cache = createUserCache({ ttlMs: 60_000 });
    const before = cache.get('u1', loader.load);
    cache.forget('u1'); // the user was deactivated while the row was being read
    const after = cache.get('u1', loader.load);
    assert.equal(loader.pending.length, 2, 'the read after the change goes to the database');
    loader.pending[0]?.resolve(row('u1', 'active'));
    loader.pending[1]?.resolve(row('u1', 'inactive'));
    assert.equal((await before)?.status, 'active');
    assert.equal((await after)?.status, 'inactive');
    assert.equal((await cache.get('u1', loader.load))?.status, 'inactive');
    assert.equal(loader.pending.length, 2);
  });

  test('a missing user and a failed read are not remembered', async () => {
    let answer: 'missing' | 'fail' | 'row' = 'missing';
    let reads = 0;
    const cache = createUserCache({ ttlMs: 60_000 });
    const load = async (id: string) => {
      reads++;
      if (answer === 'fail') throw new Error('database down');
      return answer === 'row' ? row(id) : undefined;
    };
    assert.equal(await cache.get('u1', load), undefined);
    answer = 'fail';
    await assert.rejects(cache.get('u1', load), /database down/);
    answer = 'row';
    assert.equal((await cache.get('u1', load))?.id, 'u1');
    assert.equal(reads, 3);
    assert.equal(cache.size, 1);
  });

  test('holds at most maxEntries rows, dropping the oldest', async () => {
    const cache = createUserCache({ ttlMs: 60_000, maxEntries: 2 });
    const reads: string[] = [];
    const load = async (id: string) => {
      reads.push(id);
      return row(id);
    };
    for (const id of ['a', 'b', 'c', 'b', 'a']) await cache.get(id, load);
    assert.deepEqual(reads, ['a', 'b', 'c', 'a']);
    assert.equal(cache.size, 2);
  });

  test('a lifetime of 0 turns it off', async () => {
    let reads = 0;
    const cache = createUserCache({ ttlMs: 0 });
    const load = async (id: string) => {
      reads++;
      return row(id);
    };
    await cache.get('u1', load);
    await cache.get('u1', load);
    assert.equal(reads, 2);
    assert.equal(cache.size, 0);
  });
});
