import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import mysql from 'mysql2/promise';
import { openDatabase } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import type { Database, NewUserRow } from '../../src/db/types.ts';
import { uuidv7 } from '../../src/lib/ids.ts';
import { nowMs } from './clock.ts';

/**
 * The benchmark's scratch database on the MySQL/MariaDB server: created and
 * migrated with the project's own migrations, filled directly (multi-row
 * inserts), dropped at the end. Nothing here changes a server setting.
 */

export interface ScratchDatabase {
  name: string;
  /** DATABASE_URL for the service and the floors. */
  url: string;
  db: Kysely<Database>;
  admin: mysql.Connection;
  drop(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `named`: a database kept between runs (--db): created if missing, migrated,
 * and left in place by a run (drop it with DROP DATABASE when done).
 */
export async function createScratchDatabase(serverUrl: string, named?: string): Promise<ScratchDatabase> {
  const name =
    named ?? `bench_${new Date().toISOString().slice(0, 10).replaceAll('-', '')}_${randomBytes(3).toString('hex')}`;
  if (!/^bench_[a-z0-9_]+$/.test(name)) throw new Error(`database name ${name}: bench_ then a-z, 0-9 or _`);
  const admin = await mysql.createConnection(serverUrl);
  await admin.query(
    `CREATE DATABASE ${named ? 'IF NOT EXISTS ' : ''}\`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
  );
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const handle = openDatabase({ kind: 'mysql', url: url.toString() }, { poolSize: 4 });
  await migrateToLatest(handle.db);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.destroy();
  };
  return {
    name,
    url: url.toString(),
    db: handle.db,
    admin,
    close,
    async drop() {
      await close();
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    },
  };
}

/** bench_* databases on the server (an interrupted run may leave one; the run lists them at start). */
export async function listBenchDatabases(admin: mysql.Connection): Promise<string[]> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>(
    `SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE 'bench\\_%'`,
  );
  return rows.map((row) => String(row.name));
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export async function insertUsers(
  db: Kysely<Database>,
  users: { id: string; role: NewUserRow['role'] }[],
): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  for (const part of chunks(users, 1000)) {
    await db
      .insertInto('users')
      .values(
        part.map((user) => ({
          id: user.id,
          username: `bench-${user.id}`,
          role: user.role,
          status: 'active',
          avatar: null,
          description: null,
          password_hash: null,
          created_at: now,
          updated_at: now,
          // As the service makes them: every merchant and service account owns a team of one.
          ...(TEAM_OWNER_ROLES.has(user.role) ? { team_id: user.id, team_role: 'owner' as const } : {}),
        })),
      )
      .execute();
    const owners = part.filter((user) => TEAM_OWNER_ROLES.has(user.role));
    if (owners.length > 0) {
      await db
        .insertInto('teams')
        .values(owners.map((user) => ({ owner_id: user.id, created_at: now, updated_at: now })))
        .execute();
    }
  }
}

const TEAM_OWNER_ROLES = new Set<NewUserRow['role']>(['merchant', 'service']);

export interface SeededConversation {
  id: string;
  participant1: string;
  participant2: string;
}

/** Conversations for pairs (ids ordered as the schema requires: participant1_id < participant2_id). */
export async function insertConversations(
  db: Kysely<Database>,
  pairs: readonly [string, string][],
): Promise<SeededConversation[]> {
  const now = Math.floor(Date.now() / 1000);
  const rows = pairs.map(([a, b]) => {
    const [p1, p2] = a < b ? [a, b] : [b, a];
    return { id: uuidv7(), participant1: p1, participant2: p2 };
  });
  for (const part of chunks(rows, 1000)) {
    await db
      .insertInto('conversations')
      .values(
        part.map((row) => ({
          id: row.id,
          participant1_id: row.participant1,
          participant2_id: row.participant2,
          last_message: null,
          last_message_time: null,
          created_at: now,
          updated_at: now,
        })),
      )
      .execute();
    // The answering team, as the service sets it: the desk when a service account takes part, else the shop.
    const roleOf = (participant: 'participant1_id' | 'participant2_id') =>
      sql`(SELECT u.role FROM users u WHERE u.id = ${sql.ref(participant)})`;
    await db
      .updateTable('conversations')
      .set({
        team_id: sql<string>`CASE
          WHEN ${roleOf('participant2_id')} = 'service' THEN participant2_id
          WHEN ${roleOf('participant1_id')} = 'service' THEN participant1_id
          WHEN ${roleOf('participant2_id')} = 'merchant' THEN participant2_id
          WHEN ${roleOf('participant1_id')} = 'merchant' THEN participant1_id
        END`,
      })
      .where(
        'id',
        'in',
        part.map((row) => row.id),
      )
      .execute();
  }
  return rows;
}

export interface MessageSeed {
  conversation: SeededConversation;
  /** Messages to add (seq 1..count). */
  count: number;
}

/** The messages columns a bench load fills, in the order its rows list them. */
export const MESSAGE_COLUMNS = [
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
];

/**
 * Drops a table's secondary keys and foreign keys for a bulk load and gives
 * back a function that puts them back. Loading into a table whose secondary
 * indexes outgrow the buffer pool (MariaDB's default 128 MiB) costs a random
 * page read per index per row; building each index afterwards is one sort.
 * The restore checks that SHOW CREATE TABLE reads exactly as before.
 */
export async function withoutSecondaryKeys(url: string, table: string): Promise<() => Promise<void>> {
  const connection = await mysql.createConnection({ uri: url });
  const showCreate = async () => {
    const [rows] = await connection.query(`SHOW CREATE TABLE \`${table}\``);
    return (rows as Record<string, string>[])[0]?.['Create Table'] ?? '';
  };
  const before = await showCreate();
  const lines = before.split('\n').map((line) => line.trim().replace(/,$/, ''));
  const keys = lines.filter((line) => /^(UNIQUE )?KEY /.test(line));
  const foreignKeys = lines.filter((line) => /^CONSTRAINT .* FOREIGN KEY /.test(line));
  const nameOf = (line: string) => /`([^`]+)`/.exec(line)?.[1] as string;
  const drops = [
    ...foreignKeys.map((line) => `DROP FOREIGN KEY \`${nameOf(line)}\``),
    ...keys.map((line) => `DROP KEY \`${nameOf(line)}\``),
  ];
  if (drops.length > 0) await connection.query(`ALTER TABLE \`${table}\` ${drops.join(', ')}`);
  await connection.end();
  return async () => {
    const restore = await mysql.createConnection({ uri: url });
    try {
      // The loaded rows satisfy the keys by construction: no re-check of every reference.
      await restore.query('SET SESSION foreign_key_checks = 0');
      if (keys.length > 0)
        await restore.query(`ALTER TABLE \`${table}\` ${keys.map((key) => `ADD ${key}`).join(', ')}`);
      if (foreignKeys.length > 0) {
        await restore.query(`ALTER TABLE \`${table}\` ${foreignKeys.map((key) => `ADD ${key}`).join(', ')}`);
      }
      const [rows] = await restore.query(`SHOW CREATE TABLE \`${table}\``);
      const after = (rows as Record<string, string>[])[0]?.['Create Table'];
      if (after !== before) throw new Error(`${table} did not come back as it was:\n${before}\n---\n${after}`);
    } finally {
      await restore.end();
    }
  };
}

