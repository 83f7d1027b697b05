/**
 * Issue 6, case 11: the authorization matrix over WebSocket. Every role
 * (buyer, merchant, service, admin) × every client event (message, read,
 * typing) × the caller's own conversation, a foreign one, and one that does not
 * exist → exactly the answer API.md implies (the REST matrix's statuses,
 * test/authorization-matrix.test.ts, as `ack` / `error` error_types), and
 * exactly the pushes it implies: the other participant (and, for messages and
 * typing, every admin) gets the event, nobody else gets anything.
 *
 * Alongside, two bystanders who share no conversation with anyone (a buyer and
 * a merchant) and the two participants of the foreign conversation stay
 * connected throughout; at the end, every event any non-admin socket received
 * is checked to concern only its own conversations and contacts.
 *
 * Extends test/realtime/push.test.ts (admins never send; a stranger's send and
 * typing; typing reaches the other participant and admins, read the other participant only), which covers single
 * cells, to the whole matrix. The rate limit is raised for this app (every
 * socket is synced after every cell, ~40 pings each in a few seconds); the
 * limit itself is case 9's subject.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { withoutSearchProgress } from '../helpers/rest.ts';
import { type Event, type RealtimeTestApp, startRealtimeApp, type TestSocket } from '../realtime/helpers.ts';

type Actor = 'buyer' | 'merchant' | 'service' | 'admin';
type Kind = 'message' | 'read' | 'typing';
type Target = 'own' | 'foreign' | 'missing';

const ACTORS: Actor[] = ['buyer', 'merchant', 'service', 'admin'];
const KINDS: Kind[] = ['message', 'read', 'typing'];
const TARGETS: Target[] = ['own', 'foreign', 'missing'];

const USER: Record<Actor, string> = { buyer: 'b1', merchant: 'm1', service: 'p1', admin: 'a1' };
/** The other participant of the actor's own conversation (admins have none; "own" is the buyer's for them, as in the REST matrix). */
const PARTNER: Record<Actor, string | undefined> = { buyer: 'm1', merchant: 'b1', service: 'b1', admin: undefined };
const FOREIGN_SECRET = 'foreign-conversation-secret';

/**
 * What API.md implies: `ack`, `error:<type>`, or `none` (no answer; for a
 * success the other participant gets the event).
 */
function expected(actor: Actor, kind: Kind, target: Target): string {
  if (actor === 'admin') {
    if (kind === 'message') return 'error:admin_read_only';
    if (target === 'missing') return 'error:conversation_not_found';
    // Admins may look at any conversation, but reading marks nothing and they never type.
    return kind === 'read' ? 'none' : 'error:not_a_participant';
  }
  if (target !== 'own') return 'error:conversation_not_found';
  return kind === 'message' ? 'ack' : 'none';
}

