import Type, { type Static } from 'typebox';
import { idFilter, Paginated, pageQuery } from './common.schemas.ts';
import { Message } from './message.schemas.ts';

export const SearchMessagesQuery = Type.Object({
  q: Type.String({
    minLength: 1,
    maxLength: 200,
    description:
      'What to find, NFKC-normalised and case-folded: every white-space-separated part must occur in the text. A part is looked up by its Chinese (Japanese, Korean) character pairs and its Latin words and numbers, so it needs two CJK characters in a row or a word or number (422 search_query_too_short otherwise).',
  }),
  conversation_id: idFilter('Only the messages of this conversation (404 when you may not see it)'),
  sender_id: idFilter('Only the messages this user sent'),
  from: Type.Optional(Type.Integer({ minimum: 0, description: 'Unix seconds: messages sent at or after' })),
  to: Type.Optional(Type.Integer({ minimum: 0, description: 'Unix seconds: messages sent before' })),
  sort: Type.Optional(
    Type.Enum(['newest', 'relevance'], {
      default: 'newest',
      description:
        "`newest` first (the default), or `relevance`: the same matches (the newest 500) ranked by BM25 over the query's parts: a part occurring more often, in a shorter message, and a rarer part (fewer messages have it) rank higher; newest first among equals",
    }),
  ),
  ...pageQuery(20),
});
export type SearchMessagesQuery = Static<typeof SearchMessagesQuery>;

export const Highlight = Type.Object(
  { start: Type.Integer({ minimum: 0 }), end: Type.Integer({ minimum: 0 }) },
  {
    title: 'SearchHighlight',
    description: "Where the query's parts occur in `message.content`: [start, end) in UTF-16 code units",
    examples: [{ start: 2, end: 6 }],
  },
);

export const SearchHit = Type.Object(
  {
    message: Message,
    conversation_id: Type.String({ description: 'The conversation the message is in' }),
    highlights: Type.Array(Highlight),
  },
  { title: 'SearchHit', description: 'A message that matches, with where the query occurs in it' },
);

export const SearchHitList = Paginated(SearchHit, 'SearchHitList', 'A page of matching messages, newest first');

export const SearchConversationsQuery = Type.Object({
  q: Type.String({
    minLength: 1,
    maxLength: 100,
    description:
      "A participant's name to look for (NFKC-normalised, case-folded): part of the username, or the start of the user id. Your own conversations match on the other participant; an admin's on either participant of any conversation.",
    examples: ['旗舰'],
  }),
  ...pageQuery(20),
});
export type SearchConversationsQuery = Static<typeof SearchConversationsQuery>;
