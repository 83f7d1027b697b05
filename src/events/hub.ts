import type { DomainEvents, EventMeta, EventName } from './domain-events.ts';

/**
 * What a service needs to announce a committed write. Call it only after the
 * transaction has committed: a subscriber may push the change to clients at
 * once, and a rolled-back write must never have been seen.
 */
export interface EventPublisher {
  publish<N extends EventName>(name: N, payload: DomainEvents[N], meta?: EventMeta): void;
}

/**
 * Runs synchronously inside `publish`. Work that takes longer (a query, a
 * request) is started here and owns its own errors; a returned promise's
 * rejection is logged, never awaited.
 */
export type EventHandler<N extends EventName> = (payload: DomainEvents[N], meta: EventMeta) => void | Promise<void>;

export interface EventHub extends EventPublisher {
  /** Adds a subscriber; several may listen to one event. Returns the function that removes it. */
  subscribe<N extends EventName>(name: N, handler: EventHandler<N>): () => void;
}

export interface EventHubLogger {
  error(details: object, message: string): void;
}

/**
 * Delivers each published event to its subscribers, synchronously and in the
 * order they subscribed. A subscriber that fails is logged and skipped: the
 * others still hear of the event, and the publisher never sees the error (a
 * failed push must not fail a write that has already committed).
 */
export function createEventHub(logger: EventHubLogger): EventHub {
  const handlers = new Map<EventName, EventHandler<never>[]>();

  function failed(name: EventName, error: unknown): void {
    logger.error({ err: error, event: name }, 'event subscriber failed');
  }

  return {
    subscribe(name, handler) {
      const list = handlers.get(name) ?? [];
      handlers.set(name, list);
      const entry = handler as EventHandler<never>;
      list.push(entry);
      return () => {
        const at = list.indexOf(entry);
        if (at >= 0) list.splice(at, 1);
      };
    },

    publish(name, payload, meta = {}) {
      // A copy: a subscriber that unsubscribes (or subscribes) while handling changes only later deliveries.
      for (const handler of [...(handlers.get(name) ?? [])]) {
        try {
          const result = (handler as EventHandler<typeof name>)(payload, meta);
          if (result instanceof Promise) result.catch((error: unknown) => failed(name, error));
        } catch (error) {
          failed(name, error);
        }
      }
    },
  };
}
