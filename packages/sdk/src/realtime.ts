import type { Message, SendableMessageType } from '@cs-chat/contracts/rest/message.schemas';
import { CloseCode } from '@cs-chat/contracts/ws/close-codes';
import type {
  AckEvent,
  CardUpdatedEvent,
  ClientFrame,
  ConversationUpdatedEvent,
  ErrorEvent,
  HelloEvent,
  MessageDeletedEvent,
  MessageEvent,
  MessageRecalledEvent,
  MessageRejectedEvent,
  NoteEvent,
  OnlineUsersEvent,
  ReadEvent,
  ResyncEvent,
  ServerEvent,
  StatusEvent,
  TypingEvent,
} from '@cs-chat/contracts/ws/protocol';
import { createRestClient, type RestClient, resolveToken, type TokenSource } from './rest.ts';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** The events a RealtimeClient emits, by name. */
export interface RealtimeEvents {
  /**
   * A message of a watched conversation, live or caught up, exactly once and in
   * `seq` order per conversation. Messages this client sent come back as the
   * answer of `send` (and an `ack`), not here; the same user's other devices' do.
   */
  message: MessageEvent;
  ack: AckEvent;
  read: ReadEvent;
  typing: TypingEvent;
  status: StatusEvent;
  online_users: OnlineUsersEvent;
  message_deleted: MessageDeletedEvent;
  /** The sender took a message back: participants then show it without its content. */
  message_recalled: MessageRecalledEvent;
  /** To its sender: a message the content guard held (acked `pending`) was rejected in review. */
  message_rejected: MessageRejectedEvent;
  /** The host platform changed a card a watched conversation shows: show the new state. */
  card_updated: CardUpdatedEvent;
  /** A team's conversation changed hands or status (to its customer, the team and admins): move it between queues. */
  conversation_updated: ConversationUpdatedEvent;
  /** An internal note on a conversation (the team's side and admins; never the customer). */
  note: NoteEvent;
  hello: HelloEvent;
  resync: ResyncEvent;
  /** An `error` event of the server that no pending send claims. */
  error: ErrorEvent;
  /** The connection changed state (`reconnecting` says when the next attempt is). */
  state: { state: ConnectionState; delayMs?: number; closeCode?: number };
  /** The credentials were refused (401 on the ticket or upgrade, close 4401): the token source is asked again. */
  unauthorized: { closeCode?: number };
}

export interface BackoffOptions {
  /** First delay's upper bound, ms (default 250). */
  initialMs: number;
  /** Upper bound of every delay, ms (default 15000). */
  maxMs: number;
}

/**
 * How fast this client sends frames. The server allows a connection a burst of
 * 30 frames and then 10 a second; the defaults stay below both, because the
 * server counts frames as they arrive, and network jitter brings two paced
 * frames closer together than they were sent.
 */
export interface FrameRate {
  /** Frames at once on a fresh connection (default 25). */
  burst: number;
  /** Frames per second after that (default 8). */
  perSecond: number;
}

export interface RealtimeOptions {
  /** The server's origin, e.g. `http://localhost:11075`. */
  baseUrl: string;
  userId: string;
  /** Called before each connection and catch-up, so a function can hand out a refreshed token. */
  token: TokenSource;
  /** Exponential backoff with full jitter between reconnections. */
  backoff?: Partial<BackoffOptions>;
  /** Sends are paced to this (the server closes a connection that keeps overrunning its budget, 1008). */
  frameRate?: Partial<FrameRate>;
  /** A pending send is sent again when no `ack` came in this long (default 10000 ms). */
  ackTimeoutMs?: number;
  /** A `ping` frame after this long without a frame from the server (default 25000 ms). */
  pingIntervalMs?: number;
  /** The socket is given up when no frame answers a ping this long (default 10000 ms). */
  pongTimeoutMs?: number;
  /**
   * Bound of one connection attempt (ticket and `hello`) and of each catch-up
   * request (default 10000 ms): a link that went silent is not waited on.
   */
  requestTimeoutMs?: number;
  /** Give up reconnecting after `4403` (user deactivated) — always; this adds more codes. */
  fatalCloseCodes?: number[];
  /** The global WebSocket and fetch unless given. */
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
}

