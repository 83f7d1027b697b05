import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jwtVerify } from 'jose';
import { sql } from 'kysely';
import { CONFIG_VARIABLES, type Config, EXAMPLE_JWT_SECRET, parseConfig } from '../src/config/config.ts';
import { type DatabaseHandle, openDatabase } from '../src/db/connection.ts';
import { MIGRATIONS_DIR } from '../src/db/migrator.ts';
import { createLogger } from '../src/http/logging.ts';
import { DEMO_USERS } from '../src/modules/users/demo-users.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { type ScratchDatabase, testDialects } from './helpers/databases.ts';
import { createClient, type TestClient } from './helpers/http.ts';
import { type NodeRun, runNode } from './helpers/node-run.ts';
import { TEST_SECRET, testEnv } from './helpers/test-app.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const cliPath = (name: string) => join(ROOT, 'src', 'cli', `${name}.ts`);
const CLIS = ['db', 'create-admin', 'change-password', 'token', 'setup', 'reports-backfill'];
/** Every migration file's name, in the order they apply. */
const MIGRATION_NAMES = readdirSync(MIGRATIONS_DIR)
  .filter((file) => /^\d{14}_[a-z0-9_]+\.ts$/.test(file))
  .map((file) => file.replace(/\.ts$/, ''))
  .sort();

/** Runs `node src/cli/<name>.ts args…` to completion (killed after 20 s) with exactly `env`. */
function runCli(
  name: string,
  args: string[],
  options: { env: Record<string, string>; cwd?: string; input?: string },
): Promise<NodeRun> {
  return runNode([cliPath(name), ...args], { ...options, cwd: options.cwd ?? ROOT });
}

