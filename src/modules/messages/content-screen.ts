import type { UserRow } from '../../db/types.ts';

/**
 * How the message service asks a content screen (the guard, src/modules/guard/)
 * about a text before anything is stored or pushed. The messages module only
 * knows this interface; the screen registers itself at composition time.
 */

/** One thing the screen found, as it is recorded. */
export interface ScreenFinding {
  label: string;
  /** What the finding's rule did: allow, mask, block or hold. */
  action: string;
  /** The matched text. */
  excerpt: string;
}

export interface ScreenVerdict {
  /** `deliver` stores and pushes `content`; `hold` keeps it back for review; `block` refuses it. */
  outcome: 'deliver' | 'hold' | 'block';
  /** What is (or, once approved, will be) delivered: the text with the findings of mask rules masked. */
  content: string;
  /** The sender's role the rules were chosen by. */
  role: string;
  findings: readonly ScreenFinding[];
  /** Whether the message is a strike against its sender as it is sent (masked, blocked). */
  strike: boolean;
}

/** A held message, as the send would have stored it. */
export interface HeldSend {
  id: string;
  conversationId: string;
  senderId: string;
  content: string;
  clientMsgId: string | null;
  createdAt: number;
}

export interface ContentScreen {
  /** Undefined when nothing is found, which is nearly every message: the send goes on untouched. */
  inspect(sender: UserRow, text: string): Promise<ScreenVerdict | undefined>;
  /** Records a blocked message, and throws its refusal (422). */
  refuse(sender: UserRow, conversationId: string, verdict: ScreenVerdict): Promise<never>;
  /**
   * Stores a held message for review (recorded, not delivered). A retry of an
   * earlier held send (its client_msg_id) stores nothing: the earlier one is
   * answered, `created: false`.
   */
  hold(send: HeldSend, verdict: ScreenVerdict): Promise<{ held: HeldRecord; created: boolean }>;
  /**
   * The message the sender had held with this content (as written) in this
   * conversation since `since` (Unix seconds), if any, with what it delivers
   * as its content, and whether it was delivered since: the reference
   * client's WebSocket echo of a held message it POSTed.
   */
  findHeld(senderId: string, conversationId: string, content: string, since: number): Promise<HeldRecord | undefined>;
}

/**
 * A held message as the screen keeps it: `content` is what it delivers;
 * `delivered` once approved, `rejected` once a reviewer refused it.
 */
export type HeldRecord = HeldSend & { delivered: boolean; rejected: boolean };
