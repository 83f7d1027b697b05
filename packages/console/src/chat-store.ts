import type { SendableMessageType } from '@cs-chat/contracts/rest/message.schemas';
import type { MessageEvent } from '@cs-chat/contracts/ws/protocol';
import { type ConnectionState, RealtimeClient, SendError } from '@cs-chat/sdk/realtime';
import { computed, reactive, ref, shallowReactive, shallowRef } from 'vue';
import { baseUrl, type Conversation, detailOf, type Message, partnerOf, rest, session, type User } from './api.ts';
import { createConversationSummaries } from './conversation-summaries.ts';

/** A message as the console shows it: a send of this tab is shown at once, then confirmed by its ack. */
export interface ChatMessage extends Message {
  /** Shown at once, not acknowledged yet. */
  sending?: boolean;
  failed?: string;
}

/** The team inbox's filters (docs/API.md, GET /api/conversations/): none for a user of no team. */
export interface ConversationFilter {
  status?: Conversation['status'];
  /** `me`, `none` (the queue) or a member's id. */
  assignee_id?: string;
  team_id?: string;
}

const HISTORY_PAGE = 50;
const TYPING_SHOWN_MS = 5000;

/**
 * One signed-in user's conversations and their messages, kept live by the
 * SDK's RealtimeClient (which reconnects, catches up by seq and resends until
 * acknowledged): the chat view and the admin monitor both read it.
 */