export interface SendOptions {
  /** What a client may send (the server writes `system` and `platform` messages itself). */
  message_type?: SendableMessageType;
  /** Made with crypto.randomUUID() unless given; the same id is never stored twice. */
  client_msg_id?: string;
}

interface PendingSend {
  frame: Extract<ClientFrame, { type: 'message' }> & { client_msg_id: string };
  resolve(ack: AckEvent): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Held {
  event: MessageEvent | null;
  arrival: number;
}

interface Watched {
  /** Every message up to this seq was delivered (or was this client's own). */
  lastSeq: number;
  /** Messages (null: a place taken by an own send) that arrived ahead of a gap, by seq, with their arrival number. */
  ahead: Map<number, Held>;
  catchingUp: Promise<void> | undefined;
  again: boolean;
}

/** Errors a send is retried after (the message was not stored). */
const RETRYABLE = new Set(['send_rate_limited', 'database_unavailable', 'service_unavailable', 'internal_error']);
const PAGE_SIZE = 100;

/** A send the server refused for good (`error_type` says why). */
export class SendError extends Error {
  readonly error_type: string;
  constructor(event: ErrorEvent) {
    super(event.detail);
    this.name = 'SendError';
    this.error_type = event.error_type;
  }
}

/**
 * The realtime side of the chat API over one WebSocket that stays up:
 * connects with a single-use ticket (POST /api/ws/ticket) or, where the server
 * has none, the token; reconnects with exponential backoff and full jitter;
 * after each reconnection and each `resync` catches every watched conversation
 * up by `after_seq`, so `message` events come exactly once and in order; and
 * sends with a `client_msg_id`, again after each reconnection and ack timeout,
 * until the `ack` (the server stores one id once). Browser and Node 24 alike:
 * only the global WebSocket, fetch and crypto.
 */
export class RealtimeClient {
  readonly rest: RestClient;
  private readonly options: RealtimeOptions;
  private readonly backoff: BackoffOptions;
  private readonly frameRate: FrameRate;
  /** Sends waiting for a frame token, in the order they were made; `queued` holds their ids. */
  private readonly outbox: PendingSend[] = [];
  private readonly queued = new Set<string>();
  private tokens = 0;
  private refilledAt = 0;
  private pumpTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Map<keyof RealtimeEvents, Set<(event: never) => void>>();
  private readonly pending = new Map<string, PendingSend>();
  private readonly watched = new Map<string, Watched>();
  private socket: WebSocket | undefined;
  private ready = false;
  private stopped = true;
  private attempt = 0;
  private useTicket = true;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setTimeout> | undefined;
  private stateValue: ConnectionState = 'closed';
  /** Bumped by every connection attempt and by `close`: an attempt that was overtaken while it awaited gives up. */
  private generation = 0;
  /** Counts what is placed ahead of a gap, so a catch-up knows what was held before it began. */
  private arrivals = 0;

