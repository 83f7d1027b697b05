import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TokenSession } from '../src/modules/auth/tokens.ts';
import { createMemoryTicketStore } from '../src/modules/auth/ws-tickets.ts';

const session = (id: string): TokenSession => ({
  sessionId: id,
  userId: 'b1',
  issuedAtMs: 0,
  expiresAt: 4_000_000_000,
});

describe('the in-process WebSocket ticket store', () => {
  test('a ticket is taken once, and not after it expired', async () => {
    let now = 1_000;
    const store = createMemoryTicketStore(() => now);
    await store.put('t1', session('s1'), 30_000);
    await store.put('t2', session('s2'), 30_000);
    assert.equal((await store.take('t1'))?.sessionId, 's1');
    assert.equal(await store.take('t1'), undefined, 'single use');
    now += 30_000;
    assert.equal(await store.take('t2'), undefined, 'expired');
  });

  test('issuing sweeps the expired tickets and keeps the live ones', async () => {
    let now = 0;
    const store = createMemoryTicketStore(() => now);
    for (let i = 0; i < 5; i++) await store.put(`old${i}`, session(`old${i}`), 10);
    now = 5;
    await store.put('live', session('live'), 10);
    now = 12; // the five old ones have expired, "live" has not
    await store.put('new', session('new'), 10);
    assert.equal((await store.take('live'))?.sessionId, 'live');
    assert.equal((await store.take('new'))?.sessionId, 'new');
    for (let i = 0; i < 5; i++) assert.equal(await store.take(`old${i}`), undefined);
  });

  test('past its bound the oldest live tickets are dropped, so a burst cannot grow it without end', async () => {
    const store = createMemoryTicketStore(() => 0, 3);
    for (let i = 0; i < 5; i++) await store.put(`t${i}`, session(`t${i}`), 30_000);
    assert.equal(await store.take('t0'), undefined);
    assert.equal(await store.take('t1'), undefined);
    for (const id of ['t2', 't3', 't4']) assert.equal((await store.take(id))?.sessionId, id);
  });
});
