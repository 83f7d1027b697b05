import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EXAMPLE_JWT_SECRET } from '../config/config.ts';
import { loadConfig } from '../config/environment.ts';
import { migrateToLatest } from '../db/migrator.ts';
import { seedDemoData } from '../db/seed.ts';
import { ensureDefaultAvatars } from '../modules/media/avatars.ts';
import { runCommand, UsageError, withDatabase } from './cli.ts';

const USAGE = `First-time set-up of a fresh clone.

Usage:
  npm run setup

Writes .env from .env.example if .env does not exist (with a freshly generated
JWT secret and the embedded database at data/chat.db), then migrates the
database to head and seeds the demo data. Safe to run again: an existing .env
is left alone and seeding is idempotent.`;

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

runCommand({
  usage: USAGE,
  async run(args) {
    if (args.length > 0) throw new UsageError('setup takes no arguments.');
    if (existsSync('.env')) console.log('Keeping the existing .env.');
    else await writeEnvFile();
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
      console.log(`\nReady. Start with: npm start   (API docs: ${config.BASE_URL}/api/docs; admin / admin123)`);
    });
  },
});
