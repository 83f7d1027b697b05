import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { assertError, sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Teams (issue 13), who sees what: every conversation and message endpoint for
 * the team m1's owner, supervisor and agents, an agent of another team, the
 * customer and an admin. `queued` is unassigned; `held` is assigned to agent m1b.
 */

type Who = 'b1' | 'm1' | 'm1s' | 'm1a' | 'm1b' | 'm2a' | 'a1';

for (const dialect of testDialects) {
  describe(`team access and visibility (${dialect.name})`, () => {
    let app: TestApp;
    const t = {} as Record<Who | 'b2' | 'm2', string>;
    let queued: string;
    let held: string;
    let queuedMessage: string;
    let heldMessage: string;

    before(async () => {
      app = await startTestApp(dialect);
      Object.assign(t, await app.addUsers({ a1: 'admin', b1: 'buyer', b2: 'buyer', m1: 'merchant', m2: 'merchant' }));
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.m1b = await app.addUser('m1b', 'merchant', { team_id: 'm1', team_role: 'agent' });
      t.m2a = await app.addUser('m2a', 'merchant', { team_id: 'm2', team_role: 'agent' });
      queued = await app.conversation(t.b1, 'b1', 'm1');
      held = await app.conversation(t.b2, 'b2', 'm1');
      await app.server.database.db
        .updateTable('conversations')
        .set({ assignee_id: 'm1b' })
        .where('id', '=', held)
        .execute();
      queuedMessage = (await sendText(app, t.b1, queued, 'queued question')).id;
      heldMessage = (await sendText(app, t.b2, held, 'held question')).id;
    });
    after(() => app.close());

    const SEES: Record<Who, { queued: boolean; held: boolean }> = {
      b1: { queued: true, held: false },
      m1: { queued: true, held: true },
      m1s: { queued: true, held: true },
      m1a: { queued: true, held: false },
      m1b: { queued: true, held: true },
      m2a: { queued: false, held: false },
      a1: { queued: true, held: true },
    };

    test('conversation objects carry team_id, assignee_id, assignee, status and linked_conversation_id', async () => {
      const response = await app.client.get(`/api/conversations/${held}`, { token: t.m1 });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const { team_id, assignee_id, assignee, status, linked_conversation_id } = response.body;
      assert.deepEqual(
        { team_id, assignee_id, assignee: assignee?.id, status, linked_conversation_id },
        { team_id: 'm1', assignee_id: 'm1b', assignee: 'm1b', status: 'open', linked_conversation_id: null },
      );
      const open = await app.client.post('/api/conversations/', {
        token: t.b2,
        body: { participant1_id: 'b2', participant2_id: 'm1' },
      });
      assert.equal(open.status, 200);
      assert.equal(open.body.assignee?.id, 'm1b', 'the assignee is read for an existing conversation');
    });

    test('GET one conversation, its detail, history and messages: 404 where the table says it is not seen', async () => {
      for (const [who, sees] of Object.entries(SEES) as [Who, { queued: boolean; held: boolean }][]) {
        for (const [name, id, message] of [
          ['queued', queued, queuedMessage],
          ['held', held, heldMessage],
        ] as const) {
          const visible = sees[name];
          const token = t[who];
          const where = `${who} ${name}`;
          for (const path of [
            `/api/conversations/${id}`,
            `/api/conversations/${id}/detail`,
            `/api/conversations/${id}/messages`,
            `/api/messages/?conversation_id=${id}`,
            `/api/messages/?conversation_id=${id}&message_type=text`,
            `/api/search/messages?q=question&conversation_id=${id}`,
          ]) {
            const response = await app.client.get(path, { token });
            if (visible) assert.equal(response.status, 200, `${where} ${path}: ${JSON.stringify(response.body)}`);
            else assertError(response, 404);
          }
          // Marking the customer's message read: the team side that sees it; the customer sent it (403).
          const read = await app.client.put(`/api/messages/${message}/read`, { token });
          if (!visible) assertError(read, 404, 'message_not_found');
          else if (who === 'b1' || who === 'a1') assertError(read, 403);
          else assert.equal(read.status, 200, `${where} read: ${JSON.stringify(read.body)}`);
          for (const path of [`/api/conversations/${id}/messages/read-all`, `/api/conversations/${id}/read`]) {
            const response = await app.client.put(path, { token });
            if (visible) assert.equal(response.status, 200, `${where} ${path}`);
            else assertError(response, 404);
          }
        }
      }
    });

    test('the list: each sees what the table says, and the filters narrow it', async () => {
      const ids = async (who: Who, query = '') => {
        const response = await app.client.get(`/api/conversations/?${query}`, { token: t[who] });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        return (response.body.results as { id: string }[]).map((c) => c.id).sort();
      };
      for (const [who, sees] of Object.entries(SEES) as [Who, { queued: boolean; held: boolean }][]) {
        const expected = [...(sees.queued ? [queued] : []), ...(sees.held ? [held] : [])].sort();
        assert.deepEqual(await ids(who), expected, who);
      }
      assert.deepEqual(await ids('m1s', 'assignee_id=none'), [queued]);
      assert.deepEqual(await ids('m1b', 'assignee_id=me'), [held]);
      assert.deepEqual(await ids('m1s', 'assignee_id=m1b'), [held]);
      assert.deepEqual(await ids('m1a', 'assignee_id=m1b'), []);
      assert.deepEqual(await ids('a1', 'team_id=m1&assignee_id=none'), [queued]);
      assert.deepEqual(await ids('a1', 'team_id=m2'), []);
      assert.deepEqual(await ids('m1', 'status=open'), [held, queued].sort());
      assert.deepEqual(await ids('m1', 'status=resolved'), []);
      const all = await app.client.get('/api/conversations/?team_id=m1', { token: t.a1 });
      assert.equal(all.body.count, 2);
    });

    test("messages and search across conversations: a member's scope is the team's they see", async () => {
      const contents = async (who: Who, path: string) => {
        const response = await app.client.get(path, { token: t[who] });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        return (response.body.results as any[]).map((m) => m.content ?? m.message?.content).sort();
      };
      assert.deepEqual(await contents('m1a', '/api/messages/'), ['queued question']);
      assert.deepEqual(await contents('m1b', '/api/messages/'), ['held question', 'queued question']);
      assert.deepEqual(await contents('m2a', '/api/messages/'), []);
      assert.deepEqual(await contents('m1a', '/api/search/messages?q=question'), ['queued question']);
      assert.deepEqual(await contents('m1s', '/api/search/messages?q=question'), ['held question', 'queued question']);
    });

    test("a member answers as themselves; both sides' unread counts and read marks are the sides'", async () => {
      const db = app.server.database.db;
      const conversation = await app.conversation(t.b1, 'b1', 'm2');
      await sendText(app, t.b1, conversation, 'to the second shop');
      const answer = await sendText(app, t.m2a, conversation, 'an agent answers');
      assert.equal(answer.sender_id, 'm2a');
      const history = await app.client.get(`/api/conversations/${conversation}/messages`, { token: t.b1 });
      const last = history.body.results.at(-1);
      assert.deepEqual([last.sender_id, last.sender?.id], ['m2a', 'm2a'], "the member's profile as sender");
      const counts = async () => {
        const row = await db
          .selectFrom('conversations')
          .selectAll()
          .where('id', '=', conversation)
          .executeTakeFirstOrThrow();
        const b1First = row.participant1_id === 'b1';
        return {
          buyer: Number(b1First ? row.participant1_unread : row.participant2_unread),
          team: Number(b1First ? row.participant2_unread : row.participant1_unread),
        };
      };
      assert.deepEqual(await counts(), { buyer: 1, team: 1 });
      // The buyer's list of a conversation's messages finds the member's, by sender and unfiltered.
      const bySender = await app.client.get(`/api/messages/?conversation_id=${conversation}&sender_id=m2a`, {
        token: t.b1,
      });
      assert.deepEqual(
        bySender.body.results.map((m: any) => m.content),
        ['an agent answers'],
      );
      const typed = await app.client.get(`/api/messages/?conversation_id=${conversation}&message_type=text`, {
        token: t.b1,
      });
      assert.equal(typed.body.count, 2);
      // Marking read: the agent may not mark a colleague's (their side's) message, only the customer's.
      assertError(await app.client.put(`/api/messages/${answer.id}/read`, { token: t.m2 }), 403);
      const readAll = await app.client.put(`/api/conversations/${conversation}/messages/read-all`, { token: t.b1 });
      assert.equal(readAll.status, 200);
      assert.deepEqual(await counts(), { buyer: 0, team: 1 });
      const flags = await db
        .selectFrom('messages')
        .select(['sender_id', 'is_read'])
        .where('conversation_id', '=', conversation)
        .orderBy('seq')
        .execute();
      assert.deepEqual(
        flags.map((m) => [m.sender_id, Number(m.is_read)]),
        [
          ['b1', 0],
          ['m2a', 1],
        ],
      );
      await app.client.put(`/api/conversations/${conversation}/messages/read-all`, { token: t.m2a });
      assert.deepEqual(await counts(), { buyer: 0, team: 0 });
    });

    test('sending and typing: members of the answering team; other teams 404; admins 403', async () => {
      assertError(
        await app.client.post('/api/messages/', { token: t.m2a, body: { conversation_id: queued, content: 'x' } }),
        404,
        'conversation_not_found',
      );
      assertError(
        await app.client.post('/api/messages/', { token: t.a1, body: { conversation_id: queued, content: 'x' } }),
        403,
        'admin_read_only',
      );
      const [buyer, agent, stranger] = await Promise.all([
        app.connect('b1', t.b1),
        app.connect('m1a', t.m1a),
        app.connect('m2a', t.m2a),
      ]);
      agent.send({ type: 'typing', conversation_id: queued, is_typing: true });
      const typing = await buyer.waitFor('typing');
      assert.deepEqual([typing.user_id, typing.conversation_id], ['m1a', queued]);
      stranger.send({ type: 'typing', conversation_id: queued, is_typing: true });
      assert.equal((await stranger.waitFor('error')).error_type, 'conversation_not_found');
    });

    test("opening with a member's id opens the pair with the member's team", async () => {
      const response = await app.client.post('/api/conversations/', {
        token: t.b1,
        body: { participant1_id: 'b1', participant2_id: 'm1a' },
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.id, queued);
      const byMember = await app.client.post('/api/conversations/', {
        token: t.m1a,
        body: { participant1_id: 'm1a', participant2_id: 'b1' },
      });
      assert.equal(byMember.body.id, queued);
    });
  });
}
