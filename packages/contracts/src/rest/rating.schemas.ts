import Type, { type Static } from 'typebox';

/** Satisfaction ratings (issue 14): the buyer rates each resolution of a conversation once. */

export const RatingBody = Type.Object(
  {
    score: Type.Integer({ minimum: 1, maximum: 5, description: '1 (very unsatisfied) to 5 (very satisfied)' }),
    comment: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'What the buyer wants to add' })),
  },
  {
    additionalProperties: false,
    title: 'RatingBody',
    description: "The buyer's rating of the conversation's latest resolution",
    examples: [{ score: 5, comment: '客服很耐心，问题解决了' }],
  },
);
export type RatingBody = Static<typeof RatingBody>;

export const Rating = Type.Object(
  {
    id: Type.String(),
    conversation_id: Type.String(),
    episode: Type.Integer({
      minimum: 1,
      description: 'Which resolution of the conversation it rates: 1 the first, 2 after a reopen and resolve again, …',
    }),
    team_id: Type.Union([Type.String(), Type.Null()], { description: 'The team that answered' }),
    assignee_id: Type.Union([Type.String(), Type.Null()], {
      description: 'The member holding the conversation when it was rated; null: nobody (the queue, a team of one)',
    }),
    rater_id: Type.String({ description: 'The buyer' }),
    score: Type.Integer({ minimum: 1, maximum: 5 }),
    comment: Type.Union([Type.String(), Type.Null()]),
    created_at: Type.Integer(),
  },
  {
    title: 'Rating',
    description: "A buyer's satisfaction rating of one resolution of a conversation",
    examples: [
      {
        id: '0193a6f9-1a2b-7c3d-8e4f-5a6b7c8d9e0f',
        conversation_id: '0193a6f2-7c1e-7b3a-9d4e-2f6a8b1c3d5e',
        episode: 1,
        team_id: 'm1',
        assignee_id: 'm1a1',
        rater_id: 'b1',
        score: 5,
        comment: '客服很耐心，问题解决了',
        created_at: 1764897000,
      },
    ],
  },
);
export type Rating = Static<typeof Rating>;

export const RatingList = Type.Array(Rating, { title: 'RatingList', description: 'The ratings, newest first' });

export const TeamRatingsQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100,
        default: 50,
        description: 'At most this many (default 50, at most 100)',
      }),
    ),
    before: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 50,
        description: "A rating's id: only older ratings (the next page after the last one received)",
      }),
    ),
  },
  { additionalProperties: false },
);
export type TeamRatingsQuery = Static<typeof TeamRatingsQuery>;
