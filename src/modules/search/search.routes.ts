import { errorResponses, pageOf } from '@cs-chat/contracts/rest/common.schemas';
import { ConversationList } from '@cs-chat/contracts/rest/conversation.schemas';
import { SearchConversationsQuery, SearchHitList, SearchMessagesQuery } from '@cs-chat/contracts/rest/search.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { LIST_ROUTE } from '../../quotas/list-guard.ts';
import type { SearchService } from './search.service.ts';

export const searchRoutes: FastifyPluginAsyncTypebox<{ search: SearchService }> = async (app, { search }) => {
  app.get(
    '/messages',
    {
      schema: {
        tags: ['search'],
        operationId: 'searchMessages',
        summary:
          'Full-text search of text messages in the conversations you may see (all of them for admins), newest first or by relevance (sort=relevance); count exact up to 500 matches',
        querystring: SearchMessagesQuery,
        response: { 200: SearchHitList, ...errorResponses(401, 404, 422, 429, 503) },
      },
      config: LIST_ROUTE,
    },
    (request) => search.searchMessages(request.caller, request.query, pageOf(request.query, 20)),
  );

  app.get(
    '/conversations',
    {
      schema: {
        tags: ['search'],
        operationId: 'searchConversations',
        summary:
          "Your conversations whose other participant's username contains q or id starts with it (any conversation's participants for admins), most recent first",
        querystring: SearchConversationsQuery,
        response: { 200: ConversationList, ...errorResponses(401, 422, 429, 503) },
      },
      config: LIST_ROUTE,
    },
    (request) => search.searchConversations(request.caller, request.query.q, pageOf(request.query, 20)),
  );
};
