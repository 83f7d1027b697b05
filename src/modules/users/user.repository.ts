import type { Role } from '@cs-chat/contracts/rest/user.schemas';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import { type CappedCount, cappedCount, pageIsReadable } from '../../db/capped-count.ts';
import { escapeLike, likeFolded } from '../../db/like.ts';
import type { Database, NewUserRow, UserRow, UserUpdate } from '../../db/types.ts';

type Db = Kysely<Database>;

export function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * The user with exactly this username, byte for byte. The database may match
 * more loosely (MySQL 5.7 has no NO PAD collation: "admin   " equals "admin"
 * there), so the row is checked here too: a sign-in is never someone else's.
 */
export async function findUserByUsername(db: Db, username: string): Promise<UserRow | undefined> {
  const row = await db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  return row?.username === username ? row : undefined;
}

/** Whether the unique key on username would refuse this name (the database's own notion of equal). */
export async function usernameInUse(db: Db, username: string): Promise<boolean> {
  const row = await db.selectFrom('users').select('id').where('username', '=', username).executeTakeFirst();
  return row !== undefined;
}

export function findUsersByIds(db: Db, ids: readonly string[]): Promise<UserRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('users').selectAll().where('id', 'in', ids).execute();
}

/** Roles whose accounts are served by a team (issue 13): every one owns a team, of one at first. */
export const TEAM_ROLES: readonly Role[] = ['merchant', 'service'];

/**
 * Inserts a user. A merchant or service account that joins no team becomes
 * the owner of a team of one, created in the same transaction (the caller's,
 * when `db` is one).
 */
export async function insertUser(db: Db, row: NewUserRow): Promise<void> {
  if (!TEAM_ROLES.includes(row.role) || row.team_id) {
    await db.insertInto('users').values(row).execute();
    return;
  }
  const write = async (trx: Db) => {
    await trx
      .insertInto('users')
      .values({ ...row, team_id: row.id, team_role: 'owner' })
      .execute();
    await trx
      .insertInto('teams')
      .values({ owner_id: row.id, created_at: row.created_at, updated_at: row.created_at })
      .execute();
  };
  if (db.isTransaction) await write(db);
  else await db.transaction().execute(write);
}

export async function updateUser(db: Db, id: string, changes: UserUpdate): Promise<void> {
  await db.updateTable('users').set(changes).where('id', '=', id).execute();
}

export interface UserFilter {
  roles?: readonly Role[];
  /** Only these statuses (the public directory hides inactive and deleted users). */
  statuses?: readonly UserRow['status'][];
  /** Matches a prefix of the id or a substring of the username. */
  search?: string;
}

function filtered(db: Db, filter: UserFilter) {
  let query = db.selectFrom('users');
  if (filter.roles) query = query.where('role', 'in', filter.roles);
  if (filter.statuses) query = query.where('status', 'in', filter.statuses);
  if (filter.search) {
    const search = escapeLike(filter.search);
    query = query.where((eb) => eb.or([likeFolded('id', `${search}%`), likeFolded('username', `%${search}%`)]));
  }
  return query;
}

/** Oldest first, counted up to COUNT_CAP (see capped-count.ts). */
export async function listUsers(
  db: Db,
  filter: UserFilter,
  limit: number,
  offset: number,
): Promise<CappedCount & { rows: UserRow[] }> {
  const counted = await cappedCount(db, (n) => filtered(db, filter).select('id').limit(n));
  if (!pageIsReadable(counted, offset)) return { ...counted, rows: [] };
  const rows = await filtered(db, filter)
    .selectAll()
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .offset(offset)
    .execute();
  return { ...counted, rows };
}

/** Highest n among ids "{letter}{n}", for generating the next one. */
export async function highestGeneratedNumber(db: Db, letter: string): Promise<number> {
  // Numeric ids sort by length first; the longest ones hold the highest number.
  // Host-supplied ids ("merchant-42") are left out in SQL, else enough of them
  // (being longer) would fill the window and hide the generated ones. The
  // suffix is all digits when removing every digit leaves nothing (portable,
  // and independent of the column's collation).
  const nonDigits = [...'0123456789'].reduce<RawBuilder<string>>(
    (expr, digit) => sql<string>`replace(${expr}, ${digit}, '')`,
    sql<string>`substr(${sql.ref('id')}, 2)`,
  );
  const rows = await db
    .selectFrom('users')
    .select('id')
    .where('id', 'like', `${letter}%`)
    .where(sql<boolean>`${nonDigits} = ''`)
    .orderBy((eb) => eb.fn('length', ['id']), 'desc')
    .orderBy('id', 'desc')
    .limit(200)
    .execute();
  const pattern = new RegExp(`^${letter}(\\d{1,15})$`);
  return rows.reduce((max, { id }) => {
    const match = pattern.exec(id);
    return match ? Math.max(max, Number(match[1])) : max;
  }, 0);
}

export async function hasConversations(db: Db, userId: string): Promise<boolean> {
  const row = await db
    .selectFrom('conversations')
    .select('id')
    .where((eb) => eb.or([eb('participant1_id', '=', userId), eb('participant2_id', '=', userId)]))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
