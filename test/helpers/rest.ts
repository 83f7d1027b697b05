import assert from 'node:assert/strict';
import type { TestApp } from './test-app.ts';

/** The tables a rejected request must leave untouched. */
export const TABLES = ['users', 'conversations', 'messages', 'quick_replies', 'deleted_messages'] as const;
export type TableName = (typeof TABLES)[number];

/** Row counts of every table, read straight from the database. */
export async function rowCounts(app: TestApp): Promise<Record<TableName, number>> {
  const db = app.server.database.db;
  const entries = await Promise.all(
    TABLES.map(async (table) => {
      const row = await db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .executeTakeFirstOrThrow();
      return [table, Number(row.count)] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<TableName, number>;
}

/** Get-or-create the conversation of a pair as `token`'s user; returns its id. */
export async function openConversation(app: TestApp, token: string, a: string, b: string): Promise<string> {
  const response = await app.client.post('/api/conversations/', {
    token,
    body: { participant1_id: a, participant2_id: b },
  });
  assert.ok(response.status === 201 || response.status === 200, `open ${a}/${b}: ${JSON.stringify(response.body)}`);
  return response.body.id;
}

/** Sends a text message and returns the stored message. */
export async function sendText(app: TestApp, token: string, conversationId: string, content: string) {
  const response = await app.client.post('/api/messages/', {
    token,
    body: { conversation_id: conversationId, content },
  });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body as { id: string; seq: number; sender_id: string; content: string; is_read: boolean };
}

/** Asserts the standard error body: a human `detail` and the stable `error_type`. */
export function assertError(response: { status: number; body: any }, status: number, errorType?: string): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal(typeof response.body?.detail, 'string', JSON.stringify(response.body));
  assert.ok(response.body.detail.length > 0);
  assert.equal(typeof response.body.error_type, 'string');
  if (errorType !== undefined) assert.equal(response.body.error_type, errorType);
}

/**
 * Conversation rows without the background followers' progress (search_seq, search_behind, and
 * the reports' report_seq, report_behind): they move after earlier sends commit, whatever a
 * request under test did.
 */
export function withoutSearchProgress<Row extends { search_seq: unknown; search_behind: unknown }>(
  rows: readonly Row[],
): Omit<Row, 'search_seq' | 'search_behind' | 'report_seq' | 'report_behind'>[] {
  return rows.map((row) => {
    const {
      search_seq: _seq,
      search_behind: _behind,
      report_seq: _report,
      report_behind: _reportBehind,
      ...rest
    } = row as Row & { report_seq?: unknown; report_behind?: unknown };
    return rest as Omit<Row, 'search_seq' | 'search_behind' | 'report_seq' | 'report_behind'>;
  });
}

/** Every row of every table, in a stable order: a rejected request must leave this exactly as it was. */
export async function tableSnapshot(app: TestApp): Promise<Record<TableName, unknown[]>> {
  const db = app.server.database.db;
  const [users, conversations, messages, quickReplies, deletedMessages] = await Promise.all([
    db.selectFrom('users').selectAll().orderBy('id').execute(),
    db.selectFrom('conversations').selectAll().orderBy('id').execute(),
    db.selectFrom('messages').selectAll().orderBy('id').execute(),
    db.selectFrom('quick_replies').selectAll().orderBy('id').execute(),
    db.selectFrom('deleted_messages').selectAll().orderBy('conversation_id').orderBy('seq').execute(),
  ]);
  return {
    users,
    conversations: withoutSearchProgress(conversations),
    messages,
    quick_replies: quickReplies,
    deleted_messages: deletedMessages,
  };
}
