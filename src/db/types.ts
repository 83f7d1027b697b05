import type { ColumnType, Generated, GeneratedAlways, Insertable, Selectable, Updateable } from 'kysely';

/**
 * Row types of every table, as migrations create them. Timestamps are Unix
 * seconds; booleans are stored as 0/1 on both dialects.
 */
export interface UsersTable {
  id: string;
  username: string;
  password_hash: string | null;
  role: 'buyer' | 'merchant' | 'service' | 'admin';
  avatar: string | null;
  description: string | null;
  status: 'active' | 'inactive' | 'deleted';
  created_at: number;
  updated_at: number;
  /** Milliseconds: the user's tokens issued before this are refused (logout-all, password change, deactivation). */
  tokens_valid_after: Generated<number>;
  /** The owner's id for a team's owner and members; null for buyers and admins (migration 20261206110000). */
  team_id: string | null;
  team_role: TeamRole | null;
  /** A member who is not available gets no automatic assignments. */
  available: Generated<number>;
  /** Lowers the team's max_open_per_agent for this member; null: the team's. */
  max_open: number | null;
  last_assigned_at: number | null;
}

export type TeamRole = 'owner' | 'supervisor' | 'agent';
export type ConversationStatus = 'open' | 'pending' | 'resolved';

/** One row per team, keyed by its owner (a merchant or service account). */
export interface TeamsTable {
  owner_id: string;
  max_open_per_agent: Generated<number>;
  auto_assign: Generated<number>;
  auto_resolve_hours: number | null;
  created_at: number;
  updated_at: number;
  /** Auto replies (issue 14; migration 20261206180100): null turns one off. */
  welcome_message: string | null;
  away_message: string | null;
  /** IANA name; null: Asia/Shanghai. */
  timezone: string | null;
  /** JSON: BusinessHours, DaysOff and KeywordReply[] of the contracts; null: none. */
  business_hours: string | null;
  days_off: string | null;
  keyword_replies: string | null;
  /** Slow-reply alerts (migration 20261206180200): the first after this wait, the supervisors' after the second. */
  slow_reply_seconds: Generated<number>;
  slow_reply_escalation_seconds: Generated<number>;
}

/**
 * The period in which each auto-reply rule last answered in a conversation (rule: 'welcome',
 * 'away:closed', 'away:absent', 'keyword:<n>'): a time, or for away:absent the seq of the
 * team's last human message.
 */
export interface AutoReplySendsTable {
  conversation_id: string;
  rule: string;
  mark: number;
}

/** The assignment log: every claim, assignment, transfer, release and requeue. */
export interface ConversationAssignmentsTable {
  id: Generated<number>;
  conversation_id: string;
  actor_id: string | null;
  from_id: string | null;
  to_id: string | null;
  note: string | null;
  kind: 'claim' | 'assign' | 'transfer' | 'release' | 'auto' | 'requeue';
  created_at: number;
}

/** Satisfaction ratings: one per conversation and resolution episode (its `resolutions` when rated). */
export interface ConversationRatingsTable {
  id: string;
  conversation_id: string;
  episode: number;
  /** The team and the assignee when it was rated. */
  team_id: string | null;
  assignee_id: string | null;
  rater_id: string;
  score: number;
  comment: string | null;
  created_at: number;
}

/** Internal notes: outside the message sequence, never shown to the customer. */
export interface ConversationNotesTable {
  id: string;
  conversation_id: string;
  author_id: string;
  content: string;
  created_at: number;
}

export interface ConversationsTable {
  id: string;
  /** participant1_id < participant2_id, so one unique key covers the unordered pair. */
  participant1_id: string;
  participant2_id: string;
  participant1_unread: Generated<number>;
  participant2_unread: Generated<number>;
  last_message: string | null;
  last_message_time: number | null;
  /** Highest seq handed out; messages take last_seq + 1 in the send transaction. */
  last_seq: Generated<number>;
  /** Live messages, kept by the send and delete transactions so counting never scans. */
  message_count: Generated<number>;
  created_at: number;
  updated_at: number;
  /** Who created the conversation (presence rule); null for conversations older than the column. */
  started_by: string | null;
  /** The search index holds this conversation's messages up to this seq (src/modules/search/search-indexer.ts). */
  search_seq: Generated<number>;
  /** 1 while last_seq > search_seq (computed by the database, indexed): the search indexer's to-do list. */
  search_behind: GeneratedAlways<number>;
  /** The newest transcript entry's hash (src/lib/transcript-chain.ts); null before the first. */
  chain_head: ColumnType<string | null, string | null | undefined, string | null>;
  /** The participant whose team answers (the served side); null only for a pair no rule allows. */
  team_id: string | null;
  /** The member handling it; null: in the team's queue. */
  assignee_id: string | null;
  previous_assignee_id: string | null;
  status: Generated<ConversationStatus>;
  assigned_at: number | null;
  resolved_at: number | null;
  /** Since a customer message no human team answer followed; null when answered. */
  awaiting_reply_since: number | null;
  /** The desk's conversation escalated from this one, or the one this escalates. */
  linked_conversation_id: string | null;
  /** Times it was resolved: the current rating episode (issue 14; migration 20261206180000). */
  resolutions: Generated<number>;
  /** The turn (its awaiting_reply_since) the last slow-reply alert was for, and its level (1, 2). */
  slow_alert_since: number | null;
  slow_alert_level: Generated<number>;
  /** The report follower's hint of how far it got (report_state.seq is authoritative; migration 20261207010000). */
  report_seq: Generated<number>;
  /** 1 while last_seq > report_seq (computed, indexed): the report follower's to-do list. */
  report_behind: GeneratedAlways<number>;
}

