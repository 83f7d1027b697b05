import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkWebhookUrl, classifyAddress, type ResolveHost } from '../src/modules/webhooks/webhook-url.ts';
import { testDialects } from './helpers/databases.ts';
import { assertError } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

interface Endpoint {
  id: string;
  url: string;
  description: string | null;
  events: string[];
  active: boolean;
  allow_private_network: boolean;
  disabled_reason: string | null;
  previous_secret_expires_at: number | null;
  created_at: number;
  updated_at: number;
  secret?: string;
}

const SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/;

describe('webhook URL rules', () => {
  const dns =
    (table: Record<string, string[]>): ResolveHost =>
    async (host) =>
      table[host] ?? [];
  const production = { allowLoopbackHttp: false, allowPrivateNetwork: false };
  const debug = { allowLoopbackHttp: true, allowPrivateNetwork: false };
  const refusal = async (url: string, policy: typeof production, resolve: ResolveHost = dns({})) => {
    try {
      await checkWebhookUrl(url, policy, resolve);
    } catch (error) {
      return (error as { code: string }).code;
    }
    return 'accepted';
  };

  test('addresses are classified, IPv4-mapped IPv6 as its IPv4 address', () => {
    const cases: [string, string][] = [
      ['93.184.216.34', 'public'],
      ['2606:4700::1111', 'public'],
      ['127.0.0.1', 'loopback'],
      ['127.10.0.1', 'loopback'],
      ['::1', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['172.32.0.1', 'public'],
      ['192.168.1.1', 'private'],
      ['100.64.0.1', 'private'],
      ['fd12:3456::1', 'private'],
      ['169.254.169.254', 'forbidden'],
      ['169.254.1.1', 'forbidden'],
      ['100.100.100.200', 'forbidden'],
      ['fd00:ec2::254', 'forbidden'],
      ['fe80::1', 'forbidden'],
      ['0.0.0.0', 'forbidden'],
      ['::', 'forbidden'],
      ['224.0.0.1', 'forbidden'],
      ['::ffff:169.254.169.254', 'forbidden'],
      ['::ffff:10.0.0.1', 'private'],
      ['::ffff:127.0.0.1', 'loopback'],
    ];
    for (const [address, kind] of cases) assert.equal(classifyAddress(address), kind, address);
  });

  test('https to a public address is accepted; a name counts by every address it resolves to', async () => {
    const resolve = dns({
      'hooks.example.com': ['93.184.216.34'],
      'rebind.example.com': ['93.184.216.34', '10.0.0.5'],
    });
    assert.equal(await refusal('https://hooks.example.com/in', production, resolve), 'accepted');
    assert.equal(await refusal('https://93.184.216.34:8443/in', production), 'accepted');
    assert.equal(await refusal('https://rebind.example.com/in', production, resolve), 'webhook_url_refused');
    assert.equal(await refusal('https://nowhere.example.com/in', production, resolve), 'webhook_url_unresolvable');
    assert.equal(
      await refusal('https://rebind.example.com/in', { ...production, allowPrivateNetwork: true }, resolve),
      'accepted',
    );
  });

  test('http only to loopback and only when DEBUG=True', async () => {
    const resolve = dns({ localhost: ['127.0.0.1', '::1'], 'hooks.example.com': ['93.184.216.34'] });
    assert.equal(await refusal('http://127.0.0.1:9000/in', production), 'webhook_url_invalid');
    assert.equal(await refusal('http://127.0.0.1:9000/in', debug), 'accepted');
    assert.equal(await refusal('http://[::1]:9000/in', debug), 'accepted');
    assert.equal(await refusal('http://localhost:9000/in', debug, resolve), 'accepted');
    assert.equal(await refusal('http://hooks.example.com/in', debug, resolve), 'webhook_url_invalid');
    assert.equal(
      await refusal('http://10.0.0.1/in', { allowLoopbackHttp: true, allowPrivateNetwork: true }),
      'webhook_url_invalid',
    );
    assert.equal(await refusal('ftp://hooks.example.com/in', debug, resolve), 'webhook_url_invalid');
    assert.equal(await refusal('not a url', debug), 'webhook_url_invalid');
  });

  test('private, link-local and metadata targets are refused; allow_private_network opens private ones only', async () => {
    const open = { allowLoopbackHttp: false, allowPrivateNetwork: true };
    for (const url of ['https://10.0.0.1/', 'https://192.168.0.10/', 'https://[fd12::1]/', 'https://127.0.0.1/']) {
      assert.equal(await refusal(url, production), 'webhook_url_refused', url);
      assert.equal(await refusal(url, open), 'accepted', url);
    }
    for (const url of [
      'https://169.254.169.254/latest/meta-data/',
      'https://[fe80::1]/',
      'https://[::ffff:169.254.169.254]/',
      'https://0.0.0.0/',
      'https://[fd00:ec2::254]/',
    ]) {
      assert.equal(await refusal(url, open), 'webhook_url_refused', url);
    }
    const resolve = dns({ 'metadata.internal': ['169.254.169.254'] });
    assert.equal(await refusal('https://metadata.internal/', open, resolve), 'webhook_url_refused');
  });
});

for (const dialect of testDialects) {
  describe(`webhook endpoints API (${dialect.name})`, () => {
    let app: TestApp;
    let admin: string;
    let merchant: string;
    const receiver = 'http://127.0.0.1:9/hooks';

    const create = async (body: Record<string, unknown>) => {
      const response = await app.client.post<Endpoint>('/api/webhooks', { token: admin, body });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body;
    };
    const secretOf = async (id: string) =>
      await app.server.database.db
        .selectFrom('webhook_endpoints')
        .select(['secret', 'previous_secret'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();

    before(async () => {
      app = await startTestApp(dialect, { env: { DEBUG: 'True' } });
      [admin, merchant] = await Promise.all([app.addUser('a1', 'admin'), app.addUser('m1', 'merchant')]);
    });
    after(() => app.close());

    test('create answers the secret once; list and get never show it', async () => {
      const created = await create({ url: receiver, events: ['message.created'], description: 'push' });
      assert.match(created.secret ?? '', SECRET);
      assert.deepEqual(
        {
          url: created.url,
          events: created.events,
          description: created.description,
          active: created.active,
          allow_private_network: created.allow_private_network,
          disabled_reason: created.disabled_reason,
          previous_secret_expires_at: created.previous_secret_expires_at,
        },
        {
          url: receiver,
          events: ['message.created'],
          description: 'push',
          active: true,
          allow_private_network: false,
          disabled_reason: null,
          previous_secret_expires_at: null,
        },
      );
      assert.equal((await secretOf(created.id)).secret, created.secret);
      const list = await app.client.get<Endpoint[]>('/api/webhooks', { token: admin });
      assert.equal(list.status, 200);
      const listed = list.body.find((endpoint) => endpoint.id === created.id);
      const { secret: _secret, ...withoutSecret } = created;
      assert.deepEqual(listed, withoutSecret);
      const one = await app.client.get<Endpoint>(`/api/webhooks/${created.id}`, { token: admin });
      assert.deepEqual(one.body, withoutSecret);
      assert.ok(!JSON.stringify(list.body).includes('whsec_'));
    });

    test('patch changes fields; rotate answers a new secret and keeps the old one for 24 h', async () => {
      const created = await create({ url: receiver, events: ['message.created'] });
      const patched = await app.client.patch<Endpoint>(`/api/webhooks/${created.id}`, {
        token: admin,
        body: { url: `${receiver}/v2`, description: 'ops', active: false },
      });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.deepEqual(
        [patched.body.url, patched.body.description, patched.body.active, patched.body.secret],
        [`${receiver}/v2`, 'ops', false, undefined],
      );
      const rotated = await app.client.patch<Endpoint>(`/api/webhooks/${created.id}`, {
        token: admin,
        body: { rotate_secret: true, active: true, description: null },
      });
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      assert.match(rotated.body.secret ?? '', SECRET);
      assert.notEqual(rotated.body.secret, created.secret);
      assert.equal(rotated.body.active, true);
      assert.equal(rotated.body.description, null);
      const now = Math.floor(Date.now() / 1000);
      assert.ok(Math.abs((rotated.body.previous_secret_expires_at ?? 0) - (now + 86_400)) <= 5);
      assert.deepEqual(
        { ...(await secretOf(created.id)) },
        { secret: rotated.body.secret, previous_secret: created.secret },
      );
      const again = await app.client.get<Endpoint>(`/api/webhooks/${created.id}`, { token: admin });
      assert.equal(again.body.previous_secret_expires_at, rotated.body.previous_secret_expires_at);
      assert.equal(again.body.secret, undefined);
    });

    test('delete removes it; a second delete, get or patch is a 404', async () => {
      const created = await create({ url: receiver, events: ['message.created'] });
      const deleted = await app.client.delete(`/api/webhooks/${created.id}`, { token: admin });
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      assertError(await app.client.delete(`/api/webhooks/${created.id}`, { token: admin }), 404, 'webhook_not_found');
      assertError(await app.client.get(`/api/webhooks/${created.id}`, { token: admin }), 404, 'webhook_not_found');
      assertError(
        await app.client.patch(`/api/webhooks/${created.id}`, { token: admin, body: { active: true } }),
        404,
        'webhook_not_found',
      );
    });

    test('SSRF: private, metadata and non-https targets are refused at registration and on change', async () => {
      const count = async () => (await app.client.get<Endpoint[]>('/api/webhooks', { token: admin })).body.length;
      const before = await count();
      for (const [url, code] of [
        ['https://169.254.169.254/latest/meta-data/', 'webhook_url_refused'],
        ['https://10.0.0.1/hooks', 'webhook_url_refused'],
        ['https://[fe80::1]/hooks', 'webhook_url_refused'],
        ['http://10.0.0.1/hooks', 'webhook_url_invalid'],
        ['ftp://127.0.0.1/hooks', 'webhook_url_invalid'],
        ['nonsense', 'webhook_url_invalid'],
      ]) {
        assertError(
          await app.client.post('/api/webhooks', { token: admin, body: { url, events: ['message.created'] } }),
          422,
          code,
        );
      }
      assert.equal(await count(), before);
      const privateTarget = await create({
        url: 'https://10.0.0.1/hooks',
        events: ['message.created'],
        allow_private_network: true,
      });
      assert.equal(privateTarget.allow_private_network, true);
      assertError(
        await app.client.patch(`/api/webhooks/${privateTarget.id}`, {
          token: admin,
          body: { allow_private_network: false },
        }),
        422,
        'webhook_url_refused',
      );
      assertError(
        await app.client.patch(`/api/webhooks/${privateTarget.id}`, {
          token: admin,
          body: { url: 'https://169.254.169.254/' },
        }),
        422,
        'webhook_url_refused',
      );
      const unchanged = await app.client.get<Endpoint>(`/api/webhooks/${privateTarget.id}`, { token: admin });
      assert.equal(unchanged.body.url, 'https://10.0.0.1/hooks');
      assert.equal(unchanged.body.allow_private_network, true);
    });

    test('only admins: others get 403 and nothing is created', async () => {
      const before = (await app.client.get<Endpoint[]>('/api/webhooks', { token: admin })).body.length;
      assertError(await app.client.get('/api/webhooks', { token: merchant }), 403);
      assertError(
        await app.client.post('/api/webhooks', {
          token: merchant,
          body: { url: receiver, events: ['message.created'] },
        }),
        403,
      );
      assertError(await app.client.get('/api/webhooks'), 401);
      assert.equal((await app.client.get<Endpoint[]>('/api/webhooks', { token: admin })).body.length, before);
    });

    test('malformed bodies are 422: unknown event, empty or repeated events, unknown field', async () => {
      for (const body of [
        { url: receiver, events: ['message.exploded'] },
        { url: receiver, events: [] },
        { url: receiver, events: ['message.created', 'message.created'] },
        { url: receiver, events: ['message.created'], secret: 'whsec_mine' },
        { events: ['message.created'] },
      ]) {
        assertError(await app.client.post('/api/webhooks', { token: admin, body }), 422);
      }
    });
  });
}

describe('webhook endpoints without DEBUG (sqlite)', () => {
  let app: TestApp;
  let admin: string;
  before(async () => {
    app = await startTestApp(testDialects[0] as (typeof testDialects)[number]);
    admin = await app.addUser('a1', 'admin');
  });
  after(() => app.close());

  test('http:// to loopback is refused when DEBUG=False', async () => {
    assertError(
      await app.client.post('/api/webhooks', {
        token: admin,
        body: { url: 'http://127.0.0.1:9/hooks', events: ['message.created'] },
      }),
      422,
      'webhook_url_invalid',
    );
  });
});
