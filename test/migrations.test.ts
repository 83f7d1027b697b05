import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { type Config, parseConfig } from '../src/config/config.ts';
import { type DatabaseHandle, openDatabase } from '../src/db/connection.ts';
import {
  MIGRATIONS_DIR,
  migrateDownOne,
  migrateToLatest,
  migrationStates,
  pendingMigrations,
} from '../src/db/migrator.ts';
import type { Database } from '../src/db/types.ts';
import { createLogger } from '../src/http/logging.ts';
import { SchemaNotAtHeadError, startServer } from '../src/server.ts';
import { type ScratchDatabase, testDialects } from './helpers/databases.ts';
import { createClient } from './helpers/http.ts';
import { runNode } from './helpers/node-run.ts';
import { testEnv } from './helpers/test-app.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/**
 * The columns each table must have after migrating to head. The type checker
 * makes each list name every field of the row type in src/db/types.ts, so a
 * migration and the types cannot drift apart unnoticed.
 */
function columnsOf<Row>() {
  return <const List extends readonly (keyof Row & string)[]>(
    list: List &
      ([Exclude<keyof Row, List[number]>] extends [never] ? unknown : { missing: Exclude<keyof Row, List[number]> }),
  ): readonly string[] => list;
}

const EXPECTED_COLUMNS: { [Table in keyof Database]: readonly string[] } = {
  users: columnsOf<Database['users']>()([
    'id',
    'username',
    'password_hash',
    'role',
    'avatar',
    'description',
    'status',
    'created_at',
    'updated_at',
    'tokens_valid_after',
    'team_id',
    'team_role',
    'available',
    'max_open',
    'last_assigned_at',
  ]),
  conversations: columnsOf<Database['conversations']>()([
    'id',
    'participant1_id',
    'participant2_id',
    'participant1_unread',
    'participant2_unread',
    'last_message',
    'last_message_time',
    'last_seq',
    'message_count',
    'created_at',
    'updated_at',
    'started_by',
    'search_seq',
    'search_behind',
    'chain_head',
    'team_id',
    'assignee_id',
    'previous_assignee_id',
    'status',
    'assigned_at',
    'resolved_at',
    'awaiting_reply_since',
    'linked_conversation_id',
    'resolutions',
    'slow_alert_since',
    'slow_alert_level',
    'report_seq',
    'report_behind',
  ]),
  teams: columnsOf<Database['teams']>()([
    'owner_id',
    'max_open_per_agent',
    'auto_assign',
    'auto_resolve_hours',
    'created_at',
    'updated_at',
    'welcome_message',
    'away_message',
    'timezone',
    'business_hours',
    'days_off',
    'keyword_replies',
    'slow_reply_seconds',
    'slow_reply_escalation_seconds',
  ]),
  report_state: columnsOf<Database['report_state']>()(['conversation_id', 'seq', 'state']),
  reply_turns: columnsOf<Database['reply_turns']>()([
    'conversation_id',
    'answer_seq',
    'team_id',
    'episode',
    'started_at',
    'counted_from',
    'answered_at',
    'answered_by',
    'seconds',
    'is_first_of_episode',
  ]),
  report_daily: columnsOf<Database['report_daily']>()([
    'team_id',
    'local_day',
    'agent_id',
    'conversations',
    'buyer_turns',
    'answered',
    'within_180',
    'first_responses',
    'team_messages',
    'resolved',
    'ratings',
    'rating_sum',
    'first_histogram',
    'response_histogram',
  ]),
  conversation_resolves: columnsOf<Database['conversation_resolves']>()([
    'conversation_id',
    'resolution',
    'after_seq',
    'resolved_by',
    'resolved_at',
  ]),
  auto_reply_sends: columnsOf<Database['auto_reply_sends']>()(['conversation_id', 'rule', 'mark']),
  conversation_assignments: columnsOf<Database['conversation_assignments']>()([
    'id',
    'conversation_id',
    'actor_id',
    'from_id',
    'to_id',
    'note',
    'kind',
    'created_at',
  ]),
  conversation_notes: columnsOf<Database['conversation_notes']>()([
    'id',
    'conversation_id',
    'author_id',
    'content',
    'created_at',
  ]),
  conversation_ratings: columnsOf<Database['conversation_ratings']>()([
    'id',
    'conversation_id',
    'episode',
    'team_id',
    'assignee_id',
    'rater_id',
    'score',
    'comment',
    'created_at',
  ]),
  messages: columnsOf<Database['messages']>()([
    'id',
    'conversation_id',
    'seq',
    'sender_id',
    'content',
    'message_type',
    'filename',
    'client_msg_id',
    'is_read',
    'created_at',
    'recalled_at',
    'chain_hash',
    'auto_reply',
  ]),
  cards: columnsOf<Database['cards']>()(['kind', 'id', 'state', 'user_ids', 'updated_at']),
  card_refs: columnsOf<Database['card_refs']>()(['kind', 'card_id', 'conversation_id', 'shown_at']),
  quick_replies: columnsOf<Database['quick_replies']>()([
    'id',
    'user_id',
    'content',
    'sort_order',
    'is_active',
    'created_at',
    'updated_at',
  ]),
  webhook_endpoints: columnsOf<Database['webhook_endpoints']>()([
    'id',
    'url',
    'description',
    'events',
    'secret',
    'previous_secret',
    'previous_secret_expires_at',
    'allow_private_network',
    'is_active',
    'disabled_reason',
    'created_at',
    'updated_at',
    'failing_since',
  ]),
  webhook_deliveries: columnsOf<Database['webhook_deliveries']>()([
    'position',
    'event_id',
    'endpoint_id',
    'event_type',
    'conversation_id',
    'payload',
    'status',
    'attempts',
    'next_attempt_at',
    'lease_until',
    'lease_owner',
    'last_status_code',
    'last_error',
    'last_duration_ms',
    'created_at',
    'delivered_at',
    'updated_at',
  ]),
  deleted_messages: columnsOf<Database['deleted_messages']>()([
    'conversation_id',
    'seq',
    'message_id',
    'deleted_by',
    'deleted_at',
    'chain_hash',
  ]),
  revoked_sessions: columnsOf<Database['revoked_sessions']>()(['session_id', 'user_id', 'expires_at', 'revoked_at']),
  message_search_terms: columnsOf<Database['message_search_terms']>()(['term', 'message_id', 'conversation_id']),
  guard_settings: columnsOf<Database['guard_settings']>()(['id', 'rules', 'words', 'updated_by', 'updated_at']),
  guard_held_messages: columnsOf<Database['guard_held_messages']>()([
    'id',
    'conversation_id',
    'sender_id',
    'sender_role',
    'content',
    'deliver_content',
    'message_type',
    'client_msg_id',
    'labels',
    'status',
    'reviewed_by',
    'reviewed_at',
    'created_at',
  ]),
  guard_decisions: columnsOf<Database['guard_decisions']>()([
    'id',
    'message_id',
    'conversation_id',
    'sender_id',
    'sender_role',
    'label',
    'action',
    'excerpt',
    'reviewed_by',
    'review',
    'created_at',
  ]),
  guard_strikes: columnsOf<Database['guard_strikes']>()(['user_id', 'strikes', 'updated_at']),
  transcript_events: columnsOf<Database['transcript_events']>()([
    'conversation_id',
    'after_seq',
    'ordinal',
    'kind',
    'body',
    'hash',
    'created_at',
  ]),
  transcript_keys: columnsOf<Database['transcript_keys']>()(['id', 'public_key', 'private_key', 'created_at']),
};
const APP_TABLES = Object.keys(EXPECTED_COLUMNS).sort();

