import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/types.ts';
import type { EventName } from '../../src/events/domain-events.ts';
import type { EventPublisher } from '../../src/events/hub.ts';
import { createTransactionEvents } from '../../src/events/transaction-events.ts';
import { createAccessService } from '../../src/modules/access/access.service.ts';
import { createConversationService } from '../../src/modules/conversations/conversation.service.ts';
import type { AppendBatcherOptions } from '../../src/modules/messages/append-batcher.ts';
import { createMessageService } from '../../src/modules/messages/message.service.ts';
import { createUserService } from '../../src/modules/users/user.service.ts';
import { createUserCache } from '../../src/modules/users/user-cache.ts';
import type { TestDialect } from './databases.ts';
import { insertUser, openScratchDatabase } from './factories.ts';

/** One domain event the services published: its name and its payload. */
export interface Push {
  kind: EventName;
  event: unknown;
}

/**
 * The user, conversation and message services over a migrated database,
 * without HTTP: every event they publish is recorded in `pushes`, in order.
 */
export function createTestServices(
  db: Kysely<Database>,
  options: { batching?: AppendBatcherOptions; clock?: () => number } = {},
) {
  const pushes: Push[] = [];
  const events: EventPublisher = {
    publish(kind, event) {
      pushes.push({ kind, event });
    },
  };
  const baseUrl = 'http://chat.test';
  const access = createAccessService(db);
  const users = createUserService({ db, baseUrl, events, access, cache: createUserCache() });
  // Tests subscribe to it to write in the services' transactions (as the webhook outbox does).
  const transactionEvents = createTransactionEvents();
  const conversations = createConversationService({ db, users, access, transactionEvents });
  const messages = createMessageService({
    db,
    users,
    conversations,
    access,
    events,
    transactionEvents,
    baseUrl,
    mediaDir: '/nonexistent-media',
    batching: options.batching,
    clock: options.clock,
  });
  return { users, conversations, messages, pushes, transactionEvents };
}

/**
 * A buyer, a merchant and an admin over a migrated scratch database of the
 * dialect, the services without HTTP, and the buyer–merchant conversation
 * opened through them: the set-up of service-level tests that compose calls.
 */
export async function openChatFixture(dialect: TestDialect) {
  const scratch = await openScratchDatabase(dialect);
  const [buyer, merchant, admin] = [
    await insertUser(scratch.db, { id: 'b1', role: 'buyer' }),
    await insertUser(scratch.db, { id: 'm1', role: 'merchant' }),
    await insertUser(scratch.db, { id: 'a1', role: 'admin' }),
  ];
  const services = createTestServices(scratch.db);
  const opened = await services.conversations.open(buyer, { participant1_id: buyer.id, participant2_id: merchant.id });
  return { ...scratch, services, buyer, merchant, admin, conversationId: opened.conversation.id };
}