/**
 * Bulk-loads messages, seq precomputed, then sets each conversation's
 * last_seq, message_count and preview to match. Every conversation's
 * messages are spread evenly over one time span (10 ms apart in the longest
 * one), so, as in production, the conversations' messages interleave in the
 * primary key (UUIDv7 ids follow time). The span is loaded in time slices of
 * about `rowsPerSlice` rows, each slice one transaction of multi-row INSERTs
 * sorted by id, slices in order on `parallel` connections, into the bare
 * table: its secondary and foreign keys are dropped for the load and built
 * again after it (withoutSecondaryKeys), so the scratch database ends with
 * the schema the migrations made.
 */
export async function seedMessages(
  url: string,
  seeds: readonly MessageSeed[],
  options: {
    parallel?: number;
    rowsPerStatement?: number;
    rowsPerSlice?: number;
    onProgress?: (done: number, total: number, step?: string) => void;
  } = {},
): Promise<{ rows: number; seconds: number; rowsPerSecond: number }> {
  const parallel = options.parallel ?? 3;
  const perStatement = options.rowsPerStatement ?? 2000;
  const total = seeds.reduce((sum, seed) => sum + seed.count, 0);
  const longest = Math.max(...seeds.map((seed) => seed.count));
  const spanMs = longest * 10;
  const baseMs = Date.now() - spanMs - 60_000;
  const slices = Math.max(1, Math.ceil(total / (options.rowsPerSlice ?? 20_000)));
  const sliceMs = spanMs / slices;
  // Message q (1-based) of seed i is at baseMs + (q - 0.5) * step_i + a small per-conversation offset.
  const steps = seeds.map((seed) => spanMs / seed.count);
  const offsets = seeds.map((_, i) => (i * 0.618) % 1);
  const started = nowMs();
  let nextSlice = 0;
  let done = 0;
  let lastReport = nowMs();
  const insertSql = `INSERT INTO messages (${MESSAGE_COLUMNS.join(', ')}) VALUES ?`;
  const restoreKeys = await withoutSecondaryKeys(url, 'messages');
  const worker = async () => {
    const connection = await mysql.createConnection({ uri: url, charset: 'utf8mb4_unicode_ci' });
    try {
      for (;;) {
        const slice = nextSlice++;
        if (slice >= slices) return;
        const from = slice * sliceMs;
        const to = (slice + 1) * sliceMs;
        const rows: { ms: number; row: unknown[] }[] = [];
        seeds.forEach((seed, i) => {
          const step = steps[i] as number;
          const offset = (offsets[i] as number) * Math.min(step, 1);
          const first = Math.max(1, Math.ceil(from / step + 0.5 - offset / step));
          for (let q = first; q <= seed.count; q++) {
            const at = (q - 0.5) * step + offset;
            if (at >= to) break;
            if (at < from) continue;
            const ms = baseMs + at;
            const { conversation } = seed;
            rows.push({
              ms,
              row: [
                uuidv7(Math.floor(ms)),
                conversation.id,
                q,
                q % 2 === 1 ? conversation.participant1 : conversation.participant2,
                `history message ${q} of a long conversation, about an order and its delivery`,
                'text',
                null,
                null,
                1,
                Math.floor(ms / 1000),
              ],
            });
          }
        });
        rows.sort((a, b) => a.ms - b.ms);
        await connection.beginTransaction();
        for (let i = 0; i < rows.length; i += perStatement) {
          await connection.query(insertSql, [rows.slice(i, i + perStatement).map((r) => r.row)]);
        }
        await connection.commit();
        done += rows.length;
        if (options.onProgress && nowMs() - lastReport > 5000) {
          lastReport = nowMs();
          options.onProgress(done, total);
        }
      }
    } finally {
      await connection.end();
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  if (done !== total) throw new Error(`seeding produced ${done} rows, expected ${total}`);
  const connection = await mysql.createConnection({ uri: url, charset: 'utf8mb4_unicode_ci' });
  const lastAt = Math.floor((baseMs + spanMs) / 1000);
  for (const seed of seeds) {
    await connection.query(
      `UPDATE conversations SET last_seq = last_seq + ?, message_count = message_count + ?,
         last_message = ?, last_message_time = ?, updated_at = ? WHERE id = ?`,
      [seed.count, seed.count, `history message ${seed.count}`, lastAt, lastAt, seed.conversation.id],
    );
    // The history counts as indexed, so the server's search indexer does not spend the
    // measurements indexing it (no scenario searches it; the search scenario loads its own index).
    await connection.query('UPDATE conversations SET search_seq = last_seq WHERE id = ?', [seed.conversation.id]);
  }
  await connection.end();
  options.onProgress?.(total, total, 'building the indexes');
  await restoreKeys();
  const seconds = (nowMs() - started) / 1000;
  return { rows: total, seconds: Math.round(seconds * 10) / 10, rowsPerSecond: Math.round(total / seconds) };
}

/** The server-wide counters the diagnostics read (commits, fsyncs, lock waits, reads from disk). */
const STATUS_NAMES = [
  'Questions',
  'Com_commit',
  'Com_select',
  'Com_insert',
  'Com_update',
  'Innodb_data_fsyncs',
  'Innodb_log_writes',
  'Innodb_row_lock_waits',
  'Innodb_row_lock_time',
  'Innodb_buffer_pool_reads',
  'Innodb_buffer_pool_read_requests',
  'Innodb_log_waits',
  'Bytes_received',
  'Bytes_sent',
];

export async function serverStatus(admin: mysql.Connection): Promise<Record<string, number>> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>(
    `SHOW GLOBAL STATUS WHERE Variable_name IN (${STATUS_NAMES.map(() => '?').join(', ')})`,
    STATUS_NAMES,
  );
  return Object.fromEntries(rows.map((row) => [String(row.Variable_name), Number(row.Value)]));
}

export function statusDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((key) => [key, (after[key] ?? 0) - (before[key] ?? 0)]));
}

