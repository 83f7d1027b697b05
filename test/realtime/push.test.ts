import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type Event, type RealtimeTestApp, startRealtimeApp, type TestSocket } from './helpers.ts';

describe('push rules and frames that act', () => {
  let app: RealtimeTestApp;
  let conversationId: string;
  const tokens: Record<string, string> = {};
  let open: TestSocket[] = [];

  before(async () => {
    app = await startRealtimeApp();
    for (const [id, role] of [
      ['b1', 'buyer'],
      ['m1', 'merchant'],
      ['m2', 'merchant'],
      ['a1', 'admin'],
      ['b5', 'buyer'],
    ] as const) {
      tokens[id] = await app.addUser(id, role);
    }
    conversationId = await app.conversation(tokens.b1 ?? '', 'b1', 'm1');
    // Opened by the buyer, so the two share presence (docs/REALTIME.md, "Presence").
    await app.conversation(tokens.b1 ?? '', 'b1', 'm2');
  });
  beforeEach(async () => {
    await Promise.all(open.map((socket) => socket.close()));
    open = [];
  });
  after(() => app.close());

  async function connect(id: string): Promise<TestSocket> {
    const socket = await app.connect(id, tokens[id] ?? '');
    open.push(socket);
    return socket;
  }
  const token = (id: string) => tokens[id] ?? '';
  const messagesWith = (socket: TestSocket, content: string) =>
    socket.events.filter((e) => e.type === 'message' && e.content === content);
  const isMessage = (content: string) => (e: Event) => e.type === 'message' && e.content === content;
  async function storedCount(content: string): Promise<number> {
    const rows = await app.database.db.selectFrom('messages').select('id').where('content', '=', content).execute();
    return rows.length;
  }

  test('a REST send goes to every tab of the recipient and to admins, not to the sender', async () => {
    const [b1, m1a, m1b, admin, m2] = await Promise.all([
      connect('b1'),
      connect('m1'),
      connect('m1'),
      connect('a1'),
      connect('m2'),
    ]);
    const sent = await app.client.post('/api/messages/', {
      token: token('b1'),
      body: { conversation_id: conversationId, content: 'rest hello' },
    });
    assert.equal(sent.status, 201);
    for (const socket of [m1a, m1b, admin]) {
      const event = await socket.waitFor(isMessage('rest hello'));
      assert.equal(event.id, sent.body.id);
      assert.equal(event.seq, sent.body.seq);
      assert.equal(event.sender_id, 'b1');
      assert.equal(event.timestamp, event.created_at);
      assert.equal(event.sender.id, 'b1');
      assert.equal(event.client_msg_id, null);
      assert.equal(event.is_read, false);
    }
    await Promise.all([b1.sync(), m2.sync(), m1a.sync()]);
    assert.equal(messagesWith(b1, 'rest hello').length, 0, 'the POST reply already shows it');
    assert.equal(messagesWith(m2, 'rest hello').length, 0);
    assert.equal(messagesWith(m1a, 'rest hello').length, 1);
  });

  test("with X-Connection-Id the sender's other tabs get it, that tab does not", async () => {
    const [tab1, tab2, m1] = await Promise.all([connect('b1'), connect('b1'), connect('m1')]);
    const sent = await app.client.post('/api/messages/', {
      token: token('b1'),
      headers: { 'x-connection-id': tab1.connectionId },
      body: { conversation_id: conversationId, content: 'multi device' },
    });
    assert.equal(sent.status, 201);
    await tab2.waitFor(isMessage('multi device'));
    await m1.waitFor(isMessage('multi device'));
    await tab1.sync();
    assert.equal(messagesWith(tab1, 'multi device').length, 0);
  });

  test("someone else's connection id does not hide the message from its owner", async () => {
    const [b1, m1] = await Promise.all([connect('b1'), connect('m1')]);
    await app.client.post('/api/messages/', {
      token: token('b1'),
      headers: { 'x-connection-id': m1.connectionId },
      body: { conversation_id: conversationId, content: 'no hiding' },
    });
    await m1.waitFor(isMessage('no hiding'));
    await b1.waitFor(isMessage('no hiding'));
  });

  test('a WS send is acked after it is stored, and pushed like a REST send', async () => {
    const [tab1, tab2, m1, admin] = await Promise.all([connect('b1'), connect('b1'), connect('m1'), connect('a1')]);
    tab1.send({ type: 'message', conversation_id: conversationId, content: 'over ws', client_msg_id: 'ws-1' });
    const ack = await tab1.waitFor('ack');
    assert.equal(ack.client_msg_id, 'ws-1');
    assert.equal(ack.conversation_id, conversationId);
    assert.equal(typeof ack.id, 'string');
    assert.equal(typeof ack.seq, 'number');
    const pushed = await m1.waitFor(isMessage('over ws'));
    assert.equal(pushed.id, ack.id);
    assert.equal(pushed.client_msg_id, 'ws-1');
    await admin.waitFor(isMessage('over ws'));
    await tab2.waitFor(isMessage('over ws'));
    await tab1.sync();
    assert.equal(messagesWith(tab1, 'over ws').length, 0, 'the sending tab has the ack');

    // The same client_msg_id again: the original is acked, nothing stored or pushed again.
    const since = tab1.events.length;
    tab1.send({ type: 'message', conversation_id: conversationId, content: 'over ws', client_msg_id: 'ws-1' });
    const again = await tab1.waitFor('ack', since);
    assert.equal(again.id, ack.id);
    assert.equal(again.seq, ack.seq);
    await Promise.all([m1.sync(), tab2.sync()]);
    assert.equal(messagesWith(m1, 'over ws').length, 1);
    assert.equal(messagesWith(tab2, 'over ws').length, 1);
    assert.equal(await storedCount('over ws'), 1);

    // The same id with other content is a conflict, answered as an error event.
    tab1.send({ type: 'message', conversation_id: conversationId, content: 'changed', client_msg_id: 'ws-1' });
    const conflict = await tab1.waitFor('error');
    assert.equal(conflict.error_type, 'client_msg_id_conflict');
    assert.equal(conflict.client_msg_id, 'ws-1');
    assert.equal(typeof conflict.detail, 'string');
  });

  test("the reference client's POST-then-frame double send stores and pushes once", async () => {
    const [b1, m1] = await Promise.all([connect('b1'), connect('m1')]);
    const posted = await app.client.post('/api/messages/', {
      token: token('b1'),
      body: { conversation_id: conversationId, content: 'legacy twice' },
    });
    assert.equal(posted.status, 201);
    b1.send({ type: 'message', conversation_id: conversationId, content: 'legacy twice', message_type: 'text' });
    const ack = await b1.waitFor('ack');
    assert.equal(ack.id, posted.body.id);
    assert.equal(ack.seq, posted.body.seq);
    assert.equal(ack.client_msg_id, null);
    await m1.sync();
    assert.equal(messagesWith(m1, 'legacy twice').length, 1);
    assert.equal(await storedCount('legacy twice'), 1);

    // Different content is a new message, even without client_msg_id.
    b1.send({ type: 'message', conversation_id: conversationId, content: 'legacy other' });
    await m1.waitFor(isMessage('legacy other'));
    assert.equal(await storedCount('legacy other'), 1);
  });

  test('admins never send: the frame is answered with an error', async () => {
    const admin = await connect('a1');
    admin.send({ type: 'message', conversation_id: conversationId, content: 'from admin', client_msg_id: 'adm-1' });
    const error = await admin.waitFor('error');
    assert.equal(error.error_type, 'admin_read_only');
    assert.equal(error.client_msg_id, 'adm-1');
    assert.equal(await storedCount('from admin'), 0);
  });

  test('sends outside your conversations, and invalid content, are error events', async () => {
    const b5 = await connect('b5');
    b5.send({ type: 'message', conversation_id: conversationId, content: 'intruder' });
    assert.equal((await b5.waitFor('error')).error_type, 'conversation_not_found');
    const b1 = await connect('b1');
    b1.send({ type: 'message', conversation_id: conversationId, content: 'not a url', message_type: 'image' });
    assert.equal((await b1.waitFor('error')).error_type, 'invalid_media_url');
    b1.send({ type: 'message', conversation_id: conversationId, content: 'spoof', sender_id: 'm1' });
    assert.equal((await b1.waitFor((e) => e.type === 'error' && e.error_type === 'forbidden')).type, 'error');
    assert.equal(await storedCount('spoof'), 0);
  });

  test('typing goes to the other participant and admins, never back to the typist; strangers are refused', async () => {
    const [b1a, b1b, m1, admin, b5] = await Promise.all([
      connect('b1'),
      connect('b1'),
      connect('m1'),
      connect('a1'),
      connect('b5'),
    ]);
    b1a.send({ type: 'typing', conversation_id: conversationId, is_typing: true });
    const typing = await m1.waitFor('typing');
    assert.deepEqual(typing, { type: 'typing', user_id: 'b1', conversation_id: conversationId, is_typing: true });
    b1a.send({ type: 'typing', conversation_id: conversationId, is_typing: false });
    await m1.waitFor((e) => e.type === 'typing' && e.is_typing === false);
    // Admins see typing as they see messages (issue 13: typing follows the messages' lines).
    await admin.waitFor((e) => e.type === 'typing' && e.is_typing === false);
    await Promise.all([b1a.sync(), b1b.sync(), admin.sync()]);
    assert.equal(b1a.of('typing').length + b1b.of('typing').length, 0);
    assert.equal(admin.of('typing').length, 2);

    b5.send({ type: 'typing', conversation_id: conversationId, is_typing: true });
    assert.equal((await b5.waitFor('error')).error_type, 'conversation_not_found');
    admin.send({ type: 'typing', conversation_id: conversationId, is_typing: true });
    assert.equal((await admin.waitFor('error')).error_type, 'not_a_participant');
    await m1.sync();
    assert.equal(m1.of('typing').length, 2);
  });

  test('a read frame marks read like read-all and tells the other participant only', async () => {
    const [b1, m1, admin] = await Promise.all([connect('b1'), connect('m1'), connect('a1')]);
    await app.client.post('/api/messages/', {
      token: token('b1'),
      body: { conversation_id: conversationId, content: 'please read' },
    });
    m1.send({ type: 'read', conversation_id: conversationId });
    const read = await b1.waitFor('read');
    assert.equal(read.conversation_id, conversationId);
    assert.equal(read.reader_id, 'm1');
    assert.equal(typeof read.timestamp, 'number');
    const conversation = await app.client.get(`/api/conversations/${conversationId}`, { token: token('m1') });
    const unread = conversation.body.participant1_id === 'm1' ? 'participant1_unread' : 'participant2_unread';
    assert.equal(conversation.body[unread], 0);
    await Promise.all([m1.sync(), admin.sync()]);
    assert.equal(m1.of('read').length + admin.of('read').length, 0);

    // REST read-all pushes the same event.
    await app.client.put(`/api/conversations/${conversationId}/messages/read-all`, { token: token('b1') });
    await m1.waitFor((e) => e.type === 'read' && e.reader_id === 'b1');
  });

  test('a moderated message is announced to both participants and admins', async () => {
    const [b1, m1, admin, m2] = await Promise.all([connect('b1'), connect('m1'), connect('a1'), connect('m2')]);
    const sent = await app.client.post('/api/messages/', {
      token: token('m1'),
      body: { conversation_id: conversationId, content: 'to be removed' },
    });
    const removed = await app.client.delete(`/api/messages/${sent.body.id}`, { token: token('a1') });
    assert.equal(removed.status, 200);
    for (const socket of [b1, m1, admin]) {
      const event = await socket.waitFor('message_deleted');
      assert.deepEqual(event, { type: 'message_deleted', id: sent.body.id, conversation_id: conversationId });
    }
    await m2.sync();
    assert.equal(m2.of('message_deleted').length, 0);
  });

  test("deactivating or deleting a user closes all of their sockets with 4403, nobody else's", async () => {
    const [m2a, m2b, b1] = await Promise.all([connect('m2'), connect('m2'), connect('b1')]);
    const patched = await app.client.patch('/api/users/m2/status?status=inactive', { token: token('a1') });
    assert.equal(patched.status, 200);
    assert.equal((await m2a.closed).code, 4403);
    assert.equal((await m2b.closed).code, 4403);
    await b1.waitFor((e) => e.type === 'status' && e.user_id === 'm2' && e.status === 'offline');
    assert.equal((await app.refused('m2', { token: token('m2') })).status, 403);

    const b5 = await connect('b5');
    const deleted = await app.client.delete('/api/users/b5', { token: token('a1') });
    assert.equal(deleted.status, 200);
    assert.equal((await b5.closed).code, 4403);
    await b1.sync();
    assert.equal(b1.ws.readyState, b1.ws.OPEN);
  });
});
