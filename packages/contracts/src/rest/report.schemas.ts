import Type, { type Static } from 'typebox';

/**
 * Response-time reports (issue 14): figures kept incrementally per team, local day (the
 * team's time zone) and agent, read over a range of days. Definitions in the README
 * ("Response-time reports").
 */

/** The longest range one report reads, in days (both ends included). */
export const MAX_REPORT_DAYS = 366;

/** YYYY-MM-DD (whether it is a real day is checked by the service: 422 `invalid_report_range`). */
const localDate = (description: string, example: string) =>
  Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description, examples: [example] });

export const REPORT_GROUPS = ['day', 'agent'] as const;
export type ReportGroup = (typeof REPORT_GROUPS)[number];
export const REPORT_FORMATS = ['json', 'csv'] as const;

const rangeQuery = {
  from: localDate("The first day of the report, YYYY-MM-DD in the team's time zone (included)", '2026-12-01'),
  to: localDate(
    `The last day of the report, YYYY-MM-DD (included); the range is at most ${MAX_REPORT_DAYS} days`,
    '2026-12-07',
  ),
  format: Type.Optional(
    Type.Union([Type.Literal('json'), Type.Literal('csv')], {
      default: 'json',
      description: 'json (default), or csv: the same rows and totals as a spreadsheet (UTF-8 with a BOM)',
    }),
  ),
};

export const TeamReportQuery = Type.Object(
  {
    ...rangeQuery,
    group: Type.Optional(
      Type.Union([Type.Literal('day'), Type.Literal('agent')], {
        default: 'day',
        description: 'day (default): one row per day of the range; agent: one row per member who answered',
      }),
    ),
  },
  { additionalProperties: false },
);
export type TeamReportQuery = Static<typeof TeamReportQuery>;

export const TeamRankingQuery = Type.Object(rangeQuery, { additionalProperties: false });
export type TeamRankingQuery = Static<typeof TeamRankingQuery>;

const Count = Type.Integer({ minimum: 0 });
const Seconds = (description: string) => Type.Union([Type.Number({ minimum: 0 }), Type.Null()], { description });

/** The figures every row has (a day, an agent, a team, the totals). */
const figures = {
  conversations: Type.Integer({
    minimum: 0,
    description:
      'Conversation episodes (a new conversation, or one reopened after a resolve) whose first buyer turn started in the row; in agent rows: the episodes the agent gave the first response of',
  }),
  buyer_turns: Type.Integer({
    minimum: 0,
    description: 'Buyer turns started in the row (agent rows: the turns the agent answered)',
  }),
  answered: Type.Integer({ minimum: 0, description: 'Of those turns, the ones a person of the team has answered' }),
  unanswered: Type.Union([Count, Type.Null()], {
    description: 'Turns started in the row and not answered (yet); null in agent rows (nobody to attribute them to)',
  }),
  team_messages: Type.Integer({
    minimum: 0,
    description: 'Messages written by people of the team (not auto replies, not system messages) on the day',
  }),
  first_response_p50: Seconds('Median first response time, seconds (null: no first response in the row)'),
  first_response_p90: Seconds('90th percentile of first response times, seconds'),
  response_p50: Seconds('Median response time over every answered turn, seconds (null: none answered)'),
  response_p90: Seconds('90th percentile of response times, seconds'),
  response_rate_3min: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()], {
    description: 'Share of the answered turns answered within 180 s, 0 to 1 (null: none answered)',
  }),
  resolved: Type.Integer({ minimum: 0, description: 'Resolves on the day (agent rows: by the agent)' }),
  ratings: Type.Integer({
    minimum: 0,
    description: 'Satisfaction ratings given on the day (agent rows: of conversations the agent held)',
  }),
  rating_average: Type.Union([Type.Number({ minimum: 1, maximum: 5 }), Type.Null()], {
    description: 'Average score of those ratings, 1 to 5 (null: none)',
  }),
};

/** The figures of the examples (one busy day of a shop). */
const exampleFigures = {
  conversations: 42,
  buyer_turns: 130,
  answered: 128,
  unanswered: 2,
  team_messages: 311,
  first_response_p50: 24,
  first_response_p90: 95,
  response_p50: 31,
  response_p90: 140,
  response_rate_3min: 0.93,
  resolved: 40,
  ratings: 12,
  rating_average: 4.6,
};

export const TeamReportRow = Type.Object(
  {
    day: Type.Union([Type.String(), Type.Null()], {
      description: 'YYYY-MM-DD in group=day rows; null in agent rows and in the totals',
    }),
    agent_id: Type.Union([Type.String(), Type.Null()], {
      description: 'The member in group=agent rows; null in day rows and in the totals',
    }),
    agent_name: Type.Union([Type.String(), Type.Null()], { description: "The member's display name (agent rows)" }),
    ...figures,
  },
  {
    title: 'TeamReportRow',
    description: "One row of a team's response-time report: a day, or an agent over the range",
    examples: [
      {
        day: '2026-12-01',
        agent_id: null,
        agent_name: null,
        ...exampleFigures,
      },
    ],
  },
);
export type TeamReportRow = Static<typeof TeamReportRow>;

export const TeamReport = Type.Object(
  {
    owner_id: Type.String({ description: "The team's owner" }),
    timezone: Type.String({ description: "The team's time zone: the days are its local days" }),
    from: Type.String(),
    to: Type.String(),
    group: Type.Union([Type.Literal('day'), Type.Literal('agent')]),
    business_hours_adjusted: Type.Boolean({
      description:
        "True when the team has business hours: a turn that started while closed counts from the next opening (by the team's current schedule)",
    }),
    rows: Type.Array(TeamReportRow, { description: 'Days in order (every day of the range), or agents by name' }),
    totals: TeamReportRow,
  },
  {
    title: 'TeamReport',
    description: "A team's response-time report over a range of days",
    examples: [
      {
        owner_id: 'm1',
        timezone: 'Asia/Shanghai',
        from: '2026-12-01',
        to: '2026-12-01',
        group: 'day',
        business_hours_adjusted: true,
        rows: [],
        totals: {
          day: null,
          agent_id: null,
          agent_name: null,
          ...exampleFigures,
        },
      },
    ],
  },
);
export type TeamReport = Static<typeof TeamReport>;

export const TeamRankingRow = Type.Object(
  {
    rank: Type.Integer({ minimum: 1 }),
    owner_id: Type.String({ description: "The team's owner" }),
    owner_name: Type.String({ description: "The owner's display name" }),
    timezone: Type.String({ description: "The team's time zone (its days are its local days)" }),
    ...figures,
  },
  {
    title: 'TeamRankingRow',
    description: 'One team over the range, ranked by 3-minute response rate, then median response time',
  },
);
export type TeamRankingRow = Static<typeof TeamRankingRow>;

export const TeamRanking = Type.Object(
  {
    from: Type.String(),
    to: Type.String(),
    rows: Type.Array(TeamRankingRow, {
      description: 'Teams with answered turns first (best 3-minute rate, then shortest median), then the rest by name',
    }),
  },
  { title: 'TeamRanking', description: 'Every team over a range of days, ranked' },
);
export type TeamRanking = Static<typeof TeamRanking>;

/** CSV: the figures' column order (after the row's key columns). */
export const REPORT_FIGURES = Object.keys(figures) as (keyof typeof figures)[];
