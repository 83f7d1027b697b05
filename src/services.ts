import type { Kysely } from 'kysely';
import type { Config } from './config/config.ts';
import type { Database } from './db/types.ts';
import { createUserAuthenticator } from './http/authenticate.ts';
import { createAuthService } from './modules/auth/auth.service.ts';
import { createLoginThrottle } from './modules/auth/login-throttle.ts';
import { createTokenIssuer } from './modules/auth/tokens.ts';
import { createConversationService } from './modules/conversations/conversation.service.ts';
import { createMessageService } from './modules/messages/message.service.ts';
import { createQuickReplyService } from './modules/quick-replies/quick-reply.service.ts';
import { createUserService } from './modules/users/user.service.ts';
import type { UserCache } from './modules/users/user-cache.ts';
import type { MessageMetrics } from './observability/metrics.ts';
import type { Quotas } from './quotas/quotas.ts';
import type { RealtimePublisher } from './realtime/publisher.ts';

/** Wires every service to the few dependencies it needs; built once per process. */
export function createServices(
  db: Kysely<Database>,
  config: Config,
  realtime: RealtimePublisher,
  userCache: UserCache,
  quotas: Quotas,
  metrics?: MessageMetrics,
) {
  const tokens = createTokenIssuer({
    secret: config.JWT_SECRET_KEY,
    algorithm: config.JWT_ALGORITHM,
    expireDays: config.JWT_ACCESS_TOKEN_EXPIRE_DAYS,
  });
  const users = createUserService({ db, baseUrl: config.BASE_URL, realtime, cache: userCache });
  const conversations = createConversationService({ db, users });
  const messages = createMessageService({
    db,
    users,
    conversations,
    realtime,
    baseUrl: config.BASE_URL,
    mediaDir: config.MEDIA_DIR,
    metrics,
    sendBudget: { take: quotas.takeSend, refund: quotas.refundSend },
  });
  return {
    tokens,
    authenticate: createUserAuthenticator(db, tokens, userCache),
    users,
    auth: createAuthService({
      db,
      tokens,
      users,
      throttle: createLoginThrottle(),
      platformApiKey: config.PLATFORM_API_KEY,
    }),
    conversations,
    messages,
    quickReplies: createQuickReplyService({ db }),
    quotas,
  };
}

export type Services = ReturnType<typeof createServices>;