  constructor(options: RealtimeOptions) {
    this.options = options;
    this.backoff = { initialMs: 250, maxMs: 15_000, ...options.backoff };
    this.frameRate = { burst: 25, perSecond: 8, ...options.frameRate };
    this.rest = createRestClient({
      baseUrl: options.baseUrl,
      token: options.token,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  private get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs ?? 10_000;
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** Subscribes to one kind of event; returns the unsubscribe function. */
  on<K extends keyof RealtimeEvents>(type: K, listener: (event: RealtimeEvents[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(listener as (event: never) => void);
    return () => set.delete(listener as (event: never) => void);
  }

  /** Starts connecting (and keeps reconnecting until `close`). */
  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.open();
  }

  /** Closes for good: no reconnection; pending sends are rejected. */
  close(): void {
    this.stopped = true;
    this.generation++;
    clearTimeout(this.reconnectTimer);
    this.dropSocket();
    for (const [id, send] of this.pending) {
      clearTimeout(send.timer);
      send.reject(new Error('client closed'));
      this.pending.delete(id);
    }
    this.setState({ state: 'closed' });
  }

  /**
   * Watches a conversation: its messages after `afterSeq` (the last one the
   * caller has, 0 for all) are delivered once each, in order, across
   * reconnections. Conversations of received messages are watched anyway.
   */
  watch(conversationId: string, afterSeq = 0): void {
    if (this.watched.has(conversationId)) return;
    this.watched.set(conversationId, { lastSeq: afterSeq, ahead: new Map(), catchingUp: undefined, again: false });
    if (this.ready) void this.catchUp(conversationId);
  }

  /** The last seq delivered of a watched conversation. */
  lastSeq(conversationId: string): number | undefined {
    return this.watched.get(conversationId)?.lastSeq;
  }

  /** Sends a message; resolves with its `ack` once stored (exactly once, however often it had to be sent). */
  send(conversationId: string, content: string, options: SendOptions = {}): Promise<AckEvent> {
    const client_msg_id = options.client_msg_id ?? crypto.randomUUID();
    const frame = {
      type: 'message' as const,
      conversation_id: conversationId,
      content,
      client_msg_id,
      ...(options.message_type ? { message_type: options.message_type } : {}),
    };
    return new Promise<AckEvent>((resolve, reject) => {
      const send: PendingSend = { frame, resolve, reject, timer: undefined };
      this.pending.set(client_msg_id, send);
      if (this.ready) this.transmit(send);
    });
  }

  /** Typing indicator; dropped when not connected or over the frame budget (it is not worth a retry). */
  typing(conversationId: string, isTyping: boolean): void {
    if (this.ready && this.takeToken())
      this.sendFrame({ type: 'typing', conversation_id: conversationId, is_typing: isTyping });
  }

  /** Marks the other side's messages read; dropped when not connected or over the frame budget (REST read-all is sure). */
  markRead(conversationId: string): void {
    if (this.ready && this.takeToken()) this.sendFrame({ type: 'read', conversation_id: conversationId });
  }

  // ------------------------------------------------------------------ connection

  private async open(): Promise<void> {
    if (this.stopped) return;
    const generation = ++this.generation;
    this.setState({ state: 'connecting' });
    let url: string;
    try {
      url = await this.socketUrl();
    } catch (error) {
      if (generation !== this.generation) return;
      if (error instanceof UnauthorizedError) this.emit('unauthorized', {});
      this.scheduleReconnect();
      return;
    }
    if (this.stopped || generation !== this.generation) return;
    const Socket = this.options.WebSocket ?? WebSocket;
    const socket = new Socket(url);
    this.socket = socket;
    // No `hello` in time: give this attempt up (the heartbeat takes over once frames come).
    this.pingTimer = setTimeout(() => this.lost(undefined), this.requestTimeoutMs);
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.heartbeat();
      let data: ServerEvent;
      try {
        data = JSON.parse(String(event.data)) as ServerEvent;
      } catch {
        return;
      }
      this.dispatch(data);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.lost(event.code);
    };
    socket.onerror = () => {
      // A refused upgrade or a dead link: `close` follows with the details.
    };
  }

  private async socketUrl(): Promise<string> {
    const base = this.options.baseUrl.replace(/\/+$/, '').replace(/^http/, 'ws');
    const path = `${base}/api/ws/${encodeURIComponent(this.options.userId)}`;
    const token = await resolveToken(this.options.token);
    if (this.useTicket) {
      const doFetch = this.options.fetch ?? fetch;
      const response = await doFetch(`${this.options.baseUrl.replace(/\/+$/, '')}/api/ws/ticket`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      if (response.status === 401) throw new UnauthorizedError();
      if (response.status === 404) {
        this.useTicket = false; // A server without tickets: the token goes in the URL.
      } else if (response.ok) {
        const { ticket } = (await response.json()) as { ticket: string };
        return `${path}?ticket=${encodeURIComponent(ticket)}`;
      } else {
        throw new Error(`ticket: HTTP ${response.status}`);
      }
    }
    return `${path}?token=${encodeURIComponent(token)}`;
  }

  private lost(code: number | undefined): void {
    this.dropSocket();
    if (this.stopped) return;
    if (code === CloseCode.forbidden || this.options.fatalCloseCodes?.includes(code ?? -1)) {
      this.stopped = true;
      this.setState({ state: 'closed', ...(code !== undefined ? { closeCode: code } : {}) });
      return;
    }
    // 1006 right after connecting is how a browser reports a refused upgrade (401 among others).
    if (code === CloseCode.unauthorized) this.emit('unauthorized', { closeCode: code });
    this.scheduleReconnect(code);
  }

  private dropSocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.ready = false;
    clearTimeout(this.pingTimer);
    clearTimeout(this.pumpTimer);
    this.outbox.length = 0;
    this.queued.clear();
    for (const send of this.pending.values()) clearTimeout(send.timer);
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
      socket.onerror = null;
      // Handlers are gone: a close that hangs (a cut link) does not hold up the reconnection.
      if (socket.readyState === socket.CONNECTING || socket.readyState === socket.OPEN) {
        try {
          socket.close();
        } catch {
          // Already closing.
        }
      }
    }
  }

  private scheduleReconnect(closeCode?: number): void {
    if (this.stopped) return;
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
    const delayMs = Math.round(Math.random() * ceiling);
    this.attempt++;
    this.setState({ state: 'reconnecting', delayMs, ...(closeCode !== undefined ? { closeCode } : {}) });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.open(), delayMs);
  }

  /** Any frame proves the link alive; silence gets a ping, and silence after it gives the socket up. */
  private heartbeat(): void {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      this.takeToken();
      this.sendFrame({ type: 'ping' });
      this.pingTimer = setTimeout(() => this.lost(undefined), this.options.pongTimeoutMs ?? 10_000);
    }, this.options.pingIntervalMs ?? 25_000);
  }

