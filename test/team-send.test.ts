import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openDatabase } from '../src/db/connection.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import type { UserRow } from '../src/db/types.ts';
import { claimOnAnswer } from '../src/modules/teams/answer-claims.ts';
import { testDialects } from './helpers/databases.ts';
import { insertUser } from './helpers/factories.ts';
import { assertError, sendText } from './helpers/rest.ts';
import { createTestServices } from './helpers/services.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Teams (issue 13), the send path: a member's answer claims an unassigned
 * conversation; an agent answering one held by someone else is refused (409
 * assigned_to_other) and nothing is stored; a customer message reopens and
 * starts the wait for a reply, a team answer ends it. A team of one runs no
 * statement for any of this.
 */

for (const dialect of testDialects) {
  describe(`team sends (${dialect.name})`, () => {
    let app: TestApp;
    const t = {} as Record<string, string>;
    const db = () => app.server.database.db;
    const row = (id: string) =>
      db().selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const send = (who: string, conversationId: string, content: string) =>
      app.client.post('/api/messages/', { token: t[who], body: { conversation_id: conversationId, content } });

    before(async () => {
      app = await startTestApp(dialect);
      Object.assign(t, await app.addUsers({ b1: 'buyer', b2: 'buyer', b3: 'buyer', b4: 'buyer', m1: 'merchant' }));
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.m1b = await app.addUser('m1b', 'merchant', { team_id: 'm1', team_role: 'agent' });
    });
    after(() => app.close());

    test("an agent's answer claims the queue's conversation, logged; a colleague's is then 409 and not stored", async () => {
      const id = await app.conversation(t.b1 as string, 'b1', 'm1');
      await sendText(app, t.b1 as string, id, 'anyone there?');
      assert.equal((await row(id)).assignee_id, null);
      const answer = await sendText(app, t.m1a as string, id, '我来帮您');
      assert.equal(answer.sender_id, 'm1a');
      const claimed = await row(id);
      assert.equal(claimed.assignee_id, 'm1a');
      assert.ok(Number(claimed.assigned_at) > 0);
      const log = await db()
        .selectFrom('conversation_assignments')
        .selectAll()
        .where('conversation_id', '=', id)
        .execute();
      assert.deepEqual(
        log.map((entry) => [entry.kind, entry.actor_id, entry.from_id, entry.to_id]),
        [['claim', 'm1a', null, 'm1a']],
      );
      const before = Number(claimed.message_count);
      assertError(await send('m1b', id, 'me too'), 409, 'assigned_to_other');
      assert.equal(Number((await row(id)).message_count), before);
      const stored = await db().selectFrom('messages').select('id').where('content', '=', 'me too').execute();
      assert.deepEqual(stored, []);
      // The holder answers again: nothing more is logged.
      await sendText(app, t.m1a as string, id, 'again');
      assert.equal(
        (await db().selectFrom('conversation_assignments').select('id').where('conversation_id', '=', id).execute())
          .length,
        1,
      );
    });

    test('a supervisor and the owner answer any conversation without taking it over', async () => {
      const id = await app.conversation(t.b2 as string, 'b2', 'm1');
      await sendText(app, t.b2 as string, id, 'hello');
      await sendText(app, t.m1 as string, id, 'the owner answers');
      assert.equal((await row(id)).assignee_id, null, "the owner's answer claims nothing");
      await sendText(app, t.m1b as string, id, 'agent b takes it');
      assert.equal((await row(id)).assignee_id, 'm1b');
      await sendText(app, t.m1s as string, id, 'the supervisor steps in');
      await sendText(app, t.m1 as string, id, 'and the owner');
      assert.equal((await row(id)).assignee_id, 'm1b');
    });

    test('a supervisor answering the queue claims it', async () => {
      const id = await app.conversation(t.b3 as string, 'b3', 'm1');
      await sendText(app, t.m1s as string, id, 'supervisor here');
      assert.equal((await row(id)).assignee_id, 'm1s');
    });

    test('a customer message starts the wait and reopens; a team answer ends the wait', async () => {
      const id = await app.conversation(t.b4 as string, 'b4', 'm1');
      await sendText(app, t.b4 as string, id, 'question');
      const waiting = await row(id);
      assert.equal(waiting.status, 'open');
      const since = Number(waiting.awaiting_reply_since);
      assert.ok(since > 0);
      await sendText(app, t.b4 as string, id, 'still there?');
      assert.equal(Number((await row(id)).awaiting_reply_since), since, 'the wait started with the first');
      await sendText(app, t.m1 as string, id, 'answer');
      assert.equal((await row(id)).awaiting_reply_since, null);
      for (const status of ['resolved', 'pending'] as const) {
        await db().updateTable('conversations').set({ status }).where('id', '=', id).execute();
        await sendText(app, t.m1a as string, id, `team writes while ${status}`);
        assert.equal((await row(id)).status, status, 'a team message leaves the status');
        await sendText(app, t.b4 as string, id, `customer writes while ${status}`);
        const reopened = await row(id);
        assert.equal(reopened.status, 'open');
        assert.ok(Number(reopened.awaiting_reply_since) > 0, 'the team had answered: a new wait');
      }
    });

    test('two agents answering the queue at once: one claims it, the other is refused', async () => {
      const id = await app.conversation(t.b1 as string, 'b1', 'm1');
      await db().updateTable('conversations').set({ assignee_id: null }).where('id', '=', id).execute();
      const results = await Promise.all([send('m1a', id, 'race a'), send('m1b', id, 'race b')]);
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, 409], JSON.stringify(results.map((r) => r.body)));
      const winner = results.find((r) => r.status === 201)?.body.sender_id;
      assert.equal((await row(id)).assignee_id, winner);
    });
  });

  describe(`team sends: a team of one adds no statement (${dialect.name})`, () => {
    test("a customer's message and the owner's answer run the send transaction's own statements only", async () => {
      const scratch = await dialect.create();
      const statements: string[] = [];
      const handle = openDatabase(scratch.url, { logQuery: (sql) => statements.push(sql) });
      try {
        await migrateToLatest(handle.db);
        const buyer = await insertUser(handle.db, { id: 'b1', role: 'buyer' });
        const owner = await insertUser(handle.db, { id: 'm1', role: 'merchant' });
        const agent = await insertUser(handle.db, { id: 'm1a', role: 'merchant', team_id: 'm1', team_role: 'agent' });
        const services = createTestServices(handle.db);
        services.messages.sendTransaction.onMessage(claimOnAnswer);
        const { conversation } = await services.conversations.open(buyer, {
          participant1_id: 'b1',
          participant2_id: 'm1',
        });
        const origin = { skipConnectionId: null, echoToSender: false };
        const transactionOf = async (sender: UserRow, content: string) => {
          await services.messages.send(
            sender,
            { conversation_id: conversation.id, content: `${content} warm` },
            origin,
          );
          statements.length = 0;
          await services.messages.send(sender, { conversation_id: conversation.id, content }, origin);
          const begin = statements.findIndex((s) => /^(begin|start transaction)/i.test(s));
          const commit = statements.findIndex((s) => /^commit/i.test(s));
          return statements.slice(begin + 1, commit).map((s) => s.split(/\s+/).slice(0, 3).join(' ').toLowerCase());
        };
        // The claim, written from the chain head the warm-up's commit left (no read first), and the row.
        const own = ['update `conversations` set', 'insert into `messages`'].map((s) =>
          dialect.name === 'sqlite' ? s.replaceAll('`', '"') : s,
        );
        assert.deepEqual(await transactionOf(buyer, 'from the customer'), own);
        assert.deepEqual(await transactionOf(owner, 'from the owner'), own);
        // A member's answer is where the team's statements run (read the assignee; claim once).
        const member = await transactionOf(agent, 'from an agent');
        assert.ok(member.length > own.length, member.join('; '));
      } finally {
        await handle.destroy();
        await scratch.drop();
      }
    });
  });
}
