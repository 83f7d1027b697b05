import type { Message } from '@cs-chat/contracts/rest/message.schemas';
import { CloseCode } from '@cs-chat/contracts/ws/close-codes';
import type { BroadcastEvent } from '@cs-chat/contracts/ws/protocol';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import type { SessionsRevoked } from '../events/domain-events.ts';
import { nowSeconds } from '../lib/time.ts';
import type { PresenceLines } from '../modules/access/access.repository.ts';
import { teamRecipients } from '../modules/access/team-lines.ts';
import { fanoutClock, noMetrics, type RealtimeMetrics } from '../observability/metrics.ts';
import { type Audience, createInProcessBus, type Envelope, type FanoutBus } from './bus.ts';
import type { ClientConnection, ConnectionLimits } from './connection.ts';
import { ConnectionRegistry } from './connection-registry.ts';
import { createPresenceReveal, type PresenceRevealDeps } from './presence-reveal.ts';
import { DEFAULT_RATE_LIMIT } from './rate-limit.ts';
import { createTeamRoster, type TeamRoster, type TeamRosterSource } from './team-audience.ts';

export type RealtimeLogger = Pick<FastifyBaseLogger, 'debug' | 'info' | 'warn' | 'error'>;

export interface RealtimeLimits extends ConnectionLimits {
  /** Protocol ping period; a peer that has not answered the previous ping by the next one is dropped. */
  heartbeatIntervalMs: number;
  /** On shutdown, the budget for answering in-flight frames, the close handshakes and the presence updates. */
  shutdownGraceMs: number;
}

export const DEFAULT_LIMITS: RealtimeLimits = {
  heartbeatIntervalMs: 30_000,
  maxBufferedBytes: 1024 * 1024,
  maxPendingFrames: 64,
  rateLimit: DEFAULT_RATE_LIMIT,
  shutdownGraceMs: 5_000,
};

export interface RealtimeOptions {
  /**
   * Whom a user's presence reaches and whose they see (the access module's rule and queries,
   * src/modules/access/: the participants' rule and the team's lines): realtime reads no chat tables itself.
   */
  contactsOf: (user: ClientConnection['user']) => Promise<PresenceLines>;
  presenceSharing: PresenceRevealDeps['presenceSharing'];
  /** Defaults to the in-process bus (one instance, REDIS_URL=""). */
  bus?: FanoutBus;
  logger?: RealtimeLogger;
  limits?: Partial<RealtimeLimits>;
  metrics?: RealtimeMetrics;
  /** Called on every instance when a user is deactivated or deleted anywhere (before their sockets close). */
  onUserDisabled?: (userId: string) => void;
  /** Called on every instance when sessions of a user end anywhere (before their sockets close). */
  onSessionsRevoked?: (event: SessionsRevoked) => void;
  /** Who answers for a team (the teams module's queries); without it every team is a team of one. */
  teams?: TeamRosterSource;
  /** Called on the instance where a user's first connection in the cluster opened. */
  onUserOnline?: (user: ClientConnection['user']) => void;
  /** Called on the instance where a user's last connection in the cluster closed; settled() waits for it. */
  onUserOffline?: (user: ClientConnection['user']) => Promise<void>;
}

/**
 * The real-time core: delivery to the connections of every instance (through
 * the bus), presence, and this instance's connections. Which domain event
 * reaches whom is decided in realtime-subscriber.ts; the transport (the
 * upgrade and the frames) lives in gateway.ts.
 */
export interface Realtime {
  readonly limits: RealtimeLimits;
  readonly registry: ConnectionRegistry;
  readonly logger: RealtimeLogger;
  /** True once shutdown began: no new sockets or frames are taken. */
  readonly closing: boolean;
  /** A new authenticated socket: `hello`, then presence and `online_users`. */
  attach(connection: ClientConnection): Promise<void>;
  /** The socket closed (for any reason). */
  detach(connection: ClientConnection): void;
  /** Sends an event to an audience's connections on every instance. Never throws. */
  broadcast(event: BroadcastEvent, audience: Audience): void;
  /** After a message was stored: its participants may start sharing presence (presence-reveal.ts). */
  revealPresence(message: Message, participants: readonly [string, string]): void;
  /**
   * A team conversation changed hands: its customer, if online, is announced along its new lines
   * (the new holder, or the queue), and its new holder, if online, to the customer.
   */
  revealTeamLines(conversation: { id: string; teamId: string; customerId: string; assigneeId: string | null }): void;
  /** Closes the user's connections on every instance (4403), after forgetting them there (onUserDisabled). */
  disconnectUser(userId: string): void;
  /** Ends sessions on every instance: onSessionsRevoked, then their connections close with 4401. */
  revokeSessions(event: SessionsRevoked): void;
  /** Relays a typing indicator to the other side's connections and admins'. */
  typing(event: { from: string; to: readonly string[]; conversationId: string; isTyping: boolean }): void;
  /** Team rosters (issue 13): the team side of a conversation event, in the conversation's order. */
  readonly teams: TeamRoster;
  /** A team's members or settings changed: every instance forgets its roster. */
  teamChanged(ownerId: string): void;
  /** Readiness (GET /api/health/ready): throws when the bus's backing service (Redis) does not answer. */
  checkBus(): Promise<void>;
  /** Resolves when every presence change so far has been applied and announced (tests, shutdown). */
  settled(): Promise<void>;
  /** Finishes in-flight frames, closes every socket with 1012, then the bus. Idempotent. */
  close(): Promise<void>;
}

