import { BroadcastEvent } from '@cs-chat/contracts/ws/protocol';
import Type, { type Static } from 'typebox';

/**
 * Who gets a broadcast. Each instance resolves it against its own
 * connections, so an envelope names people, never sockets.
 */
export const Audience = Type.Object({
  /** Every connection of these users. */
  users: Type.Array(Type.String()),
  /** Every connection of every admin. */
  admins: Type.Boolean(),
  /** Every connection of everyone (a `resync` after events were lost). */
  everyone: Type.Optional(Type.Boolean()),
  /** Left out even when listed or admins (the subject of a status event). */
  exceptUsers: Type.Optional(Type.Array(Type.String())),
  /** One connection of one user left out: the sender's tab that already shows the message. */
  exceptConnection: Type.Optional(
    Type.Union([Type.Object({ userId: Type.String(), connectionId: Type.String() }), Type.Null()]),
  ),
});
export type Audience = Static<typeof Audience>;

export const Envelope = Type.Union([
  Type.Object({
    kind: Type.Literal('event'),
    audience: Audience,
    event: BroadcastEvent,
    /** fanoutClock() when published, for the fan-out latency metric. */
    published_at: Type.Optional(Type.Number()),
  }),
  /** Close every connection of a user (deactivated or deleted) with this code. */
  Type.Object({
    kind: Type.Literal('disconnect'),
    userId: Type.String(),
    code: Type.Integer({ minimum: 1000, maximum: 4999 }),
  }),
  /**
   * Sessions of a user ended: one (`sessionId`, a logout) or every one issued
   * before `issuedBefore` (ms: log out everywhere, a password change). Each
   * instance forgets the user's cached row, remembers the revoked session and
   * closes the matching sockets with 4401.
   */
  Type.Object({
    kind: Type.Literal('revoke'),
    userId: Type.String(),
    sessionId: Type.Optional(Type.String({ maxLength: 64 })),
    /** Unix seconds: until when the revoked session's token would have been valid. */
    expiresAt: Type.Optional(Type.Number()),
    issuedBefore: Type.Optional(Type.Number()),
  }),
  /** A team's members or settings changed: every instance reads its roster again when next needed. */
  Type.Object({
    kind: Type.Literal('team_changed'),
    ownerId: Type.String(),
  }),
]);
export type Envelope = Static<typeof Envelope>;

/**
 * Cluster-wide presence, kept per instance: an instance joins a user when
 * their first local connection opens and leaves when the last one closes.
 * Calls for one user are made in order and must take effect in that order.
 */
export interface PresenceStore {
  /** This instance now has the user; true when no instance had them (they came online). */
  join(userId: string): Promise<boolean>;
  /** This instance no longer has the user; true when no instance has them (they went offline). */
  leave(userId: string): Promise<boolean>;
  /** Everyone online anywhere. */
  online(): Promise<string[]>;
  /** The subset of `userIds` online anywhere. */
  filterOnline(userIds: readonly string[]): Promise<string[]>;
  /** Keeps this instance's entries alive (stores with expiry); called on every heartbeat. */
  refresh(userIds: readonly string[]): Promise<void>;
}

/** Carries broadcasts to every instance, this one included, and keeps presence. */
export interface FanoutBus {
  readonly presence: PresenceStore;
  /** Delivers to this instance at once (synchronously) and to the others as soon as it can. */
  publish(envelope: Envelope): void;
  /** The instance's local delivery; set once, before the first publish. */
  onEnvelope(handler: (envelope: Envelope) => void): void;
  /**
   * Called when the bus is whole again after its backing service was away
   * (subscription and presence renewed): events from other instances were
   * lost meanwhile, and `missedPublishes` of this instance's never left it.
   * Set once; the in-process bus never calls it.
   */
  onRestored(handler: (info: { missedPublishes: number }) => void): void;
  /** Readiness: resolves when the bus can deliver (throws when its backing service is down). */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** One process, no Redis: presence is a set and publishing is a function call. */
export function createInProcessBus(): FanoutBus {
  const online = new Set<string>();
  let deliver: (envelope: Envelope) => void = () => {};
  return {
    presence: {
      async join(userId) {
        const first = !online.has(userId);
        online.add(userId);
        return first;
      },
      async leave(userId) {
        return online.delete(userId);
      },
      async online() {
        return [...online];
      },
      async filterOnline(userIds) {
        return userIds.filter((id) => online.has(id));
      },
      async refresh() {},
    },
    publish(envelope) {
      deliver(envelope);
    },
    onEnvelope(handler) {
      deliver = handler;
    },
    onRestored() {},
    async check() {},
    async close() {
      deliver = () => {};
    },
  };
}
