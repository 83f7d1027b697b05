import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDialects } from './helpers/databases.ts';
import { assertError, openConversation, sendText, tableSnapshot } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * "Bad input gets a clear error and loses nothing": every request below is
 * refused with the stated status and error_type, validation failures list
 * their fields in `errors`, and afterwards every table holds exactly the rows
 * (and values) it held before.
 */

type Caller = 'b1' | 'm1' | 'a1';

interface Ids {
  conversation: string;
  foreignConversation: string;
  foreignMessage: string;
  ownReply: string;
  foreignReply: string;
}

interface BadCase {
  name: string;
  as: Caller;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: (ids: Ids) => string;
  body?: (ids: Ids) => unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  status: number;
  errorType: string;
  /** For 422s: a line of `errors` must match this. */
  errorLine?: RegExp;
}

const send = (overrides: Record<string, unknown>) => (ids: Ids) => ({
  conversation_id: ids.conversation,
  content: 'hello',
  ...overrides,
});

const malformedJson: BadCase[] = [
  ['POST', '/api/messages/', '{"conversation_id": "x", "content": "hi"'],
  ['POST', '/api/conversations/', '{participant1_id: b1}'],
  ['POST', '/api/quick-replies/', "{'content': 'single quotes'}"],
  ['PUT', '/api/users/b1', '{"description": "x",}'],
  ['POST', '/api/users/ensure', '['],
  ['POST', '/api/auth/login', 'username=alice&password=x'],
  ['POST', '/api/users/', ''],
  ['POST', '/api/auth/logout', '{"all": '],
  ['POST', '/api/ws/ticket', '{'],
].map(([method = '', path = '', rawBody = '']) => ({
  name: `malformed JSON: ${method} ${path} ${JSON.stringify(rawBody)}`,
  as: path.startsWith('/api/users/') && path !== '/api/users/b1' ? 'a1' : 'b1',
  method: method as BadCase['method'],
  path: () => path,
  rawBody,
  status: 400,
  errorType: 'invalid_json',
}));