/** The settings that decide durability and speed, as the server has them (never changed here). */
const SETTING_NAMES = [
  'version',
  'version_comment',
  'innodb_flush_log_at_trx_commit',
  'sync_binlog',
  'log_bin',
  'innodb_doublewrite',
  'innodb_flush_method',
  'innodb_buffer_pool_size',
  'innodb_log_file_size',
  'innodb_io_capacity',
  'max_connections',
  'thread_handling',
  'datadir',
];

export async function serverSettings(admin: mysql.Connection): Promise<Record<string, string>> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>(
    `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${SETTING_NAMES.map(() => '?').join(', ')})`,
    SETTING_NAMES,
  );
  return Object.fromEntries(rows.map((row) => [String(row.Variable_name), String(row.Value)]));
}

/** The database's plan for a statement (first row of EXPLAIN), on the scratch database. */
export async function explain(url: string, sql: string, params: unknown[]): Promise<Record<string, unknown>> {
  const connection = await mysql.createConnection({ uri: url, charset: 'utf8mb4_unicode_ci' });
  try {
    const [rows] = await connection.query<mysql.RowDataPacket[]>(`EXPLAIN ${sql}`, params);
    return { ...(rows[0] ?? {}) };
  } finally {
    await connection.end();
  }
}

/** Dirty and total pages of the InnoDB buffer pool (background flushing after a bulk load). */
export async function bufferPoolDirty(admin: mysql.Connection): Promise<{ dirty: number; total: number }> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>(
    `SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_buffer_pool_pages_dirty', 'Innodb_buffer_pool_pages_total')`,
  );
  const value = (name: string) => Number(rows.find((row) => row.Variable_name === name)?.Value ?? 0);
  return { dirty: value('Innodb_buffer_pool_pages_dirty'), total: value('Innodb_buffer_pool_pages_total') };
}

/**
 * Waits until the service's search indexer has indexed every committed message
 * (no conversation is `search_behind`; it indexes after the send commits) and
 * answers how long that took: the index's lag behind a window's sends, which a
 * send rate measured without it would hide. Also keeps the indexer's catch-up
 * out of the floor's window that follows.
 */
export async function searchIndexCatchUpMs(url: string, maxMs = 120_000): Promise<number> {
  const connection = await mysql.createConnection({ uri: url });
  const started = nowMs();
  try {
    for (;;) {
      const [rows] = await connection.query('SELECT COUNT(*) AS behind FROM conversations WHERE search_behind = 1');
      if (Number((rows as { behind: number }[])[0]?.behind) === 0) return Math.round(nowMs() - started);
      if (nowMs() - started > maxMs) throw new Error(`the search index did not catch up within ${maxMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await connection.end();
  }
}
