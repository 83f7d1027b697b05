import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { openDatabase } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { createTokenIssuer } from '../../src/modules/auth/tokens.ts';
import { DELIVERY_DEFAULTS } from '../../src/modules/webhooks/webhook-delivery.ts';
import { testDialects } from '../helpers/databases.ts';
import { TEST_SECRET } from '../helpers/test-app.ts';
import { insertTestUser } from '../helpers/users.ts';
import { startReceiver } from '../helpers/webhook-receiver.ts';
import { ServerSupervisor, until } from './helpers/process-server.ts';

/**
 * kill -9 between a commit and its webhook's delivery: the real server
 * (`node src/main.ts`) stores a message whose event it is sending when it is
 * killed (the receiver holds the request, so the attempt is leased and never
 * recorded). A new instance on the same database delivers it: at least once,
 * never zero. The new instance's clock runs a lease ahead (clock-ahead.ts),
 * as if it had started once the dead one's lease ran out.
 */

const CLOCK_AHEAD = `${pathToFileURL(join(import.meta.dirname, '..', 'helpers', 'clock-ahead.ts')).href}?ms=${DELIVERY_DEFAULTS.leaseMs + 1_000}`;

for (const dialect of testDialects) {
  describe(`kill -9 between commit and webhook delivery (${dialect.name})`, () => {
    test('the committed event still arrives, signed, once a new instance runs', async () => {
      const scratch = await dialect.create();
      const handle = openDatabase(scratch.url);
      await migrateToLatest(handle.db);
      const issuer = createTokenIssuer({ secret: TEST_SECRET, algorithm: 'HS256', expireDays: 7 });
      const tokens: Record<string, string> = {};
      for (const [id, role] of [
        ['a1', 'admin'],
        ['b1', 'buyer'],
        ['m1', 'merchant'],
      ] as const) {
        await insertTestUser(handle.db, id, role);
        tokens[id] = (await issuer.issue(id, role)).token;
      }
      // The children own the database from here (one SQLite writer at a time).
      await handle.destroy();
      const receiver = await startReceiver();
      // The first attempt is held until the sender dies; any later one is a success.
      receiver.respondWith((_request, index) => (index === 0 ? 'hang' : 200));
      const supervisor = await ServerSupervisor.create(scratch.urlString, { DEBUG: 'True' });
      try {
        const first = await supervisor.start();
        const endpoint = await first.client.post('/api/webhooks', {
          token: tokens.a1,
          body: { url: receiver.url, events: ['message.created'] },
        });
        assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
        const opened = await first.client.post('/api/conversations/', {
          token: tokens.b1,
          body: { participant1_id: 'b1', participant2_id: 'm1' },
        });
        assert.equal(opened.status, 201);
        const sent = await first.client.post('/api/messages/', {
          token: tokens.b1,
          body: { conversation_id: opened.body.id, content: 'committed, then the server died' },
        });
        assert.equal(sent.status, 201, JSON.stringify(sent.body));
        await receiver.waitFor((all) => all.length >= 1, 'the first attempt, held by the receiver');
        const log = `/api/webhooks/${endpoint.body.id}/deliveries`;
        const inFlight = await first.client.get(log, { token: tokens.a1 });
        assert.deepEqual(
          inFlight.body.map((row: { status: string; attempts: number }) => [row.status, row.attempts]),
          [['pending', 0]],
          'in flight: nothing recorded yet',
        );

        assert.equal((await first.stop('SIGKILL')).signal, 'SIGKILL');
        const second = await supervisor.start(['--import', CLOCK_AHEAD]);
        await receiver.waitFor((all) => all.length >= 2, 'the event, from the new instance');

        const [held, again] = receiver.received as [(typeof receiver.received)[0], (typeof receiver.received)[0]];
        assert.equal(
          again.headers['webhook-id'],
          held.headers['webhook-id'],
          'the same event (receivers de-duplicate)',
        );
        const body = new Webhook(endpoint.body.secret).verify(again.body, again.headers as Record<string, string>) as {
          data: { message: { id: string } };
        };
        assert.equal(body.data.message.id, sent.body.id);
        await until(
          async () => (await second.client.get(log, { token: tokens.a1 })).body,
          (rows: { status: string }[]) => rows.length === 1 && rows[0]?.status === 'delivered',
          'recorded as delivered',
        );
      } finally {
        await supervisor.close();
        await receiver.stop();
        await scratch.drop();
      }
    });
  });
}
