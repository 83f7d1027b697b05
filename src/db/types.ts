import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

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
}

export interface MessagesTable {
  id: string;
  conversation_id: string;
  seq: number;
  sender_id: string;
  content: string;
  message_type: 'text' | 'image' | 'file' | 'system' | 'platform';
  filename: string | null;
  client_msg_id: string | null;
  is_read: Generated<number>;
  created_at: number;
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

export interface Database {
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
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type ConversationRow = Selectable<ConversationsTable>;
export type TeamRow = Selectable<TeamsTable>;
/** `auto_reply` optional: rows built in memory (the send path, system messages) are never auto replies. */
export type MessageRow = Omit<Selectable<MessagesTable>, 'auto_reply'> & { auto_reply?: number };
export type QuickReplyRow = Selectable<QuickRepliesTable>;
export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
