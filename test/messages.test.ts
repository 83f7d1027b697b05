import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

for (const dialect of testDialects) {
  describe(`messages (${dialect.name})`, () => {
    let app: TestApp;
    let buyer: string;
    let merchant: string;
    let admin: string;
    let conversationId: string;

    before(async () => {
      app = await startTestApp(dialect);
      buyer = await app.addUser('b1', 'buyer');
      merchant = await app.addUser('m1', 'merchant');
      admin = await app.addUser('a1', 'admin');
      const created = await app.client.post('/api/conversations/', {
        token: buyer,
        body: { participant1_id: 'b1', participant2_id: 'm1' },
      });
      assert.equal(created.status, 201);
      conversationId = created.body.id;
    });
    after(() => app.close());

    test('a send stores the message, numbers it and updates the conversation', async () => {
      const sent = await app.client.post('/api/messages/', {
        token: buyer,
        body: { conversation_id: conversationId, content: 'hello' },
      });
      assert.equal(sent.status, 201);
      assert.equal(sent.body.seq, 1);
      assert.equal(sent.body.sender_id, 'b1');
      const conversation = await app.client.get(`/api/conversations/${conversationId}`, { token: merchant });
      assert.equal(conversation.body.last_message, 'hello');
      assert.equal(conversation.body.participant2_unread, 1);
      assert.equal(conversation.body.last_seq, 1);
    });

    test('the same client_msg_id sent 10 times at once stores one row', async () => {
      const sends = await Promise.all(
        Array.from({ length: 10 }, () =>
          app.client.post('/api/messages/', {
            token: merchant,
            body: { conversation_id: conversationId, content: 'once', client_msg_id: 'dup-1' },
          }),
        ),
      );
      const ids = new Set(sends.map((s) => s.body.id));
      assert.equal(ids.size, 1);
      assert.deepEqual(sends.map((s) => s.status).sort(), [200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
      const history = await app.client.get(`/api/conversations/${conversationId}/messages?after_seq=0`, {
        token: admin,
      });
      assert.equal(
        history.body.results.filter((m: { client_msg_id: string }) => m.client_msg_id === 'dup-1').length,
        1,
      );
    });
  });
}
