import Type, { type Static } from 'typebox';
import { MESSAGE_TYPES } from './message.schemas.ts';

/**
 * What the content guard finds in a text message (docs/API.md, "Content guard"):
 * a mainland mobile number, a WeChat or QQ contact, an e-mail address, a link
 * (external shop, payment, any URL), an off-platform lure without a contact
 * (私下交易, 支付宝转账, …), a word of the admins' sensitive-word list.
 */
export const GUARD_LABELS = ['phone', 'wechat', 'qq', 'email', 'link', 'offsite', 'word'] as const;
export type GuardLabel = (typeof GUARD_LABELS)[number];

/**
 * What a rule does with a message in which its label is found: `allow` records
 * the finding only, `mask` stores and delivers the message with the finding
 * replaced by `***`, `block` refuses it (422 `content_blocked`, nothing
 * stored), `hold` stores it undelivered until a reviewer approves or rejects it.
 * With several findings the strictest action wins (block, hold, mask, allow).
 */
export const GUARD_ACTIONS = ['allow', 'mask', 'block', 'hold'] as const;
export type GuardAction = (typeof GUARD_ACTIONS)[number];

/** The roles that send messages (admins only watch), each with its own rule per label. */
export const GUARD_ROLES = ['buyer', 'merchant', 'service'] as const;
export type GuardRole = (typeof GUARD_ROLES)[number];

/** At most this many sensitive words, each at most MAX_GUARD_WORD_LENGTH characters. */
export const MAX_GUARD_WORDS = 5000;
export const MAX_GUARD_WORD_LENGTH = 50;

const Action = Type.Enum(GUARD_ACTIONS);
const RoleActions = Type.Object(
  { buyer: Action, merchant: Action, service: Action },
  { additionalProperties: false, description: "The action for each sender's role" },
);
const Rules = Type.Object(
  Object.fromEntries(GUARD_LABELS.map((label) => [label, RoleActions])) as Record<GuardLabel, typeof RoleActions>,
  { additionalProperties: false, description: 'The actions of each label' },
);
const Words = Type.Array(Type.String({ minLength: 1, maxLength: MAX_GUARD_WORD_LENGTH }), {
  maxItems: MAX_GUARD_WORDS,
  description: 'The sensitive words (label `word`), matched after NFKC folding and lower-casing',
});

export const GuardRules = Type.Object(
  {
    rules: Rules,
    words: Words,
    /** Unix seconds of the last change; null while the defaults apply. */
    updated_at: Type.Union([Type.Integer(), Type.Null()]),
    updated_by: Type.Union([Type.String(), Type.Null()]),
  },
  { title: 'GuardRules', description: "The content guard's rules and sensitive-word list" },
);
export type GuardRules = Static<typeof GuardRules>;
export type GuardRuleTable = Static<typeof Rules>;

export const PutGuardRulesBody = Type.Object(
  { rules: Rules, words: Words },
  {
    additionalProperties: false,
    title: 'PutGuardRulesBody',
    description: 'The whole rule table (every label, every role) and the whole word list, replacing the current ones',
  },
);
export type PutGuardRulesBody = Static<typeof PutGuardRulesBody>;

export const HeldMessage = Type.Object(
  {
    id: Type.String({ description: 'The id the message keeps once approved' }),
    conversation_id: Type.String(),
    sender_id: Type.String(),
    sender_role: Type.Enum(GUARD_ROLES),
    /** The sender's strikes so far (see docs/API.md). */
    sender_strikes: Type.Integer(),
    content: Type.String({ description: 'The text as the sender wrote it' }),
    /** What approval delivers: `content` with the findings of `mask` rules masked. */
    deliver_content: Type.String(),
    message_type: Type.Enum(MESSAGE_TYPES),
    labels: Type.Array(Type.Enum(GUARD_LABELS)),
    created_at: Type.Integer(),
  },
  { title: 'HeldMessage', description: 'A message the guard holds for review, not delivered' },
);
export type HeldMessage = Static<typeof HeldMessage>;

export const GuardQueue = Type.Object(
  {
    count: Type.Integer({ description: 'Every message waiting for review' }),
    results: Type.Array(HeldMessage),
  },
  { title: 'GuardQueue', description: 'Messages waiting for review, oldest first' },
);
export type GuardQueue = Static<typeof GuardQueue>;

export const GuardQueueQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'At most this many (50)' })) },
  { additionalProperties: false },
);

export const ReviewParams = Type.Object({
  message_id: Type.String({ minLength: 1, maxLength: 64, description: 'The held message' }),
});

export const ReviewBody = Type.Object(
  { decision: Type.Enum(['approve', 'reject'] as const, { description: 'approve delivers it; reject drops it' }) },
  { additionalProperties: false, title: 'ReviewBody', description: "A reviewer's decision on a held message" },
);
export type ReviewBody = Static<typeof ReviewBody>;

export const ReviewResult = Type.Object(
  {
    id: Type.String(),
    status: Type.Enum(['approved', 'rejected'] as const),
    /** The delivered message (its seq assigned now) when approved. */
    seq: Type.Union([Type.Integer(), Type.Null()]),
  },
  { title: 'ReviewResult', description: 'The outcome of a review' },
);
export type ReviewResult = Static<typeof ReviewResult>;

export const GuardDecision = Type.Object(
  {
    id: Type.String(),
    message_id: Type.Union([Type.String(), Type.Null()], { description: 'Null when the message was blocked' }),
    conversation_id: Type.String(),
    sender_id: Type.String(),
    sender_role: Type.String(),
    label: Type.Enum(GUARD_LABELS),
    action: Type.Enum(GUARD_ACTIONS),
    excerpt: Type.String({ description: 'The matched text as written' }),
    reviewed_by: Type.Union([Type.String(), Type.Null()]),
    review: Type.Union([Type.Enum(['approved', 'rejected'] as const), Type.Null()]),
    created_at: Type.Integer(),
  },
  {
    title: 'GuardDecision',
    description: 'One finding of the guard in one message, the action its rule took, and its review',
  },
);
export type GuardDecision = Static<typeof GuardDecision>;

export const GuardDecisionList = Type.Object(
  {
    results: Type.Array(GuardDecision),
    /** The sender's strikes, when the list is one sender's. */
    sender_strikes: Type.Union([Type.Integer(), Type.Null()]),
  },
  { title: 'GuardDecisionList', description: 'Decisions, newest first' },
);
export type GuardDecisionList = Static<typeof GuardDecisionList>;

export const GuardDecisionsQuery = Type.Object(
  {
    sender_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Only this sender’s' })),
    before_id: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'Only decisions older than this one (the next page)' }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'At most this many (50)' })),
  },
  { additionalProperties: false },
);
export type GuardDecisionsQuery = Static<typeof GuardDecisionsQuery>;