  private sendFrame(frame: ClientFrame): boolean {
    if (!this.ready || !this.socket) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  // ------------------------------------------------------------------ events

  private dispatch(event: ServerEvent): void {
    switch (event.type) {
      case 'hello':
        this.ready = true;
        this.attempt = 0;
        // Each connection starts with a full budget on the server.
        this.tokens = this.frameRate.burst;
        this.refilledAt = Date.now();
        this.setState({ state: 'open' });
        this.emit('hello', event);
        for (const send of this.pending.values()) this.transmit(send);
        for (const id of this.watched.keys()) void this.catchUp(id);
        return;
      case 'message':
        this.receive(event);
        return;
      case 'ack':
        this.acknowledged(event);
        return;
      case 'error':
        this.refused(event);
        return;
      case 'resync':
        this.emit('resync', event);
        for (const id of this.watched.keys()) void this.catchUp(id);
        return;
      case 'read':
      case 'typing':
      case 'status':
      case 'online_users':
      case 'message_deleted':
      case 'message_recalled':
      case 'message_rejected':
      case 'card_updated':
      case 'conversation_updated':
      case 'note':
        this.emit(event.type, event as never);
        return;
      default:
        // pong, and types this version does not know.
        return;
    }
  }

  /** Queues a send for its (next) frame: sent in order as the frame budget allows, again if no ack comes in time. */
  private transmit(send: PendingSend): void {
    clearTimeout(send.timer);
    if (!this.ready || this.queued.has(send.frame.client_msg_id)) return;
    this.queued.add(send.frame.client_msg_id);
    this.outbox.push(send);
    this.pump();
  }

  private pump(): void {
    clearTimeout(this.pumpTimer);
    while (this.ready && this.outbox.length > 0) {
      if (!this.takeToken()) {
        const waitMs = Math.ceil(((1 - this.tokens) / this.frameRate.perSecond) * 1000);
        this.pumpTimer = setTimeout(() => this.pump(), waitMs);
        return;
      }
      const send = this.outbox.shift() as PendingSend;
      this.queued.delete(send.frame.client_msg_id);
      if (!this.pending.has(send.frame.client_msg_id)) continue; // Acknowledged meanwhile (found by a catch-up).
      this.sendFrame(send.frame);
      send.timer = setTimeout(() => this.transmit(send), this.options.ackTimeoutMs ?? 10_000);
    }
  }

  private takeToken(): boolean {
    const now = Date.now();
    const { burst, perSecond } = this.frameRate;
    this.tokens = Math.min(burst, this.tokens + ((now - this.refilledAt) / 1000) * perSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private acknowledged(ack: AckEvent): void {
    const send = ack.client_msg_id ? this.pending.get(ack.client_msg_id) : undefined;
    this.place(ack.conversation_id, ack.seq, null);
    // A second ack of one send (it was sent again, or a catch-up found it stored first) says nothing new.
    if (!send) return;
    clearTimeout(send.timer);
    this.pending.delete(send.frame.client_msg_id);
    this.emit('ack', ack);
    send.resolve(ack);
  }

  private refused(event: ErrorEvent): void {
    if (event.error_type === 'rate_limited') {
      // Over the server's frame budget after all (it was set below `frameRate`): spend nothing for a
      // second, then send again whatever is unacknowledged (the refused frame is not named; a repeat of
      // a stored one is answered with its first ack and stores nothing).
      this.tokens = -this.frameRate.perSecond;
      for (const send of this.pending.values()) this.transmit(send);
    }
    const send = event.client_msg_id ? this.pending.get(event.client_msg_id) : undefined;
    if (!send) {
      this.emit('error', event);
      return;
    }
    clearTimeout(send.timer);
    if (RETRYABLE.has(event.error_type)) {
      send.timer = setTimeout(() => this.transmit(send), Math.min(this.backoff.maxMs, 1_000));
      return;
    }
    this.pending.delete(send.frame.client_msg_id);
    send.reject(new SendError(event));
  }

  private receive(event: MessageEvent): void {
    // One of our pending sends, stored before its ack was lost: it is acknowledged by this.
    const own = event.client_msg_id ? this.pending.get(event.client_msg_id) : undefined;
    if (own && event.sender_id === this.options.userId) {
      this.acknowledged({
        type: 'ack',
        client_msg_id: own.frame.client_msg_id,
        id: event.id,
        seq: event.seq,
        conversation_id: event.conversation_id,
      });
      return;
    }
    this.place(event.conversation_id, event.seq, event);
  }

  /** Delivers seq `seq` of a conversation in order: now if it is next, after a catch-up if there is a gap. */
  private place(conversationId: string, seq: number, event: MessageEvent | null): void {
    let watched = this.watched.get(conversationId);
    if (!watched) {
      // First sight of a conversation: start from here.
      watched = { lastSeq: seq - 1, ahead: new Map(), catchingUp: undefined, again: false };
      this.watched.set(conversationId, watched);
    }
    if (seq <= watched.lastSeq) return;
    watched.ahead.set(seq, { event, arrival: ++this.arrivals });
    this.flush(watched);
    if (watched.ahead.size > 0) void this.catchUp(conversationId);
  }

  /**
   * A fetched message, in seq order: what is held below it is emitted first (only
   * own sends' places and holes left by deletions can be), and a held own send's
   * place at its seq means it is ours (acknowledged already), not emitted.
   */
  private deliverFetched(watched: Watched, event: MessageEvent): void {
    for (const seq of [...watched.ahead.keys()].sort((a, b) => a - b)) {
      if (seq >= event.seq) break;
      const held = watched.ahead.get(seq);
      watched.ahead.delete(seq);
      if (seq <= watched.lastSeq) continue;
      watched.lastSeq = seq;
      if (held?.event) this.emit('message', held.event);
    }
    const own = watched.ahead.get(event.seq)?.event === null;
    watched.ahead.delete(event.seq);
    if (event.seq <= watched.lastSeq) return;
    watched.lastSeq = event.seq;
    if (!own) this.emit('message', event);
  }

  /**
   * Emits the contiguous run after lastSeq. After a complete catch-up that began
   * at arrival number `heldBefore`, also what was held before it began, gaps and
   * all: a message pushed before the fetch was committed before it, so so were the
   * ones below it, and a seq the fetch did not return was deleted. What arrived
   * during the fetch stays held if a gap precedes it: a message below it may have
   * committed after the fetch read (the next catch-up finds it).
   */
  private flush(watched: Watched, heldBefore?: number): void {
    const seqs = [...watched.ahead.keys()].sort((a, b) => a - b);
    let through = Number.NEGATIVE_INFINITY;
    if (heldBefore !== undefined) {
      for (const seq of seqs) if ((watched.ahead.get(seq)?.arrival ?? 0) < heldBefore) through = seq;
    }
    for (const seq of seqs) {
      if (seq !== watched.lastSeq + 1 && seq > through) break;
      const held = watched.ahead.get(seq);
      watched.ahead.delete(seq);
      if (seq <= watched.lastSeq) continue;
      watched.lastSeq = seq;
      if (held?.event) this.emit('message', held.event);
    }
  }

  /** Fetches what came after lastSeq (one run at a time per conversation; asked again while running, it runs once more). */
  private catchUp(conversationId: string): Promise<void> {
    const watched = this.watched.get(conversationId);
    if (!watched) return Promise.resolve();
    if (watched.catchingUp) {
      watched.again = true;
      return watched.catchingUp;
    }
    const run = async () => {
      do {
        watched.again = false;
        const heldBefore = this.arrivals + 1;
        let complete = false;
        try {
          complete = await this.fetchAfter(conversationId, watched);
        } catch {
          complete = false;
        }
        if (complete) {
          this.flush(watched, heldBefore);
          if (watched.ahead.size > 0) watched.again = true; // Held across a gap that arose during the fetch.
        } else {
          if (!this.ready || this.stopped) return; // The next hello catches up again.
          watched.again = true; // The server is there but the fetch failed: try again shortly.
          await pause(1_000);
        }
      } while (watched.again);
    };
    watched.catchingUp = run().finally(() => {
      watched.catchingUp = undefined;
    });
    return watched.catchingUp;
  }

  /** Pages through GET /messages?after_seq; true when it reached the end. */
  private async fetchAfter(conversationId: string, watched: Watched): Promise<boolean> {
    for (;;) {
      const { data, response } = await this.rest.GET('/api/conversations/{id}/messages', {
        params: { path: { id: conversationId }, query: { after_seq: watched.lastSeq, limit: PAGE_SIZE } },
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      if (response.status === 401) this.emit('unauthorized', {});
      if (!data) return false;
      const results = data.results as Message[];
      for (const message of results) {
        if (message.seq <= watched.lastSeq) continue;
        const own = message.client_msg_id ? this.pending.get(message.client_msg_id) : undefined;
        if (own && message.sender_id === this.options.userId) {
          this.acknowledged({
            type: 'ack',
            client_msg_id: own.frame.client_msg_id,
            id: message.id,
            seq: message.seq,
            conversation_id: conversationId,
          });
          continue;
        }
        this.deliverFetched(watched, { type: 'message', ...message, timestamp: message.created_at });
      }
      if (results.length < PAGE_SIZE) return true;
    }
  }

  private setState(state: RealtimeEvents['state']): void {
    this.stateValue = state.state;
    this.emit('state', state);
  }

  private emit<K extends keyof RealtimeEvents>(type: K, event: RealtimeEvents[K]): void {
    for (const listener of this.listeners.get(type) ?? []) {
      try {
        (listener as (event: RealtimeEvents[K]) => void)(event);
      } catch (error) {
        // A listener's bug must not break delivery to the others.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

class UnauthorizedError extends Error {}

function pause(ms: number): Promise<true> {
  return new Promise((resolve) => setTimeout(() => resolve(true), ms));
}