const MIGRATION_NAMES = readdirSync(MIGRATIONS_DIR)
  .filter((file) => /^\d{14}_[a-z0-9_]+\.ts$/.test(file))
  .map((file) => file.replace(/\.ts$/, ''))
  .sort();

/** Application tables (Kysely's own bookkeeping tables left out), with their columns. */
async function appTables(database: DatabaseHandle): Promise<Map<string, string[]>> {
  const tables = (await database.db.introspection.getTables()).filter((table) => !table.name.startsWith('kysely_'));
  const entries: [string, string[]][] = [];
  for (const table of tables) {
    const columns = table.columns.map((column) => column.name);
    // SQLite's introspection (PRAGMA table_info) leaves generated columns out; table_xinfo marks them hidden 2 or 3.
    if (database.dialect === 'sqlite') {
      const generated = await sql<{ name: string }>`
        SELECT name FROM pragma_table_xinfo(${table.name}) WHERE hidden IN (2, 3)`.execute(database.db);
      columns.push(...generated.rows.map((row) => row.name));
    }
    entries.push([table.name, columns.sort()]);
  }
  return new Map(entries);
}

function configFor(scratch: ScratchDatabase, mediaDir: string): Config {
  return parseConfig(testEnv({ DATABASE_URL: scratch.urlString, MEDIA_DIR: mediaDir }));
}

test('the migrations folder holds at least the initial schema', () => {
  assert.ok(MIGRATION_NAMES.length >= 1);
  assert.match(MIGRATION_NAMES[0] ?? '', /^\d{14}_initial_schema$/);
});

