import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SAMPLES } from '../helpers/media-samples.ts';
import { scrape } from '../helpers/metrics.ts';
import { REDIS_SKIP_REASON, TEST_REDIS_URL } from '../helpers/redis.ts';
import { assertError } from '../helpers/rest.ts';
import { type RealtimeTestApp, startRealtimeApp } from './helpers.ts';

/**
 * Issue 12, item 5: per-user quotas, each answered with 429, Retry-After and
 * {detail, error_type}, and counted in /metrics by kind. Small limits are
 * injected; refill rates are slow enough that nothing refills during a test.
 */

const NEVER_REFILLS = 0.000_001;

async function upload(app: RealtimeTestApp, token: string, bytes: Buffer, name: string) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)]), name);
  const response = await fetch(`${app.url}/api/upload/image`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

function assertQuota(response: { status: number; body: any; headers: Headers }, errorType: string): void {
  assertError(response, 429, errorType);
  assert.match(response.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
}

describe('quotas per user', () => {
  let app: RealtimeTestApp;
  let buyer: string;
  let merchant: string;
  let conversation: string;

  before(async () => {
    app = await startRealtimeApp({
      quotas: { sendBurst: 3, sendPerSecond: NEVER_REFILLS, socketsPerUser: 2, uploadsPerHour: 2 },
    });
    [buyer, merchant] = await Promise.all([app.addUser('b1', 'buyer'), app.addUser('m1', 'merchant')]);
    conversation = await app.conversation(buyer, 'b1', 'm1');
  });
  after(() => app.close());

  test('REST sends and WebSocket sends draw on one budget per user', async () => {
    const post = (token: string, content: string) =>
      app.client.post('/api/messages/', { token, body: { conversation_id: conversation, content } });
    assert.equal((await post(buyer, 'one')).status, 201);
    assert.equal((await post(buyer, 'two')).status, 201);
    const socket = await app.connect('b1', buyer);
    socket.send({ type: 'message', conversation_id: conversation, content: 'three', client_msg_id: 'c3' });
    const ack = await socket.waitFor('ack');
    assert.equal(ack.client_msg_id, 'c3');
    // The budget of 3 is spent, across both transports.
    socket.send({ type: 'message', conversation_id: conversation, content: 'four', client_msg_id: 'c4' });
    const refused = await socket.waitFor('error');
    assert.deepEqual([refused.error_type, refused.client_msg_id], ['send_rate_limited', 'c4']);
    assertQuota(await post(buyer, 'five'), 'send_rate_limited');
    // Another user's budget is their own.
    assert.equal((await post(merchant, 'hello')).status, 201);
    await socket.close();
    const metrics = await scrape(app.url);
    assert.equal(metrics.value('chat_quota_refusals_total', { kind: 'send_rate' }), 2);
  });

  test('a user may hold so many sockets; one more is refused with 429 before the upgrade', async () => {
    const first = await app.connect('m1', merchant);
    const second = await app.connect('m1', merchant);
    const third = await app.refused('m1', { token: merchant });
    assert.equal(third.status, 429);
    assert.equal(third.body.error_type, 'too_many_sockets');
    await first.close();
    const again = await app.connect('m1', merchant);
    await Promise.all([second.close(), again.close()]);
    const metrics = await scrape(app.url);
    assert.equal(metrics.value('chat_quota_refusals_total', { kind: 'sockets_per_user' }), 1);
  });

  test("uploads per hour are counted per user; another user's allowance is their own", async () => {
    assert.equal((await upload(app, buyer, SAMPLES.png, 'a.png')).status, 200);
    assert.equal((await upload(app, buyer, SAMPLES.png, 'b.png')).status, 200);
    assertQuota(await upload(app, buyer, SAMPLES.png, 'c.png'), 'upload_quota_exceeded');
    assert.equal((await upload(app, merchant, SAMPLES.png, 'd.png')).status, 200);
  });
});

describe('quotas by bytes and by address', () => {
  let app: RealtimeTestApp;
  let buyer: string;

  before(async () => {
    app = await startRealtimeApp({
      quotas: { uploadBytesPerHour: SAMPLES.png.length - 1, newSocketsPerAddress: 3, newSocketsWindowMs: 3_600_000 },
    });
    buyer = await app.addUser('b1', 'buyer');
    await Promise.all([app.addUser('b2', 'buyer'), app.addUser('b3', 'buyer')]);
  });
  after(() => app.close());

  test('uploads per hour are limited by bytes too; a failed upload costs nothing', async () => {
    // Refused by type: neither its count nor its bytes are spent.
    assert.equal((await upload(app, buyer, SAMPLES.html, 'x.png')).status, 415);
    assert.equal((await upload(app, buyer, SAMPLES.png, 'a.png')).status, 200);
    assertQuota(await upload(app, buyer, SAMPLES.png, 'b.png'), 'upload_quota_exceeded');
    const metrics = await scrape(app.url);
    assert.equal(metrics.value('chat_quota_refusals_total', { kind: 'upload_bytes' }), 1);
  });

  test('new sockets per address are limited, whoever signs in', async () => {
    const tokens = await Promise.all(['b1', 'b2', 'b3'].map((id) => app.tokenFor(id)));
    const sockets = await Promise.all(['b1', 'b2', 'b3'].map((id, i) => app.connect(id, tokens[i] as string)));
    const refused = await app.refused('b1', { token: tokens[0] as string });
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error_type, 'too_many_new_sockets');
    await Promise.all(sockets.map((socket) => socket.close()));
    const metrics = await scrape(app.url);
    assert.equal(metrics.value('chat_quota_refusals_total', { kind: 'new_sockets_per_address' }), 1);
  });
});

describe('new sockets per address across instances (Redis store)', { skip: REDIS_SKIP_REASON }, () => {
  const apps: RealtimeTestApp[] = [];
  // A client address of its own per run (through a trusted proxy): the Redis is shared, keys expire with the window.
  const address = `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
  const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });

  before(async () => {
    const env = { REDIS_URL: TEST_REDIS_URL, TRUSTED_PROXIES: '127.0.0.1' };
    const quotas = { newSocketsPerAddress: 3, newSocketsWindowMs: 60_000 };
    apps.push(await startRealtimeApp({ env, quotas }));
    apps.push(await startRealtimeApp({ env, quotas, databasePath: apps[0]?.databasePath ?? '' }));
    await apps[0]?.addUser('b1', 'buyer');
  });
  after(async () => {
    for (const app of apps.reverse()) await app.close();
  });

  test("the limit is shared by every instance and keyed by the client's address behind the proxy", async () => {
    const [one, two] = apps as [RealtimeTestApp, RealtimeTestApp];
    const token = await one.tokenFor('b1');
    const sockets = [
      await one.connect('b1', token, from(address)),
      await two.connect('b1', token, from(address)),
      await one.connect('b1', token, from(address)),
    ];
    const refused = await two.refused('b1', { token, ...from(address) });
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error_type, 'too_many_new_sockets');
    // Another client behind the same proxy has its own allowance.
    sockets.push(await two.connect('b1', token, from(`${address.split('.').slice(0, 3).join('.')}.0`)));
    await Promise.all(sockets.map((socket) => socket.close()));
  });
});
