import { type Conversation, type Message, sideOf } from './api.ts';

/** The server's preview of a last message (docs/API.md, Conversation.last_message). */
export function preview(message: Pick<Message, 'content' | 'message_type'>): string {
  if (message.message_type === 'image') return '[图片]';
  if (message.message_type === 'file') return '[文件]';
  // Card content is canonical JSON with its kind first (src/modules/cards/card-content.ts).
  if (message.message_type === 'card') return message.content.startsWith('{"kind":"order"') ? '[订单]' : '[商品]';
  return message.content.slice(0, 100);
}

/**
 * One user's view of each conversation's preview and unread count, exact
 * although the list is read from the server while messages keep arriving: it
 * remembers the newest message seen per conversation and the seqs of the
 * other side's messages it counted as unread, and adds to what a list said
 * only what came after that list's `last_seq` (so nothing is lost or doubled).
 */
export function createConversationSummaries(meId: string | null) {
  const newest = new Map<string, Message>();
  const unreadSeqs = new Map<string, Set<number>>();
  /** Each conversation's unread count as the server last said, and up to which seq. */
  const base = new Map<string, { unread: number; seq: number }>();

  function unreadKey(conversation: Conversation): 'participant1_unread' | 'participant2_unread' | null {
    if (meId === null) return null; // the admin: no unread count of their own
    // A team member counts the team's side (a member reading reads for the team).
    const side = sideOf(conversation, meId);
    if (conversation.participant1_id === side) return 'participant1_unread';
    if (conversation.participant2_id === side) return 'participant2_unread';
    return null;
  }

  /** Brings a conversation's preview, last seq and unread count up to what this page received. */
  function apply(conversation: Conversation): void {
    const latest = newest.get(conversation.id);
    if (latest && latest.seq > conversation.last_seq) {
      conversation.last_message = preview(latest);
      conversation.last_message_time = latest.created_at;
    }
    const key = unreadKey(conversation);
    const since = base.get(conversation.id);
    if (key && since) {
      const later = [...(unreadSeqs.get(conversation.id) ?? [])].filter((seq) => seq > since.seq).length;
      conversation[key] = since.unread + later;
    }
    if (latest) conversation.last_seq = Math.max(conversation.last_seq, latest.seq);
  }

  return {
    unreadKey,
    apply,
    unread(conversation: Conversation): number {
      const key = unreadKey(conversation);
      return key ? conversation[key] : 0;
    },
    /** A conversation as a list from the server has it: its counts are the base, then what came later is added. */
    listed(conversation: Conversation): void {
      const key = unreadKey(conversation);
      if (key) base.set(conversation.id, { unread: conversation[key], seq: conversation.last_seq });
      apply(conversation);
    },
    /** A message arrived; `unread` says whether it counts as unread for this user (the other side's, not on screen). */
    received(message: Message, unread: boolean): void {
      if ((newest.get(message.conversation_id)?.seq ?? 0) < message.seq) newest.set(message.conversation_id, message);
      if (!unread) return;
      const seqs = unreadSeqs.get(message.conversation_id) ?? new Set<number>();
      unreadSeqs.set(message.conversation_id, seqs.add(message.seq));
    },
    /** Everything up to the conversation's last seq is read now. */
    read(conversation: Conversation): void {
      const key = unreadKey(conversation);
      if (!key) return;
      conversation[key] = 0;
      base.set(conversation.id, { unread: 0, seq: conversation.last_seq });
      unreadSeqs.delete(conversation.id);
    },
  };
}
