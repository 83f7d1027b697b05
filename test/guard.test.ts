import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_RULES, MAX_RECORDED_FINDINGS } from '../src/modules/guard/guard-rules.ts';
import { testDialects } from './helpers/databases.ts';
import { assertError, rowCounts } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

const CORPUS = readFileSync(new URL('./fixtures/guard-corpus.tsv', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((line) => line.split('\t') as [string, string]);

const PHONE = '加急请打 1３8 ００13 8000 谢谢';

for (const dialect of testDialects) {
  describe(`content guard (${dialect.name})`, () => {
    let app: TestApp;
    let tokens: Record<string, string>;
    let chat: string;
    let desk: string;

    const send = (token: string, conversation: string, content: string, clientMsgId?: string) =>
      app.client.post('/api/messages/', {
        token,
        body: { conversation_id: conversation, content, ...(clientMsgId ? { client_msg_id: clientMsgId } : {}) },
      });
    const decisionsOf = (messageId: string | null, senderId: string) => {
      let query = app.server.database.db
        .selectFrom('guard_decisions')
        .selectAll()
        .where('sender_id', '=', senderId)
        .orderBy('id');
      query = messageId === null ? query.where('message_id', 'is', null) : query.where('message_id', '=', messageId);
      return query.execute();
    };
    const strikesOf = async (userId: string) =>
      Number(
        (
          await app.server.database.db
            .selectFrom('guard_strikes')
            .select('strikes')
            .where('user_id', '=', userId)
            .executeTakeFirst()
        )?.strikes ?? 0,
      );
    const putRules = async (rules: unknown, words: string[] = []) => {
      const response = await app.client.put('/api/guard/rules', { token: tokens.a1, body: { rules, words } });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body;
    };
    const conversationAs = async (token: string, id: string) =>
      (await app.client.get(`/api/conversations/${id}`, { token })).body;
    const historyAs = async (token: string, id: string) =>
      (await app.client.get(`/api/conversations/${id}/messages`, { token })).body.results as { id: string }[];

    before(async () => {
      app = await startTestApp(dialect);
      tokens = await app.addUsers({ b1: 'buyer', m1: 'merchant', s1: 'service', a1: 'admin', b2: 'buyer' });
      chat = await app.conversation(tokens.b1 as string, 'b1', 'm1');
      desk = await app.conversation(tokens.s1 as string, 'b1', 's1');
    });
    after(() => app.close());

    test('default: a buyer’s phone number is masked in what is stored and pushed; the decision and a strike are recorded', async () => {
      const merchant = await app.connect('m1', tokens.m1 as string);
      try {
        const response = await send(tokens.b1 as string, chat, PHONE);
        assert.equal(response.status, 201, JSON.stringify(response.body));
        assert.equal(response.body.content, '加急请打 *** 谢谢');
        const pushed = await merchant.waitFor((e) => e.type === 'message' && e.id === response.body.id);
        assert.equal(pushed.content, '加急请打 *** 谢谢');
        const [stored] = await historyAs(tokens.m1 as string, chat).then((rows) => rows.slice(-1));
        assert.equal((stored as { content?: string }).content, '加急请打 *** 谢谢');
        assert.equal((await conversationAs(tokens.m1 as string, chat)).last_message, '加急请打 *** 谢谢');
        const decisions = await decisionsOf(response.body.id, 'b1');
        assert.deepEqual(
          decisions.map((d) => [d.label, d.action, d.sender_role, d.excerpt]),
          [['phone', 'mask', 'buyer', '1３8 ００13 8000']],
        );
        assert.equal(await strikesOf('b1'), 1);
        // Not searchable either: the index holds what was stored.
        const search = await app.client.get('/api/search/messages?q=8000', { token: tokens.a1 });
        assert.ok(!JSON.stringify(search.body).includes('8000'), JSON.stringify(search.body));
      } finally {
        await merchant.close();
      }
    });

    test('a retry of a masked send with its client_msg_id is the original, not a conflict', async () => {
      const first = await send(tokens.b1 as string, chat, 'vx: shop_8888', 'retry-masked-1');
      assert.equal(first.status, 201);
      const again = await send(tokens.b1 as string, chat, 'vx: shop_8888', 'retry-masked-1');
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.id, first.body.id);
    });

    test('the reference client’s WebSocket echo of a masked message it POSTed is acknowledged, not stored again', async () => {
      const buyer = await app.connect('b1', tokens.b1 as string);
      try {
        const posted = await send(tokens.b1 as string, chat, '邮箱 echo@shop.com');
        assert.equal(posted.body.content, '邮箱 ***');
        buyer.send({ type: 'message', conversation_id: chat, content: '邮箱 echo@shop.com', message_type: 'text' });
        const ack = await buyer.waitFor('ack');
        assert.equal(ack.id, posted.body.id);
        const rows = await app.server.database.db
          .selectFrom('messages')
          .select('id')
          .where('conversation_id', '=', chat)
          .where('content', '=', '邮箱 ***')
          .execute();
        assert.equal(rows.length, 1);
      } finally {
        await buyer.close();
      }
    });

    test('the echo of a held message is its pending ack (held once); of a blocked one, the same refusal (recorded once)', async () => {
      await putRules({ ...DEFAULT_RULES, email: { buyer: 'block', merchant: 'mask', service: 'allow' } });
      const buyer = await app.connect('b1', tokens.b1 as string);
      try {
        const posted = await send(tokens.b1 as string, chat, '我们线下交易吧');
        assert.equal(posted.status, 202);
        buyer.send({ type: 'message', conversation_id: chat, content: '我们线下交易吧', message_type: 'text' });
        const ack = await buyer.waitFor('ack');
        assert.deepEqual([ack.id, ack.seq, ack.pending], [posted.body.id, 0, true]);
        const held = await app.server.database.db
          .selectFrom('guard_held_messages')
          .select('id')
          .where('content', '=', '我们线下交易吧')
          .execute();
        assert.equal(held.length, 1);

        const strikes = await strikesOf('b1');
        const blocked = (await decisionsOf(null, 'b1')).length;
        assertError(await send(tokens.b1 as string, chat, '邮箱 twice@shop.com'), 422, 'content_blocked');
        buyer.send({ type: 'message', conversation_id: chat, content: '邮箱 twice@shop.com', message_type: 'text' });
        const refused = await buyer.waitFor('error');
        assert.equal(refused.error_type, 'content_blocked');
        assert.equal((await decisionsOf(null, 'b1')).length, blocked + 1);
        assert.equal(await strikesOf('b1'), strikes + 1);
      } finally {
        await buyer.close();
        await putRules(DEFAULT_RULES);
      }
    });

    test('default: a service agent’s number is recorded only (allow), no strike; WebSocket sends are screened too', async () => {
      const before = await strikesOf('s1');
      const response = await send(tokens.s1 as string, desk, '官方热线 13800138000');
      assert.equal(response.status, 201);
      assert.equal(response.body.content, '官方热线 13800138000');
      assert.deepEqual(
        (await decisionsOf(response.body.id, 's1')).map((d) => [d.label, d.action]),
        [['phone', 'allow']],
      );
      assert.equal(await strikesOf('s1'), before);

      const buyer = await app.connect('b1', tokens.b1 as string);
      try {
        buyer.send({ type: 'message', conversation_id: chat, content: '我的扣扣 12345678', client_msg_id: 'ws-1' });
        const ack = await buyer.waitFor((e) => e.type === 'ack' && e.client_msg_id === 'ws-1');
        const [row] = await app.server.database.db
          .selectFrom('messages')
          .select('content')
          .where('id', '=', ack.id)
          .execute();
        assert.equal(row?.content, '我的扣扣 ***');
      } finally {
        await buyer.close();
      }
    });

    test('block: 422 content_blocked with the reason, nothing stored or pushed; the decision and a strike are recorded', async () => {
      await putRules({ ...DEFAULT_RULES, phone: { buyer: 'block', merchant: 'mask', service: 'allow' } });
      try {
        const merchant = await app.connect('m1', tokens.m1 as string);
        const counts = await rowCounts(app);
        const strikes = await strikesOf('b1');
        const response = await send(tokens.b1 as string, chat, '电话 13912345678');
        assertError(response, 422, 'content_blocked');
        assert.deepEqual(response.body.errors, ['content: phone may not be sent']);
        assert.deepEqual(await rowCounts(app), counts);
        assert.deepEqual(
          (await decisionsOf(null, 'b1')).filter((d) => d.label === 'phone').map((d) => [d.action, d.conversation_id]),
          [['block', chat]],
        );
        assert.equal(await strikesOf('b1'), strikes + 1);
        // The same rule table, another role: the merchant's number is masked.
        const masked = await send(tokens.m1 as string, chat, '电话 13912345678');
        assert.equal(masked.body.content, '电话 ***');
        await merchant.sync();
        assert.equal(merchant.of('message').filter((e) => e.content.includes('139')).length, 0);
        await merchant.close();
      } finally {
        await putRules(DEFAULT_RULES);
      }
    });

    test('sensitive words: admins manage them; matched after folding; GET shows them', async () => {
      assertError(await app.client.get('/api/guard/rules', { token: tokens.s1 }), 403);
      assertError(
        await app.client.put('/api/guard/rules', { token: tokens.b1, body: { rules: DEFAULT_RULES, words: [] } }),
        403,
      );
      assertError(await app.client.put('/api/guard/rules', { token: tokens.a1, body: { rules: {}, words: [] } }), 422);
      const saved = await putRules(DEFAULT_RULES, ['代开发票', ' 代开发票 ', 'ＶＩＰ群']);
      assert.deepEqual(saved.words, ['代开发票', 'ＶＩＰ群']);
      assert.equal(saved.updated_by, 'a1');
      assert.deepEqual((await app.client.get('/api/guard/rules', { token: tokens.a1 })).body, saved);
      try {
        assertError(await send(tokens.m1 as string, chat, '可以代开发票'), 422, 'content_blocked');
        assertError(await send(tokens.m1 as string, chat, '进vip群吗'), 422, 'content_blocked');
        assert.equal((await send(tokens.m1 as string, chat, '可以开发票')).status, 201);
      } finally {
        await putRules(DEFAULT_RULES);
      }
    });

    test('a word list of the documented size in Chinese is stored whole (MySQL TEXT held 64 kB of it)', async () => {
      // 5,000 words of 50 Han characters are allowed: 750 kB of UTF-8. 2,000 of 20 are 120 kB.
      const words = Array.from({ length: 2000 }, (_, i) => `敏感词${i}`.padEnd(20, '测'));
      try {
        const saved = await putRules(DEFAULT_RULES, words);
        assert.equal(saved.words.length, 2000);
        assert.deepEqual((await app.client.get('/api/guard/rules', { token: tokens.a1 })).body.words, words);
        assertError(await send(tokens.m1 as string, chat, `看看 ${words[1999]}`), 422, 'content_blocked');
      } finally {
        await putRules(DEFAULT_RULES);
      }
    });

    test('a message of thousands of findings is masked or refused whole; only MAX_RECORDED_FINDINGS of them are recorded', async () => {
      const token = await app.addUser('b-flood', 'buyer');
      const conversation = await app.conversation(token, 'b-flood', 'm1');
      const masked = await send(token, conversation, `${'电话 13800138000；'.repeat(300)}私聊`);
      assert.equal(masked.status, 201, JSON.stringify(masked.body));
      assert.ok(!masked.body.content.includes('13800138000'));
      assert.equal((await decisionsOf(masked.body.id, 'b-flood')).length, MAX_RECORDED_FINDINGS);
      await putRules(DEFAULT_RULES, ['测']);
      try {
        // 5,000 findings: on SQLite, one INSERT of them all took more parameters than a statement may.
        assertError(await send(token, conversation, '测'.repeat(5000)), 422, 'content_blocked');
        assert.equal((await decisionsOf(null, 'b-flood')).length, MAX_RECORDED_FINDINGS);
      } finally {
        await putRules(DEFAULT_RULES);
      }
    });

    test('hold: pending to the sender, invisible to the recipient (push, history, preview, unread) until approved', async () => {
      const merchant = await app.connect('m1', tokens.m1 as string);
      const buyer = await app.connect('b1', tokens.b1 as string);
      try {
        const before = await conversationAs(tokens.m1 as string, chat);
        const response = await send(tokens.b1 as string, chat, '我们私下交易吧，便宜点');
        assert.equal(response.status, 202, JSON.stringify(response.body));
        assert.equal(response.body.pending, true);
        assert.equal(response.body.seq, 0);
        await merchant.sync();
        assert.ok(!merchant.events.some((e) => e.id === response.body.id));
        assert.ok(!(await historyAs(tokens.m1 as string, chat)).some((m) => m.id === response.body.id));
        assert.ok(!(await historyAs(tokens.a1 as string, chat)).some((m) => m.id === response.body.id));
        const during = await conversationAs(tokens.m1 as string, chat);
        for (const field of ['last_message', 'last_seq', 'participant1_unread', 'participant2_unread']) {
          assert.equal(during[field], before[field], field);
        }

        // The queue: admins and service agents; buyers and merchants are refused.
        assertError(await app.client.get('/api/guard/queue', { token: tokens.m1 }), 403);
        const queue = await app.client.get('/api/guard/queue', { token: tokens.s1 });
        assert.equal(queue.status, 200);
        const item = queue.body.results.find((m: { id: string }) => m.id === response.body.id);
        assert.deepEqual(
          { labels: item.labels, content: item.content, role: item.sender_role, count: queue.body.count >= 1 },
          { labels: ['offsite'], content: '我们私下交易吧，便宜点', role: 'buyer', count: true },
        );
        assertError(
          await app.client.post(`/api/guard/queue/${response.body.id}`, {
            token: tokens.m1,
            body: { decision: 'approve' },
          }),
          403,
        );

        const approved = await app.client.post(`/api/guard/queue/${response.body.id}`, {
          token: tokens.s1,
          body: { decision: 'approve' },
        });
        assert.equal(approved.status, 200, JSON.stringify(approved.body));
        assert.equal(approved.body.seq, Number(before.last_seq) + 1);
        const pushed = await merchant.waitFor((e) => e.type === 'message' && e.id === response.body.id);
        assert.equal(pushed.seq, approved.body.seq);
        // Its sender's pending message becomes the delivered one: same id, now with its seq.
        const mine = await buyer.waitFor((e) => e.type === 'message' && e.id === response.body.id);
        assert.equal(mine.seq, approved.body.seq);
        const afterwards = await conversationAs(tokens.m1 as string, chat);
        assert.equal(afterwards.last_message, '我们私下交易吧，便宜点');
        assert.equal(afterwards.merchant_unread_count, before.merchant_unread_count + 1);
        assert.ok((await historyAs(tokens.m1 as string, chat)).some((m) => m.id === response.body.id));
        assert.deepEqual(
          (await decisionsOf(response.body.id, 'b1')).map((d) => [d.label, d.action, d.reviewed_by, d.review]),
          [['offsite', 'hold', 's1', 'approved']],
        );
        // The same through the API, newest first, with the sender's strikes; buyers and merchants are refused.
        assertError(await app.client.get('/api/guard/decisions', { token: tokens.b1 }), 403);
        const listed = await app.client.get('/api/guard/decisions?sender_id=b1&limit=1', { token: tokens.a1 });
        assert.equal(listed.status, 200, JSON.stringify(listed.body));
        assert.deepEqual(
          listed.body.results.map((d: Record<string, unknown>) => [d.message_id, d.label, d.reviewed_by, d.review]),
          [[response.body.id, 'offsite', 's1', 'approved']],
        );
        assert.equal(listed.body.sender_strikes, await strikesOf('b1'));
        const older = await app.client.get(
          `/api/guard/decisions?sender_id=b1&before_id=${listed.body.results[0].id}&limit=100`,
          { token: tokens.s1 },
        );
        assert.ok(older.body.results.length >= 2);
        assert.ok(older.body.results.every((d: { id: string }) => d.id < listed.body.results[0].id));
        // Reviewed once only.
        assertError(
          await app.client.post(`/api/guard/queue/${response.body.id}`, {
            token: tokens.a1,
            body: { decision: 'reject' },
          }),
          404,
          'message_not_found',
        );
      } finally {
        await merchant.close();
        await buyer.close();
      }
    });

    test('a retry of a held send (its client_msg_id) is the same message: pending, then delivered once approved', async () => {
      const first = await send(tokens.b1 as string, chat, '私下联系吧', 'held-retry-1');
      assert.equal(first.status, 202);
      const again = await send(tokens.b1 as string, chat, '私下联系吧', 'held-retry-1');
      assert.deepEqual([again.status, again.body.id, again.body.pending], [202, first.body.id, true]);
      const rows = await app.server.database.db
        .selectFrom('guard_held_messages')
        .select('id')
        .where('client_msg_id', '=', 'held-retry-1')
        .execute();
      assert.equal(rows.length, 1);
      assertError(await send(tokens.b1 as string, chat, '私下交易吧', 'held-retry-1'), 409, 'client_msg_id_conflict');
      const approved = await app.client.post(`/api/guard/queue/${first.body.id}`, {
        token: tokens.a1,
        body: { decision: 'approve' },
      });
      const afterwards = await send(tokens.b1 as string, chat, '私下联系吧', 'held-retry-1');
      assert.deepEqual(
        [afterwards.status, afterwards.body.id, afterwards.body.seq, afterwards.body.pending],
        [200, first.body.id, approved.body.seq, undefined],
      );
    });

    test('one client_msg_id for a delivered and a held send: the delivered one answers (409 if another text); an approval still delivers', async () => {
      // Delivered first: the held send with its id is a retry of another message, refused, nothing held.
      const clean = await send(tokens.b1 as string, chat, '好的，明天发货', 'shared-id-1');
      assert.equal(clean.status, 201);
      assertError(await send(tokens.b1 as string, chat, '私下交易吧', 'shared-id-1'), 409, 'client_msg_id_conflict');
      const held = await app.server.database.db
        .selectFrom('guard_held_messages')
        .select('id')
        .where('client_msg_id', '=', 'shared-id-1')
        .execute();
      assert.deepEqual(held, []);

      // Held first, then a clean send takes the id (the send path does not look among held ones):
      // the approval delivers the held message without the id instead of failing on its unique key.
      const pending = await send(tokens.b1 as string, chat, '私下交易吧', 'shared-id-2');
      assert.equal(pending.status, 202);
      const other = await send(tokens.b1 as string, chat, '收到', 'shared-id-2');
      assert.equal(other.status, 201);
      const approved = await app.client.post(`/api/guard/queue/${pending.body.id}`, {
        token: tokens.a1,
        body: { decision: 'approve' },
      });
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.equal(approved.body.seq, other.body.seq + 1);
      const delivered = (await historyAs(tokens.m1 as string, chat)).find((m) => m.id === pending.body.id);
      assert.deepEqual(
        delivered && [
          (delivered as { content?: string }).content,
          (delivered as { client_msg_id?: string }).client_msg_id,
        ],
        ['私下交易吧', null],
      );

      // Held, then its retry delivered once the rules let it through: the approval is that message, not a twin.
      const waiting = await send(tokens.b1 as string, chat, '私下交易也行', 'shared-id-3');
      assert.equal(waiting.status, 202);
      await putRules({ ...DEFAULT_RULES, offsite: { buyer: 'allow', merchant: 'allow', service: 'allow' } });
      const retried = await send(tokens.b1 as string, chat, '私下交易也行', 'shared-id-3').finally(() =>
        putRules(DEFAULT_RULES),
      );
      assert.equal(retried.status, 201);
      const settled = await app.client.post(`/api/guard/queue/${waiting.body.id}`, {
        token: tokens.a1,
        body: { decision: 'approve' },
      });
      assert.deepEqual([settled.status, settled.body.seq], [200, retried.body.seq]);
      const copies = (await historyAs(tokens.m1 as string, chat)).filter(
        (m) => (m as { content?: string }).content === '私下交易也行',
      );
      assert.equal(copies.length, 1);
      const queue = await app.client.get('/api/guard/queue', { token: tokens.a1 });
      assert.ok(!queue.body.results.some((m: { id: string }) => m.id === waiting.body.id));
    });

    test('a held message whose sender was deactivated since is not delivered (403 user_inactive); it can be rejected', async () => {
      const token = await app.addUser('b-gone', 'buyer');
      const conversation = await app.conversation(token, 'b-gone', 'm1');
      const held = await send(token, conversation, '私下交易吧，便宜');
      assert.equal(held.status, 202);
      const disabled = await app.client.patch('/api/users/b-gone/status?status=inactive', { token: tokens.a1 });
      assert.equal(disabled.status, 200);
      assertError(
        await app.client.post(`/api/guard/queue/${held.body.id}`, { token: tokens.a1, body: { decision: 'approve' } }),
        403,
        'user_inactive',
      );
      assert.ok(!(await historyAs(tokens.m1 as string, conversation)).some((m) => m.id === held.body.id));
      const rejected = await app.client.post(`/api/guard/queue/${held.body.id}`, {
        token: tokens.a1,
        body: { decision: 'reject' },
      });
      assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
    });

    test('a file’s name is screened as a text is: masked, or refused where a text would be held; images have none', async () => {
      const dir = join(app.config.MEDIA_DIR, 'uploads', '2026', '01', '02');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'guardfilename_123456.pdf'), '%PDF-1.4');
      const file = (name: string) =>
        app.client.post('/api/messages/', {
          token: tokens.b1,
          body: {
            conversation_id: chat,
            message_type: 'file',
            content: `${name}|/api/media/uploads/2026/01/02/guardfilename_123456.pdf`,
          },
        });
      const masked = await file('加我微信shop8888.pdf');
      assert.equal(masked.status, 201, JSON.stringify(masked.body));
      assert.equal(masked.body.filename, '***.pdf');
      const stored = (await historyAs(tokens.m1 as string, chat)).find((m) => m.id === masked.body.id);
      assert.equal((stored as { filename?: string } | undefined)?.filename, '***.pdf');
      assert.deepEqual(
        (await decisionsOf(masked.body.id, 'b1')).map((d) => [d.label, d.action]),
        [
          ['wechat', 'mask'],
          ['wechat', 'mask'],
        ],
      );
      assertError(await file('私下交易便宜.pdf'), 422, 'content_blocked');
      assert.equal((await file('报价单 2026-12-05.pdf')).body.filename, '报价单 2026-12-05.pdf');
    });

    test('hold, rejected: never delivered, a strike for its sender; nobody reviews their own', async () => {
      await putRules({ ...DEFAULT_RULES, offsite: { buyer: 'hold', merchant: 'hold', service: 'hold' } });
      try {
        const own = await send(tokens.s1 as string, desk, '支付宝转账也行');
        assert.equal(own.status, 202);
        assertError(
          await app.client.post(`/api/guard/queue/${own.body.id}`, { token: tokens.s1, body: { decision: 'approve' } }),
          403,
        );
        const sender = await app.connect('b1', tokens.b1 as string);
        const response = await send(tokens.b1 as string, chat, '微信转账给我就发货');
        assert.equal(response.status, 202);
        const strikes = await strikesOf('b1');
        const rejected = await app.client.post(`/api/guard/queue/${response.body.id}`, {
          token: tokens.a1,
          body: { decision: 'reject' },
        });
        assert.deepEqual(rejected.body, { id: response.body.id, status: 'rejected', seq: null });
        assert.deepEqual(await sender.waitFor('message_rejected'), {
          type: 'message_rejected',
          id: response.body.id,
          conversation_id: chat,
        });
        await sender.close();
        assert.equal(await strikesOf('b1'), strikes + 1);
        assert.ok(!(await historyAs(tokens.b1 as string, chat)).some((m) => m.id === response.body.id));
        // Its retry (same client_msg_id) is refused as a blocked send is, not pending again.
        const retried = await send(tokens.b1 as string, chat, '微信转账吧，我就发货', 'rejected-retry-1');
        assert.equal(retried.status, 202);
        await app.client.post(`/api/guard/queue/${retried.body.id}`, {
          token: tokens.a1,
          body: { decision: 'reject' },
        });
        assertError(
          await send(tokens.b1 as string, chat, '微信转账吧，我就发货', 'rejected-retry-1'),
          422,
          'content_blocked',
        );
        const queue = await app.client.get('/api/guard/queue', { token: tokens.a1 });
        assert.ok(!queue.body.results.some((m: { id: string }) => m.id === response.body.id));
        await app.client.post(`/api/guard/queue/${own.body.id}`, { token: tokens.a1, body: { decision: 'reject' } });
      } finally {
        await putRules(DEFAULT_RULES);
      }
    });

    test('the corpus over the API: every lure from a buyer is masked or held, every innocent line stored as written', async () => {
      // A buyer per 80 lines: the per-user send budget allows a burst of 100.
      const results = await Promise.all(
        Array.from({ length: Math.ceil(CORPUS.length / 80) }, async (_, chunk) => {
          const id = `bc${chunk}`;
          await app.addUser(id, 'buyer');
          const token = await app.tokenFor(id, 'buyer');
          const conversation = await app.conversation(token, id, 'm1');
          // One after another: the edge limits count a client's open connections.
          const answers = [];
          for (const [label, text] of CORPUS.slice(chunk * 80, (chunk + 1) * 80)) {
            answers.push({ label, text, response: await send(token, conversation, text) });
          }
          return answers;
        }),
      ).then((chunks) => chunks.flat());
      assert.equal(results.length, CORPUS.length);
      for (const { label, text, response } of results) {
        if (label === 'clean') {
          assert.equal(response.status, 201, text);
          assert.equal(response.body.content, text);
        } else if (label === 'offsite') {
          assert.equal(response.status, 202, text);
        } else {
          assert.ok(response.status === 201 || response.status === 202, `${text}: ${JSON.stringify(response.body)}`);
          if (response.status === 201)
            assert.ok(response.body.content.includes('***'), `${text} → ${response.body.content}`);
        }
      }
    });
  });
}
