import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Config } from './config/config.ts';
import type { Database } from './db/types.ts';
import type { EventPublisher } from './events/hub.ts';
import { createTransactionEvents } from './events/transaction-events.ts';
import { createAccessService } from './modules/access/access.service.ts';
import { createAuthService } from './modules/auth/auth.service.ts';
import { createUserAuthenticator } from './modules/auth/authenticator.ts';
import { createLoginThrottle } from './modules/auth/login-throttle.ts';
import { createPlatformKeyCheck } from './modules/auth/platform-key.ts';
import { createSessionRevocations } from './modules/auth/session-revocations.ts';
import {
  createFailureLimiter,
  createMemoryThrottleStore,
  createRedisThrottleStore,
  type ThrottleLogger,
  withMemoryFallback,
} from './modules/auth/throttle-store.ts';
import { createTokenIssuer } from './modules/auth/tokens.ts';
import { createMemoryTicketStore, createRedisTicketStore, createTicketIssuer } from './modules/auth/ws-tickets.ts';
import { createAutoReplier } from './modules/auto-replies/auto-reply.service.ts';
import { createCardService } from './modules/cards/card.service.ts';
import { createConversationService } from './modules/conversations/conversation.service.ts';
import { createGuardService } from './modules/guard/guard.service.ts';
import { createMessageService } from './modules/messages/message.service.ts';
import { createQuickReplyService } from './modules/quick-replies/quick-reply.service.ts';
import { createRatingService } from './modules/ratings/rating.service.ts';
import { createReportService } from './modules/reports/report.service.ts';
import { createSearchService } from './modules/search/search.service.ts';
import { createSlowReplyAlerts } from './modules/slow-replies/slow-reply.service.ts';
import { claimOnAnswer } from './modules/teams/answer-claims.ts';
import { createAutoAssigner } from './modules/teams/auto-assign.ts';
import { createConversationWorkService } from './modules/teams/conversation-work.service.ts';
import { rosterQueries } from './modules/teams/team.repository.ts';
import { createTeamService } from './modules/teams/team.service.ts';
import { createTranscriptService } from './modules/transcript/transcript.service.ts';
import { createUserService } from './modules/users/user.service.ts';
import type { UserCache } from './modules/users/user-cache.ts';
import { USERNAME_CHECK_POLICY } from './modules/users/usernames.ts';
import { createWebhookService } from './modules/webhooks/webhook.service.ts';
import { createSubscriptions, messageCreatedHook, writeEventsToOutbox } from './modules/webhooks/webhook-outbox.ts';
import type { MessageMetrics } from './observability/metrics.ts';
import type { Quotas } from './quotas/quotas.ts';

/** State shared by every instance of a deployment: in Redis when REDIS_URL is set, else in this process. */
export interface SharedState {
  redis: Redis | undefined;
  /** Put before every Redis key, so deployments (and tests) can share one Redis. */
  redisPrefix: string;
  logger: ThrottleLogger;
  /** The subset of `userIds` online on any instance (the realtime presence); webhooks report it. */
  online?: ((userIds: readonly string[]) => Promise<readonly string[]>) | undefined;
  /** A team's members other than its owner, cached across the cluster (realtime's roster); else read each time. */
  teamMembers?: ((teamId: string) => Promise<readonly { id: string; role: 'supervisor' | 'agent' }[]>) | undefined;
}

