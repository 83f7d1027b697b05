import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/types.ts';
import { createConversationService } from '../../src/modules/conversations/conversation.service.ts';
import type { AppendBatcherOptions } from '../../src/modules/messages/append-batcher.ts';
import { createMessageService } from '../../src/modules/messages/message.service.ts';
import { createUserService } from '../../src/modules/users/user.service.ts';
import { createUserCache } from '../../src/modules/users/user-cache.ts';
import type { RealtimePublisher } from '../../src/realtime/publisher.ts';

/** One call the services made to the realtime seam: its name and its argument. */
export interface Push {
  kind: keyof RealtimePublisher;
  event: unknown;
}

/**
 * The user, conversation and message services over a migrated database,
 * without HTTP: every push they make is recorded in `pushes`, in order.
 */
export function createTestServices(db: Kysely<Database>, options: { batching?: AppendBatcherOptions } = {}) {
  const pushes: Push[] = [];
  const record =
    <K extends keyof RealtimePublisher>(kind: K) =>
    (event: unknown) =>
      void pushes.push({ kind, event });
  const realtime: RealtimePublisher = {
    messageCreated: record('messageCreated'),
    conversationRead: record('conversationRead'),
    messageDeleted: record('messageDeleted'),
    userDisabled: record('userDisabled'),
    sessionsRevoked: record('sessionsRevoked'),
  };
  const baseUrl = 'http://chat.test';
  const users = createUserService({ db, baseUrl, realtime, cache: createUserCache() });
  const conversations = createConversationService({ db, users });
  const messages = createMessageService({
    db,
    users,
    conversations,
    realtime,
    baseUrl,
    mediaDir: '/nonexistent-media',
    batching: options.batching,
  });
  return { users, conversations, messages, pushes };
}