function assertExit(run: NodeRun, code: number, what: string): void {
  assert.equal(run.code, code, `${what}: exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
}

// The suites below are independent (own databases and directories): run them side by side.
describe('command-line tools', { concurrency: true }, () => {
  describe('CLI usage', { concurrency: true }, () => {
    for (const name of CLIS) {
      test(`${name} --help prints usage and exits 0, without needing configuration`, async () => {
        const run = await runCli(name, ['--help'], { env: {}, cwd: tmpdir() });
        assertExit(run, 0, `${name} --help`);
        assert.match(run.stdout, /Usage:/);
        assert.match(run.stdout, /npm run /);
        assert.equal(run.stderr, '');
      });
    }

    const mistakes: [string, string[], RegExp][] = [
      ['db', [], /Missing action/],
      ['db', ['frobnicate'], /Unknown action "frobnicate"/],
      ['db', ['new'], /needs a name/],
      ['db', ['new', 'Bad-Name'], /needs a name/],
      ['db', ['new', 'add', 'nickname'], /takes one name/],
      ['db', ['rollback', '3'], /db rollback takes no arguments \(got 3\)/],
      ['db', ['migrate', 'head'], /db migrate takes no arguments/],
      ['db', ['status', '--all'], /db status takes no arguments/],
      ['db', ['seed', 'demo'], /db seed takes no arguments/],
      ['create-admin', ['a1', 'boss', 'secret123', 'extra'], /Too many arguments/],
      ['create-admin', ['bad id!', 'boss', 'secret123'], /Invalid id/],
      ['create-admin', ['a1', 'boss', 'short'], /at least 6/],
      ['create-admin', ['a1', 'bo\u202ess', 'secret123'], /invisible, control or bidirectional-control/],
      ['change-password', [], /Give the username/],
      ['change-password', ['boss', 'short'], /at least 6/],
      ['token', [], /exactly one user id/],
      ['token', ['b1', 'b2'], /exactly one user id/],
      ['setup', ['now'], /no arguments/],
    ];
    for (const [name, args, message] of mistakes) {
      test(`${name} ${args.join(' ') || '(no arguments)'}: a usage mistake exits 2 with the usage`, async () => {
        const run = await runCli(name, args, { env: {}, cwd: tmpdir() });
        assertExit(run, 2, name);
        assert.match(run.stderr, message);
        assert.match(run.stderr, /Usage:/);
      });
    }

    test('an SQLite path in a folder that does not exist is a clear error, and nothing is created', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'chat-cli-fresh-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      for (const url of ['sqlite:data/nested/chat.db', `sqlite:${join(dir, 'nonexistent', 'dir', 'x.db')}`]) {
        const env = testEnv({ DATABASE_URL: url, MEDIA_DIR: 'media' });
        const run = await runCli('db', ['migrate'], { env, cwd: dir });
        assertExit(run, 1, `db migrate with ${url}`);
        assert.match(run.stderr, /DATABASE_URL names an SQLite database in .+, which does not exist/);
        assert.match(run.stderr, /mkdir -p/);
        assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
      }
      assert.ok(!existsSync(join(dir, 'data')), 'no folder made for a mistyped path');
      assert.ok(!existsSync(join(dir, 'nonexistent')), 'no folder made for a mistyped path');
    });

    test('a command that needs the database reports every missing variable and exits 1', async () => {
      const run = await runCli('db', ['status'], { env: { DEBUG: 'True' }, cwd: tmpdir() });
      assertExit(run, 1, 'db status without configuration');
      // Every variable but DEBUG is missing.
      assert.match(run.stderr, new RegExp(`Configuration is invalid \\(${CONFIG_VARIABLES.length - 1} problems\\)`));
      assert.match(run.stderr, /DATABASE_URL is not set/);
      assert.match(run.stderr, /PLATFORM_API_KEY is not set/);
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    });
  });

  for (const dialect of testDialects) {
    describe(`CLI commands (${dialect.name})`, { concurrency: 1 }, () => {
      let scratch: ScratchDatabase;
      let mediaDir: string;
      let env: Record<string, string>;
      let config: Config;
      let database: DatabaseHandle;
      let server: RunningServer | undefined;
      let client: TestClient;
      const cli = (name: string, args: string[], input?: string) =>
        runCli(name, args, { env, ...(input !== undefined ? { input } : {}) });
      const count = async (table: 'users' | 'quick_replies') =>
        Number(
          (await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(database.db)).rows[0]?.n,
        );
      const login = (username: string, password: string) =>
        client.post('/api/auth/login', { body: { username, password } });

      before(async () => {
        scratch = await dialect.create();
        mediaDir = mkdtempSync(join(tmpdir(), 'chat-cli-media-'));
        // Every variable comes from the environment (which overrides the repository's .env).
        env = testEnv({ DATABASE_URL: scratch.urlString, MEDIA_DIR: mediaDir });
        config = parseConfig(env);
        database = openDatabase(config.DATABASE_URL);
      });
      after(async () => {
        await server?.close();
        await database.destroy();
        await scratch.drop();
        rmSync(mediaDir, { recursive: true, force: true });
      });

      test('db status on an empty database lists the migrations as pending', async () => {
        const run = await cli('db', ['status']);
        assertExit(run, 0, 'db status');
        for (const name of MIGRATION_NAMES) assert.match(run.stdout, new RegExp(`pending\\s+${name}`));
        assert.match(
          run.stdout,
          new RegExp(`current: \\(empty database\\); ${MIGRATION_NAMES.length} pending: run npm run db:migrate`),
        );
      });

      test('db migrate applies every migration; status then shows it applied and at head', async () => {
        const migrate = await cli('db', ['migrate']);
        assertExit(migrate, 0, 'db migrate');
        // Progress: the count first, then each migration with its time as it is applied.
        const progress = MIGRATION_NAMES.map((name) => `applied ${name} \\(\\d+ ms\\)\\n`).join('');
        assert.match(
          migrate.stdout,
          new RegExp(`^Applying ${MIGRATION_NAMES.length} migration\\(s\\)\\.\\.\\.\\n${progress}`),
        );
        assert.match(migrate.stdout, /At head/);
        const status = await cli('db', ['status']);
        assertExit(status, 0, 'db status');
        for (const name of MIGRATION_NAMES) {
          assert.match(status.stdout, new RegExp(`applied \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\s+${name}`));
        }
        assert.match(status.stdout, new RegExp(`current: ${MIGRATION_NAMES.at(-1)}; at head`));
        assert.doesNotMatch(status.stdout, /pending /);
        const again = await cli('db', ['migrate']);
        assertExit(again, 0, 'db migrate again');
        assert.match(again.stdout, /Already at head/);
      });

      test('db rollback reverts the newest migration, one per run, down to the initial one', async () => {
        const [, ...later] = MIGRATION_NAMES;
        for (const [i, name] of [...later].reverse().entries()) {
          const rollback = await cli('db', ['rollback']);
          assertExit(rollback, 0, 'db rollback');
          assert.match(rollback.stdout, new RegExp(`reverted ${name}`));
          assert.match((await cli('db', ['status'])).stdout, new RegExp(`${i + 1} pending: run npm run db:migrate`));
        }
      });

      test('db rollback of the initial migration lists the tables it would drop and refuses without --force', async () => {
        const refused = await cli('db', ['rollback']);
        assertExit(refused, 1, 'db rollback without --force');
        assert.match(refused.stderr, /Rolling back \d{14}_initial_schema drops every table: .*\bmessages\b.*\busers\b/);
        assert.match(refused.stderr, /npm run db:rollback -- --force/);
        assert.ok(
          (await database.db.introspection.getTables()).some((table) => table.name === 'users'),
          'nothing was dropped',
        );
        assert.match((await cli('db', ['status'])).stdout, new RegExp(`${MIGRATION_NAMES.length - 1} pending`));
      });

      test('db rollback --force reverts the initial migration; migrate restores them all', async () => {
        const rollback = await cli('db', ['rollback', '--force']);
        assertExit(rollback, 0, 'db rollback --force');
        assert.match(rollback.stdout, /reverted \d{14}_initial_schema/);
        const tables = await database.db.introspection.getTables();
        assert.ok(!tables.some((table) => table.name === 'users'), 'the users table is gone');
        const nothing = await cli('db', ['rollback']);
        assertExit(nothing, 0, 'db rollback on an empty schema');
        assert.match(nothing.stdout, /Nothing to roll back/);
        assertExit(await cli('db', ['migrate']), 0, 'db migrate');
        assert.match((await cli('db', ['status'])).stdout, /at head/);
      });

      test('an applied migration whose file is missing: status lists it, migrate and rollback say what to do', async (t) => {
        const future = '29991231000000_from_newer_code';
        await sql`insert into kysely_migration (name, timestamp) values (${future}, ${new Date().toISOString()})`.execute(
          database.db,
        );
        t.after(() => sql`delete from kysely_migration where name = ${future}`.execute(database.db));
        const status = await cli('db', ['status']);
        assertExit(status, 0, 'db status');
        assert.match(status.stdout, new RegExp(`applied, FILE MISSING\\s+${future}`));
        assert.match(status.stdout, /1 applied migration\(s\) have no file/);
        for (const args of [['migrate'], ['rollback'], ['rollback', '--force']]) {
          const run = await cli('db', args);
          assertExit(run, 1, `db ${args.join(' ')}`);
          assert.match(run.stderr, new RegExp(`whose file is missing from src/db/migrations: ${future}`));
          assert.match(run.stderr, /Check out the version of the code that has these files/);
        }
        assert.ok((await database.db.introspection.getTables()).some((table) => table.name === 'users'));
      });

      test('db seed inserts the demo data, and a second run changes nothing', async () => {
        const first = await cli('db', ['seed']);
        assertExit(first, 0, 'db seed');
        assert.match(first.stdout, /created admin a2 \(admin\)/);
        assert.equal(await count('users'), DEMO_USERS.length);
        assert.equal(await count('quick_replies'), 18, 'three for each of the six non-admins (team members have none)');
        const second = await cli('db', ['seed']);
        assertExit(second, 0, 'db seed again');
        assert.match(second.stdout, /a2 \(admin\) already present/);
        assert.doesNotMatch(second.stdout, /created|added/);
        assert.equal(await count('users'), DEMO_USERS.length);
        assert.equal(await count('quick_replies'), 18);
      });

      test('the seeded admin logs in with admin / admin123', async () => {
        server = await startServer(config, createLogger({ level: 'silent' }));
        client = createClient(server.url);
        const response = await login('admin', 'admin123');
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(response.body.user.id, 'a2');
        assert.equal(response.body.user.role, 'admin');
      });

      test('create-admin a9 boss secret123, then boss logs in as an admin', async () => {
        // Stored in NFKC, like every username: typed full-width, kept as "boss".
        const run = await cli('create-admin', ['a9', 'ｂｏｓｓ', 'secret123']);
        assertExit(run, 0, 'create-admin');
        assert.match(run.stdout, /Created admin a9 \(boss\)/);
        const response = await login('boss', 'secret123');
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(response.body.user.id, 'a9');
        assert.equal(response.body.user.role, 'admin');
        const me = await client.get('/api/auth/me', { token: response.body.access_token });
        assert.equal(me.body.id, 'a9');
      });

      test('create-admin refuses a taken id or username (exit 1) and changes nothing', async () => {
        const sameId = await cli('create-admin', ['a9', 'boss2', 'secret123']);
        assertExit(sameId, 1, 'create-admin with a taken id');
        assert.match(sameId.stderr, /id a9 already exists/);
        const sameName = await cli('create-admin', ['a10', 'boss', 'secret123']);
        assertExit(sameName, 1, 'create-admin with a taken username');
        assert.match(sameName.stderr, /boss is taken/);
        assert.equal(await count('users'), DEMO_USERS.length + 1);
      });

      test('create-admin reads answers piped to it, all at once', async () => {
        const run = await cli('create-admin', [], 'a11\npiped\npiped-secret\n');
        assertExit(run, 0, 'create-admin with piped answers');
        assert.match(run.stdout, /Created admin a11 \(piped\)/);
        assert.doesNotMatch(run.stdout, /piped-secret/, 'the password is never printed');
        assert.equal((await login('piped', 'piped-secret')).status, 200);
      });

      test('create-admin with too few piped answers fails (exit 2), never a silent success', async () => {
        const run = await cli('create-admin', [], 'a12\nhalf\n');
        assertExit(run, 2, 'create-admin with input ending early');
        assert.match(run.stderr, /No answer to "Password:"/);
        assert.equal((await login('half', 'anything')).status, 401);
      });

      test('change-password sets a new password: the new one works, the old one no longer does', async () => {
        const run = await cli('change-password', ['boss', 'newsecret456']);
        assertExit(run, 0, 'change-password');
        assert.match(run.stdout, /Password of boss \(a9\) changed/);
        assert.equal((await login('boss', 'newsecret456')).status, 200);
        assert.equal((await login('boss', 'secret123')).status, 401);
        const piped = await cli('change-password', ['boss'], 'pipedsecret789\n');
        assertExit(piped, 0, 'change-password with a piped password');
        assert.equal((await login('boss', 'pipedsecret789')).status, 200);
        const unknown = await cli('change-password', ['nobody', 'whatever1']);
        assertExit(unknown, 1, 'change-password for an unknown user');
        assert.match(unknown.stderr, /No user named nobody/);
      });

      test('token b1 prints a JWT for b1 that verifies and that the API accepts', async () => {
        const run = await cli('token', ['b1']);
        assertExit(run, 0, 'token');
        const token = run.stdout.trim();
        assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'only the token on stdout');
        const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(TEST_SECRET), {
          algorithms: ['HS256'],
        });
        assert.equal(payload.sub, 'b1');
        assert.equal(protectedHeader.alg, 'HS256');
        assert.ok(typeof payload.exp === 'number' && payload.exp > Date.now() / 1000 + 6 * 86_400);
        const me = await client.get('/api/auth/me', { token });
        assert.equal(me.status, 200);
        assert.equal(me.body.id, 'b1');
        const unknown = await cli('token', ['zz9']);
        assertExit(unknown, 1, 'token for an unknown user');
        assert.match(unknown.stderr, /No user with id zz9/);
        assert.equal(unknown.stdout, '');
      });
    });
  }

  describe('setup on a fresh checkout', { concurrency: 1 }, () => {
    let dir: string;
    const setup = () => runCli('setup', [], { env: {}, cwd: dir });

    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'chat-setup-'));
      copyFileSync(join(ROOT, '.env.example'), join(dir, '.env.example'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('writes .env with a new secret and the embedded database, migrates and seeds', async () => {
      const run = await setup();
      assertExit(run, 0, 'setup');
      assert.match(run.stdout, /Wrote \.env/);
      assert.match(run.stdout, /Schema at head/);
      assert.match(run.stdout, /api\/docs/);
      const written = readFileSync(join(dir, '.env'), 'utf8');
      assert.match(written, /^DATABASE_URL=sqlite:data\/chat\.db$/m);
      const secret = /^JWT_SECRET_KEY=(.*)$/m.exec(written)?.[1];
      assert.ok(secret);
      assert.notEqual(secret, EXAMPLE_JWT_SECRET);
      assert.ok(Buffer.byteLength(secret) >= 64, 'a strong secret');
      assert.ok(!written.includes(EXAMPLE_JWT_SECRET));
      assert.equal(statSync(join(dir, '.env')).mode & 0o077, 0, '.env holds a secret: readable by its owner only');
      // Everything else is the example, line for line.
      const example = readFileSync(join(dir, '.env.example'), 'utf8').split('\n');
      const lines = written.split('\n');
      assert.equal(lines.length, example.length);
      const changed = lines.filter((line, i) => line !== example[i]);
      assert.deepEqual(
        changed.map((line) => line.split('=')[0]),
        ['DATABASE_URL', 'JWT_SECRET_KEY'],
      );
      // The written file is a complete, valid configuration.
      const { parseEnv } = await import('node:util');
      assert.doesNotThrow(() => parseConfig(parseEnv(written)));
      assert.ok(existsSync(join(dir, 'data', 'chat.db')));
      assert.ok(existsSync(join(dir, 'media')));

      const database = openDatabase({ kind: 'sqlite', path: join(dir, 'data', 'chat.db') });
      try {
        const users = await database.db.selectFrom('users').select('id').orderBy('id').execute();
        assert.deepEqual(
          users.map((u) => u.id),
          DEMO_USERS.map((u) => u.id).sort(),
        );
      } finally {
        await database.destroy();
      }
    });

    test('running it again keeps .env and changes nothing', async () => {
      const before = readFileSync(join(dir, '.env'), 'utf8');
      const run = await setup();
      assertExit(run, 0, 'setup again');
      assert.match(run.stdout, /Keeping the existing \.env/);
      assert.doesNotMatch(run.stdout, /created|applied/);
      assert.equal(readFileSync(join(dir, '.env'), 'utf8'), before);
      const status = await runCli('db', ['status'], { env: {}, cwd: dir });
      assertExit(status, 0, 'db status in the set-up directory');
      assert.match(status.stdout, /at head/);
    });

    test('a variable .env lacks is appended with the example value, its comment, and a notice', async () => {
      const complete = readFileSync(join(dir, '.env'), 'utf8');
      // An older .env: written before PLATFORM_API_KEY (and its comment) existed.
      const older = complete.replace(/^PLATFORM_API_KEY=.*\n/m, '');
      assert.notEqual(older, complete);
      writeFileSync(join(dir, '.env'), older);
      const run = await setup();
      assertExit(run, 0, 'setup with an older .env');
      assert.match(run.stdout, /NOTICE: \.env lacked 1 required variable \(PLATFORM_API_KEY\)/);
      const updated = readFileSync(join(dir, '.env'), 'utf8');
      assert.ok(updated.startsWith(older), 'what .env had is kept as it was');
      const added = updated.slice(older.length);
      assert.match(added, /^# ---- Added by npm run setup/m);
      assert.match(added, /^# .*POST \/api\/auth\/token/m, 'the comment above the variable comes along');
      assert.match(added, /^PLATFORM_API_KEY=$/m);
      const { parseEnv } = await import('node:util');
      assert.doesNotThrow(() => parseConfig(parseEnv(updated)));
      const again = await setup();
      assertExit(again, 0, 'setup once more');
      assert.doesNotMatch(again.stdout, /NOTICE/);
      assert.equal(readFileSync(join(dir, '.env'), 'utf8'), updated);
    });
  });
});