/** Wires every service to the few dependencies it needs; built once per process. */
export function createServices(
  db: Kysely<Database>,
  config: Config,
  events: EventPublisher,
  userCache: UserCache,
  quotas: Quotas,
  metrics?: MessageMetrics,
  shared: SharedState = { redis: undefined, redisPrefix: '', logger: { warn() {} } },
) {
  const tokens = createTokenIssuer({
    secret: config.JWT_SECRET_KEY,
    algorithm: config.JWT_ALGORITHM,
    expireDays: config.JWT_ACCESS_TOKEN_EXPIRE_DAYS,
  });
  const { redis, redisPrefix } = shared;
  const throttleStore = redis
    ? withMemoryFallback(createRedisThrottleStore(redis, redisPrefix), createMemoryThrottleStore(), shared.logger)
    : createMemoryThrottleStore();
  const access = createAccessService(db);
  // What the modules announce inside their transactions; the webhook outbox subscribes below.
  const transactionEvents = createTransactionEvents();
  const users = createUserService({
    db,
    baseUrl: config.BASE_URL,
    events,
    access,
    cache: userCache,
    usernameChecks: createFailureLimiter(throttleStore, USERNAME_CHECK_POLICY, 'username-check'),
  });
  const conversations = createConversationService({ db, users, access, transactionEvents });
  const messages = createMessageService({
    db,
    users,
    conversations,
    access,
    events,
    transactionEvents,
    baseUrl: config.BASE_URL,
    mediaDir: config.MEDIA_DIR,
    metrics,
    sendBudget: { take: quotas.takeSend, refund: quotas.refundSend },
  });
  // The content guard screens every text send, and records its decisions (and announces guard.flagged)
  // in the transaction of the send, the hold or the refusal.
  const guard = createGuardService({ db, access, messages, events, transactionEvents });
  // Registers the search index's statement in the send transaction (before any send).
  const search = createSearchService({ db, access, conversations, messages });
  // Webhooks: the outbox rows of a send are written in its transaction (CONTRIBUTING, recipe 3), those
  // of a read, a delete, a new conversation or a guard decision in theirs (src/events/transaction-events.ts).
  // The transcript's recall, delete and guard entries, in those transactions (messages chain in the send's own).
  const transcript = createTranscriptService({ db, conversations, messages, transactionEvents });
  const webhookSubscriptions = createSubscriptions(db);
  messages.sendTransaction.onBatch(
    messageCreatedHook({
      subscriptions: webhookSubscriptions,
      online: shared.online ?? (async () => []),
      baseUrl: config.BASE_URL,
    }),
  );
  writeEventsToOutbox(transactionEvents, webhookSubscriptions);
  // Cards: which conversations show a card is written in the send transaction of card messages.
  const cards = createCardService({
    db,
    conversations,
    messages,
    events,
    requirePlatform: createPlatformKeyCheck(config.PLATFORM_API_KEY),
  });
  const teams = createTeamService({ db, users, access, events, online: shared.online ?? (async () => []) });
  // Teams: a member's answer claims an unassigned conversation, in its send transaction.
  messages.sendTransaction.onMessage(claimOnAnswer);
  const work = createConversationWorkService({
    db,
    access,
    users,
    conversations,
    messages,
    events,
    transactionEvents,
  });
  const revocations = createSessionRevocations(db);
  return {
    tokens,
    revocations,
    authenticate: createUserAuthenticator(db, tokens, userCache, revocations),
    tickets: createTicketIssuer(redis ? createRedisTicketStore(redis, redisPrefix) : createMemoryTicketStore()),
    users,
    auth: createAuthService({
      db,
      tokens,
      users,
      teams,
      throttle: createLoginThrottle(throttleStore),
      revocations,
      events,
      platformApiKey: config.PLATFORM_API_KEY,
      demoSignIn: config.DEBUG,
    }),
    conversations,
    messages,
    guard,
    cards,
    transcript,
    teams,
    work,
    ratings: createRatingService({ db, access, conversations, events, transactionEvents }),
    reports: createReportService({ db, access }),
    slowReplies: createSlowReplyAlerts({ db, events, logger: shared.logger }),
    autoReplies: createAutoReplier({
      db,
      users,
      messages,
      events,
      online: shared.online ?? (async () => []),
      logger: shared.logger,
    }),
    autoAssign: createAutoAssigner({
      db,
      work,
      online: shared.online ?? (async () => []),
      membersOf: shared.teamMembers ?? rosterQueries(db).membersOf,
      logger: shared.logger,
    }),
    quickReplies: createQuickReplyService({ db, access }),
    search,
    webhooks: createWebhookService({
      db,
      access,
      subscriptions: webhookSubscriptions,
      allowLoopbackHttp: config.DEBUG,
    }),
    webhookSubscriptions,
    quotas,
  };
}

export type Services = ReturnType<typeof createServices>;
