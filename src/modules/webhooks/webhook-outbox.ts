import type { MessageCreatedData } from '@cs-chat/contracts/rest/webhook-events.schemas';
import type { Insertable, Kysely } from 'kysely';
import type { Database, WebhookDeliveriesTable } from '../../db/types.ts';
import type { TransactionEventName, TransactionEventRegistry } from '../../events/transaction-events.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { toAbsoluteUrl } from '../../lib/media-url.ts';
import type { PreparedBatchHook } from '../messages/send-transaction.ts';
import * as repo from './webhook.repository.ts';

/** How often an instance reads the endpoint list again (changes made through another instance). */
export const SUBSCRIPTION_REFRESH_MS = 5_000;
/** How long the send transaction waits for presence before saying "offline" (a push rather than none). */
export const PRESENCE_WAIT_MS = 250;

/**
 * Which active endpoints subscribe to which event, kept in memory so a send
 * with no subscriber costs nothing: refreshed at once after a change through
 * this instance, and every SUBSCRIPTION_REFRESH_MS for the others'.
 */
export function createSubscriptions(db: Kysely<Database>) {
  let byEvent = new Map<string, string[]>();
  let active: string[] = [];
  let loaded = 0;
  const nudged: (() => void)[] = [];
  return {
    /** Tells the delivery worker that rows were committed (it polls anyway; this is for latency). */
    nudge(): void {
      for (const listener of nudged) listener();
    },
    onNudge(listener: () => void): void {
      nudged.push(listener);
    },
    async refresh(): Promise<void> {
      const rows = await repo.activeSubscriptions(db);
      const next = new Map<string, string[]>();
      for (const row of rows) {
        for (const event of row.events.split(',')) next.set(event, [...(next.get(event) ?? []), row.id]);
      }
      byEvent = next;
      active = rows.map((row) => row.id);
      loaded = Date.now();
    },
    async refreshIfStale(maxAgeMs = SUBSCRIPTION_REFRESH_MS): Promise<void> {
      if (Date.now() - loaded >= maxAgeMs) await this.refresh();
    },
    endpointsFor(event: string): readonly string[] {
      return byEvent.get(event) ?? [];
    },
    /** Every active endpoint (the workers deliver to these). */
    active(): readonly string[] {
      return active;
    },
  };
}
export type Subscriptions = ReturnType<typeof createSubscriptions>;

/** The body a receiver gets: Standard Webhooks' recommended `{type, timestamp, data}`. */
export function eventBody(type: string, at: Date, data: unknown): string {
  return JSON.stringify({ type, timestamp: at.toISOString(), data });
}

export function newEventId(): string {
  return `evt_${uuidv7()}`;
}

/** One outbox row per subscribed endpoint for one event. */
export function outboxRows(
  endpointIds: readonly string[],
  event: { id: string; type: string; conversationId: string | null; body: string; now: number },
): Insertable<WebhookDeliveriesTable>[] {
  return endpointIds.map((endpointId) => ({
    event_id: event.id,
    endpoint_id: endpointId,
    event_type: event.type,
    conversation_id: event.conversationId,
    payload: event.body,
    status: 'pending' as const,
    next_attempt_at: event.now,
    created_at: event.now,
    updated_at: event.now,
  }));
}

export interface MessageOutboxDependencies {
  subscriptions: Subscriptions;
  /** The subset of `userIds` online anywhere (the realtime presence). */
  online: (userIds: readonly string[]) => Promise<readonly string[]>;
  baseUrl: string;
}

async function onlineWithin(
  online: MessageOutboxDependencies['online'],
  userIds: readonly string[],
): Promise<ReadonlySet<string>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<readonly string[]>((resolve) => {
    timer = setTimeout(() => resolve([]), PRESENCE_WAIT_MS);
  });
  try {
    return new Set(await Promise.race([online(userIds).catch(() => []), timeout]));
  } finally {
    clearTimeout(timer);
  }
}

