import { type Kysely, sql, type Transaction } from 'kysely';
import { cappedCount } from '../../db/capped-count.ts';
import { isMysql } from '../../db/dialect.ts';
import { advanceConversationSeq, inSeqRanges, type SeqRange } from '../../db/seq-ranges.ts';
import type { Database, MessageRow, MessageSearchTermsTable } from '../../db/types.ts';
import { searchTerms } from '../../lib/search-terms.ts';
import { teamView, type Viewer } from '../conversations/conversation.repository.ts';

type Db = Kysely<Database> | Transaction<Database>;
type MessageSearchTermRow = MessageSearchTermsTable;

/** Where a search looks: everywhere (admins), given conversations, or every conversation of a participant. */
export type SearchScope =
  | { kind: 'all' }
  | { kind: 'conversations'; ids: readonly string[] }
  | { kind: 'participant'; viewer: Viewer };

export interface SearchFilter {
  senderId?: string;
  /** Unix seconds, inclusive. */
  from?: number;
  /** Unix seconds, exclusive. */
  to?: number;
}

/** Rows per INSERT: well under SQLite's 32,766 bound parameters (three per row). */
const INSERT_ROWS = 1_000;

/** The index rows of messages: one per distinct term of each text message. */
export function searchTermRows(
  messages: readonly Pick<MessageRow, 'id' | 'conversation_id' | 'content' | 'message_type'>[],
): MessageSearchTermRow[] {
  return messages
    .filter((message) => message.message_type === 'text')
    .flatMap((message) =>
      searchTerms(message.content).map((term) => ({
        term,
        message_id: message.id,
        conversation_id: message.conversation_id,
      })),
    );
}

/**
 * Writes the index rows of messages (the indexer's transaction). Existing rows
 * are left alone: another instance, or this one before a crash, may have
 * written some already. Sorted by key, so two instances inserting overlapping
 * rows take their locks in one order.
 */
export async function indexMessages(trx: Transaction<Database>, messages: readonly MessageToIndex[]): Promise<void> {
  const rows = searchTermRows(messages).sort((a, b) =>
    a.term === b.term ? compare(a.message_id, b.message_id) : compare(a.term, b.term),
  );
  const mysql = isMysql(trx);
  for (let i = 0; i < rows.length; i += INSERT_ROWS) {
    const insert = trx.insertInto('message_search_terms').values(rows.slice(i, i + INSERT_ROWS));
    await (mysql ? insert.ignore() : insert.onConflict((oc) => oc.doNothing())).execute();
  }
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A conversation whose newest messages are not indexed yet. */
export interface BehindConversation {
  id: string;
  search_seq: number;
  last_seq: number;
}

/** Conversations with messages not indexed yet, by id, at most `limit` (the index on (search_behind, id)). */
export async function conversationsBehind(
  db: Db,
  after: string | undefined,
  limit: number,
): Promise<BehindConversation[]> {
  const rows = await db
    .selectFrom('conversations')
    .select(['id', 'search_seq', 'last_seq'])
    .where('search_behind', '=', 1)
    .$if(after !== undefined, (query) => query.where('id', '>', after as string))
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((row) => ({ id: row.id, search_seq: Number(row.search_seq), last_seq: Number(row.last_seq) }));
}

export type { SeqRange };

export type MessageToIndex = Pick<MessageRow, 'id' | 'conversation_id' | 'content' | 'message_type' | 'created_at'>;

/**
 * The messages in the ranges (deleted ones are gone, recalled ones are left
 * out), one statement: a range of (conversation_id, seq) each.
 */
export function messagesInRanges(db: Db, ranges: readonly SeqRange[]): Promise<MessageToIndex[]> {
  if (ranges.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('messages')
    .select(['id', 'conversation_id', 'content', 'message_type', 'created_at'])
    .where('recalled_at', 'is', null)
    .where(inSeqRanges(ranges))
    .execute();
}

/** Records that each range is indexed: search_seq moves to its `upTo`, never back. */
export function advanceWatermarks(db: Db, ranges: readonly SeqRange[]): Promise<void> {
  return advanceConversationSeq(db, 'search_seq', ranges);
}

/** Removes a deleted text message's index rows: one primary-key delete per term (its terms are those of its content). */
export async function unindexMessage(trx: Transaction<Database>, message: MessageRow): Promise<void> {
  if (message.message_type !== 'text') return;
  const terms = searchTerms(message.content);
  if (terms.length === 0) return;
  await trx
    .deleteFrom('message_search_terms')
    .where('term', 'in', terms)
    .where('message_id', '=', message.id)
    .execute();
}

/**
 * The newest live messages in scope that have every term, at most `limit`.
 * One term drives the walk down its index range newest first (the longest:
 * a word or number is rarer than a bigram); each other term is a primary-key
 * probe of the same message. Joining messages drops deleted ones; recalled
 * ones are left out too (a recall that commits while an indexer holds the
 * message's text must not leave it findable).
 */
export function findCandidates(
  db: Db,
  terms: readonly string[],
  scope: SearchScope,
  filter: SearchFilter,
  limit: number,
): Promise<MessageRow[]> {
  const [driving = '', ...others] = [...terms].sort((a, b) => Array.from(b).length - Array.from(a).length);
  let query = db
    .selectFrom('message_search_terms as t')
    .innerJoin('messages as m', 'm.id', 't.message_id')
    .selectAll('m')
    .where('t.term', '=', driving)
    .where('m.recalled_at', 'is', null);
  if (scope.kind === 'conversations') query = query.where('t.conversation_id', 'in', scope.ids);
  if (scope.kind === 'participant') {
    const { id } = scope.viewer;
    const team = teamView(scope.viewer);
    query = query.innerJoin('conversations as c', 'c.id', 't.conversation_id').where((eb) => {
      const mine = [eb('c.participant1_id', '=', id), eb('c.participant2_id', '=', id)];
      if (!team) return eb.or(mine);
      const ofTeam = eb('c.team_id', '=', team.teamId);
      const seen =
        team.agentId === undefined
          ? ofTeam
          : eb.and([ofTeam, eb.or([eb('c.assignee_id', 'is', null), eb('c.assignee_id', '=', team.agentId)])]);
      return eb.or([...mine, seen]);
    });
  }
  for (const term of others) {
    query = query.where((eb) =>
      eb.exists(
        eb
          .selectFrom('message_search_terms as o')
          .select(sql<number>`1`.as('one'))
          .where('o.term', '=', term)
          .whereRef('o.message_id', '=', 't.message_id'),
      ),
    );
  }
  if (filter.senderId !== undefined) query = query.where('m.sender_id', '=', filter.senderId);
  if (filter.from !== undefined) query = query.where('m.created_at', '>=', filter.from);
  if (filter.to !== undefined) query = query.where('m.created_at', '<', filter.to);
  return query.orderBy('t.message_id', 'desc').limit(limit).execute();
}

/** How many messages have `term`, counted up to `cap` (an index range, read no further than the cap). */
export async function messagesWithTerm(db: Db, term: string, cap: number): Promise<number> {
  const { count } = await cappedCount(
    db,
    (n) => db.selectFrom('message_search_terms').select('message_id').where('term', '=', term).limit(n),
    cap,
  );
  return count;
}
