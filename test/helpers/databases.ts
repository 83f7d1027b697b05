import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import type { DatabaseUrl } from '../../src/config/config.ts';

/** A fresh, empty database of one dialect, dropped by `drop`. */
export interface ScratchDatabase {
  url: DatabaseUrl;
  /** The same, as a DATABASE_URL string. */
  urlString: string;
  drop(): Promise<void>;
}

export interface TestDialect {
  name: 'sqlite' | 'mysql';
  create(): Promise<ScratchDatabase>;
}

const sqlite: TestDialect = {
  name: 'sqlite',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'chat-test-'));
    const path = join(dir, 'test.db');
    return {
      url: { kind: 'sqlite', path },
      urlString: `sqlite:${path}`,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

/** Each MySQL scratch database is its own schema on the TEST_MYSQL_URL server. */
function mysql(serverUrl: string): TestDialect {
  return {
    name: 'mysql',
    async create() {
      const name = `chat_test_${randomBytes(6).toString('hex')}`;
      const admin = await createConnection(serverUrl);
      await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
      await admin.end();
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      return {
        url: { kind: 'mysql', url: url.toString() },
        urlString: url.toString(),
        async drop() {
          const connection = await createConnection(serverUrl);
          await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
          await connection.end();
        },
      };
    },
  };
}

export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL;

/** SQLite always; MySQL/MariaDB when TEST_MYSQL_URL names a server. */
export const testDialects: TestDialect[] = [sqlite, ...(TEST_MYSQL_URL ? [mysql(TEST_MYSQL_URL)] : [])];

export const MYSQL_SKIP_REASON = TEST_MYSQL_URL ? false : 'TEST_MYSQL_URL is not set: MySQL/MariaDB cases skipped';
