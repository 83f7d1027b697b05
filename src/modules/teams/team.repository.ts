import type { Kysely, Transaction, Updateable } from 'kysely';
import type { Database, TeamRow, TeamsTable, UserRow } from '../../db/types.ts';

type Db = Kysely<Database> | Transaction<Database>;

export function findTeam(db: Db, ownerId: string): Promise<TeamRow | undefined> {
  return db.selectFrom('teams').selectAll().where('owner_id', '=', ownerId).executeTakeFirst();
}

const ROLE_ORDER = { owner: 0, supervisor: 1, agent: 2 } as const;

/** The team's members that are not deleted (the owner included): owner, supervisors, agents, each by id. */
export async function listMembers(db: Db, ownerId: string): Promise<UserRow[]> {
  const rows = await db
    .selectFrom('users')
    .selectAll()
    .where('team_id', '=', ownerId)
    .where('status', '!=', 'deleted')
    .execute();
  const rank = (row: UserRow) => (row.team_role ? ROLE_ORDER[row.team_role] : 3);
  return rows.sort((a, b) => rank(a) - rank(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Conversations assigned to each of `userIds` and not resolved (capacity counts these). */
export async function openCounts(db: Db, userIds: readonly string[]): Promise<Map<string, number>> {
  if (userIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('conversations')
    .select((eb) => ['assignee_id', eb.fn.countAll<number>().as('count')])
    .where('assignee_id', 'in', userIds)
    .where('status', '!=', 'resolved')
    .groupBy('assignee_id')
    .execute();
  return new Map(rows.flatMap((row) => (row.assignee_id === null ? [] : [[row.assignee_id, Number(row.count)]])));
}

export async function updateTeam(
  db: Db,
  ownerId: string,
  changes: Omit<Updateable<TeamsTable>, 'owner_id' | 'created_at'>,
): Promise<void> {
  await db.updateTable('teams').set(changes).where('owner_id', '=', ownerId).execute();
}

/** What realtime's team roster reads (src/realtime/team-audience.ts), bound to a database. */
export function rosterQueries(db: Db) {
  return {
    async membersOf(teamId: string): Promise<{ id: string; role: 'supervisor' | 'agent' }[]> {
      const rows = await db
        .selectFrom('users')
        .select(['id', 'team_role'])
        .where('team_id', '=', teamId)
        .where('team_role', 'in', ['supervisor', 'agent'])
        .where('status', '!=', 'deleted')
        .execute();
      return rows.map((row) => ({ id: row.id, role: row.team_role === 'supervisor' ? 'supervisor' : 'agent' }));
    },
    async assigneeOf(conversationId: string): Promise<string | null> {
      const row = await db
        .selectFrom('conversations')
        .select('assignee_id')
        .where('id', '=', conversationId)
        .executeTakeFirst();
      return row?.assignee_id ?? null;
    },
  };
}
