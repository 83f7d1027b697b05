import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccessService } from '../src/modules/access/access.service.ts';
import { createGuardService, GUARD_RULES_REFRESH_MS } from '../src/modules/guard/guard.service.ts';
import { DEFAULT_RULES } from '../src/modules/guard/guard-rules.ts';
import { testDialects } from './helpers/databases.ts';
import { insertUser, openScratchDatabase } from './helpers/factories.ts';
import { eventually } from './helpers/polling.ts';
import { createTestServices } from './helpers/services.ts';

/**
 * The guard inside group commit: masked, held and clean sends arriving
 * together share send transactions; each is answered as if alone, the held
 * ones take no seq and no push, and the decisions of the masked ones are
 * written in the batch's transaction. And the rules an admin changes on one
 * instance reach another within the refresh.
 */

for (const dialect of testDialects) {
  describe(`content guard in send batches (${dialect.name})`, () => {
    let scratch: Awaited<ReturnType<typeof openScratchDatabase>>;

    before(async () => {
      scratch = await openScratchDatabase(dialect);
    });
    after(() => scratch.close());

    test('masked, held and clean sends in one batch: seqs without gaps, pushes and counts of the delivered only', async () => {
      const { db } = scratch;
      const [buyer, merchant] = [
        await insertUser(db, { id: 'gb1', role: 'buyer' }),
        await insertUser(db, { id: 'gm1', role: 'merchant' }),
      ];
      const batches: number[] = [];
      const services = createTestServices(db, { batching: { maxConcurrent: 1, maxBatch: 64 } });
      services.messages.sendTransaction.onBatch(async (_trx, stored) => void batches.push(stored.length));
      createGuardService({ db, access: createAccessService(db), messages: services.messages });
      const { conversation } = await services.conversations.open(buyer, {
        participant1_id: buyer.id,
        participant2_id: merchant.id,
      });
      const texts = [
        '在吗',
        '电话 13800138000',
        '我们私下交易吧',
        '加我微信 abc_12345',
        '好的谢谢',
        '支付宝转账也行',
        'qq 12345678',
        '发货了吗',
      ];
      const origin = { skipConnectionId: null, echoToSender: true };
      const answers = await Promise.all(
        texts.map((content) => services.messages.send(buyer, { conversation_id: conversation.id, content }, origin)),
      );
      assert.ok(
        batches.some((size) => size > 1),
        `sends shared a transaction: ${batches}`,
      );

      // In the order they reached the batcher (each send reads its conversation first): seq order.
      const delivered = answers
        .filter((a) => !a.message.pending)
        .map((a) => a.message)
        .sort((a, b) => a.seq - b.seq);
      const held = answers.filter((a) => a.message.pending).map((a) => a.message);
      assert.deepEqual(
        delivered.map((m) => m.content).sort(),
        ['在吗', '电话 ***', '***', '好的谢谢', 'qq ***', '发货了吗'].sort(),
      );
      assert.deepEqual(
        delivered.map((m) => m.seq),
        [1, 2, 3, 4, 5, 6],
      );
      assert.deepEqual(
        held.map((m) => [m.content, m.seq]),
        [
          ['我们私下交易吧', 0],
          ['支付宝转账也行', 0],
        ],
      );
      const stored = await db
        .selectFrom('messages')
        .select(['id', 'content', 'seq'])
        .where('conversation_id', '=', conversation.id)
        .orderBy('seq')
        .execute();
      assert.deepEqual(
        stored.map((row) => row.content),
        delivered.map((m) => m.content),
      );
      const pushed = services.pushes.filter((p) => p.kind === 'message.created');
      assert.deepEqual(
        pushed.map((p) => (p.event as { message: { id: string } }).message.id).sort(),
        delivered.map((m) => m.id).sort(),
      );
      const row = await db
        .selectFrom('conversations')
        .selectAll()
        .where('id', '=', conversation.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(row.message_count), 6);
      assert.equal(Number(row.last_seq), 6);
      assert.equal(row.last_message, delivered.at(-1)?.content);
      const unread = row.participant1_id === merchant.id ? row.participant1_unread : row.participant2_unread;
      assert.equal(Number(unread), 6);

      const decisions = await db
        .selectFrom('guard_decisions')
        .select(['message_id', 'label', 'action'])
        .where('sender_id', '=', buyer.id)
        .execute();
      const byMessage = new Map(decisions.map((d) => [d.message_id, `${d.label}:${d.action}`]));
      assert.deepEqual(
        answers.map((a) => byMessage.get(a.message.id) ?? null),
        [null, 'phone:mask', 'offsite:hold', 'wechat:mask', null, 'offsite:hold', 'qq:mask', null],
      );
      const strikes = await db
        .selectFrom('guard_strikes')
        .select('strikes')
        .where('user_id', '=', buyer.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(strikes.strikes), 3);
      const heldRows = await db.selectFrom('guard_held_messages').select(['id', 'status']).execute();
      assert.deepEqual(heldRows.map((r) => r.id).sort(), held.map((m) => m.id).sort());
    });

    test('rules changed through one instance apply on another once its copy is older than the refresh', async () => {
      const { db } = scratch;
      const [admin, buyer] = [
        await insertUser(db, { id: 'ra1', role: 'admin' }),
        await insertUser(db, { id: 'rb1', role: 'buyer' }),
      ];
      let now = 1_000_000;
      const clock = () => now;
      const [here, there] = [createTestServices(db), createTestServices(db)].map((services) =>
        createGuardService({ db, access: createAccessService(db), messages: services.messages, clock }),
      ) as [ReturnType<typeof createGuardService>, ReturnType<typeof createGuardService>];
      const phone = '电话 13800138000';
      assert.equal((await there.screen.inspect(buyer, phone))?.content, '电话 ***');
      await here.putRules(admin, {
        rules: { ...DEFAULT_RULES, phone: { ...DEFAULT_RULES.phone, buyer: 'allow' } },
        words: [],
      });
      assert.equal((await here.screen.inspect(buyer, phone))?.content, phone, 'at once where it was changed');
      assert.equal((await there.screen.inspect(buyer, phone))?.content, '电话 ***', 'not yet on the other');
      now += GUARD_RULES_REFRESH_MS + 1;
      await eventually(async () => {
        assert.equal((await there.screen.inspect(buyer, phone))?.content, phone);
      }, 'the other instance refreshed');
    });
  });
}
