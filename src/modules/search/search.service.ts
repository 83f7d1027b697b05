import type { Message } from '@cs-chat/contracts/rest/message.schemas';
import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../../db/types.ts';
import { unprocessable } from '../../lib/errors.ts';
import { byRelevance, RARITY_CAP, rarity } from '../../lib/search-relevance.ts';
import { matchRanges, parseQuery, type SearchQuery, termsOfFolded } from '../../lib/search-terms.ts';
import type { AccessService } from '../access/access.service.ts';
import { visibleConversationIds } from '../conversations/conversation.repository.ts';
import type { ConversationService } from '../conversations/conversation.service.ts';
import type { MessageService } from '../messages/message.service.ts';
import * as repo from './search.repository.ts';

/**
 * A search reads at most this many index candidates (newest first), checks
 * each against its content and pages through the ones that match: `count` is
 * exact up to it, and no page starts past it.
 */
export const SEARCH_CAP = 500;

/** A relevance-sorted search counts the index rows of at most this many of its terms (one query each). */
const MAX_COUNTED_TERMS = 8;

/** Up to this many conversations, a participant's search names them; past it, it joins conversations. */
const IN_LIST_LIMIT = 1_000;

export interface SearchMessagesQuery {
  q: string;
  conversation_id?: string | undefined;
  sender_id?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
  /** newest (the default) or relevance (src/lib/search-relevance.ts). */
  sort?: 'newest' | 'relevance' | undefined;
}

export interface SearchHit {
  message: Message;
  conversation_id: string;
  highlights: Array<{ start: number; end: number }>;
}

export type SearchService = ReturnType<typeof createSearchService>;

export function createSearchService(deps: {
  db: Kysely<Database>;
  access: AccessService;
  conversations: ConversationService;
  messages: MessageService;
}) {
  const { db, access, conversations, messages } = deps;

  // The index is written after the send commits, by the search indexer (search-indexer.ts): the
  // send transaction has no statement for it. A moderator's delete still removes the message's index
  // rows in its transaction, to keep the index from growing with deleted messages; results never
  // depend on it, since a search joins messages (a row the indexer wrote after the delete, having
  // read the message before it, finds nothing to join).
  messages.deleteTransaction.onDelete((trx, message) => repo.unindexMessage(trx, message));
  // A recalled message is no longer found by anyone (its content is the admins' only, by its id).
  messages.recallTransaction.onRecall((trx, message) => repo.unindexMessage(trx, message));

  /**
   * Each part's rarity (search-relevance.ts): from its rarest term's index rows, counted up to
   * RARITY_CAP; at most MAX_COUNTED_TERMS counts per search (a part past them counts as common).
   */
  async function partWeights(query: SearchQuery): Promise<Map<string, number>> {
    const weights = new Map<string, number>();
    const counts = new Map<string, number>();
    for (const part of query.parts) {
      let fewest = RARITY_CAP;
      for (const term of termsOfFolded(part)) {
        let count = counts.get(term);
        if (count === undefined && counts.size < MAX_COUNTED_TERMS) {
          count = await repo.messagesWithTerm(db, term, RARITY_CAP);
          counts.set(term, count);
        }
        if (count !== undefined) fewest = Math.min(fewest, count);
      }
      weights.set(part, rarity(fewest));
    }
    return weights;
  }

  async function scopeOf(caller: UserRow, conversationId: string | undefined): Promise<repo.SearchScope> {
    if (conversationId !== undefined) {
      const conversation = await conversations.visible(caller, conversationId);
      return { kind: 'conversations', ids: [conversation.id] };
    }
    if (access.allowsNow(caller, 'realtime.watch_all')) return { kind: 'all' };
    const rows = await visibleConversationIds(db, caller)
      .limit(IN_LIST_LIMIT + 1)
      .execute();
    return rows.length > IN_LIST_LIMIT
      ? { kind: 'participant', viewer: caller }
      : { kind: 'conversations', ids: rows.map((row) => row.id) };
  }

  return {
    /** The caller's conversations (admins: all) with a participant named like `q` (NFKC; case-folded in SQL). */
    searchConversations(caller: UserRow, q: string, page: { page: number; pageSize: number }) {
      const text = q.normalize('NFKC').trim();
      if (text === '') {
        throw unprocessable('search_query_too_short', ['q: give part of a username or user id']);
      }
      return conversations.listByName(caller, text, page);
    },

    /** Messages whose text contains every part of `q` (NFKC, case-folded), newest first, in conversations the caller may see. */
    async searchMessages(
      caller: UserRow,
      query: SearchMessagesQuery,
      page: { page: number; pageSize: number },
    ): Promise<{ count: number; count_exact?: boolean; results: SearchHit[] }> {
      const parsed = parseQuery(query.q);
      if (parsed.terms.length === 0) {
        throw unprocessable('search_query_too_short', [
          'q: give two or more Chinese (Japanese, Korean) characters in a row, or a word or number',
        ]);
      }
      const scope = await scopeOf(caller, query.conversation_id);
      if (scope.kind === 'conversations' && scope.ids.length === 0) return { count: 0, results: [] };
      const candidates = await repo.findCandidates(
        db,
        parsed.terms,
        scope,
        { senderId: query.sender_id, from: query.from, to: query.to },
        SEARCH_CAP + 1,
      );
      const exact = candidates.length <= SEARCH_CAP;
      let matches = candidates.slice(0, SEARCH_CAP).flatMap((row) => {
        const ranges = matchRanges(row.content, parsed.parts);
        return ranges ? [{ row, ranges }] : [];
      });
      if (query.sort === 'relevance' && matches.length > 1) {
        matches = byRelevance(matches, (match) => match.row.content, await partWeights(parsed));
      }
      const offset = (page.page - 1) * page.pageSize;
      if (!exact && offset >= matches.length && matches.length > 0) {
        throw unprocessable('page_too_deep', [
          `page: at most the newest ${matches.length} matches can be paged; narrow the search (conversation_id, sender_id, from, to)`,
        ]);
      }
      const pageRows = matches.slice(offset, offset + page.pageSize);
      const presented = await messages.present(pageRows.map((match) => match.row));
      return {
        count: matches.length,
        ...(exact ? {} : { count_exact: false }),
        results: pageRows.map((match, i) => ({
          message: presented[i] as Message,
          conversation_id: match.row.conversation_id,
          highlights: match.ranges.map(([start, end]) => ({ start, end })),
        })),
      };
    },
  };
}
