import type { Message } from '@cs-chat/contracts/rest/message.schemas';

/**
 * The seam between the REST services and real-time delivery. Services call it
 * only after their transaction has committed; implementations must not throw
 * (a failed push never undoes a stored message: clients catch up by seq).
 */
export interface RealtimePublisher {
  messageCreated(event: {
    message: Message;
    participants: readonly [string, string];
    /** The sender's connection that already shows the message (X-Connection-Id), or null. */
    skipConnectionId: string | null;
    /** REST sends without X-Connection-Id push nothing to the sender's own connections. */
    echoToSender: boolean;
  }): void;
  conversationRead(event: { conversationId: string; readerId: string; otherId: string; timestamp: number }): void;
  messageDeleted(event: { id: string; conversationId: string; participants: readonly [string, string] }): void;
  /** The user was deactivated or deleted: close their live connections. */
  userDisabled(userId: string): void;
  /**
   * Sessions ended: one (logout) or all issued before a moment (logout-all,
   * password change). Every instance refuses them from now on and closes
   * their sockets with 4401.
   */
  sessionsRevoked(event: SessionsRevoked): void;
}

export interface SessionsRevoked {
  userId: string;
  /** One session, with its token's expiry (Unix seconds). */
  session?: { id: string; expiresAt: number };
  /** Milliseconds: every token issued before this. */
  issuedBefore?: number;
}