const wrongTypes: BadCase[] = [
  {
    name: 'content is a number',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ content: 123 }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.content: /,
  },
  {
    name: 'content is an array',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ content: ['hi'] }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.content: /,
  },
  {
    name: 'content is null',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ content: null }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.content: /,
  },
  {
    name: 'conversation_id is a number',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ conversation_id: 42 }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.conversation_id: /,
  },
  {
    name: 'an unknown message_type',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ message_type: 'video' }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.message_type: /,
  },
  {
    name: 'content missing',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: (ids) => ({ conversation_id: ids.conversation }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.content: is required$/,
  },
  {
    name: 'a JSON array instead of an object',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    rawBody: '[]',
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body: /,
  },
  {
    name: 'a text/plain body',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    rawBody: 'hello',
    headers: { 'content-type': 'text/plain' },
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body: /,
  },
  {
    name: 'participant ids are numbers',
    as: 'b1',
    method: 'POST',
    path: () => '/api/conversations/',
    body: () => ({ participant1_id: 1, participant2_id: 2 }),
    status: 422,
    errorType: 'validation_error',
  },
  {
    name: 'half of each conversation body form',
    as: 'b1',
    method: 'POST',
    path: () => '/api/conversations/',
    body: () => ({ participant1_id: 'b1', merchant_id: 'm1' }),
    status: 422,
    errorType: 'validation_error',
  },
  {
    name: 'sort_order is a string',
    as: 'b1',
    method: 'POST',
    path: () => '/api/quick-replies/',
    body: () => ({ content: 'x', sort_order: 'first' }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.sort_order: /,
  },
  {
    name: 'username is a number',
    as: 'b1',
    method: 'PUT',
    path: () => '/api/users/b1',
    body: () => ({ username: 42, description: 'would be lost' }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.username: /,
  },
  {
    name: 'ensure: users is not an array',
    as: 'a1',
    method: 'POST',
    path: () => '/api/users/ensure',
    body: () => ({ users: 'b9' }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.users: /,
  },
  {
    name: 'new_password is a number',
    as: 'b1',
    method: 'PUT',
    path: () => '/api/users/b1/password',
    body: () => ({ old_password: 'x', new_password: 123456789 }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.new_password: /,
  },
  {
    name: 'a role that does not exist',
    as: 'a1',
    method: 'POST',
    path: () => '/api/users/',
    body: () => ({ username: 'wizard', role: 'wizard' }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.role: /,
  },
];

const unknownFields: BadCase[] = [
  ['POST', '/api/messages/', 'b1', send({ is_read: true }), 'is_read'],
  ['POST', '/api/messages/', 'b1', send({ seq: 1 }), 'seq'],
  ['POST', '/api/users/', 'a1', () => ({ username: 'sneaky', role: 'buyer', password_hash: 'x' }), 'password_hash'],
  ['PUT', '/api/users/b1', 'b1', () => ({ description: 'x', is_admin: true }), 'is_admin'],
  ['POST', '/api/conversations/', 'b1', () => ({ participant1_id: 'b1', participant2_id: 'm9', id: 'mine' }), 'id'],
  ['POST', '/api/quick-replies/', 'b1', () => ({ content: 'x', is_active: false }), 'is_active'],
  ['PUT', '/api/quick-replies/{own}', 'b1', () => ({ content: 'x', user_id: 'm1' }), 'user_id'],
  ['POST', '/api/auth/login', 'b1', () => ({ username: 'a', password: 'b', remember: true }), 'remember'],
].map(([method, path, as, body, field]) => ({
  name: `unknown field ${field} in ${method} ${path}`,
  as: as as Caller,
  method: method as BadCase['method'],
  path: (ids: Ids) => (path as string).replace('{own}', ids.ownReply),
  body: body as (ids: Ids) => unknown,
  status: 422,
  errorType: 'validation_error',
  errorLine: new RegExp(`^body\\.${field}: unknown field$`),
}));

const oversized: BadCase[] = [
  {
    name: 'text content of 5001 characters',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ content: 'x'.repeat(5001) }),
    status: 422,
    errorType: 'text_too_long',
    errorLine: /^content: .*5000/,
  },
  {
    name: 'text content of 5001 emoji (characters, not UTF-16 units)',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ content: '😀'.repeat(5001) }),
    status: 422,
    errorType: 'text_too_long',
    errorLine: /^content: /,
  },
  {
    name: 'text content of 6000 characters',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ content: 'x'.repeat(6000) }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.content: /,
  },
  {
    name: 'username of 101 characters (self)',
    as: 'b1',
    method: 'PUT',
    path: () => '/api/users/b1',
    body: () => ({ username: 'u'.repeat(101), description: 'would be lost' }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.username: .*100/,
  },
  {
    name: 'username of 101 characters (admin create)',
    as: 'a1',
    method: 'POST',
    path: () => '/api/users/',
    body: () => ({ username: 'u'.repeat(101), role: 'buyer' }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.username: /,
  },
  {
    name: 'description of 1001 characters',
    as: 'b1',
    method: 'PUT',
    path: () => '/api/users/b1',
    body: () => ({ description: 'd'.repeat(1001) }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.description: /,
  },
  {
    name: 'avatar of 501 characters',
    as: 'b1',
    method: 'PUT',
    path: () => '/api/users/b1',
    body: () => ({ avatar: `https://cdn.test/${'a'.repeat(490)}` }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.avatar: /,
  },
  {
    name: 'client_msg_id of 65 characters',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ client_msg_id: 'c'.repeat(65) }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.client_msg_id: /,
  },
  {
    name: 'quick reply of 501 characters',
    as: 'b1',
    method: 'POST',
    path: () => '/api/quick-replies/',
    body: () => ({ content: 'q'.repeat(501) }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.content: /,
  },
  {
    name: 'a body over the size limit',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ content: 'x'.repeat(2 * 1024 * 1024) }),
    status: 413,
    errorType: 'payload_too_large',
  },
];

const invalidValues: BadCase[] = [
  ...(
    [
      ['PUT', '/api/users/b1', 'b1', { username: 'ali\u200bce' }, 'a zero-width space'],
      ['PUT', '/api/users/b1', 'b1', { username: 'ecila\u202e' }, 'a right-to-left override'],
      ['POST', '/api/users/', 'a1', { username: 'bob\u2066x', role: 'buyer' }, 'a bidi isolate'],
      [
        'POST',
        '/api/users/ensure',
        'a1',
        { users: [{ id: 'bz1', role: 'buyer', username: '\u00adbob' }] },
        'a soft hyphen',
      ],
    ] as const
  ).map(([method, path, as, body, what]) => ({
    name: `a username with ${what} (${method} ${path})`,
    as: as as Caller,
    method: method as BadCase['method'],
    path: () => path,
    body: () => body,
    status: 422,
    errorType: 'username_invalid_characters',
    errorLine: /^body\.username: /,
  })),
  ...(
    [
      ['PUT', '/api/users/b1', 'b1', { username: 'Admin' }],
      ['PUT', '/api/users/b1', 'b1', { username: 'ａｄｍｉｎ ' }],
      ['PUT', '/api/users/b1', 'b1', { username: '平台客服' }],
      ['POST', '/api/users/', 'a1', { username: '官方旗舰店', role: 'merchant' }],
      ['POST', '/api/users/ensure', 'a1', { users: [{ id: 'mz1', role: 'merchant', username: '客服小王' }] }],
    ] as const
  ).map(([method, path, as, body]) => ({
    name: `a staff look-alike username for a non-staff account: ${JSON.stringify(body)}`,
    as: as as Caller,
    method: method as BadCase['method'],
    path: () => path,
    body: () => body,
    status: 422,
    errorType: 'username_reserved',
    errorLine: /^body\.username: /,
  })),
  {
    name: 'whitespace-only content',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ content: ' \n\t ' }),
    status: 422,
    errorType: 'empty_content',
    errorLine: /^content: /,
  },
  {
    name: 'empty content',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ content: '' }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.content: /,
  },
  {
    name: 'an image URL on another host',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({
      message_type: 'image',
      content: 'https://evil.test/api/media/uploads/2026/01/01/aaaaaaaaaaaaaaaa.png',
    }),
    status: 422,
    errorType: 'invalid_media_url',
    errorLine: /^content: /,
  },
  {
    name: 'an image URL this server never issued',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ message_type: 'image', content: '/api/media/uploads/2026/01/01/aaaaaaaaaaaaaaaa.png' }),
    status: 422,
    errorType: 'invalid_media_url',
  },
  {
    name: 'an image path that climbs out of the media directory',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ message_type: 'image', content: 'http://chat.test/api/media/uploads/../../../etc/passwd' }),
    status: 422,
    errorType: 'invalid_media_url',
  },
  {
    name: 'a file message whose URL part is not ours',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ message_type: 'file', content: 'report.pdf|https://evil.test/report.pdf' }),
    status: 422,
    errorType: 'invalid_media_url',
  },
  {
    name: 'a control character in a username',
    as: 'b1',
    method: 'PUT',
    path: () => '/api/users/b1',
    body: () => ({ username: 'bad\u0000name' }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.username: /,
  },
  {
    name: 'a javascript: avatar',
    as: 'b1',
    method: 'PUT',
    path: () => '/api/users/b1',
    body: () => ({ avatar: 'javascript:alert(1)' }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.avatar: /,
  },
  {
    name: 'a password shorter than 6',
    as: 'a1',
    method: 'PUT',
    path: () => '/api/users/b1/password',
    body: () => ({ new_password: '12345' }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^body\.new_password: /,
  },
  {
    name: 'an id with a space in the path',
    as: 'a1',
    method: 'PUT',
    path: () => '/api/users/bad%20id',
    body: () => ({ description: 'x' }),
    status: 422,
    errorType: 'validation_error',
    errorLine: /^params\.id: /,
  },
  {
    name: 'an id longer than 50 in the path',
    as: 'a1',
    method: 'DELETE',
    path: () => `/api/messages/${'x'.repeat(51)}`,
    status: 422,
    errorType: 'validation_error',
    errorLine: /^params\.id: /,
  },
  ...[
    'after_seq=-1',
    'after_seq=1.5',
    'after_seq=',
    'before_seq=0',
    'limit=0',
    'limit=101',
    'order=sideways',
    'page_size=0',
  ].map(
    (query): BadCase => ({
      name: `history ?${query}`,
      as: 'b1',
      method: 'GET',
      path: (ids) => `/api/conversations/${ids.conversation}/messages?${query}`,
      status: 422,
      errorType: 'validation_error',
      errorLine: /^querystring\./,
    }),
  ),
  ...[
    'to=2026-12-01',
    'from=2026-12-01',
    'from=2026-1-01&to=2026-12-01',
    'from=2026-12-01&to=2026-12-02&group=week',
  ].map(
    (query): BadCase => ({
      name: `team report ?${query}`,
      as: 'm1',
      method: 'GET',
      path: () => `/api/reports/teams/m1?${query}`,
      status: 422,
      errorType: 'validation_error',
      errorLine: /^querystring/,
    }),
  ),
  ...['from=2026-02-30&to=2026-03-01', 'from=2026-12-02&to=2026-12-01', 'from=2025-01-01&to=2026-01-02'].map(
    (query): BadCase => ({
      name: `team report ?${query} (no such day, reversed, longer than 366 days)`,
      as: 'm1',
      method: 'GET',
      path: () => `/api/reports/teams/m1?${query}`,
      status: 400,
      errorType: 'invalid_report_range',
    }),
  ),
  {
    name: 'PATCH status=deleted',
    as: 'a1',
    method: 'PATCH',
    path: () => '/api/users/m1/status?status=deleted',
    status: 422,
    errorType: 'validation_error',
    errorLine: /^querystring\.status: /,
  },
  {
    name: 'a client_msg_id reused with different content',
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: send({ content: 'something else', client_msg_id: 'kept-1' }),
    status: 409,
    errorType: 'client_msg_id_conflict',
  },
];

const foreignIds: BadCase[] = [
  {
    name: "a message into someone else's conversation",
    as: 'b1',
    method: 'POST',
    path: () => '/api/messages/',
    body: (ids) => ({ conversation_id: ids.foreignConversation, content: 'hello' }),
    status: 404,
    errorType: 'conversation_not_found',
  },
  {
    name: "marking someone else's conversation read",
    as: 'b1',
    method: 'PUT',
    path: (ids) => `/api/conversations/${ids.foreignConversation}/messages/read-all`,
    status: 404,
    errorType: 'conversation_not_found',
  },
  {
    name: "resetting someone else's unread count",
    as: 'b1',
    method: 'PUT',
    path: (ids) => `/api/conversations/${ids.foreignConversation}/read`,
    status: 404,
    errorType: 'conversation_not_found',
  },
  {
    name: "marking someone else's message read",
    as: 'b1',
    method: 'PUT',
    path: (ids) => `/api/messages/${ids.foreignMessage}/read`,
    status: 404,
    errorType: 'message_not_found',
  },
  {
    name: "editing someone else's quick reply",
    as: 'b1',
    method: 'PUT',
    path: (ids) => `/api/quick-replies/${ids.foreignReply}`,
    body: () => ({ content: 'mine now' }),
    status: 404,
    errorType: 'quick_reply_not_found',
  },
  {
    name: "deleting someone else's quick reply",
    as: 'b1',
    method: 'DELETE',
    path: (ids) => `/api/quick-replies/${ids.foreignReply}`,
    status: 404,
    errorType: 'quick_reply_not_found',
  },
  {
    name: 'editing a buyer you share nothing with',
    as: 'b1',
    method: 'PUT',
    path: () => '/api/users/b2',
    body: () => ({ description: 'mine now' }),
    status: 404,
    errorType: 'user_not_found',
  },
  {
    name: 'a conversation with a user id that does not exist',
    as: 'm1',
    method: 'POST',
    path: () => '/api/conversations/',
    body: () => ({ customer_id: 'b404', merchant_id: 'm1' }),
    status: 404,
    errorType: 'user_not_found',
  },
  {
    name: 'a message id that does not exist',
    as: 'a1',
    method: 'DELETE',
    path: () => '/api/messages/00000000-0000-7000-8000-000000000000',
    status: 404,
    errorType: 'message_not_found',
  },
];

for (const dialect of testDialects) {
  describe(`bad input (${dialect.name})`, () => {
    let app: TestApp;
    const tokens = {} as Record<Caller, string>;
    const ids = {} as Ids;

    before(async () => {
      app = await startTestApp(dialect);
      const [b2, m2] = await Promise.all([
        app.addUser('b2', 'buyer'),
        app.addUser('m2', 'merchant'),
        app.addUser('m9', 'merchant'),
      ]);
      [tokens.b1, tokens.m1, tokens.a1] = await Promise.all([
        app.addUser('b1', 'buyer', { username: 'alice' }),
        app.addUser('m1', 'merchant'),
        app.addUser('a1', 'admin'),
      ]);
      ids.conversation = await openConversation(app, tokens.b1, 'b1', 'm1');
      await sendText(app, tokens.m1, ids.conversation, 'welcome');
      const kept = await app.client.post('/api/messages/', {
        token: tokens.b1,
        body: { conversation_id: ids.conversation, content: 'original', client_msg_id: 'kept-1' },
      });
      assert.equal(kept.status, 201);
      ids.foreignConversation = await openConversation(app, b2, 'b2', 'm2');
      ids.foreignMessage = (await sendText(app, m2, ids.foreignConversation, 'theirs')).id;
      const reply = async (token: string) =>
        (await app.client.post('/api/quick-replies/', { token, body: { content: 'reply' } })).body.id as string;
      ids.ownReply = await reply(tokens.b1);
      ids.foreignReply = await reply(b2);
    });
    after(() => app.close());

    const groups: [string, BadCase[]][] = [
      ['malformed JSON → 400', malformedJson],
      ['wrong types → 422', wrongTypes],
      ['unknown fields → 422', unknownFields],
      ['oversized values', oversized],
      ['invalid values', invalidValues],
      ["other users' resources → 404", foreignIds],
    ];
    for (const [group, cases] of groups) {
      describe(group, () => {
        for (const c of cases) {
          test(c.name, async () => {
            const before = await tableSnapshot(app);
            const response = await app.client.request(c.method, c.path(ids), {
              token: tokens[c.as],
              ...(c.body ? { body: c.body(ids) } : {}),
              ...(c.rawBody !== undefined ? { rawBody: c.rawBody } : {}),
              ...(c.headers ? { headers: c.headers } : {}),
            });
            assertError(response, c.status, c.errorType);
            if (c.status === 422) {
              const { errors } = response.body;
              assert.ok(Array.isArray(errors) && errors.length > 0, JSON.stringify(response.body));
              assert.ok(
                errors.every((line: unknown) => typeof line === 'string' && /^[\w.]+: /.test(line)),
                JSON.stringify(errors),
              );
              if (c.errorLine) {
                const pattern = c.errorLine;
                assert.ok(
                  errors.some((line: string) => pattern.test(line)),
                  `${pattern} in ${JSON.stringify(errors)}`,
                );
              }
            }
            assert.deepEqual(await tableSnapshot(app), before);
          });
        }
      });
    }

    test('validation messages follow Accept-Language; the errors lines stay the same', async () => {
      const request = (language?: string) =>
        app.client.post('/api/quick-replies/', {
          token: tokens.b1,
          body: { content: 'x', colour: 'red' },
          ...(language ? { headers: { 'accept-language': language } } : {}),
        });
      const en = await request('en');
      const zh = await request();
      assert.equal(en.body.detail, 'Request validation failed');
      assert.equal(zh.body.detail, '请求参数校验失败');
      assert.deepEqual(en.body.errors, zh.body.errors);
      assert.deepEqual(en.body.errors, ['body.colour: unknown field']);
    });

    test('control: the same requests with good input are accepted', async () => {
      const sent = await app.client.post('/api/messages/', {
        token: tokens.b1,
        body: { conversation_id: ids.conversation, content: '😀'.repeat(5000) },
      });
      assert.equal(sent.status, 201);
      const profile = await app.client.put('/api/users/b1', {
        token: tokens.b1,
        body: { username: 'u'.repeat(100), description: 'd'.repeat(1000) },
      });
      assert.equal(profile.status, 200);
      const reply = await app.client.post('/api/quick-replies/', {
        token: tokens.b1,
        body: { content: 'q'.repeat(500), sort_order: -3 },
      });
      assert.equal(reply.status, 201);
      const history = await app.client.get(`/api/conversations/${ids.conversation}/messages?after_seq=1&limit=100`, {
        token: tokens.b1,
      });
      assert.deepEqual(
        history.body.results.map((m: { seq: number }) => m.seq),
        [2, 3],
      );
    });
  });
}
