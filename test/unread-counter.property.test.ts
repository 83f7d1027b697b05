import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { testDialects } from './helpers/databases.ts';
import { openConversation } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Issue 12: the unread counters a conversation keeps never drift from the
 * per-message read flags. For any sequence of sends (both directions),
 * per-message reads, read-alls, moderator deletes, and a read racing a delete
 * of the same message, each participant's stored count must equal the number
 * of live messages addressed to them that are unread, after every step. Every
 * step goes through real HTTP; the check reads the database.
 * (PUT /api/conversations/{id}/read, which zeroes the count and marks nothing,
 * is left out on purpose: it is the seed's "dismiss the badge", not a read.)
 */

type Side = 'buyer' | 'merchant';
type Step =
  | { kind: 'send'; from: Side }
  | { kind: 'read'; by: Side; pick: number }
  | { kind: 'readAll'; by: Side }
  | { kind: 'delete'; pick: number }
  | { kind: 'readWhileDeleted'; by: Side; pick: number }
  | { kind: 'sendWhileReadAll'; from: Side };

const side = fc.constantFrom<Side>('buyer', 'merchant');
const pick = fc.nat({ max: 1000 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('send' as const), from: side }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), by: side, pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('readAll' as const), by: side }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('readWhileDeleted' as const), by: side, pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sendWhileReadAll' as const), from: side }) },
);

const RUNS = 40;
const MAX_STEPS = 20;

for (const dialect of testDialects) {
  describe(`unread counters (${dialect.name})`, () => {
    let app: TestApp;
    let admin: string;
    let pairs = 0;

    before(async () => {
      app = await startTestApp(dialect);
      admin = await app.addUser('a1', 'admin');
    });
    after(() => app.close());

    /** A fresh buyer, merchant and conversation for one run. */
    async function freshConversation() {
      pairs += 1;
      const ids = { buyer: `b${pairs}`, merchant: `m${pairs}` };
      const tokens = {
        buyer: await app.addUser(ids.buyer, 'buyer'),
        merchant: await app.addUser(ids.merchant, 'merchant'),
      };
      const conversationId = await openConversation(app, tokens.buyer, ids.buyer, ids.merchant);
      return { ids, tokens, conversationId };
    }

    /** Stored counts against the flags, for both participants. */
    async function assertCountsMatchFlags(conversationId: string, history: readonly Step[]) {
      const db = app.server.database.db;
      const conversation = await db
        .selectFrom('conversations')
        .selectAll()
        .where('id', '=', conversationId)
        .executeTakeFirstOrThrow();
      const messages = await db
        .selectFrom('messages')
        .select(['sender_id', 'is_read'])
        .where('conversation_id', '=', conversationId)
        .execute();
      const unreadFor = (userId: string) =>
        messages.filter((message) => message.sender_id !== userId && !message.is_read).length;
      assert.deepEqual(
        {
          participant1: Number(conversation.participant1_unread),
          participant2: Number(conversation.participant2_unread),
        },
        {
          participant1: unreadFor(conversation.participant1_id),
          participant2: unreadFor(conversation.participant2_id),
        },
        `after ${JSON.stringify(history)}`,
      );
    }

    test(`any sequence of sends, reads, read-alls and deletes keeps the counts equal to the flags (${RUNS} runs of up to ${MAX_STEPS} steps)`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { maxLength: MAX_STEPS }), async (steps) => {
          const { ids, tokens, conversationId } = await freshConversation();
          /** Live messages, oldest first, with who they are addressed to. */
          const live: { id: string; to: Side }[] = [];
          const other = (s: Side): Side => (s === 'buyer' ? 'merchant' : 'buyer');
          const addressedTo = (s: Side) => live.filter((message) => message.to === s);

          const send = async (from: Side) => {
            const response = await app.client.post('/api/messages/', {
              token: tokens[from],
              body: { conversation_id: conversationId, content: `from ${ids[from]} #${live.length}` },
            });
            assert.equal(response.status, 201, JSON.stringify(response.body));
            live.push({ id: response.body.id, to: other(from) });
          };
          const read = async (by: Side, id: string) => {
            const response = await app.client.put(`/api/messages/${id}/read`, { token: tokens[by] });
            // 404: a concurrent delete got there first.
            assert.ok(response.status === 200 || response.status === 404, JSON.stringify(response.body));
          };
          const readAll = async (by: Side) => {
            const response = await app.client.put(`/api/conversations/${conversationId}/messages/read-all`, {
              token: tokens[by],
            });
            assert.equal(response.status, 200, JSON.stringify(response.body));
          };
          const remove = async (id: string) => {
            const response = await app.client.delete(`/api/messages/${id}`, { token: admin });
            assert.equal(response.status, 200, JSON.stringify(response.body));
            live.splice(
              live.findIndex((message) => message.id === id),
              1,
            );
          };

          const done: Step[] = [];
          for (const current of steps) {
            done.push(current);
            switch (current.kind) {
              case 'send':
                await send(current.from);
                break;
              case 'read': {
                const mine = addressedTo(current.by);
                const target = mine[current.pick % Math.max(1, mine.length)];
                if (target) await read(current.by, target.id);
                break;
              }
              case 'readAll':
                await readAll(current.by);
                break;
              case 'delete': {
                const target = live[current.pick % Math.max(1, live.length)];
                if (target) await remove(target.id);
                break;
              }
              case 'readWhileDeleted': {
                const mine = addressedTo(current.by);
                const target = mine[current.pick % Math.max(1, mine.length)];
                if (target) await Promise.all([read(current.by, target.id), remove(target.id)]);
                break;
              }
              case 'sendWhileReadAll':
                await Promise.all([send(current.from), readAll(other(current.from))]);
                break;
            }
            await assertCountsMatchFlags(conversationId, done);
          }
        }),
        { numRuns: RUNS },
      );
    });
  });
}
