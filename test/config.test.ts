import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CONFIG_VARIABLES, ConfigError, EXAMPLE_JWT_SECRET, parseConfig } from '../src/config/config.ts';
import { readEnvironment } from '../src/config/environment.ts';
import { runNode } from './helpers/node-run.ts';
import { testEnv } from './helpers/test-app.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

const ALL_VARIABLES = [
  'DATABASE_URL',
  'DEBUG_SQL',
  'JWT_SECRET_KEY',
  'JWT_ALGORITHM',
  'JWT_ACCESS_TOKEN_EXPIRE_DAYS',
  'HOST',
  'PORT',
  'RELOAD',
  'DEBUG',
  'BASE_URL',
  'CORS_ORIGINS',
  'MEDIA_DIR',
  'MAX_FILE_SIZE',
  'APP_TITLE',
  'APP_DESCRIPTION',
  'APP_VERSION',
  'REDIS_URL',
  'REDIS_PREFIX',
  'PLATFORM_API_KEY',
  'TRUSTED_PROXIES',
];

/** The problems parseConfig reports for `env`; fails the test if it accepts it. */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.match(error.message, /Configuration is invalid/);
    for (const problem of error.problems) assert.ok(error.message.includes(problem), 'every problem is in the message');
    return error.problems;
  }
  assert.fail(`parseConfig accepted ${JSON.stringify(env)}`);
}

function without(name: string): Record<string, string> {
  const env = testEnv();
  delete env[name];
  return env;
}

