import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseEnv } from 'node:util';
import { CONFIG_VARIABLES, EXAMPLE_JWT_SECRET } from '../config/config.ts';
import { loadConfig } from '../config/environment.ts';
import { migrateToLatest } from '../db/migrator.ts';
import { ensureDefaultAvatars } from '../modules/media/avatars.ts';
import { runCommand, UsageError, withDatabase } from './cli.ts';
import { seedDemoData } from './seed.ts';

const USAGE = `First-time set-up of a fresh clone.

Usage:
  npm run setup

(npm run setup first builds the web console, packages/console, into its dist/.)
Writes .env from .env.example if .env does not exist (with a freshly generated
JWT secret and the embedded database at data/chat.db), then migrates the
database to head and seeds the demo data. Safe to run again: seeding is
idempotent, and an existing .env keeps every value it has; a variable that a
newer version requires and .env lacks is appended with the example's value and
its comment, and named in a notice so you can review it.`;

const EMBEDDED_DATABASE = 'sqlite:data/chat.db';

async function writeEnvFile(): Promise<void> {
  const example = await readFile('.env.example', 'utf8');
  const secret = randomBytes(64).toString('base64url');
  const env = example
    .replace(`JWT_SECRET_KEY=${EXAMPLE_JWT_SECRET}`, `JWT_SECRET_KEY=${secret}`)
    .replace(/^DATABASE_URL=.*$/m, `DATABASE_URL=${EMBEDDED_DATABASE}`);
  await writeFile('.env', env, { flag: 'wx', mode: 0o600 });
  console.log(`Wrote .env (embedded database ${EMBEDDED_DATABASE}, new JWT secret).`);
}

/**
 * The example's text for one variable: its `NAME=value` line with the comment
 * lines right above it, so an appended variable explains itself in .env too.
 */
function exampleBlock(exampleLines: readonly string[], name: string): string {
  const at = exampleLines.findIndex((line) => line.startsWith(`${name}=`));
  let start = at;
  while (start > 0 && exampleLines[start - 1]?.startsWith('#') && !exampleLines[start - 1]?.startsWith('# ----'))
    start--;
  return exampleLines.slice(start, at + 1).join('\n');
}

/** Appends to an existing .env the variables it lacks, with the example's values, and says so loudly. */
async function addMissingVariables(): Promise<void> {
  const present = parseEnv(await readFile('.env', 'utf8'));
  const example = await readFile('.env.example', 'utf8');
  const exampleLines = example.split('\n');
  const missing = CONFIG_VARIABLES.filter(
    (name) => present[name] === undefined && exampleLines.some((line) => line.startsWith(`${name}=`)),
  );
  if (missing.length === 0) return;
  const blocks = missing.map((name) => exampleBlock(exampleLines, name));
  const current = await readFile('.env', 'utf8');
  const separator = current.endsWith('\n') || current === '' ? '' : '\n';
  await appendFile(
    '.env',
    `${separator}\n# ---- Added by npm run setup (${new Date().toISOString().slice(0, 10)}): new required variables ----\n${blocks.join('\n')}\n`,
  );
  console.log(
    `\nNOTICE: .env lacked ${missing.length} required variable${missing.length === 1 ? '' : 's'} (${missing.join(', ')}).` +
      '\n        Added with the values from .env.example at the end of .env: review them before going to production.\n',
  );
}

runCommand({
  usage: USAGE,
  async run(args) {
    if (args.length > 0) throw new UsageError('setup takes no arguments.');
    if (existsSync('.env')) {
      console.log('Keeping the existing .env.');
      await addMissingVariables();
    } else {
      await writeEnvFile();
    }
    const config = loadConfig();
    // The embedded database's folder must exist before it is opened.
    if (config.DATABASE_URL.kind === 'sqlite' && config.DATABASE_URL.path !== ':memory:') {
      await mkdir(dirname(config.DATABASE_URL.path), { recursive: true });
    }
    await mkdir(config.MEDIA_DIR, { recursive: true });
    const avatars = await ensureDefaultAvatars(config.MEDIA_DIR);
    if (avatars.length > 0)
      console.log(`Drew the default avatars (${avatars.join(', ')}) in ${config.MEDIA_DIR}/avatars.`);
    await withDatabase(async ({ db }) => {
      await migrateToLatest(db, (line) => console.log(line));
      console.log('Schema at head.');
      await seedDemoData(db, (line) => console.log(line));
      console.log(
        `\nReady. Start with: npm start   (console: ${config.BASE_URL}/console/; API docs: ${config.BASE_URL}/api/docs; admin / admin123)`,
      );
    });
  },
});
