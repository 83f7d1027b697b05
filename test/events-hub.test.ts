import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DomainEvents, EventMeta } from '../src/events/domain-events.ts';
import { createEventHub } from '../src/events/hub.ts';

/** A hub whose logged failures are kept for the test to read. */
function hubWithLog() {
  const failures: { details: { err?: unknown; event?: string }; message: string }[] = [];
  const hub = createEventHub({ error: (details, message) => void failures.push({ details, message }) });
  return { hub, failures };
}

const disabled: DomainEvents['user.disabled'] = { userId: 'b1' };

describe('event hub', () => {
  test('delivers an event to every subscriber, in the order they subscribed, before publish returns', () => {
    const { hub } = hubWithLog();
    const heard: string[] = [];
    hub.subscribe('user.disabled', ({ userId }) => void heard.push(`first ${userId}`));
    hub.subscribe('user.disabled', ({ userId }) => void heard.push(`second ${userId}`));
    hub.subscribe('message.deleted', () => void heard.push('wrong event'));
    hub.publish('user.disabled', disabled);
    assert.deepEqual(heard, ['first b1', 'second b1']);
  });

  test('passes the metadata beside the payload, and none as an empty object', () => {
    const { hub } = hubWithLog();
    const received: { payload: unknown; meta: EventMeta }[] = [];
    hub.subscribe('message.deleted', (payload, meta) => void received.push({ payload, meta }));
    const payload: DomainEvents['message.deleted'] = {
      id: 'x1',
      conversationId: 'c1',
      participants: ['b1', 'm1'],
      teamId: 'm1',
    };
    const origin = { skipConnectionId: 'conn-1', echoToSender: true };
    hub.publish('message.deleted', payload, { origin });
    hub.publish('message.deleted', payload);
    assert.deepEqual(received, [
      { payload, meta: { origin } },
      { payload, meta: {} },
    ]);
    assert.equal(received[0]?.payload, payload, 'the payload itself, not a copy');
  });

  test('a subscriber that throws is logged; the others still hear of the event and the publisher sees nothing', () => {
    const { hub, failures } = hubWithLog();
    const failure = new Error('push failed');
    const heard: string[] = [];
    hub.subscribe('user.disabled', () => void heard.push('before'));
    hub.subscribe('user.disabled', () => {
      throw failure;
    });
    hub.subscribe('user.disabled', () => void heard.push('after'));
    assert.doesNotThrow(() => hub.publish('user.disabled', disabled));
    assert.deepEqual(heard, ['before', 'after']);
    assert.equal(failures.length, 1);
    assert.equal(failures[0]?.details.err, failure);
    assert.equal(failures[0]?.details.event, 'user.disabled');
  });

  test('an asynchronous subscriber that fails later is logged too', async () => {
    const { hub, failures } = hubWithLog();
    const failure = new Error('webhook down');
    let rejected: Promise<void> | undefined;
    hub.subscribe('user.disabled', () => {
      rejected = Promise.reject(failure);
      return rejected;
    });
    hub.publish('user.disabled', disabled);
    await rejected?.catch(() => {});
    // The hub's own handler was attached first, so it has run by now.
    assert.deepEqual(
      failures.map((f) => f.details.err),
      [failure],
    );
  });

  test('an unsubscribed handler hears nothing more; publishing with no subscriber is fine', () => {
    const { hub, failures } = hubWithLog();
    const heard: string[] = [];
    const unsubscribe = hub.subscribe('user.disabled', ({ userId }) => void heard.push(userId));
    hub.publish('user.disabled', { userId: 'b1' });
    unsubscribe();
    unsubscribe();
    hub.publish('user.disabled', { userId: 'b2' });
    hub.publish('sessions.revoked', { userId: 'b3', issuedBefore: 1 });
    assert.deepEqual(heard, ['b1']);
    assert.equal(failures.length, 0);
  });

  test('a subscriber that unsubscribes itself while handling does not make the next one miss the event', () => {
    const { hub } = hubWithLog();
    const heard: string[] = [];
    const once = hub.subscribe('user.disabled', () => {
      heard.push('once');
      once();
    });
    hub.subscribe('user.disabled', () => void heard.push('always'));
    hub.publish('user.disabled', disabled);
    hub.publish('user.disabled', disabled);
    assert.deepEqual(heard, ['once', 'always', 'always']);
  });
});
