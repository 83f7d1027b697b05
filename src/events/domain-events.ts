import type { Card } from '@cs-chat/contracts/rest/card.schemas';
import type { ConversationStatus } from '@cs-chat/contracts/rest/conversation.schemas';
import type { Message } from '@cs-chat/contracts/rest/message.schemas';
import type { Rating } from '@cs-chat/contracts/rest/rating.schemas';
import type { Note } from '@cs-chat/contracts/rest/team.schemas';

/**
 * What the modules announce after a write has committed, by name. The modules
 * own this vocabulary; subscribers (real-time delivery today) decide what each
 * event means to them. A payload says what happened, never who should hear of
 * it or how: that is the subscriber's business.
 */
export interface DomainEvents {
  /**
   * A message was stored (not a replay of an earlier client_msg_id). `teamId`:
   * the participant whose team answers the conversation (issue 13), or null.
   */
  'message.created': { message: Message; participants: readonly [string, string]; teamId: string | null };
  /** An admin hard-deleted a message. */
  'message.deleted': {
    id: string;
    conversationId: string;
    participants: readonly [string, string];
    teamId: string | null;
  };
  /**
   * `readerId`'s side read the other side's messages up to now: `readerId` is
   * the participant (a team member reads for the team's owner), `actorId` who read.
   */
  'conversation.read': {
    conversationId: string;
    readerId: string;
    actorId: string;
    otherId: string;
    teamId: string | null;
    timestamp: number;
  };
  /** Its sender recalled a message (its content stays for admins). */
  'message.recalled': {
    id: string;
    conversationId: string;
    participants: readonly [string, string];
    teamId: string | null;
    recalledAt: number;
  };
  /** A reviewer rejected a message the content guard held: it was never delivered; its sender is told. */
  'message.rejected': { id: string; conversationId: string; senderId: string };
  /** The host platform changed a card's state; `conversations` show it (the most recently shown, bounded). */
  'card.updated': {
    card: Card;
    /** Each with its answering team (null: none), whose members who see it are pushed too. */
    conversations: readonly { id: string; participants: readonly [string, string]; teamId: string | null }[];
  };
  /** The user was deactivated or deleted. */
  'user.disabled': { userId: string };
  /**
   * Sessions ended: one (logout) or all issued before a moment (logout-all,
   * password change, deactivation).
   */
  'sessions.revoked': SessionsRevoked;
  /** A team's members or settings changed (who is in it, their roles, availability, capacity). */
  'team.changed': { ownerId: string };
  /** A conversation's assignment, status or escalation changed (issue 13); `conversation` as it is now. */
  'conversation.updated': {
    conversation: ConversationState;
    change: 'assignment' | 'status' | 'escalation';
    previousAssigneeId: string | null;
    actorId: string;
    timestamp: number;
  };
  /** An internal note was written: the team's side hears of it, never the customer. */
  'note.created': { note: Note; participants: readonly [string, string]; teamId: string | null };
  /** The customer rated a resolution (issue 14): the team's side hears of it. */
  'rating.created': { rating: Rating; participants: readonly [string, string]; teamId: string | null };
  /**
   * A customer has waited `waitedSeconds` for a human answer (issue 14): level 1 passed the team's
   * slow_reply_seconds, level 2 its slow_reply_escalation_seconds. Once per level per turn.
   */
  'conversation.slow_reply': {
    conversation: ConversationState;
    level: 1 | 2;
    waitingSince: number;
    waitedSeconds: number;
    thresholdSeconds: number;
  };
}

/** What a conversation's event needs to say of it and to find its audience. */
export interface ConversationState {
  id: string;
  participants: readonly [string, string];
  teamId: string | null;
  assigneeId: string | null;
  status: ConversationStatus;
  linkedConversationId: string | null;
}

export type EventName = keyof DomainEvents;

export interface SessionsRevoked {
  userId: string;
  /** One session, with its token's expiry (Unix seconds). */
  session?: { id: string; expiresAt: number };
  /** Milliseconds: every token issued before this. */
  issuedBefore?: number;
}

/**
 * Where a write came from, which decides who among the writer's own
 * connections hears of it. Not part of what happened, so it travels beside
 * the event rather than inside it.
 */
export interface EventOrigin {
  /** The writer's connection that already shows the change (X-Connection-Id, or the socket that sent it), or null. */
  skipConnectionId: string | null;
  /** REST writes without X-Connection-Id push nothing to the writer's own connections. */
  echoToSender: boolean;
}

/** Details about an event's delivery, not about the event itself. */
export interface EventMeta {
  origin?: EventOrigin;
}
