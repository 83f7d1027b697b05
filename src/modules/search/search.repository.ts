import { type Kysely, sql, type Transaction } from 'kysely';
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

/** The index rows of text messages just written, in the send transaction (one statement for a batch). */
export async function indexMessages(trx: Transaction<Database>, messages: readonly MessageRow[]): Promise<void> {
  const rows = searchTermRows(messages);
  for (let i = 0; i < rows.length; i += INSERT_ROWS) {
    await trx
      .insertInto('message_search_terms')
      .values(rows.slice(i, i + INSERT_ROWS))
      .execute();
  }
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
 * probe of the same message. Joining messages drops deleted ones.
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
    .where('t.term', '=', driving);
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
