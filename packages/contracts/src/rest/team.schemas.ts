import Type, { type Static } from 'typebox';
import { IdParam } from './common.schemas.ts';
import { CONVERSATION_STATUSES } from './conversation.schemas.ts';
import { Avatar, Description, Password, User, Username } from './user.schemas.ts';

/** A member's place in a team: one owner (the served account itself), supervisors and agents. */
export const TEAM_ROLES = ['owner', 'supervisor', 'agent'] as const;
export type TeamRole = (typeof TEAM_ROLES)[number];
/** The roles a member can be given: the owner is the account the team answers for. */
export const MEMBER_ROLES = ['supervisor', 'agent'] as const;

export const OwnerIdParams = Type.Object({
  owner_id: Type.String({
    minLength: 1,
    maxLength: 50,
    pattern: '^[A-Za-z0-9_-]+$',
    description: "The team's owner: the merchant (shop) or service account (platform desk) it answers for",
    examples: ['m1'],
  }),
});

export const MemberParams = Type.Object({
  ...OwnerIdParams.properties,
  user_id: Type.String({
    minLength: 1,
    maxLength: 50,
    pattern: '^[A-Za-z0-9_-]+$',
    description: 'The member: a user of the team',
    examples: ['m4'],
  }),
});

const MaxOpen = Type.Integer({ minimum: 1, maximum: 1000 });

const ClockTime = Type.String({
  pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$',
  description: 'HH:MM, 00:00 to 24:00',
});

/** One opening of the weekly schedule, in the team's time zone; a `close` not after `open` runs into the next day. */
export const BusinessHoursSlot = Type.Object(
  {
    day: Type.Integer({ minimum: 1, maximum: 7, description: 'ISO weekday: 1 Monday … 7 Sunday' }),
    open: ClockTime,
    close: ClockTime,
  },
  {
    additionalProperties: false,
    title: 'BusinessHoursSlot',
    description:
      'The team is open on `day` from `open` to `close`; a `close` at or before `open` means the next day (22:00–02:00 runs overnight)',
  },
);
export type BusinessHoursSlot = Static<typeof BusinessHoursSlot>;

export const KEYWORD_MATCHES = ['contains', 'exact'] as const;
export const MAX_KEYWORD_REPLIES = 50;

/** A keyword rule: the first rule one of whose keywords matches the buyer's text answers with `reply`. */
export const KeywordReply = Type.Object(
  {
    keywords: Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { minItems: 1, maxItems: 20 }),
    match: Type.Enum(KEYWORD_MATCHES, {
      description:
        '`contains`: the text contains a keyword; `exact`: the text is a keyword (both after NFKC and case folding)',
    }),
    reply: Type.String({ minLength: 1, maxLength: 500 }),
  },
  {
    additionalProperties: false,
    title: 'KeywordReply',
    description: 'An automatic answer to buyer messages with a keyword',
  },
);
export type KeywordReply = Static<typeof KeywordReply>;

const AutoText = (what: string) =>
  Type.String({ maxLength: 500, description: `${what}; an empty string turns it off` });
const BusinessHours = Type.Array(BusinessHoursSlot, {
  maxItems: 50,
  description: 'The weekly opening hours; empty: open at all hours (except the days off)',
});
const DaysOff = Type.Array(Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }), {
  maxItems: 366,
  description: "Dates (YYYY-MM-DD, in the team's time zone) closed all day",
});
const KeywordReplies = Type.Array(KeywordReply, {
  maxItems: MAX_KEYWORD_REPLIES,
  description: 'Tried in order; empty: none',
});
const TimeZone = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'IANA time zone of the business hours',
  examples: ['Asia/Shanghai'],
});