export interface MessagesTable {
  id: string;
  conversation_id: string;
  seq: number;
  sender_id: string;
  content: string;
  message_type: 'text' | 'image' | 'file' | 'card' | 'system' | 'platform';
  filename: string | null;
  client_msg_id: string | null;
  is_read: Generated<number>;
  created_at: number;
  /** Unix seconds when its sender recalled it; null otherwise. Never written by a send. */
  recalled_at: ColumnType<number | null, number | null | undefined, number | null>;
  /** Its transcript entry's hash (src/lib/transcript-chain.ts); null for messages older than the chain. */
  chain_hash: ColumnType<string | null, string | null | undefined, string | null>;
  /** 1: an auto reply (issue 14). */
  auto_reply: Generated<number>;
}

export interface QuickRepliesTable {
  id: string;
  user_id: string;
  content: string;
  sort_order: Generated<number>;
  is_active: Generated<number>;
  created_at: number;
  updated_at: number;
}

/** One row per moderated (hard-deleted) message. */
export interface DeletedMessagesTable {
  conversation_id: string;
  seq: number;
  message_id: string;
  deleted_by: string;
  deleted_at: number;
  /** The deleted message's transcript hash, kept so the chain still verifies where it was removed. */
  chain_hash: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A transcript entry that is not a message (a recall, a moderation delete), in chain order after `after_seq`. */
export interface TranscriptEventsTable {
  conversation_id: string;
  after_seq: number;
  /** From 1 among the events after the same seq. */
  ordinal: number;
  kind: string;
  /** The entry's canonical JSON, exactly as hashed. */
  body: string;
  hash: string;
  created_at: number;
}

/** The Ed25519 keys that sign transcripts (PEM); the newest signs. */
export interface TranscriptKeysTable {
  id: string;
  public_key: string;
  private_key: string;
  created_at: number;
}

/** Sessions ended by POST /api/auth/logout, kept until their token would have expired. */
export interface RevokedSessionsTable {
  session_id: string;
  user_id: string;
  /** Unix seconds: the token's own expiry, after which the row is useless. */
  expires_at: number;
  /** Milliseconds. */
  revoked_at: number;
}

/** The search index: one row per distinct term of a text message (src/lib/search-terms.ts). */
export interface MessageSearchTermsTable {
  term: string;
  message_id: string;
  conversation_id: string;
}

/** A webhook endpoint (docs/WEBHOOKS.md). */
export interface WebhookEndpointsTable {
  id: string;
  url: string;
  description: string | null;
  /** Comma-separated event names. */
  events: string;
  secret: string;
  previous_secret: string | null;
  /** Unix seconds: the previous secret signs too until then. */
  previous_secret_expires_at: number | null;
  allow_private_network: Generated<number>;
  is_active: Generated<number>;
  /** Why the system disabled it (an admin's own `active: false` leaves this null). */
  disabled_reason: string | null;
  created_at: number;
  updated_at: number;
  /** Milliseconds: the first failure since the last success; null while it succeeds. */
  failing_since: number | null;
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

/** The webhook outbox: one event for one endpoint, and how its delivery went. Times in milliseconds. */
export interface WebhookDeliveriesTable {
  /** Insert order (auto-increment): one conversation's events are delivered in it. */
  position: Generated<number>;
  event_id: string;
  endpoint_id: string;
  event_type: string;
  conversation_id: string | null;
  /** The JSON body sent. */
  payload: string;
  status: WebhookDeliveryStatus;
  attempts: Generated<number>;
  next_attempt_at: number;
  /** Until then an instance is delivering it; 0 when none. */
  lease_until: Generated<number>;
  /** The claiming worker's token while leased. */
  lease_owner: string | null;
  last_status_code: number | null;
  last_error: string | null;
  last_duration_ms: number | null;
  created_at: number;
  delivered_at: number | null;
  updated_at: number;
}

/** The content guard's rule table and word list (one row, id 1; none: the defaults). */
export interface GuardSettingsTable {
  id: number;
  /** JSON: label → role → action. */
  rules: string;
  /** JSON: the sensitive words. */
  words: string;
  updated_by: string;
  updated_at: number;
}

export type HeldMessageStatus = 'pending' | 'approved' | 'rejected';

/** A message a `hold` rule kept back; not in `messages` until approved (it keeps its id then). */
export interface GuardHeldMessagesTable {
  id: string;
  conversation_id: string;
  sender_id: string;
  sender_role: 'buyer' | 'merchant' | 'service';
  /** As written. */
  content: string;
  /** What approval delivers: the findings of `mask` rules masked. */
  deliver_content: string;
  message_type: 'text' | 'image' | 'file';
  client_msg_id: string | null;
  /** Comma-separated labels found. */
  labels: string;
  status: HeldMessageStatus;
  reviewed_by: string | null;
  reviewed_at: number | null;
  created_at: number;
}

/** One finding of the guard in one message, the action its rule took, and the review of a held one. */
export interface GuardDecisionsTable {
  id: string;
  /** Null when the message was blocked (never stored). */
  message_id: string | null;
  conversation_id: string;
  sender_id: string;
  sender_role: string;
  label: string;
  action: string;
  /** The matched text (at most 200 characters). */
  excerpt: string;
  reviewed_by: string | null;
  review: 'approved' | 'rejected' | null;
  created_at: number;
}

/** Per user: messages masked, blocked or rejected after review. */
export interface GuardStrikesTable {
  user_id: string;
  strikes: number;
  updated_at: number;
}

/** A card's current state as the host platform last set it (PUT /api/cards/{kind}/{id}). */
export interface CardsTable {
  kind: 'product' | 'order';
  id: string;
  /** The card as canonical JSON (src/modules/cards/card-content.ts), what a card message shows. */
  state: string;
  /** Orders: JSON array of the users who may open a conversation about it; null for none. */
  user_ids: string | null;
  updated_at: number;
}

/** A conversation that shows a card, and when the card was last posted there. */
export interface CardRefsTable {
  kind: 'product' | 'order';
  card_id: string;
  conversation_id: string;
  shown_at: number;
}

/** The report follower's watermark and open turn per conversation (src/modules/reports/turns.ts). */
export interface ReportStateTable {
  conversation_id: string;
  seq: number;
  /** JSON: ConversationTurnState. */
  state: string;
}

/** One answered buyer turn (README, "Response-time reports"). */
export interface ReplyTurnsTable {
  conversation_id: string;
  /** The answering message's seq. */
  answer_seq: number;
  team_id: string;
  episode: number;
  started_at: number;
  /** started_at, or the next opening when the turn started while the team was closed. */
  counted_from: number;
  answered_at: number;
  answered_by: string;
  seconds: number;
  is_first_of_episode: number;
}

/** A team's figures of one local day, per member ('' : credited to nobody). */
export interface ReportDailyTable {
  team_id: string;
  local_day: string;
  agent_id: string;
  conversations: Generated<number>;
  buyer_turns: Generated<number>;
  answered: Generated<number>;
  within_180: Generated<number>;
  first_responses: Generated<number>;
  team_messages: Generated<number>;
  resolved: Generated<number>;
  ratings: Generated<number>;
  rating_sum: Generated<number>;
  /** JSON: bucket (lower bound, seconds) → count (src/modules/reports/response-histogram.ts). */
  first_histogram: string;
  response_histogram: string;
}

/** Each resolve of a conversation, after which message (seq) it came: where an episode ends. */
export interface ConversationResolvesTable {
  conversation_id: string;
  /** The conversation's `resolutions` after it. */
  resolution: number;
  after_seq: number;
  resolved_by: string | null;
  resolved_at: number;
}

export interface Database {
  report_state: ReportStateTable;
  reply_turns: ReplyTurnsTable;
  report_daily: ReportDailyTable;
  conversation_resolves: ConversationResolvesTable;
  guard_settings: GuardSettingsTable;
  guard_held_messages: GuardHeldMessagesTable;
  guard_decisions: GuardDecisionsTable;
  guard_strikes: GuardStrikesTable;
  cards: CardsTable;
  card_refs: CardRefsTable;
  teams: TeamsTable;
  conversation_assignments: ConversationAssignmentsTable;
  conversation_notes: ConversationNotesTable;
  conversation_ratings: ConversationRatingsTable;
  auto_reply_sends: AutoReplySendsTable;
  deleted_messages: DeletedMessagesTable;
  message_search_terms: MessageSearchTermsTable;
  revoked_sessions: RevokedSessionsTable;
  users: UsersTable;
  conversations: ConversationsTable;
  messages: MessagesTable;
  quick_replies: QuickRepliesTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  transcript_events: TranscriptEventsTable;
  transcript_keys: TranscriptKeysTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
/** A conversation as the modules see it: the search indexer's bookkeeping columns are its own. */
export type ConversationRow = Omit<
  Selectable<ConversationsTable>,
  'search_seq' | 'search_behind' | 'chain_head' | 'report_seq' | 'report_behind'
>;
export type TeamRow = Selectable<TeamsTable>;
/**
 * chain_hash is the transcript's (optional here: the send path builds rows before it is computed);
 * `auto_reply` optional: rows built in memory (the send path, system messages) are never auto replies.
 */
export type MessageRow = Omit<Selectable<MessagesTable>, 'chain_hash' | 'auto_reply'> & {
  chain_hash?: string | null;
  auto_reply?: number;
};
export type QuickReplyRow = Selectable<QuickRepliesTable>;
export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type HeldMessageRow = Selectable<GuardHeldMessagesTable>;
export type CardRow = Selectable<CardsTable>;