for (const dialect of testDialects) {
  describe(`migrations (${dialect.name})`, () => {
    let scratch: ScratchDatabase;
    let database: DatabaseHandle;
    let mediaDir: string;

    before(async () => {
      scratch = await dialect.create();
      database = openDatabase(scratch.url);
      mediaDir = mkdtempSync(join(tmpdir(), 'chat-media-'));
    });
    after(async () => {
      await database.destroy();
      await scratch.drop();
      rmSync(mediaDir, { recursive: true, force: true });
    });

    test('an empty database has every migration pending and no tables', async () => {
      assert.deepEqual(await pendingMigrations(database.db), MIGRATION_NAMES);
      const states = await migrationStates(database.db);
      assert.ok(states.every((state) => state.appliedAt === null));
      assert.equal((await appTables(database)).size, 0);
    });

    test('the server refuses to start before migrating, naming the command to run', async () => {
      const config = configFor(scratch, mediaDir);
      await assert.rejects(startServer(config, createLogger({ level: 'silent' })), (error: unknown) => {
        assert.ok(error instanceof SchemaNotAtHeadError);
        assert.match(error.message, /npm run db:migrate/);
        for (const name of MIGRATION_NAMES) assert.ok(error.message.includes(name), name);
        return true;
      });
      // Refusing is read-only: nothing was created on the way.
      assert.equal((await appTables(database)).size, 0);
    });

    test('npm start against that database exits non-zero with the same advice', async () => {
      const { code, stderr } = await runNode([MAIN], {
        cwd: mediaDir,
        env: testEnv({ DATABASE_URL: scratch.urlString, MEDIA_DIR: mediaDir }),
      });
      assert.equal(code, 1, stderr);
      assert.match(stderr, /schema is not at head/);
      assert.match(stderr, /npm run db:migrate/);
    });

    test('up to head creates every table with the columns the row types declare', async () => {
      const applied = await migrateToLatest(database.db);
      assert.deepEqual(
        applied,
        MIGRATION_NAMES.map((name) => `applied ${name}`),
      );
      assert.deepEqual(await pendingMigrations(database.db), []);
      const tables = await appTables(database);
      assert.deepEqual([...tables.keys()].sort(), APP_TABLES);
      for (const [table, columns] of Object.entries(EXPECTED_COLUMNS)) {
        assert.deepEqual(tables.get(table), [...columns].sort(), table);
      }
      const states = await migrationStates(database.db);
      assert.ok(states.every((state) => state.appliedAt instanceof Date));
      assert.deepEqual(await migrateToLatest(database.db), [], 'a second run has nothing to do');
    });

    test('the schema enforces its keys (unique username, canonical pair)', async () => {
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
      await database.db
        .insertInto('users')
        .values([user('b1', 'same'), user('m1', 'other')])
        .execute();
      await assert.rejects(database.db.insertInto('users').values(user('b2', 'same')).execute());
      // Usernames and ids compare exactly on both dialects.
      await database.db.insertInto('users').values(user('B1', 'SAME')).execute();
      const pair = { participant1_unread: 0, participant2_unread: 0, created_at: 1, updated_at: 1 };
      await database.db
        .insertInto('conversations')
        .values({
          id: 'c1',
          participant1_id: 'b1',
          participant2_id: 'm1',
          ...pair,
          last_message: null,
          last_message_time: null,
        })
        .execute();
      await assert.rejects(
        database.db
          .insertInto('conversations')
          .values({
            id: 'c2',
            participant1_id: 'b1',
            participant2_id: 'm1',
            ...pair,
            last_message: null,
            last_message_time: null,
          })
          .execute(),
        'one conversation per pair',
      );
      await database.db.deleteFrom('conversations').execute();
      await database.db.deleteFrom('users').execute();
    });

    test('the server starts at head and reports ready', async () => {
      const server = await startServer(configFor(scratch, mediaDir), createLogger({ level: 'silent' }));
      try {
        const ready = await createClient(server.url).get('/api/health/ready');
        assert.equal(ready.status, 200);
        assert.equal(ready.body.status, 'ready');
      } finally {
        await server.close();
      }
    });

    test('the seed-era spelling of the URL reaches the same database', { skip: dialect.name !== 'mysql' }, async () => {
      const seedStyle = `${scratch.urlString.replace(/^mysql:/, 'mysql+aiomysql:')}?charset=utf8mb4`;
      const other = openDatabase(parseConfig(testEnv({ DATABASE_URL: seedStyle })).DATABASE_URL);
      try {
        assert.deepEqual(await pendingMigrations(other.db), []);
        const result = await sql<{ cs: string }>`select @@character_set_connection as cs`.execute(other.db);
        assert.equal(result.rows[0]?.cs, 'utf8mb4');
      } finally {
        await other.destroy();
      }
    });

    test('down one reverts the newest migration and drops its tables', async () => {
      const newest = MIGRATION_NAMES.at(-1);
      assert.deepEqual(await migrateDownOne(database.db), [`reverted ${newest}`]);
      assert.deepEqual(await pendingMigrations(database.db), [newest]);
      if (MIGRATION_NAMES.length === 1) {
        assert.equal((await appTables(database)).size, 0, 'every application table is gone');
      }
      await assert.rejects(
        startServer(configFor(scratch, mediaDir), createLogger({ level: 'silent' })),
        /npm run db:migrate/,
      );
    });

    test('down past the first migration does nothing; up again restores head', async () => {
      for (let i = 1; i < MIGRATION_NAMES.length; i++) await migrateDownOne(database.db);
      assert.deepEqual(await migrateDownOne(database.db), []);
      assert.equal((await appTables(database)).size, 0);
      assert.equal((await migrateToLatest(database.db)).length, MIGRATION_NAMES.length);
      assert.deepEqual([...(await appTables(database)).keys()].sort(), APP_TABLES);
      assert.deepEqual(await pendingMigrations(database.db), []);
      // The database is usable after the round trip.
      const result = await sql<{ n: number }>`select count(*) as n from users`.execute(database.db);
      assert.equal(Number(result.rows[0]?.n), 0);
    });
  });
}