export const TeamSettings = Type.Object(
  {
    max_open_per_agent: Type.Integer({ description: 'Open conversations one member may hold (automatic assignment)' }),
    auto_assign: Type.Boolean({ description: 'Whether conversations needing someone are assigned automatically' }),
    auto_resolve_hours: Type.Union([Type.Integer(), Type.Null()], {
      description: 'Conversations idle this many hours are resolved; null: never',
    }),
    welcome_message: Type.Union([Type.String(), Type.Null()], {
      description: 'Sent once when a buyer writes to the team for the first time; null: none',
    }),
    away_message: Type.Union([Type.String(), Type.Null()], {
      description:
        'Sent to a buyer who writes outside business hours or when no member is online and available, once per away period; null: none',
    }),
    timezone: TimeZone,
    business_hours: BusinessHours,
    days_off: DaysOff,
    keyword_replies: KeywordReplies,
    slow_reply_seconds: Type.Integer({
      description:
        'A customer waiting this long for a human answer alerts the assignee (or the online members) and supervisors',
    }),
    slow_reply_escalation_seconds: Type.Integer({ description: 'A wait this long alerts the supervisors again' }),
  },
  {
    title: 'TeamSettings',
    description: "A team's assignment and auto-reply settings",
    examples: [
      {
        max_open_per_agent: 10,
        auto_assign: true,
        auto_resolve_hours: null,
        welcome_message: '您好，欢迎光临华润医药！',
        away_message: '客服下班了，上班后第一时间回复您',
        timezone: 'Asia/Shanghai',
        business_hours: [{ day: 1, open: '09:00', close: '18:00' }],
        days_off: ['2026-10-01'],
        keyword_replies: [{ keywords: ['发票'], match: 'contains', reply: '下单后可在订单详情中申请电子发票' }],
        slow_reply_seconds: 100,
        slow_reply_escalation_seconds: 180,
      },
    ],
  },
);
export type TeamSettings = Static<typeof TeamSettings>;

export const UpdateTeamSettingsBody = Type.Object(
  {
    max_open_per_agent: Type.Optional(MaxOpen),
    auto_assign: Type.Optional(Type.Boolean()),
    auto_resolve_hours: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 24 * 365 }), Type.Null()])),
    welcome_message: Type.Optional(AutoText('The welcome message')),
    away_message: Type.Optional(AutoText('The away message')),
    timezone: Type.Optional(TimeZone),
    business_hours: Type.Optional(BusinessHours),
    days_off: Type.Optional(DaysOff),
    keyword_replies: Type.Optional(KeywordReplies),
    slow_reply_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    slow_reply_escalation_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
  },
  {
    additionalProperties: false,
    title: 'UpdateTeamSettingsBody',
    description: 'The settings to change; fields left out keep their values',
    examples: [{ max_open_per_agent: 5, auto_resolve_hours: 48 }],
  },
);
export type UpdateTeamSettingsBody = Static<typeof UpdateTeamSettingsBody>;

export const TeamMember = Type.Object(
  {
    user: User,
    team_role: Type.Enum(TEAM_ROLES),
    available: Type.Boolean({ description: 'Takes automatic assignments when online' }),
    max_open: Type.Union([Type.Integer(), Type.Null()], {
      description: "The member's own capacity (lowers the team's); null: the team's",
    }),
    online: Type.Boolean({ description: 'Connected on any instance' }),
    open_count: Type.Integer({ description: 'Conversations assigned to the member and not resolved' }),
  },
  {
    title: 'TeamMember',
    description: 'A member of a team, with their assignment state',
    examples: [
      {
        user: {
          id: 'm4',
          username: '华润客服小王',
          avatar: null,
          role: 'merchant',
          description: null,
          status: 'active',
          created_at: 1764892800,
        },
        team_role: 'agent',
        available: true,
        max_open: null,
        online: true,
        open_count: 3,
      },
    ],
  },
);
export type TeamMember = Static<typeof TeamMember>;

export const Team = Type.Object(
  {
    owner_id: Type.String(),
    settings: TeamSettings,
    members: Type.Array(TeamMember, { description: 'The owner first, then supervisors, then agents' }),
  },
  {
    title: 'Team',
    description: 'The people who answer for one account (a shop or the platform desk) and its settings',
    examples: [
      {
        owner_id: 'm1',
        settings: {
          max_open_per_agent: 10,
          auto_assign: true,
          auto_resolve_hours: null,
          welcome_message: null,
          away_message: null,
          timezone: 'Asia/Shanghai',
          business_hours: [],
          days_off: [],
          keyword_replies: [],
          slow_reply_seconds: 100,
          slow_reply_escalation_seconds: 180,
        },
        members: [],
      },
    ],
  },
);
export type Team = Static<typeof Team>;

