import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/types.ts';
import type { EventName } from '../../src/events/domain-events.ts';
import type { EventPublisher } from '../../src/events/hub.ts';
import { createAccessService } from '../../src/modules/access/access.service.ts';
import { createConversationService } from '../../src/modules/conversations/conversation.service.ts';
import type { AppendBatcherOptions } from '../../src/modules/messages/append-batcher.ts';
import { createMessageService } from '../../src/modules/messages/message.service.ts';
import { createUserService } from '../../src/modules/users/user.service.ts';
import { createUserCache } from '../../src/modules/users/user-cache.ts';

/** One domain event the services published: its name and its payload. */
export interface Push {
  kind: EventName;
  event: unknown;
}

/**
 * The user, conversation and message services over a migrated database,
 * without HTTP: every event they publish is recorded in `pushes`, in order.
 */
export function createTestServices(db: Kysely<Database>, options: { batching?: AppendBatcherOptions } = {}) {
  const pushes: Push[] = [];
  const events: EventPublisher = {
    publish(kind, event) {
      pushes.push({ kind, event });
    },
  };
  const baseUrl = 'http://chat.test';
  const access = createAccessService(db);
  const users = createUserService({ db, baseUrl, events, access, cache: createUserCache() });
  const conversations = createConversationService({ db, users, access });
  const messages = createMessageService({
    db,
    users,
    conversations,
    access,
    events,
    baseUrl,
    mediaDir: '/nonexistent-media',
    batching: options.batching,
  });
  return { users, conversations, messages, pushes };
}
