import type {
  ConversationAssignedData,
  ConversationCreatedData,
  ConversationEscalatedData,
  ConversationStatusChangedData,
  GuardFlaggedData,
  MessageDeletedData,
  MessageReadData,
  RatingCreatedData,
} from '@cs-chat/contracts/rest/webhook-events.schemas';
import type { Tx } from '../db/transaction.ts';

/**
 * What the modules announce INSIDE the transaction of a change, for the few
 * subscribers that must write in that very transaction: the webhook outbox,
 * whose row then commits or rolls back with the change (a process killed
 * after the commit cannot lose it). Pushes and caches subscribe to the
 * committed DomainEvents (hub.ts) instead. A payload is what happened, as
 * the webhook contract words it, and names its conversation.
 *
 * A module announces one inside its inTransaction:
 *
 *   await transactionEvents.record(t, 'conversation.assigned', () => ({ conversation_id, … }));
 *
 * The payload is built only when a subscriber wants the event (then at most
 * once, in the transaction: it may read what the change just wrote), so an
 * event nobody subscribes to costs no statement. Sends use the send
 * transaction's batch hook instead (message.created, many per transaction).
 */
export interface TransactionEvents {
  'message.read': MessageReadData;
  'message.deleted': MessageDeletedData;
  'conversation.created': ConversationCreatedData;
  'guard.flagged': GuardFlaggedData;
  'conversation.assigned': ConversationAssignedData;
  'conversation.status_changed': ConversationStatusChangedData;
  'conversation.escalated': ConversationEscalatedData;
  'rating.created': RatingCreatedData;
}

export type TransactionEventName = keyof TransactionEvents;

/** Builds an event's payload; called only when a subscriber wants it. */
export type PayloadBuilder<N extends TransactionEventName> = () => TransactionEvents[N] | Promise<TransactionEvents[N]>;

export interface TransactionEventSubscriber<N extends TransactionEventName> {
  /** Whether it would write anything for the event now; cheap and synchronous (no query). */
  wants(): boolean;
  /** Writes in `tx` (only through `tx.db`); throwing rolls the change back. */
  write(tx: Tx, payload: () => Promise<TransactionEvents[N]>): Promise<void>;
}

/** What a service takes to announce events in its transactions. */
export interface TransactionEventRecorder {
  /** Whether any subscriber wants `name` now: a change that needs no transaction of its own opens one only then. */
  wanted(name: TransactionEventName): boolean;
  /** Runs the subscribers that want `name`, in `tx`, in subscription order. */
  record<N extends TransactionEventName>(tx: Tx, name: N, payload: PayloadBuilder<N>): Promise<void>;
}

export interface TransactionEventRegistry extends TransactionEventRecorder {
  /** Registered once, at composition time. */
  subscribe<N extends TransactionEventName>(name: N, subscriber: TransactionEventSubscriber<N>): void;
}

export function createTransactionEvents(): TransactionEventRegistry {
  const subscribers = new Map<TransactionEventName, TransactionEventSubscriber<never>[]>();
  const wanting = (name: TransactionEventName) => (subscribers.get(name) ?? []).filter((each) => each.wants());
  return {
    subscribe(name, subscriber) {
      subscribers.set(name, [...(subscribers.get(name) ?? []), subscriber as TransactionEventSubscriber<never>]);
    },
    wanted: (name) => wanting(name).length > 0,
    async record(tx, name, build) {
      const these = wanting(name) as TransactionEventSubscriber<typeof name>[];
      if (these.length === 0) return;
      let built: Promise<TransactionEvents[typeof name]> | undefined;
      const payload = () => {
        built ??= Promise.resolve().then(build);
        return built;
      };
      for (const subscriber of these) await subscriber.write(tx, payload);
    },
  };
}
