import { type Kysely, sql } from 'kysely';
import { isMysql, tableOptions } from '../migration-helpers.ts';

// Teams (issue 13, docs/API.md "Teams"): an account that is served (a shop,
// the platform desk) becomes the owner of a team; its staff are users of the
// same role with `team_id` = the owner's id. Every merchant and service user
// gets a team of one here (and, from now on, when the account is created), so
// existing data behaves as before: the owner answers, nobody else is a member.
//
// A conversation stays a pair; `team_id` names the participant whose team
// answers it (for a merchant talking to the desk, the desk). `assignee_id` is
// the member handling it (null: in the team's queue), `status` open, pending
// or resolved. `awaiting_reply_since` is set by a customer message and cleared
// by a human team answer (the offline sweep and slow-reply alerts read it).
// Assignment changes are logged in conversation_assignments; internal notes
// live in conversation_notes, outside the message sequence. No foreign keys, as
// the later tables before them (conversations and users are never deleted).

const addColumns = async (db: Kysely<any>, table: string, columns: [string, string, ((c: any) => any)?][]) => {
  // One ALTER per column: SQLite adds one column per statement.
  for (const [name, type, build] of columns) {
    await db.schema
      .alterTable(table)
      .addColumn(name, type as 'varchar(50)', build ?? ((c) => c))
      .execute();
  }
};

export async function up(db: Kysely<any>): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await db.schema
    .createTable('teams')
    .addColumn('owner_id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('max_open_per_agent', 'integer', (c) => c.notNull().defaultTo(10))
    .addColumn('auto_assign', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('auto_resolve_hours', 'integer')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();

  await addColumns(db, 'users', [
    ['team_id', 'varchar(50)'],
    ['team_role', 'varchar(20)'],
    ['available', 'boolean', (c) => c.notNull().defaultTo(true)],
    ['max_open', 'integer'],
    ['last_assigned_at', 'bigint'],
  ]);
  await db.schema.createIndex('users_team_index').on('users').columns(['team_id', 'team_role']).execute();

  await addColumns(db, 'conversations', [
    ['team_id', 'varchar(50)'],
    ['assignee_id', 'varchar(50)'],
    ['previous_assignee_id', 'varchar(50)'],
    ['status', 'varchar(20)', (c) => c.notNull().defaultTo('open')],
    ['assigned_at', 'bigint'],
    ['resolved_at', 'bigint'],
    ['awaiting_reply_since', 'bigint'],
    ['linked_conversation_id', 'varchar(50)'],
  ]);
  // The team's lists and queue (status, assignee) newest first; an agent's open count.
  await db.schema
    .createIndex('conversations_team_index')
    .on('conversations')
    .columns(['team_id', 'status', 'assignee_id', 'updated_at'])
    .execute();
  await db.schema
    .createIndex('conversations_assignee_index')
    .on('conversations')
    .columns(['assignee_id', 'status'])
    .execute();

  await db.schema
    .createTable('conversation_assignments')
    .addColumn('id', isMysql(db) ? 'bigint' : 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('actor_id', 'varchar(50)')
    .addColumn('from_id', 'varchar(50)')
    .addColumn('to_id', 'varchar(50)')
    .addColumn('note', 'varchar(500)')
    .addColumn('kind', 'varchar(20)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();
  await db.schema
    .createIndex('conversation_assignments_conversation_index')
    .on('conversation_assignments')
    .columns(['conversation_id', 'id'])
    .execute();

  await db.schema
    .createTable('conversation_notes')
    .addColumn('id', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('conversation_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('author_id', 'varchar(50)', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .$call(tableOptions(db))
    .execute();
  await db.schema
    .createIndex('conversation_notes_conversation_index')
    .on('conversation_notes')
    .columns(['conversation_id', 'id'])
    .execute();

  // Every account that is served owns a team of one.
  await db
    .insertInto('teams')
    .columns(['owner_id', 'created_at', 'updated_at'])
    .expression(
      db
        .selectFrom('users')
        .select(['id', sql.lit(now).as('created_at'), sql.lit(now).as('updated_at')])
        .where('role', 'in', ['merchant', 'service']),
    )
    .execute();
  await db
    .updateTable('users')
    .set({ team_id: sql.ref('id'), team_role: 'owner' })
    .where('role', 'in', ['merchant', 'service'])
    .execute();
  // The team that answers: the desk when a service account takes part, else the shop.
  const teamOf = (participant: string) => sql`(SELECT u.role FROM users u WHERE u.id = ${sql.ref(participant)})`;
  await db
    .updateTable('conversations')
    .set({
      team_id: sql`CASE
        WHEN ${teamOf('participant2_id')} = 'service' THEN participant2_id
        WHEN ${teamOf('participant1_id')} = 'service' THEN participant1_id
        WHEN ${teamOf('participant2_id')} = 'merchant' THEN participant2_id
        WHEN ${teamOf('participant1_id')} = 'merchant' THEN participant1_id
      END`,
    })
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('conversation_notes').execute();
  await db.schema.dropTable('conversation_assignments').execute();
  // MySQL names the table of an index; SQLite refuses `ON`.
  const dropIndex = (name: string, table: string) => {
    const drop = db.schema.dropIndex(name);
    return (isMysql(db) ? drop.on(table) : drop).execute();
  };
  await dropIndex('conversations_assignee_index', 'conversations');
  await dropIndex('conversations_team_index', 'conversations');
  for (const column of [
    'linked_conversation_id',
    'awaiting_reply_since',
    'resolved_at',
    'assigned_at',
    'status',
    'previous_assignee_id',
    'assignee_id',
    'team_id',
  ]) {
    await db.schema.alterTable('conversations').dropColumn(column).execute();
  }
  await dropIndex('users_team_index', 'users');
  for (const column of ['last_assigned_at', 'max_open', 'available', 'team_role', 'team_id']) {
    await db.schema.alterTable('users').dropColumn(column).execute();
  }
  await db.schema.dropTable('teams').execute();
}
