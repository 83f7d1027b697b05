import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { assertError } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

const PLATFORM_KEY = 'platform-key-for-card-tests-0123456789';
const platform = { 'x-api-key': PLATFORM_KEY };

const product = (id: string, extra: Record<string, unknown> = {}) => ({
  kind: 'product',
  id,
  title: '羊毛大衣',
  price: '899.00',
  currency: 'CNY',
  image_url: 'https://img.example.com/p/coat.jpg',
  ...extra,
});

for (const dialect of testDialects) {
  describe(`cards (${dialect.name})`, () => {
    let app: TestApp;
    let t: Record<string, string>;
    let conversationId: string;

    const putCard = (kind: string, id: string, body: unknown, headers: Record<string, string> = platform) =>
      app.client.put(`/api/cards/${kind}/${id}`, { body, headers });
    const postCard = (conversation: string, body: unknown, headers: Record<string, string> = platform) =>
      app.client.post(`/api/conversations/${conversation}/cards`, { body, headers });
    const sendCard = (token: string, conversation: string, card: unknown) =>
      app.client.post('/api/messages/', {
        token,
        body: { conversation_id: conversation, message_type: 'card', content: JSON.stringify(card) },
      });
    const history = async (token: string, conversation: string) =>
      (await app.client.get(`/api/conversations/${conversation}/messages?after_seq=0`, { token })).body.results as {
        message_type: string;
        content: string;
      }[];
    const cardsIn = async (token: string, conversation: string) =>
      (await history(token, conversation)).filter((m) => m.message_type === 'card').map((m) => JSON.parse(m.content));

    before(async () => {
      app = await startTestApp(dialect, { env: { PLATFORM_API_KEY: PLATFORM_KEY } });
      t = await app.addUsers({ b1: 'buyer', b2: 'buyer', m1: 'merchant', a1: 'admin' });
      conversationId = await app.conversation(t.b1 as string, 'b1', 'm1');
    });
    after(() => app.close());

    test('a participant sends a product card: stored canonical, previewed [商品], pushed as sent', async () => {
      const sent = await sendCard(t.b1 as string, conversationId, { title: '丝巾', id: 'P-free', kind: 'product' });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      assert.equal(sent.body.message_type, 'card');
      assert.equal(sent.body.content, '{"kind":"product","id":"P-free","title":"丝巾"}');
      const conversation = await app.client.get(`/api/conversations/${conversationId}`, { token: t.m1 });
      assert.equal(conversation.body.last_message, '[商品]');
    });

    test('bad cards are 422 invalid_card: not JSON, non-https links, oversize or unknown fields', async () => {
      const bad: unknown[] = [
        'not json',
        product('P1', { url: 'http://shop.example.com/p/1' }),
        product('P1', { image_url: 'javascript:alert(1)' }),
        product('P1', { url: 'https://' }),
        product('P1', { title: 'x'.repeat(201) }),
        product('P1', { title: '' }),
        product('P1', { status: 's'.repeat(51) }),
        product('P1', { price: '12.345' }),
        product('P1', { currency: 'yuan' }),
        product('P1', { url: `https://shop.example.com/${'a'.repeat(500)}` }),
        product('x'.repeat(51)),
        product('P1', { seller_phone: '13800138000' }),
        { kind: 'coupon', id: 'C1', title: '券' },
      ];
      for (const card of bad) {
        const sent = await app.client.post('/api/messages/', {
          token: t.b1,
          body: {
            conversation_id: conversationId,
            message_type: 'card',
            content: typeof card === 'string' ? card : JSON.stringify(card),
          },
        });
        assertError(sent, 422, 'invalid_card');
      }
      assertError(await putCard('product', 'P1', { title: 'ok', url: 'http://shop.example.com' }), 422);
      assertError(await putCard('product', 'P1', { title: 'y'.repeat(201) }), 422);
    });

    test("a card into someone else's conversation is 404, as any send there", async () => {
      assertError(await sendCard(t.b2 as string, conversationId, product('P-x')), 404, 'conversation_not_found');
    });

    test('a participant cannot send an order card, over REST or WebSocket', async () => {
      const order = { kind: 'order', id: 'O-fake', title: '假订单', status: '已退款' };
      assertError(await sendCard(t.b1 as string, conversationId, order), 403, 'order_card_platform_only');
      const socket = await app.connect('b1', t.b1 as string);
      socket.send({
        type: 'message',
        conversation_id: conversationId,
        message_type: 'card',
        content: JSON.stringify(order),
        client_msg_id: 'ws-order-1',
      });
      const error = await socket.waitFor('error');
      assert.equal(error.error_type, 'order_card_platform_only');
      assert.equal(error.client_msg_id, 'ws-order-1');
      await socket.close();
      assert.equal((await cardsIn(t.a1 as string, conversationId)).filter((c) => c.kind === 'order').length, 0);
    });

    test('a participant sends a product card over the WebSocket too', async () => {
      const socket = await app.connect('b1', t.b1 as string);
      socket.send({
        type: 'message',
        conversation_id: conversationId,
        message_type: 'card',
        content: JSON.stringify(product('P-ws')),
        client_msg_id: 'ws-card-1',
      });
      const ack = await socket.waitFor('ack');
      assert.equal(ack.client_msg_id, 'ws-card-1');
      await socket.close();
      assert.ok((await cardsIn(t.m1 as string, conversationId)).some((c) => c.id === 'P-ws'));
    });

    test('only the platform key may PUT or post cards', async () => {
      const card = { title: '订单 O1', status: '待发货', user_ids: ['b1', 'm1'] };
      const wrongKeys: Record<string, string>[] = [{}, { 'x-api-key': 'wrong' }, { 'x-api-key': `${PLATFORM_KEY}x` }];
      for (const headers of wrongKeys) {
        assertError(await putCard('order', 'O1', card, headers), 401, 'invalid_api_key');
        assertError(await postCard(conversationId, { kind: 'order', id: 'O1', sender_id: 'b1' }, headers), 401);
      }
      // A user's bearer token is no platform key.
      const withToken = await app.client.put('/api/cards/order/O1', { token: t.b1, body: card });
      assertError(withToken, 401, 'invalid_api_key');
      const put = await putCard('order', 'O1', card);
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.deepEqual(put.body, {
        card: { kind: 'order', id: 'O1', title: '订单 O1', status: '待发货' },
        changed: true,
        conversations_notified: 0,
      });
      assert.equal((await putCard('order', 'O1', card)).body.changed, false);
    });

    test('the platform posts an order card as a participant; strangers and unknown cards are 404', async () => {
      await putCard('order', 'O2', { title: '订单 O2', price: '10.00', currency: 'CNY', user_ids: ['b1'] });
      const posted = await postCard(conversationId, { kind: 'order', id: 'O2', sender_id: 'b1' });
      assert.equal(posted.status, 201, JSON.stringify(posted.body));
      assert.equal(posted.body.sender_id, 'b1');
      assert.deepEqual(JSON.parse(posted.body.content), {
        kind: 'order',
        id: 'O2',
        title: '订单 O2',
        price: '10.00',
        currency: 'CNY',
      });
      const conversation = await app.client.get(`/api/conversations/${conversationId}`, { token: t.b1 });
      assert.equal(conversation.body.last_message, '[订单]');
      // b2 takes no part in the conversation: as if it did not exist.
      assertError(await postCard(conversationId, { kind: 'order', id: 'O2', sender_id: 'b2' }), 404);
      assertError(
        await postCard(conversationId, { kind: 'order', id: 'nope', sender_id: 'b1' }),
        404,
        'card_not_found',
      );
      assertError(await postCard('no-such-conversation', { kind: 'order', id: 'O2', sender_id: 'b1' }), 404);
      assertError(
        await postCard(conversationId, { kind: 'order', id: 'O2', sender_id: 'nobody' }),
        404,
        'user_not_found',
      );
      // Nothing is posted as a deactivated participant.
      const m9 = await app.addUser('m9', 'merchant');
      const withM9 = await app.conversation(m9, 'b1', 'm9');
      const disabled = await app.client.put('/api/users/m9', { token: t.a1, body: { status: 'inactive' } });
      assert.equal(disabled.status, 200);
      assertError(await postCard(withM9, { kind: 'order', id: 'O2', sender_id: 'm9' }), 403, 'user_inactive');
    });

    test('a card update reaches open sockets of participants and admins, and history shows the new state', async () => {
      await putCard('order', 'O3', { title: '订单 O3', status: '待发货', user_ids: ['b1'] });
      await postCard(conversationId, { kind: 'order', id: 'O3', sender_id: 'b1' });
      const buyer = await app.connect('b1', t.b1 as string);
      const merchant = await app.connect('m1', t.m1 as string);
      const admin = await app.connect('a1', t.a1 as string);
      const outsider = await app.connect('b2', t.b2 as string);
      const put = await putCard('order', 'O3', { title: '订单 O3', status: '已发货', user_ids: ['b1'] });
      assert.equal(put.body.conversations_notified, 1);
      for (const socket of [buyer, merchant, admin]) {
        const event = await socket.waitFor((e) => e.type === 'card_updated' && e.card.id === 'O3');
        assert.equal(event.conversation_id, conversationId);
        assert.deepEqual(event.card, { kind: 'order', id: 'O3', title: '订单 O3', status: '已发货' });
      }
      await outsider.sync();
      assert.equal(outsider.of('card_updated').length, 0);
      await Promise.all([buyer, merchant, admin, outsider].map((s) => s.close()));
      const shown = (await cardsIn(t.m1 as string, conversationId)).filter((c) => c.id === 'O3');
      assert.deepEqual(
        shown.map((c) => c.status),
        ['已发货'],
      );
    });

    test("a participant's product card shows the platform's state once the platform stores it", async () => {
      await sendCard(t.m1 as string, conversationId, product('P-late', { title: '卖家写的标题', price: '1.00' }));
      const put = await putCard('product', 'P-late', { title: '平台标题', price: '99.00', currency: 'CNY' });
      assert.equal(put.body.conversations_notified, 1);
      const [card] = (await cardsIn(t.b1 as string, conversationId)).filter((c) => c.id === 'P-late');
      assert.deepEqual(card, { kind: 'product', id: 'P-late', title: '平台标题', price: '99.00', currency: 'CNY' });
      // Sent again now, the card carries the platform's state, whatever the sender wrote.
      const again = await sendCard(t.b1 as string, conversationId, product('P-late', { title: '假的' }));
      assert.equal(JSON.parse(again.body.content).title, '平台标题');
    });

    test("a retried card send is the original even after the platform changed the card's state", async () => {
      await putCard('product', 'P-retry', { title: '旧标题' });
      const body = {
        conversation_id: conversationId,
        message_type: 'card',
        content: JSON.stringify(product('P-retry')),
        client_msg_id: 'card-retry-1',
      };
      const first = await app.client.post('/api/messages/', { token: t.b1, body });
      assert.equal(first.status, 201);
      await putCard('product', 'P-retry', { title: '新标题' });
      const retry = await app.client.post('/api/messages/', { token: t.b1, body });
      assert.equal(retry.status, 200, JSON.stringify(retry.body));
      assert.equal(retry.body.id, first.body.id);
      assert.equal(JSON.parse(retry.body.content).title, '新标题');
      // Another card under the same client_msg_id is a conflict, as for any other content.
      const other = { ...body, content: JSON.stringify(product('P-late')) };
      assertError(await app.client.post('/api/messages/', { token: t.b1, body: other }), 409, 'client_msg_id_conflict');
    });

    test('opening a conversation about an order posts its card first; the list shows it', async () => {
      await putCard('order', 'O4', { title: '订单 O4', status: '已付款', user_ids: ['b2', 'm1'] });
      const opened = await app.client.post('/api/conversations/', {
        token: t.b2,
        body: { customer_id: 'b2', merchant_id: 'm1', order_id: 'O4' },
      });
      assert.equal(opened.status, 201, JSON.stringify(opened.body));
      assert.equal(opened.body.last_message, '[订单]');
      assert.equal(opened.body.last_seq, 1);
      const [first] = await history(t.m1 as string, opened.body.id);
      assert.equal(first?.message_type, 'card');
      assert.equal(JSON.parse(first?.content as string).id, 'O4');
      const list = await app.client.get('/api/conversations/', { token: t.m1 });
      assert.equal(list.body.results.find((c: { id: string }) => c.id === opened.body.id).last_message, '[订单]');
      // Opening again about the same order posts nothing more.
      const again = await app.client.post('/api/conversations/', {
        token: t.b2,
        body: { customer_id: 'b2', merchant_id: 'm1', order_id: 'O4' },
      });
      assert.equal(again.status, 200);
      assert.equal(again.body.last_seq, 1);
    });

    test("opening about someone else's order, an unknown card or both at once creates nothing", async () => {
      await app.addUser('m2', 'merchant');
      const open = (body: Record<string, unknown>) =>
        app.client.post('/api/conversations/', {
          token: t.b1,
          body: { customer_id: 'b1', merchant_id: 'm2', ...body },
        });
      assertError(await open({ order_id: 'O4' }), 404, 'card_not_found');
      assertError(await open({ product_id: 'P-unknown' }), 404, 'card_not_found');
      assertError(await open({ order_id: 'O1', product_id: 'P-late' }), 422, 'card_reference_ambiguous');
      assertError(await open({ order_id: 'bad id!' }), 422);
      const list = await app.client.get('/api/conversations/', { token: t.b1 });
      assert.ok(!list.body.results.some((c: { participant2_id: string }) => c.participant2_id === 'm2'));
      const opened = await open({ product_id: 'P-late' });
      assert.equal(opened.status, 201);
      assert.equal(opened.body.last_message, '[商品]');
    });

    test('without PLATFORM_API_KEY the platform endpoints do not exist', async () => {
      const bare = await startTestApp(dialect, { env: { PLATFORM_API_KEY: '' } });
      try {
        const put = await bare.client.put('/api/cards/order/O1', { body: { title: 'x' }, headers: platform });
        assertError(put, 404, 'route_not_found');
      } finally {
        await bare.close();
      }
    });
  });
}