export const CreateMemberBody = Type.Object(
  {
    username: Username,
    password: Password,
    team_role: Type.Enum(MEMBER_ROLES),
    avatar: Type.Optional(Type.Union([Avatar, Type.Null()])),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
  },
  {
    additionalProperties: false,
    title: 'CreateMemberBody',
    description: "A new member account of the owner's role; its username is the name customers see",
    examples: [{ username: '华润客服小王', password: 'agent123', team_role: 'agent' }],
  },
);
export type CreateMemberBody = Static<typeof CreateMemberBody>;

export const UpdateMemberBody = Type.Object(
  {
    team_role: Type.Optional(Type.Enum(MEMBER_ROLES)),
    available: Type.Optional(Type.Boolean()),
    max_open: Type.Optional(Type.Union([MaxOpen, Type.Null()])),
  },
  {
    additionalProperties: false,
    title: 'UpdateMemberBody',
    description: "A member's role and capacity (owner, admin), or availability (also the member themselves)",
    examples: [{ available: false }],
  },
);
export type UpdateMemberBody = Static<typeof UpdateMemberBody>;

export const AssignmentBody = Type.Object(
  {
    assignee_id: Type.Union([IdParam, Type.Null()], {
      description: "A member of the team (your own id: claim it), or null: back to the team's queue",
    }),
    note: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'Why (kept in the assignment log)' })),
  },
  {
    additionalProperties: false,
    title: 'AssignmentBody',
    description: 'Who handles the conversation from now on',
    examples: [{ assignee_id: 'm1a2', note: '客户咨询发票，转给财务专员' }],
  },
);
export type AssignmentBody = Static<typeof AssignmentBody>;

export const StatusBody = Type.Object(
  { status: Type.Enum(CONVERSATION_STATUSES, { description: '`pending`: waiting on the customer' }) },
  {
    additionalProperties: false,
    title: 'StatusBody',
    description: "The conversation's new status; a customer message reopens it",
    examples: [{ status: 'resolved' }],
  },
);
export type StatusBody = Static<typeof StatusBody>;

export const Note = Type.Object(
  {
    id: Type.String(),
    conversation_id: Type.String(),
    author_id: Type.String(),
    author: Type.Union([User, Type.Null()]),
    content: Type.String(),
    created_at: Type.Integer(),
  },
  {
    title: 'Note',
    description: "An internal note on a conversation: the team's and admins', never the customer's",
    examples: [
      {
        id: '0193a6f5-2b3c-7d4e-8f5a-6b7c8d9e0f1a',
        conversation_id: '0193a6f2-7c1e-7b3a-9d4e-2f6a8b1c3d5e',
        author_id: 'm1a1',
        author: null,
        content: '老客户，上次的发票已补开',
        created_at: 1764896500,
      },
    ],
  },
);
export type Note = Static<typeof Note>;

export const NoteList = Type.Array(Note, { title: 'NoteList', description: 'The notes, oldest first' });

export const CreateNoteBody = Type.Object(
  { content: Type.String({ minLength: 1, maxLength: 2000 }) },
  {
    additionalProperties: false,
    title: 'CreateNoteBody',
    description: 'A note for the team',
    examples: [{ content: '老客户，上次的发票已补开' }],
  },
);
export type CreateNoteBody = Static<typeof CreateNoteBody>;

export const EscalationBody = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 500 }) },
  {
    additionalProperties: false,
    title: 'EscalationBody',
    description: 'Why the platform desk should step in (both sides and the desk see it)',
    examples: [{ reason: '商家拒绝退款，申请平台介入' }],
  },
);
export type EscalationBody = Static<typeof EscalationBody>;

export const PlatformPostBody = Type.Object(
  { content: Type.String({ minLength: 1, maxLength: 5000 }) },
  {
    additionalProperties: false,
    title: 'PlatformPostBody',
    description: "The platform desk's word in an escalated conversation, visible to both sides",
    examples: [{ content: '平台已核实，商家将在 24 小时内退款。' }],
  },
);
export type PlatformPostBody = Static<typeof PlatformPostBody>;