describe('parseConfig', () => {
  test('a complete, valid environment parses into typed values', () => {
    const config = parseConfig(
      testEnv({
        DATABASE_URL: 'mysql://chat:pw@db.internal:3306/chat',
        DEBUG_SQL: 'True',
        PORT: '11075',
        JWT_ACCESS_TOKEN_EXPIRE_DAYS: '7',
        BASE_URL: 'https://chat.example.com/',
        CORS_ORIGINS: 'http://localhost:5173,https://shop.example.com',
        REDIS_URL: 'redis://127.0.0.1:6379/0',
        PLATFORM_API_KEY: 'k'.repeat(32),
      }),
    );
    assert.deepEqual(config.DATABASE_URL, { kind: 'mysql', url: 'mysql://chat:pw@db.internal:3306/chat' });
    assert.equal(config.DEBUG_SQL, true);
    assert.equal(config.DEBUG, false);
    assert.equal(config.RELOAD, false);
    assert.equal(config.PORT, 11075);
    assert.equal(config.JWT_ACCESS_TOKEN_EXPIRE_DAYS, 7);
    assert.equal(config.MAX_FILE_SIZE, 10485760);
    assert.equal(config.JWT_ALGORITHM, 'HS256');
    assert.equal(config.BASE_URL, 'https://chat.example.com', 'trailing slash dropped');
    assert.deepEqual(config.CORS_ORIGINS, ['http://localhost:5173', 'https://shop.example.com']);
    assert.equal(config.REDIS_URL, 'redis://127.0.0.1:6379/0');
    assert.equal(config.APP_TITLE, '在线客服系统');
    assert.deepEqual(config.TRUSTED_PROXIES, []);
    assert.deepEqual(
      parseConfig(testEnv({ TRUSTED_PROXIES: 'loopback,10.0.0.0/8, fd00::/8,192.168.1.7' })).TRUSTED_PROXIES,
      ['loopback', '10.0.0.0/8', 'fd00::/8', '192.168.1.7'],
    );
    assert.ok(Object.isFrozen(config));
  });

  test('the service reads exactly the eighteen documented variables', () => {
    assert.deepEqual([...CONFIG_VARIABLES].sort(), [...ALL_VARIABLES].sort());
    assert.deepEqual(Object.keys(testEnv()).sort(), [...ALL_VARIABLES].sort());
  });

  for (const name of ALL_VARIABLES) {
    test(`${name} missing is reported by name`, () => {
      const problems = problemsOf(without(name));
      assert.deepEqual(problems, [`${name} is not set`]);
    });
  }

  test('an empty environment reports every variable in one error', () => {
    const problems = problemsOf({});
    assert.equal(problems.length, ALL_VARIABLES.length);
    for (const name of ALL_VARIABLES) assert.ok(problems.includes(`${name} is not set`), name);
  });

  test('several problems, missing and malformed, are listed together', () => {
    const env = testEnv({ PORT: 'eleven', JWT_ALGORITHM: 'none', DATABASE_URL: 'postgres://x/y' });
    delete env.HOST;
    delete env.APP_VERSION;
    const problems = problemsOf(env);
    assert.equal(problems.length, 5, problems.join('\n'));
    for (const name of ['PORT', 'JWT_ALGORITHM', 'DATABASE_URL', 'HOST', 'APP_VERSION']) {
      assert.ok(
        problems.some((p) => p.startsWith(`${name} `)),
        `${name} is among the problems`,
      );
    }
    assert.ok(
      problems.some((p) => p.includes('"eleven"')),
      'the bad value is quoted',
    );
  });

  test('"" is a value, not a missing variable', () => {
    const config = parseConfig(testEnv({ REDIS_URL: '', PLATFORM_API_KEY: '', APP_TITLE: '', CORS_ORIGINS: '' }));
    assert.equal(config.REDIS_URL, '');
    assert.equal(config.PLATFORM_API_KEY, '');
    assert.equal(config.APP_TITLE, '');
    assert.equal(config.APP_DESCRIPTION, 'test');
    assert.deepEqual(config.CORS_ORIGINS, []);
  });

  test('"" for a number or boolean is malformed, and says so (not "is not set")', () => {
    const problems = problemsOf(testEnv({ PORT: '', DEBUG: '', DEBUG_SQL: '', MAX_FILE_SIZE: '' }));
    assert.equal(problems.length, 4, problems.join('\n'));
    for (const name of ['PORT', 'DEBUG', 'DEBUG_SQL', 'MAX_FILE_SIZE']) {
      const problem = problems.find((p) => p.startsWith(`${name} `));
      assert.ok(problem, name);
      assert.doesNotMatch(problem, /not set/);
      assert.match(problem, /got ""/);
    }
  });

  test('"0" and "False" are values', () => {
    const config = parseConfig(testEnv({ PORT: '0', DEBUG: 'False', RELOAD: 'False', DEBUG_SQL: 'False' }));
    assert.equal(config.PORT, 0);
    assert.equal(config.DEBUG, false);
  });

  test('booleans are True/False in any case, and nothing else', () => {
    for (const [raw, value] of [
      ['True', true],
      ['true', true],
      ['TRUE', true],
      ['tRuE', true],
      ['False', false],
      ['false', false],
      ['FALSE', false],
    ] as const) {
      assert.equal(parseConfig(testEnv({ DEBUG_SQL: raw, RELOAD: raw })).DEBUG_SQL, value, raw);
    }
    for (const raw of ['1', '0', 'yes', 'no', 'on', 'Truee']) {
      const problems = problemsOf(testEnv({ RELOAD: raw }));
      assert.equal(problems.length, 1);
      assert.match(problems[0] ?? '', /^RELOAD must be True or False/);
    }
  });

  test('mysql:// and the seed spelling mysql+aiomysql:// are accepted; the latter is normalised', () => {
    assert.deepEqual(parseConfig(testEnv({ DATABASE_URL: 'mysql://root:secret@127.0.0.1:3306/chat' })).DATABASE_URL, {
      kind: 'mysql',
      url: 'mysql://root:secret@127.0.0.1:3306/chat',
    });
    assert.deepEqual(
      parseConfig(testEnv({ DATABASE_URL: 'mysql+aiomysql://root:secret@127.0.0.1:3306/chat?charset=utf8mb4' }))
        .DATABASE_URL,
      { kind: 'mysql', url: 'mysql://root:secret@127.0.0.1:3306/chat?charset=utf8mb4' },
    );
  });

  test('sqlite: takes a relative path, an absolute path or :memory:', () => {
    const cases: [string, string][] = [
      ['sqlite:data/chat.db', 'data/chat.db'],
      ['sqlite:/var/lib/chat/chat.db', '/var/lib/chat/chat.db'],
      ['sqlite:///var/lib/chat/chat.db', '/var/lib/chat/chat.db'],
      ['sqlite::memory:', ':memory:'],
    ];
    for (const [raw, path] of cases) {
      assert.deepEqual(parseConfig(testEnv({ DATABASE_URL: raw })).DATABASE_URL, { kind: 'sqlite', path }, raw);
    }
  });

  test('malformed values are reported with the variable and what is expected', () => {
    const cases: [string, string, RegExp][] = [
      ['DATABASE_URL', 'postgres://u@h/db', /must start with mysql:\/\//],
      ['DATABASE_URL', 'mysql://root@127.0.0.1:3306', /must name a database/],
      ['DATABASE_URL', 'mysql://root@127.0.0.1:3306/', /must name a database/],
      ['DATABASE_URL', 'mysql://[broken/chat', /not a valid mysql/],
      ['DATABASE_URL', 'sqlite:', /sqlite/],
      ['DATABASE_URL', '', /must start with/],
      ['JWT_ALGORITHM', 'none', /HS256, HS384 or HS512/],
      ['JWT_ALGORITHM', 'RS256', /HS256, HS384 or HS512/],
      ['JWT_ALGORITHM', 'hs256', /HS256, HS384 or HS512/],
      ['JWT_SECRET_KEY', '', /must not be empty/],
      ['JWT_ACCESS_TOKEN_EXPIRE_DAYS', '0', /positive/],
      ['JWT_ACCESS_TOKEN_EXPIRE_DAYS', 'seven', /positive/],
      ['PORT', '65536', /between 0 and 65535/],
      ['PORT', '-1', /whole number/],
      ['PORT', '80.5', /whole number/],
      ['PORT', 'http', /whole number/],
      ['MAX_FILE_SIZE', '0', /between 1 and/],
      ['MAX_FILE_SIZE', '10MB', /whole number/],
      ['HOST', '', /must not be empty/],
      ['MEDIA_DIR', '', /must not be empty/],
      ['BASE_URL', 'localhost:11075', /absolute http\(s\) URL/],
      ['BASE_URL', 'ftp://files.example.com', /absolute http\(s\) URL/],
      ['CORS_ORIGINS', 'http://localhost:5173/app', /no path/],
      ['CORS_ORIGINS', '*', /not an origin/],
      ['REDIS_URL', 'localhost:6379', /redis:\/\//],
      ['REDIS_PREFIX', '', /letters, digits/],
      ['REDIS_PREFIX', 'cs chat', /letters, digits/],
      ['REDIS_PREFIX', 'cs-chat:*', /letters, digits/],
      ['PLATFORM_API_KEY', 'short', /at least 16/],
      ['TRUSTED_PROXIES', '*', /not an address/],
      ['TRUSTED_PROXIES', '10.0.0.0/33', /CIDR/],
      ['TRUSTED_PROXIES', 'loopback, nginx', /"nginx" is not an address/],
      ['TRUSTED_PROXIES', '10.0.0.1/8/1', /not an address/],
    ];
    for (const [name, raw, expected] of cases) {
      const problems = problemsOf(testEnv({ [name]: raw }));
      assert.equal(problems.length, 1, `${name}=${raw}: ${problems.join('; ')}`);
      assert.ok(problems[0]?.startsWith(`${name} `), problems[0]);
      assert.match(problems[0] ?? '', expected, `${name}=${raw}`);
    }
  });

  test('HS384 and HS512 are accepted', () => {
    assert.equal(parseConfig(testEnv({ JWT_ALGORITHM: 'HS384' })).JWT_ALGORITHM, 'HS384');
    assert.equal(parseConfig(testEnv({ JWT_ALGORITHM: 'HS512' })).JWT_ALGORITHM, 'HS512');
  });

  test('DEBUG=False refuses a short secret or the example secret; DEBUG=True allows them', () => {
    const short = problemsOf(testEnv({ DEBUG: 'False', JWT_SECRET_KEY: 'x'.repeat(31) }));
    assert.equal(short.length, 1);
    assert.match(short[0] ?? '', /JWT_SECRET_KEY must be at least 32 bytes when DEBUG=False/);
    const example = problemsOf(testEnv({ DEBUG: 'false', JWT_SECRET_KEY: EXAMPLE_JWT_SECRET }));
    assert.equal(example.length, 1);
    assert.match(example[0] ?? '', /JWT_SECRET_KEY is the example value/);
    // 32 bytes is enough, counted in bytes (11 CJK characters are 33 bytes).
    assert.equal(parseConfig(testEnv({ DEBUG: 'False', JWT_SECRET_KEY: 'x'.repeat(32) })).JWT_SECRET_KEY.length, 32);
    assert.equal(parseConfig(testEnv({ DEBUG: 'False', JWT_SECRET_KEY: '密'.repeat(11) })).DEBUG, false);
    assert.equal(parseConfig(testEnv({ DEBUG: 'True', JWT_SECRET_KEY: 'short' })).JWT_SECRET_KEY, 'short');
    assert.equal(parseConfig(testEnv({ DEBUG: 'True', JWT_SECRET_KEY: EXAMPLE_JWT_SECRET })).DEBUG, true);
  });

  test('the secret check is reported alongside the other problems', () => {
    const env = testEnv({ DEBUG: 'False', JWT_SECRET_KEY: 'short', PORT: 'x' });
    delete env.BASE_URL;
    const problems = problemsOf(env);
    assert.equal(problems.length, 3, problems.join('\n'));
  });

  test('the .env.example secret is the one the code refuses', async () => {
    const { readFileSync } = await import('node:fs');
    const example = readFileSync(fileURLToPath(new URL('../.env.example', import.meta.url)), 'utf8');
    assert.match(example, new RegExp(`^JWT_SECRET_KEY=${EXAMPLE_JWT_SECRET}$`, 'm'));
  });
});

describe('readEnvironment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('.env supplies what the real environment lacks; real variables win, even when ""', (t) => {
    const file = join(dir, 'override.env');
    const lines = Object.entries(testEnv({ APP_TITLE: 'from file', APP_VERSION: '1.0.0', APP_DESCRIPTION: 'file' }))
      .map(([name, value]) => `${name}=${value}`)
      .join('\n');
    writeFileSync(file, `# comment\n${lines}\n`);
    const saved = { APP_TITLE: process.env.APP_TITLE, APP_VERSION: process.env.APP_VERSION };
    t.after(() => {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });
    process.env.APP_TITLE = 'from the environment';
    process.env.APP_VERSION = '';
    const env = readEnvironment(file);
    assert.equal(env.APP_TITLE, 'from the environment');
    assert.equal(env.APP_VERSION, '');
    assert.equal(env.APP_DESCRIPTION, 'file');
    const config = parseConfig(env);
    assert.equal(config.APP_TITLE, 'from the environment');
    assert.equal(config.APP_VERSION, '');
    assert.equal(config.PORT, 0);
  });

  test('an empty value in .env is a value', () => {
    const file = join(dir, 'empty.env');
    writeFileSync(file, 'CHAT_TEST_EMPTY_VALUE=\nCHAT_TEST_QUOTED_EMPTY=""\n');
    const env = readEnvironment(file);
    assert.equal(env.CHAT_TEST_EMPTY_VALUE, '');
    assert.equal(env.CHAT_TEST_QUOTED_EMPTY, '');
  });

  test('a missing .env file is not an error: the real environment alone is used', () => {
    const env = readEnvironment(join(dir, 'does-not-exist.env'));
    assert.equal(env.PATH, process.env.PATH);
    assert.equal(env.CHAT_TEST_EMPTY_VALUE, undefined);
  });
});

