import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTokenIssuer } from '../src/modules/auth/tokens.ts';

const settings = {
  secret: 'a-secret-long-enough-for-hs256-tokens-0123456789',
  algorithm: 'HS256',
  expireDays: 1,
} as const;

test('a verified token is remembered, but its expiry is still enforced', async (t) => {
  const tokens = createTokenIssuer(settings);
  const { token, expiresAt } = await tokens.issue('b1', 'buyer');
  assert.partialDeepStrictEqual(await tokens.verify(token), { ok: true, userId: 'b1' });
  // The second check is answered from memory; a day and a second later it must still fail.
  assert.partialDeepStrictEqual(await tokens.verify(token), { ok: true, userId: 'b1' });
  t.mock.timers.enable({ apis: ['Date'], now: (expiresAt + 1) * 1000 });
  assert.deepEqual(await tokens.verify(token), { ok: false, reason: 'token_expired' });
});

test('only the exact bytes that were verified are remembered', async () => {
  const tokens = createTokenIssuer(settings);
  const { token } = await tokens.issue('b1', 'buyer');
  assert.equal((await tokens.verify(token)).ok, true);
  const [header, payload, signature = ''] = token.split('.');
  const forgedPayload = Buffer.from(JSON.stringify({ sub: 'a1', role: 'admin', exp: 4_000_000_000 })).toString(
    'base64url',
  );
  assert.deepEqual(await tokens.verify(`${header}.${forgedPayload}.${signature}`), {
    ok: false,
    reason: 'invalid_token',
  });
  const flipped = signature.slice(0, -2) + (signature.endsWith('AA') ? 'BB' : 'AA');
  assert.deepEqual(await tokens.verify(`${header}.${payload}.${flipped}`), { ok: false, reason: 'invalid_token' });
});

test('a token signed with another secret or algorithm is refused', async () => {
  const tokens = createTokenIssuer(settings);
  const other = createTokenIssuer({ ...settings, secret: `${settings.secret}-other` });
  const hs512 = createTokenIssuer({ ...settings, algorithm: 'HS512' });
  assert.equal((await tokens.verify((await other.issue('b1', 'buyer')).token)).ok, false);
  assert.equal((await tokens.verify((await hs512.issue('b1', 'buyer')).token)).ok, false);
});
