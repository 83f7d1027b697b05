import type { Message } from '@cs-chat/contracts/rest/message.schemas';
import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../../db/types.ts';
import { unprocessable } from '../../lib/errors.ts';
import { matchRanges, parseQuery } from '../../lib/search-terms.ts';
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

/** Up to this many conversations, a participant's search names them; past it, it joins conversations. */
const IN_LIST_LIMIT = 1_000;

export interface SearchMessagesQuery {
  q: string;
  conversation_id?: string | undefined;
  sender_id?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
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

  // Every text message's terms are written in its send transaction: a stored message is searchable
  // once its send is acknowledged. One INSERT per send transaction (group commit keeps its batches).
  messages.sendTransaction.onBatch((trx, stored) =>
    repo.indexMessages(
      trx,
      stored.map((entry) => entry.message),
    ),
  );

  // A moderator's delete removes the message's index rows in its transaction (the join with messages
  // would drop them from results anyway; this keeps the index from growing with deleted messages).
  messages.deleteTransaction.onDelete((trx, message) => repo.unindexMessage(trx, message));

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
      const matches = candidates.slice(0, SEARCH_CAP).flatMap((row) => {
        const ranges = matchRanges(row.content, parsed.parts);
        return ranges ? [{ row, ranges }] : [];
      });
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
