import { randomUUID } from 'node:crypto';
import type { CloseCode } from '@cs-chat/contracts/ws/close-codes';
import type { ServerEvent } from '@cs-chat/contracts/ws/protocol';
import type { UserRow } from '../db/types.ts';
import type { Language } from '../http/messages.ts';
import { decide } from '../modules/access/access.policy.ts';
import type { TokenSession } from '../modules/auth/tokens.ts';
import { eventFrame } from './frames.ts';
import { createRateLimiter, type RateDecision, type RateLimitOptions } from './rate-limit.ts';
import { type FrameStream, FrameWriter } from './write-coalescing.ts';

/**
 * The part of a `ws` WebSocket a connection uses (a fake stands in for it in
 * unit tests). Frames go out through the FrameStream under it instead.
 */
export interface SocketLike {
  readonly readyState: number;
  /** Bytes written but not yet handed to the kernel, our frames included (they share the TCP socket). */
  readonly bufferedAmount: number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(): void;
}

const OPEN = 1;

export interface ConnectionLimits {
  /** Outgoing bytes queued in user space past which the peer counts as stuck and is dropped. */
  maxBufferedBytes: number;
  /** Frames read but not yet handled; past it frames are refused like a rate-limit hit. */
  maxPendingFrames: number;
  rateLimit: RateLimitOptions;
}

export interface ConnectionHooks {
  /** A frame handler failed in a way nobody answered for; logged by the owner. */
  onTaskError(error: unknown): void;
}

/**
 * One open socket of one signed-in user: what it may be sent, whether it
 * answered the last ping, and the queue that handles its frames in order.
 */
export class ClientConnection {
  readonly id: string = randomUUID();
  readonly user: UserRow;
  readonly language: Language;
  readonly openedAt = Date.now();
  /** The session of the token (or ticket) the socket was opened with: revoking or expiring it closes the socket. */
  session: TokenSession | undefined;
  readonly #socket: SocketLike;
  readonly #frames: FrameWriter;
  readonly #limits: ConnectionLimits;
  readonly #limiter: ReturnType<typeof createRateLimiter>;
  readonly #hooks: ConnectionHooks;
  #alive = true;
  #pending = 0;
  #queue: Promise<void> = Promise.resolve();

  /** `stream` is the TCP socket under `socket`, where `ws` writes its own frames too. */
  constructor(
    socket: SocketLike,
    stream: FrameStream,
    user: UserRow,
    language: Language,
    limits: ConnectionLimits,
    hooks: ConnectionHooks,
  ) {
    this.#socket = socket;
    this.#frames = new FrameWriter(stream);
    this.user = user;
    this.language = language;
    this.#limits = limits;
    this.#limiter = createRateLimiter(limits.rateLimit);
    this.#hooks = hooks;
  }

  get userId(): string {
    return this.user.id;
  }

  /** Whether this socket watches everything (the admin audience: access.policy.ts, realtime.watch_all). */
  get isAdmin(): boolean {
    return decide(this.user, 'realtime.watch_all').kind === 'allowed';
  }

  get isOpen(): boolean {
    return this.#socket.readyState === OPEN;
  }

  /**
   * Sends a ready-made text frame (frames.ts): a fan-out serialises, encodes
   * and frames once for all recipients and writes the same Buffer to each. A
   * peer that stopped reading is dropped instead of buffered without bound;
   * it resyncs with after_seq when it reconnects.
   */
  sendFrame(frame: Buffer): boolean {
    if (!this.isOpen) return false;
    if (this.#socket.bufferedAmount + frame.length > this.#limits.maxBufferedBytes) {
      this.#socket.terminate();
      return false;
    }
    this.#frames.write(frame);
    return true;
  }

  send(event: ServerEvent): boolean {
    return this.sendFrame(eventFrame(JSON.stringify(event)));
  }

  close(code: CloseCode, reason = ''): void {
    if (this.#socket.readyState <= OPEN) this.#socket.close(code, reason);
  }

  terminate(): void {
    this.#socket.terminate();
  }

  markAlive(): void {
    this.#alive = true;
  }

  /** One heartbeat: drops a peer that missed the previous ping, else pings it again. */
  heartbeat(): boolean {
    if (!this.#alive) {
      this.#socket.terminate();
      return false;
    }
    this.#alive = false;
    if (this.isOpen) this.#socket.ping();
    return true;
  }

  /** Charges one inbound frame to the rate limit. */
  admit(): RateDecision {
    return this.#pending >= this.#limits.maxPendingFrames ? 'reject' : this.#limiter.take();
  }

  /** Runs frame handlers one after another, so acks come back in the order frames were sent. */
  enqueue(task: () => Promise<void>): void {
    this.#pending += 1;
    this.#queue = this.#queue
      .then(task)
      .catch((error: unknown) => this.#hooks.onTaskError(error))
      .finally(() => {
        this.#pending -= 1;
      });
  }

  /** Resolves when every frame read so far has been handled (graceful shutdown). */
  drained(): Promise<void> {
    return this.#queue;
  }
}
