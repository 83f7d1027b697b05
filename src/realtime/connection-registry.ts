import type { Audience } from './bus.ts';
import type { ClientConnection } from './connection.ts';
import { eventFrame } from './frames.ts';

/** This instance's open connections, by user, with admins kept apart (they get everything). */
export class ConnectionRegistry {
  readonly #byUser = new Map<string, Set<ClientConnection>>();
  readonly #admins = new Set<ClientConnection>();

  /** Returns true when this is the user's first connection on this instance. */
  add(connection: ClientConnection): boolean {
    let set = this.#byUser.get(connection.userId);
    const first = set === undefined;
    if (!set) {
      set = new Set();
      this.#byUser.set(connection.userId, set);
    }
    set.add(connection);
    if (connection.isAdmin) this.#admins.add(connection);
    return first;
  }

  /** Returns true when that was the user's last connection on this instance. */
  remove(connection: ClientConnection): boolean {
    const set = this.#byUser.get(connection.userId);
    if (!set?.delete(connection)) return false;
    this.#admins.delete(connection);
    if (set.size > 0) return false;
    this.#byUser.delete(connection.userId);
    return true;
  }

  ofUser(userId: string): readonly ClientConnection[] {
    return [...(this.#byUser.get(userId) ?? [])];
  }

  all(): ClientConnection[] {
    return [...this.#byUser.values()].flatMap((set) => [...set]);
  }

  /** Users with at least one connection here. */
  users(): string[] {
    return [...this.#byUser.keys()];
  }

  get size(): number {
    let count = 0;
    for (const set of this.#byUser.values()) count += set.size;
    return count;
  }

  /** The local connections an audience names, each once. */
  resolve(audience: Audience): Set<ClientConnection> {
    const targets = new Set<ClientConnection>(audience.everyone ? this.all() : []);
    for (const userId of audience.users) {
      for (const connection of this.#byUser.get(userId) ?? []) targets.add(connection);
    }
    if (audience.admins) for (const connection of this.#admins) targets.add(connection);
    if (audience.exceptUsers?.length) {
      const except = new Set(audience.exceptUsers);
      for (const connection of targets) if (except.has(connection.userId)) targets.delete(connection);
    }
    const skip = audience.exceptConnection;
    if (skip) {
      for (const connection of targets) {
        if (connection.id === skip.connectionId && connection.userId === skip.userId) targets.delete(connection);
      }
    }
    return targets;
  }

  /** Sends one serialised event to every local connection of the audience; returns how many. */
  deliver(audience: Audience, json: string): number {
    let sent = 0;
    // Encoded and framed once here rather than by `ws` once per recipient.
    const frame = eventFrame(json);
    for (const connection of this.resolve(audience)) if (connection.sendFrame(frame)) sent += 1;
    return sent;
  }
}