/**
 * Runs async tasks one after another per key: one user's presence changes
 * apply in order. A failed task is logged and does not stop the next one.
 */
function createKeyedQueue(logger: RealtimeLogger) {
  const tails = new Map<string, Promise<void>>();
  return {
    run(key: string, task: () => Promise<void>): Promise<void> {
      const next = (tails.get(key) ?? Promise.resolve()).then(task).catch((error: unknown) => {
        logger.error({ err: error, key }, 'realtime task failed');
      });
      tails.set(key, next);
      void next.finally(() => {
        if (tails.get(key) === next) tails.delete(key);
      });
      return next;
    },
    async idle(): Promise<void> {
      while (tails.size > 0) await Promise.allSettled([...tails.values()]);
    },
  };
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export function createRealtime(options: RealtimeOptions): Realtime {
  const { contactsOf } = options;
  const bus = options.bus ?? createInProcessBus();
  const logger: RealtimeLogger = options.logger ?? pino({ level: 'silent' });
  const limits: RealtimeLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const metrics = options.metrics ?? noMetrics;
  const registry = new ConnectionRegistry();
  const presenceQueue = createKeyedQueue(logger);
  let closing = false;
  let closed: Promise<void> | undefined;
  let allGone: (() => void) | undefined;
  /** Sockets that could not be told who is online (the bus was away when they opened). */
  const awaitingOnlineUsers = new Set<ClientConnection>();
  const teams = createTeamRoster(options.teams, logger);

  bus.onEnvelope((envelope: Envelope) => {
    if (envelope.kind === 'event') {
      // Serialised once for every local recipient.
      const sockets = registry.deliver(envelope.audience, JSON.stringify(envelope.event));
      metrics.eventFannedOut(envelope.event.type, sockets, envelope.published_at);
    } else if (envelope.kind === 'team_changed') {
      teams.forget(envelope.ownerId);
    } else if (envelope.kind === 'revoke') {
      const { userId, sessionId, expiresAt, issuedBefore } = envelope;
      options.onSessionsRevoked?.({
        userId,
        ...(sessionId !== undefined && expiresAt !== undefined ? { session: { id: sessionId, expiresAt } } : {}),
        ...(issuedBefore !== undefined ? { issuedBefore } : {}),
      });
      for (const connection of registry.ofUser(userId)) {
        const session = connection.session;
        const ended =
          (sessionId !== undefined && session?.sessionId === sessionId) ||
          (issuedBefore !== undefined && (session === undefined || session.issuedAtMs < issuedBefore));
        if (ended) connection.close(CloseCode.unauthorized, 'session ended');
      }
    } else {
      options.onUserDisabled?.(envelope.userId);
      for (const connection of registry.ofUser(envelope.userId)) connection.close(envelope.code as CloseCode);
    }
  });

  /**
   * A socket lives no longer than its token: it closes with 4401 when the
   * token expires. The timer is armed only once the expiry is within a
   * heartbeat (at attach or by a later heartbeat), so a week-long token costs
   * an idle socket no timer, and no delay ever exceeds setTimeout's range.
   */
  const expiryTimers = new Map<ClientConnection, NodeJS.Timeout>();
  function watchExpiry(connection: ClientConnection): void {
    const expiresAt = connection.session?.expiresAt;
    if (expiresAt === undefined || expiryTimers.has(connection)) return;
    const remaining = expiresAt * 1000 - Date.now();
    if (remaining > limits.heartbeatIntervalMs) return;
    const timer = setTimeout(
      () => {
        expiryTimers.delete(connection);
        connection.close(CloseCode.unauthorized, 'token expired');
      },
      Math.max(0, remaining),
    );
    timer.unref();
    expiryTimers.set(connection, timer);
  }

  /** Publishing never throws: a failed push must not undo a committed write (clients resync by seq). */
  function publish(envelope: Envelope): void {
    try {
      bus.publish(envelope);
    } catch (error) {
      metrics.busPublishFailed();
      logger.error({ err: error }, 'realtime publish failed');
    }
  }

  function broadcast(event: BroadcastEvent, audience: Parameters<ConnectionRegistry['resolve']>[0]): void {
    metrics.eventPublished(event.type);
    publish({ kind: 'event', audience, event, published_at: fanoutClock() });
  }

  /**
   * Tells whom a user's status reaches (and admins): their mutual contacts, and for a customer the team
   * side of each open team conversation, by the lines their messages take (teamRecipients over the
   * cached roster: a query only the first time this instance meets a team).
   */
  async function announce(userId: string, status: 'online' | 'offline', lines: PresenceLines): Promise<void> {
    const users = new Set(lines.mutual);
    for (const { teamId, assigneeId } of lines.teamSides) {
      const members = await teams.members(teamId);
      for (const id of teamRecipients(teamId, { members, assigneeId }, true)) users.add(id);
    }
    broadcast(
      { type: 'status', user_id: userId, status, timestamp: nowSeconds() },
      { users: [...users], admins: true, exceptUsers: [userId] },
    );
  }

  /** An admin's presence lines: none of their own (they see everyone, everyone's status reaches them). */
  const NO_LINES: PresenceLines = { mutual: [], watched: [], teamSides: [] };
  const linesOf = (connection: ClientConnection) => (connection.isAdmin ? NO_LINES : contactsOf(connection.user));

  const reveal = createPresenceReveal({
    presenceSharing: options.presenceSharing,
    presence: bus.presence,
    announceOnline: (subject, to) =>
      broadcast(
        { type: 'status', user_id: subject, status: 'online', timestamp: nowSeconds() },
        { users: [to], admins: false },
      ),
  });

  /** `online_users` for one socket: whose presence it sees, online anywhere (admins: everyone). */
  async function sendOnlineUsers(connection: ClientConnection, lines: PresenceLines): Promise<void> {
    const { userId } = connection;
    const online = connection.isAdmin
      ? await bus.presence.online()
      : await bus.presence.filterOnline([...lines.mutual, ...lines.watched]);
    connection.send({ type: 'online_users', users: online.filter((id) => id !== userId), timestamp: nowSeconds() });
  }

  /**
   * The bus is whole again after an outage. Events from other instances were
   * lost meanwhile: every socket here is told to catch up by seq, and when
   * this instance's own events never left it, every socket of the cluster
   * is. Sockets that opened during the outage get their `online_users` now.
   */
  bus.onRestored(({ missedPublishes }) => {
    const event: BroadcastEvent = { type: 'resync', reason: 'bus_restored', timestamp: nowSeconds() };
    const everyone = { users: [], admins: false, everyone: true };
    if (missedPublishes > 0) broadcast(event, everyone);
    else metrics.eventFannedOut(event.type, registry.deliver(everyone, JSON.stringify(event)), undefined);
    for (const connection of awaitingOnlineUsers) {
      void presenceQueue.run(connection.userId, async () => {
        if (!awaitingOnlineUsers.has(connection)) return;
        try {
          await sendOnlineUsers(connection, await linesOf(connection));
          awaitingOnlineUsers.delete(connection);
        } catch (error) {
          logger.warn({ err: error, userId: connection.userId }, 'online_users after the bus returned failed');
        }
      });
    }
  });

  const heartbeat = setInterval(() => {
    for (const connection of registry.all()) {
      connection.heartbeat();
      watchExpiry(connection);
    }
    // In each user's queue, so a refresh can never re-add a user whose leave just ran.
    for (const userId of registry.users()) {
      void presenceQueue.run(userId, async () => {
        if (registry.ofUser(userId).length === 0) return;
        await bus.presence.refresh([userId]).catch((error: unknown) => {
          logger.warn({ err: error, userId }, 'presence refresh failed');
        });
      });
    }
  }, limits.heartbeatIntervalMs);
  heartbeat.unref();

  return {
    limits,
    registry,
    logger,
    get closing() {
      return closing;
    },

    async attach(connection) {
      connection.send({
        type: 'hello',
        connection_id: connection.id,
        user_id: connection.userId,
        server_time: nowSeconds(),
      });
      const firstHere = registry.add(connection);
      watchExpiry(connection);
      const { userId } = connection;
      await presenceQueue.run(userId, async () => {
        try {
          const cameOnline = firstHere ? await bus.presence.join(userId) : false;
          const lines = await linesOf(connection);
          await sendOnlineUsers(connection, lines);
          if (cameOnline) {
            await announce(userId, 'online', lines);
            options.onUserOnline?.(connection.user);
          }
        } catch (error) {
          // Sent when the bus returns (onRestored); a database failure is retried then too.
          if (connection.isOpen) awaitingOnlineUsers.add(connection);
          logger.error({ err: error, userId }, 'presence update on connect failed');
        }
      });
    },

    detach(connection) {
      awaitingOnlineUsers.delete(connection);
      const timer = expiryTimers.get(connection);
      if (timer) {
        clearTimeout(timer);
        expiryTimers.delete(connection);
      }
      const lastHere = registry.remove(connection);
      if (closing && registry.size === 0) allGone?.();
      if (!lastHere) return;
      const { userId } = connection;
      void presenceQueue.run(userId, async () => {
        try {
          if (!(await bus.presence.leave(userId))) return;
          await announce(userId, 'offline', await linesOf(connection));
          await options.onUserOffline?.(connection.user);
        } catch (error) {
          logger.error({ err: error, userId }, 'presence update on disconnect failed');
        }
      });
    },

    typing({ from, to, conversationId, isTyping }) {
      // Admins too, as messages (issue 13: typing follows the messages' lines); never the typist.
      broadcast(
        { type: 'typing', user_id: from, conversation_id: conversationId, is_typing: isTyping },
        { users: to.filter((id) => id !== from), admins: true, exceptUsers: [from] },
      );
    },

    teams,

    teamChanged(ownerId) {
      publish({ kind: 'team_changed', ownerId });
    },

    broadcast,

    revealPresence(message, participants) {
      // In the presence queue: one conversation's checks in order, and settled() waits for them.
      if (reveal.mayStartSharing(message)) {
        void presenceQueue.run(`conversation:${message.conversation_id}`, () =>
          reveal.messageCreated(message, participants),
        );
      }
    },

    revealTeamLines({ id, teamId, customerId, assigneeId }) {
      void presenceQueue.run(`conversation:${id}`, async () => {
        // Redis first: nobody online, nothing to tell and no query.
        const online = new Set(await bus.presence.filterOnline(assigneeId ? [customerId, assigneeId] : [customerId]));
        if (online.size === 0) return;
        // Only where the customer took part (the participants' rule): one query per change of hands.
        const sharing = await options.presenceSharing(id, '');
        if (!sharing || sharing.state === 'not_shared') return;
        const now = nowSeconds();
        if (online.has(customerId)) {
          const members = await teams.members(teamId);
          const to = teamRecipients(teamId, { members, assigneeId }, true).filter((user) => user !== customerId);
          broadcast(
            { type: 'status', user_id: customerId, status: 'online', timestamp: now },
            { users: to, admins: false },
          );
        }
        if (assigneeId && online.has(assigneeId)) {
          broadcast(
            { type: 'status', user_id: assigneeId, status: 'online', timestamp: now },
            { users: [customerId], admins: false },
          );
        }
      });
    },

    disconnectUser(userId) {
      publish({ kind: 'disconnect', userId, code: CloseCode.forbidden });
    },

    revokeSessions({ userId, session, issuedBefore }) {
      publish({
        kind: 'revoke',
        userId,
        ...(session ? { sessionId: session.id, expiresAt: session.expiresAt } : {}),
        ...(issuedBefore !== undefined ? { issuedBefore } : {}),
      });
    },

    checkBus() {
      return bus.check();
    },

    async settled() {
      await teams.idle();
      await presenceQueue.idle();
    },

    close() {
      closed ??= (async () => {
        closing = true;
        clearInterval(heartbeat);
        // One budget for the whole shutdown, so the process's own shutdown timeout is never outrun.
        const deadline = Date.now() + limits.shutdownGraceMs;
        const remaining = () => Math.max(0, deadline - Date.now());
        const connections = registry.all();
        // Every frame already read is answered (its ack follows its commit) before the socket goes.
        await withTimeout(Promise.allSettled(connections.map((c) => c.drained())), remaining());
        const gone = new Promise<void>((resolve) => {
          allGone = resolve;
          if (registry.size === 0) resolve();
        });
        for (const connection of connections) connection.close(CloseCode.serviceRestart, 'service restart');
        await withTimeout(gone, remaining());
        for (const connection of registry.all()) connection.terminate();
        await withTimeout(presenceQueue.idle(), remaining());
        await bus.close();
      })();
      return closed;
    },
  };
}
