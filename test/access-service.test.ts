import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../src/db/types.ts';
import { httpAnswerOf } from '../src/http/error-handler.ts';
import { DomainError } from '../src/lib/errors.ts';
import {
  contactsOf,
  presenceLinesOf,
  presenceSharing,
  shareConversation,
} from '../src/modules/access/access.repository.ts';
import { type AccessService, createAccessService } from '../src/modules/access/access.service.ts';
import { testDialects } from './helpers/databases.ts';
import { insertConversation, insertMessage, insertUser, openScratchDatabase } from './helpers/factories.ts';

/**
 * The access service and its queries against real rows, on every dialect:
 * who shares a conversation, who shares presence, and requireAccess on real
 * users and conversations (the rules themselves: access-policy.test.ts).
 */

/** The status and code an access refusal carries, or 'ok'. */
async function outcome(check: Promise<unknown>): Promise<string> {
  try {
    await check;
    return 'ok';
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return `${httpAnswerOf(error).status} ${error.code}`;
  }
}

const sorted = (ids: string[]) => [...ids].sort();

for (const dialect of testDialects) {
  describe(`access service (${dialect.name})`, () => {
    let db: Kysely<Database>;
    let close: () => Promise<void>;
    let access: AccessService;

    before(async () => {
      ({ db, close } = await openScratchDatabase(dialect));
      access = createAccessService(db);
    });
    after(() => close());

    test('shareConversation: the two participants, in either order, and nobody else', async () => {
      const buyer = await insertUser(db);
      const merchant = await insertUser(db, { role: 'merchant' });
      const other = await insertUser(db, { role: 'merchant' });
      await insertConversation(db, merchant, buyer);
      assert.equal(await shareConversation(db, buyer.id, merchant.id), true);
      assert.equal(await shareConversation(db, merchant.id, buyer.id), true);
      assert.equal(await shareConversation(db, buyer.id, other.id), false);
      assert.equal(await shareConversation(db, merchant.id, other.id), false);
    });

    test('contactsOf: presence is shared once the customer side started the conversation or wrote in it', async () => {
      const buyer = await insertUser(db);
      const [startedByBuyer, startedByMerchant, silent] = await Promise.all([
        insertUser(db, { role: 'merchant' }),
        insertUser(db, { role: 'merchant' }),
        insertUser(db, { role: 'merchant' }),
      ]);
      const agent = await insertUser(db, { role: 'service' });
      await insertConversation(db, buyer, startedByBuyer);
      const written = await insertConversation(db, startedByMerchant, buyer);
      const quiet = await insertConversation(db, silent, buyer);
      // The merchant writing does not count: the buyer has not taken part.
      await insertMessage(db, quiet, silent);
      await insertMessage(db, written, buyer);
      // A merchant is the customer of a service agent: the agent starting and writing does not count.
      await insertConversation(db, agent, startedByBuyer);
      await insertMessage(db, await insertConversation(db, agent, silent), agent);
      await insertMessage(db, await insertConversation(db, agent, startedByMerchant), startedByMerchant);

      assert.deepEqual(sorted(await contactsOf(db, buyer)), sorted([startedByBuyer.id, startedByMerchant.id]));
      assert.deepEqual(await contactsOf(db, silent), []);
      assert.deepEqual(sorted(await contactsOf(db, startedByMerchant)), sorted([buyer.id, agent.id]));
      assert.deepEqual(await contactsOf(db, startedByBuyer), [buyer.id]);
      assert.deepEqual(await contactsOf(db, agent), [startedByMerchant.id]);
    });

    test("presenceLinesOf: a team's customers and members share presence along the team's lines", async () => {
      const shop = await insertUser(db, { role: 'merchant' });
      const member = (team_role: 'supervisor' | 'agent') =>
        insertUser(db, { role: 'merchant', team_id: shop.id, team_role });
      const [supervisor, agentA, agentB] = [await member('supervisor'), await member('agent'), await member('agent')];
      const [queued, held, silent, done] = [
        await insertUser(db),
        await insertUser(db),
        await insertUser(db),
        await insertUser(db),
      ];
      // queued wrote, nobody holds it; held's is agentA's; the shop opened silent's and silent never wrote;
      // done's is resolved.
      await insertConversation(db, queued, shop, { team_id: shop.id });
      await insertConversation(db, held, shop, { team_id: shop.id, assignee_id: agentA.id });
      await insertMessage(db, await insertConversation(db, shop, silent, { team_id: shop.id }), shop);
      await insertConversation(db, done, shop, { team_id: shop.id, assignee_id: agentB.id, status: 'resolved' });

      const lines = async (user: UserRow) => {
        const { mutual, watched, teamSides } = await presenceLinesOf(db, user);
        return { mutual: sorted(mutual), watched: sorted(watched), teamSides };
      };
      assert.deepEqual(await lines(queued), {
        mutual: [shop.id],
        watched: [],
        teamSides: [{ teamId: shop.id, assigneeId: null }],
      });
      assert.deepEqual(await lines(held), {
        mutual: sorted([shop.id, agentA.id]),
        watched: [],
        teamSides: [{ teamId: shop.id, assigneeId: agentA.id }],
      });
      assert.deepEqual(await lines(silent), { mutual: [], watched: [], teamSides: [] });
      assert.deepEqual((await lines(done)).teamSides, []);
      // The supervisor watches every open conversation's customer; an agent their own (both ways) and the queue.
      assert.deepEqual(await lines(supervisor), { mutual: [], watched: sorted([queued.id, held.id]), teamSides: [] });
      assert.deepEqual(await lines(agentA), { mutual: [held.id], watched: [queued.id], teamSides: [] });
      assert.deepEqual(await lines(agentB), { mutual: [], watched: [queued.id], teamSides: [] });
      assert.deepEqual(await contactsOf(db, agentA), [held.id]);
    });

    test('presenceSharing: not shared, shared by the customer first message, shared before', async () => {
      const buyer = await insertUser(db);
      const merchant = await insertUser(db, { role: 'merchant' });
      const conversation = await insertConversation(db, merchant, buyer);
      const fromMerchant = await insertMessage(db, conversation, merchant);
      assert.deepEqual(await presenceSharing(db, conversation.id, fromMerchant.id), {
        customerId: buyer.id,
        state: 'not_shared',
      });
      const first = await insertMessage(db, conversation, buyer);
      assert.deepEqual(await presenceSharing(db, conversation.id, first.id), {
        customerId: buyer.id,
        state: 'shared_by_this_message',
      });
      const second = await insertMessage(db, conversation, buyer);
      assert.deepEqual(await presenceSharing(db, conversation.id, second.id), {
        customerId: buyer.id,
        state: 'shared_before',
      });
      const startedByBuyer = await insertConversation(db, buyer, await insertUser(db, { role: 'service' }));
      const opening = await insertMessage(db, startedByBuyer, buyer);
      assert.deepEqual(await presenceSharing(db, startedByBuyer.id, opening.id), {
        customerId: buyer.id,
        state: 'shared_before',
      });
      assert.equal(await presenceSharing(db, 'no-such-conversation', opening.id), undefined);
    });

    test('requireAccess on users: the directory, the people one talks with, 404 for the rest', async () => {
      const buyer = await insertUser(db);
      const merchant = await insertUser(db, { role: 'merchant' });
      const stranger = await insertUser(db, { role: 'merchant' });
      const admin = await insertUser(db, { role: 'admin' });
      const gone = await insertUser(db, { status: 'deleted' });
      const disabled = await insertUser(db, { role: 'service', status: 'inactive' });
      await insertConversation(db, buyer, merchant);
      await insertConversation(db, gone, merchant);

      const view = (caller: UserRow, target: UserRow) =>
        outcome(access.requireAccess(caller, 'user.view', { user: target }));
      assert.equal(await view(merchant, buyer), 'ok');
      assert.equal(await view(stranger, buyer), '404 user_not_found');
      assert.equal(await view(buyer, stranger), 'ok');
      assert.equal(await view(buyer, disabled), 'ok');
      assert.equal(await view(merchant, gone), '404 user_not_found');
      assert.equal(await view(buyer, admin), '404 user_not_found');
      assert.equal(await view(admin, gone), 'ok');
      assert.equal(await view(buyer, buyer), 'ok');

      const update = (caller: UserRow, target: UserRow) =>
        outcome(access.requireAccess(caller, 'user.update', { user: target }));
      assert.equal(await update(merchant, buyer), '403 forbidden');
      assert.equal(await update(stranger, buyer), '404 user_not_found');
      assert.equal(await update(buyer, buyer), 'ok');
      assert.equal(await update(admin, buyer), 'ok');
      assert.equal(await access.allows(merchant, 'user.view', { user: buyer }), true);
      assert.equal(await access.allows(stranger, 'user.view', { user: buyer }), false);
    });

    test('the conversation query runs only when nothing cheaper decides', async () => {
      // No database at all: any query would throw.
      const offline = createAccessService({} as Kysely<Database>);
      const buyer = await insertUser(db);
      const merchant = await insertUser(db, { role: 'merchant' });
      const admin = await insertUser(db, { role: 'admin' });
      await offline.requireAccess(buyer, 'user.view', { user: merchant });
      await offline.requireAccess(buyer, 'user.view', { user: buyer });
      await offline.requireAccess(admin, 'user.view', { user: buyer });
      await assert.rejects(offline.requireAccess(merchant, 'user.view', { user: buyer }), TypeError);
    });

    test('requireAccess on real conversations and messages', async () => {
      const buyer = await insertUser(db);
      const merchant = await insertUser(db, { role: 'merchant' });
      const stranger = await insertUser(db);
      const admin = await insertUser(db, { role: 'admin' });
      const conversation = await insertConversation(db, buyer, merchant);
      const message = await insertMessage(db, conversation, buyer);

      const check = (caller: UserRow, action: Parameters<AccessService['require']>[1]) =>
        outcome(Promise.resolve().then(() => access.require(caller, action, { conversation, message })));
      assert.equal(await check(buyer, 'conversation.view'), 'ok');
      assert.equal(await check(merchant, 'conversation.send'), 'ok');
      assert.equal(await check(stranger, 'conversation.view'), '404 conversation_not_found');
      assert.equal(await check(stranger, 'conversation.send'), '404 conversation_not_found');
      assert.equal(await check(admin, 'conversation.view'), 'ok');
      assert.equal(await check(admin, 'conversation.send'), '403 admin_read_only');
      assert.equal(await check(admin, 'conversation.type'), '403 not_a_participant');
      assert.equal(await check(merchant, 'message.mark_read'), 'ok');
      assert.equal(await check(buyer, 'message.mark_read'), '403 forbidden');
      assert.equal(await check(stranger, 'message.mark_read'), '404 message_not_found');
      assert.equal(await check(admin, 'message.delete'), 'ok');
      assert.equal(await check(buyer, 'message.delete'), '403 forbidden');
      // A rule that needs a fact the resource does not give is a bug, not a refusal.
      assert.throws(() => access.require(buyer, 'conversation.view'), /needs the fact "participant"/);
    });
  });
}