export function createChatStore(me: User) {
  const isAdmin = me.role === 'admin';
  const api = rest();
  const client = new RealtimeClient({ baseUrl, userId: me.id, token: () => session.value?.token ?? '' });
  const conversations = ref<Conversation[]>([]);
  /** Histories loaded so far, by conversation id, in seq order. */
  const histories = shallowReactive(new Map<string, ChatMessage[]>());
  /** Conversations whose history goes further back than what is loaded. */
  const older = reactive(new Set<string>());
  const selectedId = ref<string | null>(null);
  const connection = ref<ConnectionState>('connecting');
  /** Who is typing where: conversation id → user id. */
  const typing = reactive(new Map<string, string>());
  const typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
  const online = reactive(new Set<string>());
  const error = ref<string | null>(null);

  const selected = computed(() => conversations.value.find((c) => c.id === selectedId.value) ?? null);

  function setHistory(conversationId: string, list: ChatMessage[]): void {
    histories.set(
      conversationId,
      [...list].sort((a, b) => a.seq - b.seq),
    );
  }

  const summaries = createConversationSummaries(isAdmin ? null : me.id);
  /** What the list shows (the team inbox's tab and status); changing it reloads the list. */
  const filter = shallowRef<ConversationFilter>({});

  const recency = (c: Conversation) => c.last_message_time ?? c.updated_at;

  async function loadConversations(): Promise<void> {
    const {
      data,
      error: failure,
      response,
    } = await api.GET('/api/conversations/', {
      params: { query: { page_size: 100, ...filter.value } },
    });
    if (!data) {
      error.value = detailOf(failure, response);
      return;
    }
    error.value = null;
    for (const conversation of data.results) {
      // Live from the last message each had: the client catches up anything after it on every reconnection.
      client.watch(conversation.id, conversation.last_seq);
      summaries.listed(conversation);
    }
    conversations.value = [...data.results].sort((a, b) => recency(b) - recency(a));
  }

  let reloading: Promise<void> | undefined;
  let reloadAgain = false;
  /** One list reload at a time however many unknown conversations' messages arrive (a burst is one reload more). */
  function reloadConversations(): void {
    if (reloading) {
      reloadAgain = true;
      return;
    }
    reloading = loadConversations().finally(() => {
      reloading = undefined;
      if (reloadAgain) {
        reloadAgain = false;
        reloadConversations();
      }
    });
  }

  /** Reads one conversation again (a moderator's delete changed its preview). */
  async function refreshConversation(id: string): Promise<void> {
    const { data } = await api.GET('/api/conversations/{id}', { params: { path: { id } } });
    if (!data) return;
    summaries.listed(data);
    conversations.value = conversations.value.map((c) => (c.id === id ? data : c));
  }

  /** Marks the other side's messages read (REST: sure, unlike the best-effort frame); admins never mark. */
  async function markRead(conversationId: string): Promise<void> {
    const conversation = conversations.value.find((c) => c.id === conversationId);
    if (!conversation || isAdmin) return;
    summaries.read(conversation);
    await api.PUT('/api/conversations/{id}/messages/read-all', { params: { path: { id: conversationId }, query: {} } });
  }

  async function select(conversationId: string): Promise<void> {
    selectedId.value = conversationId;
    if (!histories.has(conversationId)) {
      const {
        data,
        error: failure,
        response,
      } = await api.GET('/api/conversations/{id}/messages', {
        params: { path: { id: conversationId }, query: { order: 'desc', page_size: HISTORY_PAGE } },
      });
      if (!data) {
        error.value = detailOf(failure, response);
        return;
      }
      // Live messages that came in while the page loaded are kept; the page wins for the rest.
      const live = histories.get(conversationId) ?? [];
      const ids = new Set(data.results.map((m) => m.id));
      setHistory(conversationId, [...data.results, ...live.filter((m) => !ids.has(m.id))]);
      if (data.count > data.results.length) older.add(conversationId);
    }
    if (selected.value && summaries.unread(selected.value) > 0) await markRead(conversationId);
  }

  /** The page of messages before the oldest one loaded. */
  async function loadOlder(conversationId: string): Promise<void> {
    const history = histories.get(conversationId) ?? [];
    const oldest = history.find((m) => !m.sending && !m.pending);
    if (!oldest) return;
    const { data } = await api.GET('/api/conversations/{id}/messages', {
      params: { path: { id: conversationId }, query: { before_seq: oldest.seq, limit: HISTORY_PAGE } },
    });
    if (!data) return;
    if (data.results.length < HISTORY_PAGE) older.delete(conversationId);
    setHistory(conversationId, [...data.results, ...(histories.get(conversationId) ?? [])]);
  }

  /** A message stored by anyone (live or caught up): into its history, its conversation's preview and unread count. */
  function received(message: Message): void {
    const history = histories.get(message.conversation_id);
    if (history && !history.some((m) => m.id === message.id))
      setHistory(message.conversation_id, [...history, message]);
    const known = conversations.value.find((c) => c.id === message.conversation_id);
    // The customer's, for a team member (a colleague's answer is the team's own); system messages are never unread.
    const fromOtherSide =
      !isAdmin &&
      message.message_type !== 'system' &&
      (known ? message.sender_id === partnerOf(known, me.id)?.id : message.sender_id !== me.id);
    const readNow = selectedId.value === message.conversation_id && document.visibilityState === 'visible';
    summaries.received(message, fromOtherSide && !readNow);
    const conversation = known;
    if (!conversation) {
      reloadConversations(); // a conversation someone just opened with us (or one outside the inbox's filter)
      return;
    }
    summaries.apply(conversation);
    conversations.value = [conversation, ...conversations.value.filter((c) => c !== conversation)];
    if (fromOtherSide && readNow) void markRead(message.conversation_id);
    if (message.sender_id !== me.id) typing.delete(message.conversation_id);
  }

  async function send(content: string, messageType: SendableMessageType = 'text'): Promise<void> {
    const conversationId = selectedId.value;
    if (!conversationId) return;
    const clientMsgId = crypto.randomUUID();
    const history = histories.get(conversationId) ?? [];
    const draft: ChatMessage = {
      id: `pending-${clientMsgId}`,
      conversation_id: conversationId,
      sender_id: me.id,
      sender: me,
      content,
      message_type: messageType,
      is_read: false,
      created_at: Math.floor(Date.now() / 1000),
      seq: Number.MAX_SAFE_INTEGER,
      client_msg_id: clientMsgId,
      filename: null,
      sending: true,
    };
    setHistory(conversationId, [...history, draft]);
    const replace = (patch: Partial<ChatMessage>) => {
      const list = histories.get(conversationId) ?? [];
      setHistory(
        conversationId,
        list.map((m) => (m.client_msg_id === clientMsgId && m.sender_id === me.id ? { ...m, ...patch } : m)),
      );
    };
    try {
      const ack = await client.send(conversationId, content, { message_type: messageType, client_msg_id: clientMsgId });
      // The stored form (absolute media URL, file name) is the server's: read it back for media.
      // Held by the content guard for review: stored, not delivered to anyone yet (no seq, no preview).
      if (ack.pending) {
        replace({ id: ack.id, sending: false, pending: true });
        return;
      }
      if (messageType === 'text') replace({ id: ack.id, seq: ack.seq, sending: false });
      else {
        const { data } = await api.GET('/api/conversations/{id}/messages', {
          params: { path: { id: conversationId }, query: { after_seq: ack.seq - 1, limit: 1 } },
        });
        const stored = data?.results.find((m) => m.id === ack.id);
        replace(stored ? { ...stored, sending: false } : { id: ack.id, seq: ack.seq, sending: false });
      }
      received({ ...draft, id: ack.id, seq: ack.seq });
    } catch (failure) {
      replace({ sending: false, failed: failure instanceof SendError ? failure.message : String(failure) });
    }
  }

  let typingSentAt = 0;
  /** Tells the other side we type (at most every 3 s), or that we stopped. */
  function typed(isTyping: boolean): void {
    const conversationId = selectedId.value;
    if (!conversationId || isAdmin) return;
    const now = Date.now();
    if (isTyping && now - typingSentAt < 3000) return;
    typingSentAt = isTyping ? now : 0;
    client.typing(conversationId, isTyping);
  }

  async function deleteMessage(message: Message): Promise<string | null> {
    const { error: failure, response } = await api.DELETE('/api/messages/{id}', {
      params: { path: { id: message.id } },
    });
    if (!response.ok) return detailOf(failure, response);
    removed(message.conversation_id, message.id);
    return null;
  }

  function removed(conversationId: string, id: string): void {
    const history = histories.get(conversationId);
    if (history)
      setHistory(
        conversationId,
        history.filter((m) => m.id !== id),
      );
    void refreshConversation(conversationId);
  }

  client.on('state', ({ state }) => {
    connection.value = state;
  });
  client.on('message', (event: MessageEvent) => {
    const { type: _type, timestamp: _timestamp, ...message } = event;
    received(message);
  });
  client.on('message_deleted', ({ conversation_id, id }) => removed(conversation_id, id));
  // A held message rejected in review was never delivered: it goes from the sender's view too.
  client.on('message_rejected', ({ conversation_id, id }) => removed(conversation_id, id));
  client.on('card_updated', ({ conversation_id, card }) => {
    const history = histories.get(conversation_id);
    if (!history) return;
    const shows = (m: ChatMessage) => {
      if (m.message_type !== 'card') return false;
      try {
        const shown = JSON.parse(m.content) as { kind?: string; id?: string };
        return shown.kind === card.kind && shown.id === card.id;
      } catch {
        return false;
      }
    };
    setHistory(
      conversation_id,
      history.map((m) => (shows(m) ? { ...m, content: JSON.stringify(card) } : m)),
    );
  });
  client.on('message_recalled', ({ conversation_id, id, recalled_at }) => {
    const history = histories.get(conversation_id);
    if (history)
      setHistory(
        conversation_id,
        // Admins keep the original text (the server sends it to them marked recalled); others lose it.
        history.map((m) => (m.id === id ? { ...m, recalled_at, content: me.role === 'admin' ? m.content : '' } : m)),
      );
    void refreshConversation(conversation_id);
  });
  client.on('read', ({ conversation_id, reader_id }) => {
    const history = histories.get(conversation_id);
    if (reader_id !== me.id && history)
      setHistory(
        conversation_id,
        history.map((m) => (m.sender_id === me.id && !m.is_read ? { ...m, is_read: true } : m)),
      );
  });
  client.on('typing', ({ conversation_id, user_id, is_typing }) => {
    clearTimeout(typingTimers.get(conversation_id));
    if (!is_typing || user_id === me.id) {
      typing.delete(conversation_id);
      return;
    }
    typing.set(conversation_id, user_id);
    typingTimers.set(
      conversation_id,
      setTimeout(() => typing.delete(conversation_id), TYPING_SHOWN_MS),
    );
  });
  // A team's conversation changed hands or status: the list (its queue, "mine", its assignee) is read again.
  client.on('conversation_updated', () => reloadConversations());
  client.on('online_users', ({ users }) => {
    online.clear();
    for (const id of users) online.add(id);
  });
  client.on('status', ({ user_id, status }) => {
    if (status === 'online') online.add(user_id);
    else online.delete(user_id);
  });
  // The socket's session ended (4401) or its ticket was refused: asking who we are tells a
  // passing refusal from a session that is over (a 401, which signs this tab out).
  client.on('unauthorized', () => {
    void api.GET('/api/auth/me');
  });

  // Back to a tab left in the background: what arrived meanwhile in the open conversation is read now.
  const onVisible = () => {
    const conversation = selected.value;
    if (document.visibilityState === 'visible' && conversation && summaries.unread(conversation) > 0)
      void markRead(conversation.id);
  };
  document.addEventListener('visibilitychange', onVisible);

  return {
    me,
    conversations,
    histories,
    selectedId,
    selected,
    connection,
    typing,
    online,
    older,
    error,
    async start() {
      client.connect();
      await loadConversations();
    },
    stop() {
      document.removeEventListener('visibilitychange', onVisible);
      client.close();
    },
    loadConversations,
    filter,
    /** Shows the conversations matching `next` (the team inbox's tabs). */
    async setFilter(next: ConversationFilter): Promise<void> {
      filter.value = next;
      await loadConversations();
    },
    /** The open conversation as the server now has it (after an assignment or status change). */
    replaced(conversation: Conversation): void {
      summaries.listed(conversation);
      conversations.value = conversations.value.map((c) => (c.id === conversation.id ? conversation : c));
    },
    client,
    select,
    loadOlder,
    send,
    typed,
    deleteMessage,
  };
}

export type ChatStore = ReturnType<typeof createChatStore>;