/** What the hook learns before the send transaction opens: who is subscribed, and which recipients are online. */
export interface MessageCreatedPrepared {
  endpointIds: readonly string[];
  online: ReadonlySet<string>;
}

/**
 * The send transaction's batch hook (CONTRIBUTING, recipe 3): `message.created`
 * rows for every message of the batch and subscribed endpoint, in one
 * multi-row insert, and that is its only statement. With no subscriber it sits
 * the batch out: no wait, no statement. Whether the recipients are online is
 * asked before the transaction opens (a Redis round trip must not hold the
 * conversations' row locks), a moment before the commit; each recipient's
 * unread count including the message is read by the append itself, under the
 * row lock, and the recipient is known from the send.
 */
export function messageCreatedHook({
  subscriptions,
  online,
  baseUrl,
}: MessageOutboxDependencies): PreparedBatchHook<MessageCreatedPrepared> {
  return {
    wants: () => subscriptions.endpointsFor('message.created').length > 0,
    readsUnread: true,
    async prepare(appends) {
      const endpointIds = subscriptions.endpointsFor('message.created');
      const recipients = [...new Set(appends.map((append) => append.recipientId))];
      return { endpointIds, online: await onlineWithin(online, recipients) };
    },
    async write(trx, stored, { endpointIds, online: onlineNow }) {
      if (endpointIds.length === 0) return;
      const now = Date.now();
      const at = new Date(now);
      const rows = stored.flatMap(({ message, append, unread }) => {
        const data: MessageCreatedData = {
          message: {
            id: message.id,
            conversation_id: message.conversation_id,
            seq: Number(message.seq),
            sender_id: message.sender_id,
            content:
              message.message_type === 'text'
                ? message.content
                : (toAbsoluteUrl(message.content, baseUrl) ?? message.content),
            message_type: message.message_type,
            filename: message.filename,
            client_msg_id: message.client_msg_id,
            created_at: Number(message.created_at),
            ...(message.auto_reply ? { auto: true as const } : {}),
          },
          recipient_id: append.recipientId,
          recipient_online: onlineNow.has(append.recipientId),
          // Read by the append for this hook (readsUnread): always there when the hook writes.
          recipient_unread: unread ?? 0,
        };
        return outboxRows(endpointIds, {
          id: newEventId(),
          type: 'message.created',
          conversationId: message.conversation_id,
          body: eventBody('message.created', at, data),
          now,
        });
      });
      await repo.insertDeliveries(trx, rows);
    },
  };
}

/**
 * The events written to the outbox from their change's own transaction
 * (src/events/transaction-events.ts). A new one, once its module records it
 * and the contracts list it (webhook-events.schemas.ts), is one more name
 * here: `'rating.created',`.
 */
export const OUTBOX_EVENTS = [
  'message.read',
  'message.deleted',
  'conversation.created',
  'guard.flagged',
  'conversation.assigned',
  'conversation.status_changed',
  'conversation.escalated',
  'rating.created',
] as const satisfies readonly TransactionEventName[];

/**
 * Subscribes the outbox to OUTBOX_EVENTS: for each, one row per endpoint
 * subscribed to it, in the change's transaction, and a nudge to the delivery
 * worker once it commits. No endpoint subscribed: no statement, no payload built.
 */
export function writeEventsToOutbox(events: Pick<TransactionEventRegistry, 'subscribe'>, subscriptions: Subscriptions) {
  for (const type of OUTBOX_EVENTS) {
    events.subscribe(type, {
      wants: () => subscriptions.endpointsFor(type).length > 0,
      async write(tx, payload) {
        const endpointIds = subscriptions.endpointsFor(type);
        if (endpointIds.length === 0) return;
        const data = await payload();
        const now = Date.now();
        const body = eventBody(type, new Date(now), data);
        const id = newEventId();
        await repo.insertDeliveries(
          tx.db,
          outboxRows(endpointIds, { id, type, conversationId: data.conversation_id, body, now }),
        );
        tx.afterCommit(() => subscriptions.nudge());
      },
    });
  }
}
