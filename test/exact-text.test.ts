import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../src/db/connection.ts';
import { exactCollation } from '../src/db/migration-helpers.ts';
import { createMigrator, migrateToLatest, migrationStates, unwrapResult } from '../src/db/migrator.ts';
import { MYSQL_SKIP_REASON, testDialects } from './helpers/databases.ts';
import { assertError, openConversation, rowCounts } from './helpers/rest.ts';
import type { TestSocket } from './helpers/sockets.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Issue 12, item 9: nothing a user sends is taken for something else unless
 * it is the same bytes. MariaDB's utf8mb4_bin is PAD SPACE (trailing spaces
 * ignored); the schema uses a NO PAD collation and the code compares exactly.
 * Strings with a lone surrogate cannot be stored as sent, so they are refused.
 */

/** MariaDB's and MySQL 8's binary collations without trailing-space padding. */
const NO_PAD_COLLATIONS = ['utf8mb4_nopad_bin', 'utf8mb4_0900_bin'];

/** A JSON text with a lone high surrogate in it, as a client may send it. */
const LONE = '\\ud800';

for (const dialect of testDialects) {
  describe(`exact text (${dialect.name})`, () => {
    let app: TestApp;
    let buyer: string;
    let conversationId: string;
    const sockets: TestSocket[] = [];

    async function connect(userId: string, token: string): Promise<TestSocket> {
      const socket = await app.connect(userId, token, { until: 'hello' });
      sockets.push(socket);
      return socket;
    }

    const contents = async () =>
      (
        await app.server.database.db
          .selectFrom('messages')
          .select('content')
          .where('conversation_id', '=', conversationId)
          .orderBy('seq')
          .execute()
      ).map((row) => row.content);

    before(async () => {
      app = await startTestApp(dialect);
      buyer = await app.addUser('b1', 'buyer');
      await app.addUser('m1', 'merchant');
      await app.addUser('a1', 'admin', { username: 'admin', password: 'admin-password' });
      conversationId = await openConversation(app, buyer, 'b1', 'm1');
    });
    after(async () => {
      await Promise.all(sockets.map((socket) => socket.close()));
      await app.close();
    });

    test('every text column of every table compares byte for byte (NO PAD where the server has it)', async () => {
      const db = app.server.database.db;
      if (dialect.name === 'mysql') {
        const offered = await sql<{ name: string }>`
          SELECT COLLATION_NAME AS name FROM information_schema.COLLATIONS
          WHERE COLLATION_NAME IN (${sql.join(NO_PAD_COLLATIONS)})`.execute(db);
        if (offered.rows.length > 0) {
          const columns = await sql<{ table_name: string; column_name: string; collation: string }>`
            SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, COLLATION_NAME AS collation
            FROM information_schema.COLUMNS
            WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL AND TABLE_NAME NOT LIKE 'kysely%'`.execute(
            db,
          );
          assert.ok(columns.rows.length > 10);
          for (const column of columns.rows) {
            assert.ok(
              NO_PAD_COLLATIONS.includes(column.collation),
              `${column.table_name}.${column.column_name} is ${column.collation}`,
            );
          }
        }
      }
      // Whatever the server: "pad" and "pad   " are two usernames, and each finds only itself.
      const now = 1;
      const user = (id: string, username: string) => ({
        id,
        username,
        role: 'buyer' as const,
        status: 'active' as const,
        password_hash: null,
        avatar: null,
        description: null,
        created_at: now,
        updated_at: now,
      });
      await db
        .insertInto('users')
        .values([user('x1', 'pad'), user('x2', 'pad   ')])
        .execute();
      const found = await db.selectFrom('users').select('id').where('username', '=', 'pad').execute();
      assert.deepEqual(
        found.map((row) => row.id),
        ['x1'],
      );
      await db.deleteFrom('users').where('id', 'in', ['x1', 'x2']).execute();
    });

    test('"pay 100" then "pay 100   " within the double-send window are two messages', async () => {
      const socket = await connect('b1', buyer);
      const posted = await app.client.post('/api/messages/', {
        token: buyer,
        body: { conversation_id: conversationId, content: 'pay 100' },
      });
      assert.equal(posted.status, 201);
      // The reference client's legacy frame (no client_msg_id), differing only in trailing spaces.
      socket.send({ type: 'message', conversation_id: conversationId, content: 'pay 100   ' });
      const ack = await socket.waitFor('ack');
      assert.notEqual(ack.id, posted.body.id, 'a new message, not the earlier one');
      // The same bytes again are still the double-send: acknowledged as the earlier message.
      const since = socket.events.length;
      socket.send({ type: 'message', conversation_id: conversationId, content: 'pay 100' });
      const again = await socket.waitFor('ack', since);
      assert.equal(again.id, posted.body.id);
      assert.deepEqual(await contents(), ['pay 100', 'pay 100   ']);
    });

    test('"admin   " does not sign in as admin; "admin" does', async () => {
      for (const username of ['admin   ', 'admin ', 'admin\t']) {
        const login = await app.client.post('/api/auth/login', { body: { username, password: 'admin-password' } });
        assertError(login, 401, 'invalid_credentials');
      }
      const login = await app.client.post('/api/auth/login', {
        body: { username: 'admin', password: 'admin-password' },
      });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      assert.equal(login.body.user.id, 'a1');
    });

    test('on a server without NO PAD (PAD SPACE utf8mb4_bin, as MySQL 5.7) the code still compares exactly', {
      skip: dialect.name !== 'mysql',
    }, async () => {
      // The compared columns back to PAD SPACE, as MySQL 5.7 (which has no NO PAD collation) keeps them.
      const db = app.server.database.db;
      await sql`ALTER TABLE users MODIFY username varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL`.execute(
        db,
      );
      await sql`ALTER TABLE messages MODIFY content text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL`.execute(
        db,
      );
      const padded = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM users WHERE username = 'admin   '`.execute(db);
      assert.equal(Number(padded.rows[0]?.n), 1, 'the database itself now takes "admin   " for admin');
      const login = await app.client.post('/api/auth/login', {
        body: { username: 'admin   ', password: 'admin-password' },
      });
      assertError(login, 401, 'invalid_credentials');

      const socket = await connect('b1', buyer);
      const posted = await app.client.post('/api/messages/', {
        token: buyer,
        body: { conversation_id: conversationId, content: 'pay 200' },
      });
      assert.equal(posted.status, 201);
      socket.send({ type: 'message', conversation_id: conversationId, content: 'pay 200  ' });
      const ack = await socket.waitFor('ack');
      assert.notEqual(ack.id, posted.body.id);
      assert.deepEqual((await contents()).slice(-2), ['pay 200', 'pay 200  ']);
    });

    test('a lone surrogate anywhere a user writes text is a 422 naming the field; nothing is stored', async () => {
      const before = await rowCounts(app);
      const cases: [string, string, string, string][] = [
        ['POST', '/api/messages/', `{"conversation_id":"${conversationId}","content":"pay ${LONE}"}`, 'body.content'],
        [
          'POST',
          '/api/messages/',
          `{"conversation_id":"${conversationId}","content":"ok","client_msg_id":"a${LONE}"}`,
          'body.client_msg_id',
        ],
        ['POST', '/api/quick-replies/', `{"content":"${LONE}hello"}`, 'body.content'],
        ['PUT', '/api/users/b1', `{"description":"x${LONE}"}`, 'body.description'],
        ['PUT', '/api/users/b1', `{"username":"name${LONE}"}`, 'body.username'],
        ['POST', '/api/auth/login', `{"username":"admin${LONE}","password":"admin-password"}`, 'body.username'],
      ];
      for (const [method, path, rawBody, field] of cases) {
        const response = await app.client.request(method, path, { token: buyer, rawBody });
        assertError(response, 422, 'validation_error');
        assert.ok(
          response.body.errors.some((line: string) => line.startsWith(`${field}:`)),
          `${path} ${JSON.stringify(response.body.errors)}`,
        );
      }
      assert.deepEqual(await rowCounts(app), before);
      // A pair the right way round is one character and is stored as sent.
      const emoji = await app.client.post('/api/messages/', {
        token: buyer,
        rawBody: `{"conversation_id":"${conversationId}","content":"ok \\ud83d\\ude00","client_msg_id":"emoji-1"}`,
      });
      assert.equal(emoji.status, 201);
      assert.equal(emoji.body.content, 'ok 😀');
      const retry = await app.client.post('/api/messages/', {
        token: buyer,
        body: { conversation_id: conversationId, content: 'ok 😀', client_msg_id: 'emoji-1' },
      });
      assert.equal(retry.status, 200, 'the retry is the same message, not a 409');
    });

    test('a WebSocket frame with a lone surrogate is refused with an error event, nothing stored', async () => {
      const socket = await connect('b1', buyer);
      const before = await rowCounts(app);
      socket.send(
        `{"type":"message","conversation_id":"${conversationId}","content":"hi ${LONE}","client_msg_id":"ws-lone"}`,
      );
      const error = await socket.waitFor('error');
      assert.equal(error.error_type, 'validation_error');
      assert.equal(error.client_msg_id, 'ws-lone');
      await socket.sync();
      assert.deepEqual(await rowCounts(app), before);
    });

    test('a frame packed with lone surrogates gets a short error event, not one line per string', async () => {
      const socket = await connect('b1', buyer);
      // Unknown fields are tolerated in frames, so a client can pack one with thousands of strings.
      const packed = Array.from({ length: 3000 }, () => `"${LONE}"`).join(',');
      socket.send(
        `{"type":"message","conversation_id":"${conversationId}","content":"hi","client_msg_id":"ws-packed","x":[${packed}]}`,
      );
      const error = await socket.waitFor('error');
      assert.equal(error.error_type, 'validation_error');
      assert.equal(error.client_msg_id, 'ws-packed');
      assert.ok(error.errors.length >= 1 && error.errors.length <= 10, `${error.errors.length} lines`);
      assert.equal(error.errors[0], 'x.0: must be well-formed Unicode (no lone surrogate)');
    });
  });
}

describe('the NO PAD migration on an existing MySQL/MariaDB schema', { skip: MYSQL_SKIP_REASON }, () => {
  const mysql = testDialects.find((dialect) => dialect.name === 'mysql');
  const MIGRATION = '20261204130000_exact_text_collation';

  test('down puts every table back to utf8mb4_bin, up converts them again, foreign keys kept', async () => {
    assert.ok(mysql);
    const scratch = await mysql.create();
    const database = openDatabase(scratch.url);
    const db = database.db;
    const collations = async () =>
      new Set(
        (
          await sql<{ collation: string }>`
            SELECT DISTINCT COLLATION_NAME AS collation FROM information_schema.COLUMNS
            WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL AND TABLE_NAME NOT LIKE 'kysely%'`.execute(
            db,
          )
        ).rows.map((row) => row.collation),
      );
    const foreignKeys = async () =>
      (
        await sql<{ name: string; rule: string }>`
          SELECT CONCAT(TABLE_NAME, '.', CONSTRAINT_NAME, '->', REFERENCED_TABLE_NAME) AS name, DELETE_RULE AS rule
          FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()
          ORDER BY name`.execute(db)
      ).rows;
    try {
      await migrateToLatest(db);
      const offered = await exactCollation(db);
      const keys = await foreignKeys();
      assert.ok(keys.length >= 5, JSON.stringify(keys));
      assert.ok(keys.some((key) => key.rule === 'CASCADE'));

      const names = (await migrationStates(db)).map((state) => state.name);
      const previous = names[names.indexOf(MIGRATION) - 1];
      assert.ok(previous);
      unwrapResult(await createMigrator(db).migrateTo(previous));
      assert.deepEqual([...(await collations())], ['utf8mb4_bin']);
      assert.deepEqual(await foreignKeys(), keys);

      await migrateToLatest(db);
      assert.deepEqual([...(await collations())], [offered]);
      assert.deepEqual(await foreignKeys(), keys);
    } finally {
      await database.destroy();
      await scratch.drop();
    }
  });

  test('a conversion that fails half-way leaves every table and foreign key as it was, and can run again', async () => {
    assert.ok(mysql);
    const scratch = await mysql.create();
    const database = openDatabase(scratch.url);
    const db = database.db;
    const schema = async () => ({
      tables: (
        await sql<{ name: string; collation: string }>`
          SELECT TABLE_NAME AS name, TABLE_COLLATION AS collation FROM information_schema.TABLES
          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE 'kysely%' ORDER BY name`.execute(db)
      ).rows,
      keys: (
        await sql<{ name: string }>`
          SELECT CONCAT(TABLE_NAME, '.', CONSTRAINT_NAME, '->', REFERENCED_TABLE_NAME) AS name
          FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()
          ORDER BY name`.execute(db)
      ).rows,
    });
    try {
      await migrateToLatest(db);
      const names = (await migrationStates(db)).map((state) => state.name);
      const previous = names[names.indexOf(MIGRATION) - 1];
      assert.ok(previous);
      unwrapResult(await createMigrator(db).migrateTo(MIGRATION));
      // Two usernames that only NO PAD tells apart: going back to PAD SPACE breaks the unique key on
      // users, after the tables before it (conversations, messages, ...) were converted already.
      const user = (id: string, username: string) => ({
        id,
        username,
        role: 'buyer' as const,
        status: 'active' as const,
        password_hash: null,
        avatar: null,
        description: null,
        created_at: 1,
        updated_at: 1,
      });
      await db
        .insertInto('users')
        .values([user('x1', 'pad'), user('x2', 'pad   ')])
        .execute();
      const before = await schema();
      assert.ok(before.keys.length >= 5, JSON.stringify(before.keys));

      await assert.rejects(async () => unwrapResult(await createMigrator(db).migrateTo(previous)), /Duplicate entry/);
      assert.deepEqual(await schema(), before);

      await db.deleteFrom('users').where('id', '=', 'x2').execute();
      unwrapResult(await createMigrator(db).migrateTo(previous));
      assert.deepEqual((await schema()).keys, before.keys);
    } finally {
      await database.destroy();
      await scratch.drop();
    }
  });
});