describe('authorization matrix over WebSocket (case 11)', () => {
  let app: RealtimeTestApp;
  const tokens: Record<string, string> = {};
  const sockets: Record<string, TestSocket> = {};
  const conversations: Record<string, string> = {};
  /** Each user's conversations and contacts: what their events may mention. */
  const scope: Record<string, { conversations: Set<string>; contacts: Set<string> }> = {};
  let counter = 0;

  before(async () => {
    app = await startRealtimeApp({
      limits: { rateLimit: { burst: 1000, perSecond: 1000, maxStrikes: 20, strikeWindowMs: 10_000 } },
    });
    for (const [id, role] of [
      ['b1', 'buyer'],
      ['m1', 'merchant'],
      ['p1', 'service'],
      ['a1', 'admin'],
      ['a2', 'admin'],
      ['bx', 'buyer'],
      ['mx', 'merchant'],
      ['b3', 'buyer'],
      ['m3', 'merchant'],
    ] as const) {
      tokens[id] = await app.addUser(id, role);
    }
    const token = (id: string) => tokens[id] ?? assert.fail(id);
    conversations.bm = await app.conversation(token('b1'), 'b1', 'm1');
    conversations.bp = await app.conversation(token('p1'), 'p1', 'b1');
    conversations.foreign = await app.conversation(token('bx'), 'bx', 'mx');
    const secret = await app.client.post('/api/messages/', {
      token: token('bx'),
      body: { conversation_id: conversations.foreign, content: FOREIGN_SECRET },
    });
    assert.equal(secret.status, 201);
    const own = (...ids: string[]) => new Set(ids.map((id) => conversations[id] ?? assert.fail(id)));
    Object.assign(scope, {
      b1: { conversations: own('bm', 'bp'), contacts: new Set(['b1', 'm1', 'p1']) },
      m1: { conversations: own('bm'), contacts: new Set(['m1', 'b1']) },
      p1: { conversations: own('bp'), contacts: new Set(['p1', 'b1']) },
      bx: { conversations: own('foreign'), contacts: new Set(['bx', 'mx']) },
      mx: { conversations: own('foreign'), contacts: new Set(['mx', 'bx']) },
      b3: { conversations: new Set(), contacts: new Set(['b3']) },
      m3: { conversations: new Set(), contacts: new Set(['m3']) },
    });
    // The bystanders first, so every later arrival's presence is something they could (wrongly) be told.
    for (const id of ['b3', 'm3', 'bx', 'mx', 'a2', 'b1', 'm1', 'p1', 'a1']) {
      sockets[id] = await app.connect(id, token(id));
    }
    await app.realtime.settled();
  });
  after(() => app.close());

  const socket = (id: string) => sockets[id] ?? assert.fail(`no socket for ${id}`);
  /** Every conversation and message row: a refused frame (and an admin's read) must change none of them. */
  const snapshot = async () => ({
    conversations: withoutSearchProgress(
      await app.database.db.selectFrom('conversations').selectAll().orderBy('id').execute(),
    ),
    messages: await app.database.db.selectFrom('messages').selectAll().orderBy('id').execute(),
  });
  const syncAll = () => Promise.all(Object.values(sockets).map((s) => s.sync()));

  function conversationFor(actor: Actor, target: Target): string {
    if (target === 'missing') return 'no-such-conversation';
    if (target === 'foreign') return conversations.foreign ?? '';
    return (actor === 'service' ? conversations.bp : conversations.bm) ?? '';
  }

  for (const actor of ACTORS) {
    for (const kind of KINDS) {
      for (const target of TARGETS) {
        const want = expected(actor, kind, target);
        test(`${actor} × ${kind} × ${target} conversation → ${want}`, async () => {
          await syncAll();
          const rowsBefore = await snapshot();
          const since = Object.fromEntries(Object.entries(sockets).map(([id, s]) => [id, s.events.length]));
          const self = USER[actor];
          const me = socket(self);
          const conversationId = conversationFor(actor, target);
          const clientMsgId = `authz-${++counter}`;
          const frame =
            kind === 'message'
              ? {
                  type: 'message',
                  conversation_id: conversationId,
                  content: `matrix ${counter}`,
                  client_msg_id: clientMsgId,
                }
              : kind === 'read'
                ? { type: 'read', conversation_id: conversationId }
                : { type: 'typing', conversation_id: conversationId, is_typing: true };
          me.send(frame);
          await me.sync();
          await syncAll();

          const fresh = (id: string) =>
            socket(id)
              .events.slice(since[id])
              .filter((e) => e.type !== 'pong');
          const answers = fresh(self).filter((e) => e.type === 'ack' || e.type === 'error');
          const got = answers.map((e) => (e.type === 'ack' ? 'ack' : `error:${e.error_type}`));
          assert.deepEqual(got, want === 'none' ? [] : [want]);
          const answer = answers[0];
          if (answer?.type === 'error') {
            assert.ok(typeof answer.detail === 'string' && answer.detail.length > 0);
            if (kind === 'message') assert.equal(answer.client_msg_id, clientMsgId);
          }

          const success = want === 'ack' || (want === 'none' && actor !== 'admin');
          if (!success) assert.deepEqual(await snapshot(), rowsBefore, 'nothing stored or marked');

          // Who else heard of it: exactly the pushes the success implies, nothing else anywhere.
          const pushes: Record<string, Event[]> = {};
          const partner = PARTNER[actor];
          if (success && partner) {
            if (kind === 'message') {
              const message = { type: 'message', id: answer?.id, conversation_id: conversationId, sender_id: self };
              pushes[partner] = [message];
              pushes.a1 = [message];
              pushes.a2 = [message];
            } else if (kind === 'read') {
              pushes[partner] = [{ type: 'read', conversation_id: conversationId, reader_id: self }];
            } else {
              // Typing follows the messages' lines (issue 13): admins too.
              const typing = { type: 'typing', user_id: self, conversation_id: conversationId, is_typing: true };
              pushes[partner] = [typing];
              pushes.a1 = [typing];
              pushes.a2 = [typing];
            }
          }
          for (const id of Object.keys(sockets)) {
            const heard = id === self ? fresh(id).filter((e) => e.type !== 'ack' && e.type !== 'error') : fresh(id);
            const wanted = pushes[id] ?? [];
            assert.equal(heard.length, wanted.length, `${id} heard ${JSON.stringify(heard)}`);
            wanted.forEach((fields, i) => {
              for (const [field, value] of Object.entries(fields)) {
                assert.equal(heard[i]?.[field], value, `${id}.${field}: ${JSON.stringify(heard[i])}`);
              }
            });
          }
        });
      }
    }
  }

  test('no non-admin socket ever received anything about a conversation or user outside its own', async () => {
    await syncAll();
    const leaks: string[] = [];
    for (const [id, allowed] of Object.entries(scope)) {
      for (const event of socket(id).events) {
        const mentions = [event.user_id, event.sender_id, event.reader_id, event.sender?.id, ...(event.users ?? [])];
        for (const user of mentions) {
          if (user !== undefined && !allowed.contacts.has(user))
            leaks.push(`${id} heard of ${user}: ${JSON.stringify(event)}`);
        }
        if (event.conversation_id !== undefined && !allowed.conversations.has(event.conversation_id)) {
          leaks.push(`${id} heard of ${event.conversation_id}: ${JSON.stringify(event)}`);
        }
        if (!['bx', 'mx'].includes(id) && JSON.stringify(event).includes(FOREIGN_SECRET)) leaks.push(`${id}: secret`);
      }
    }
    assert.deepEqual(leaks, []);
    // The bystanders who share no conversation heard nothing at all but their own greeting and pongs.
    for (const id of ['b3', 'm3']) {
      const types = socket(id).events.map((e) => e.type);
      assert.deepEqual([...new Set(types)].sort(), ['hello', 'online_users', 'pong'], id);
      assert.deepEqual(socket(id).of('online_users')[0]?.users, []);
    }
    // Control: the leak check looks at real traffic; admins saw the matrix's messages, participants their own.
    assert.ok(socket('a2').of('message').length >= 3);
    assert.ok(socket('m1').of('typing').length >= 1);
    assert.ok(socket('b1').of('read').length >= 1);
  });
});