describe('npm start with an incomplete environment', () => {
  test('exits non-zero and names every missing variable in one message', async (t) => {
    const cwd = mkdtempSync(join(tmpdir(), 'chat-start-'));
    t.after(() => rmSync(cwd, { recursive: true, force: true }));
    // A few variables present (one malformed), the rest absent; no .env in cwd.
    const present = { DEBUG: 'True', PORT: 'not-a-port', APP_TITLE: '' };
    const { code, stdout, stderr } = await runNode([MAIN], { cwd, env: present });
    assert.notEqual(code, 0, 'a non-zero exit');
    assert.notEqual(code, null, 'it exited by itself, not by a signal');
    assert.equal(stdout, '', 'nothing started');
    const missing = ALL_VARIABLES.filter((name) => !(name in present));
    assert.equal(missing.length, ALL_VARIABLES.length - 3);
    const match = /Configuration is invalid \((\d+) problems\)/.exec(stderr);
    assert.ok(match, stderr);
    assert.equal(match[1], String(missing.length + 1), 'every missing one and the malformed one, in one message');
    assert.equal(stderr.match(/Configuration is invalid/g)?.length, 1, 'exactly one message');
    for (const name of missing) assert.match(stderr, new RegExp(`\\b${name} is not set`), name);
    assert.match(stderr, /PORT must be a whole number/);
    assert.doesNotMatch(stderr, /APP_TITLE/, '"" is a value');
    assert.doesNotMatch(stderr, /\n\s+at /, 'a clear message, not a stack trace');
  });
});
