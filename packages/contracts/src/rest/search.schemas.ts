import Type, { type Static } from 'typebox';
import { IdParam, Paginated, pageQuery, UuidOrId } from './common.schemas.ts';
import { Message } from './message.schemas.ts';

export const SearchMessagesQuery = Type.Object({
  q: Type.String({
    minLength: 1,
    maxLength: 200,
    description:
      'What to find, NFKC-normalised and case-folded: every white-space-separated part must occur in the text. A part is looked up by its Chinese (Japanese, Korean) character pairs and its Latin words and numbers, so it needs two CJK characters in a row or a word or number (422 search_query_too_short otherwise).',
  }),
  conversation_id: Type.Optional(UuidOrId),
  sender_id: Type.Optional(IdParam),
  from: Type.Optional(Type.Integer({ minimum: 0, description: 'Unix seconds: messages sent at or after' })),
  to: Type.Optional(Type.Integer({ minimum: 0, description: 'Unix seconds: messages sent before' })),
  ...pageQuery(20),
});
export type SearchMessagesQuery = Static<typeof SearchMessagesQuery>;

export const Highlight = Type.Object(
  { start: Type.Integer({ minimum: 0 }), end: Type.Integer({ minimum: 0 }) },
  { description: "Where the query's parts occur in `message.content`: [start, end) in UTF-16 code units" },
);

export const SearchHit = Type.Object({
  message: Message,
  conversation_id: Type.String(),
  highlights: Type.Array(Highlight),
});

export const SearchHitList = Paginated(SearchHit);
