import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { Envelope, FanoutBus } from '../../src/realtime/bus.ts';
import { createRedisBus, redisChannel, redisKeyPrefix } from '../../src/realtime/redis-bus.ts';
import { dropPrefix, REDIS_SKIP_REASON, TEST_REDIS_URL, withRedis } from '../helpers/redis.ts';
import { eventually, startRealtimeApp } from './helpers.ts';

/**
 * Two deployments (a staging and a production, say) on one Redis server.
 * Keys live in a logical database, but pub/sub ignores the database number,
 * so each deployment's channel must name it: a different database or a
 * different REDIS_PREFIX keeps them apart, for events and presence alike.
 */

/** TEST_REDIS_URL on another logical database. */
function onDatabase(database: number): string {
  const url = new URL(TEST_REDIS_URL);
  url.pathname = `/${database}`;
  return url.toString();
}
const HOME_DB = Number(new URL(TEST_REDIS_URL).pathname.slice(1) || 0);
const OTHER_DB = (HOME_DB + 1) % 16;

const typing = (conversationId: string): Envelope => ({
  kind: 'event',
  audience: { users: ['u1'], admins: false },
  event: { type: 'typing', user_id: 'u0', conversation_id: conversationId, is_typing: true },
});
const conversationOf = (envelope: Envelope) =>
  envelope.kind === 'event' && envelope.event.type === 'typing' ? envelope.event.conversation_id : null;

describe('Redis: two deployments on one server', { skip: REDIS_SKIP_REASON }, () => {
  const shared = redisKeyPrefix(`chat-test-${randomUUID()}`);
  const other = redisKeyPrefix(`chat-test-${randomUUID()}`);
  const buses: FanoutBus[] = [];
  after(async () => {
    await Promise.all(buses.map((bus) => bus.close()));
    for (const prefix of [shared, other]) {
      await dropPrefix(prefix, onDatabase(HOME_DB));
      await dropPrefix(prefix, onDatabase(OTHER_DB));
    }
  });

  /** Two instances of one deployment, each recording the envelopes that reach it from the other. */
  async function deployment(database: number, prefix: string) {
    const url = onDatabase(database);
    const instances = [];
    for (const instanceId of ['1', '2']) {
      const bus = await createRedisBus({ url, prefix, instanceId });
      buses.push(bus);
      const heard: Envelope[] = [];
      bus.onEnvelope((envelope) => heard.push(envelope));
      instances.push({ bus, heard });
    }
    const [first, second] = instances;
    assert.ok(first && second);
    return { first, second };
  }

  test('events and presence stay within a deployment: another database or another prefix is another deployment', async () => {
    const production = await deployment(HOME_DB, shared);
    const staging = await deployment(OTHER_DB, shared); // same REDIS_PREFIX, another database
    const neighbour = await deployment(HOME_DB, other); // same database, another REDIS_PREFIX

    production.first.bus.publish(typing('production'));
    await eventually(() => assert.deepEqual(production.second.heard.map(conversationOf), ['production']));
    // Redis has handled production's PUBLISH; a later one reaches each subscriber after it, so once
    // each deployment's own marker arrived, production's event would have arrived before it.
    for (const [name, { first, second }] of [
      ['staging', staging],
      ['neighbour', neighbour],
    ] as const) {
      first.bus.publish(typing(`${name} marker`));
      await eventually(() => assert.ok(second.heard.length > 0));
      assert.deepEqual(second.heard.map(conversationOf), [`${name} marker`], `${name} hears only itself`);
    }
    assert.deepEqual(production.second.heard.map(conversationOf), ['production']);

    assert.equal(await production.first.bus.presence.join('u1'), true);
    assert.deepEqual(await production.second.bus.presence.filterOnline(['u1']), ['u1']);
    for (const { second } of [staging, neighbour]) {
      assert.deepEqual(await second.bus.presence.filterOnline(['u1']), []);
      assert.deepEqual(await second.bus.presence.online(), []);
      assert.equal(await second.bus.presence.join('u1'), true, 'an arrival in its own deployment');
    }
  });

  test('the server derives its channel and keys from REDIS_URL and REDIS_PREFIX', async () => {
    const deploymentPrefix = `chat-test-${randomUUID()}`;
    const keys = redisKeyPrefix(deploymentPrefix);
    const app = await startRealtimeApp({
      env: { REDIS_URL: onDatabase(OTHER_DB), REDIS_PREFIX: deploymentPrefix },
    });
    try {
      const subscribers = await withRedis((redis) =>
        redis.pubsub('NUMSUB', redisChannel(keys, OTHER_DB), `${keys}events`),
      );
      assert.deepEqual(subscribers, [redisChannel(keys, OTHER_DB), 1, `${keys}events`, 0]);
      const token = await app.addUser('b1', 'buyer');
      await app.connect('b1', token);
      await app.realtime.settled();
      const online = await withRedis((redis) => redis.zrange(`${keys}online`, '0', '-1'), onDatabase(OTHER_DB));
      assert.deepEqual(online, ['b1'], 'presence under the prefix, in the database of REDIS_URL');
    } finally {
      await app.close();
      await dropPrefix(keys, onDatabase(OTHER_DB));
    }
  });
});
