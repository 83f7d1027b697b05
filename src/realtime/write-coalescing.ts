/** The byte stream under a WebSocket (a net.Socket): writes can be held back and let out together. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

let held = new Set<Corkable>();

function releaseAll(): void {
  const streams = held;
  held = new Set();
  for (const stream of streams) stream.uncork();
}

/**
 * Holds a stream's writes until the event loop's check phase. Every frame one
 * turn of the loop produces for a socket (an admin gets the message of every
 * commit that completed in that turn) then leaves in one writev system call
 * instead of one call each. For small frames on loopback or in a VM the system
 * call, not the bytes, is most of the cost. The delay is the rest of the
 * current turn of the loop: no timer, nothing waits for more traffic.
 */
export function holdUntilCheckPhase(stream: Corkable): void {
  if (held.has(stream)) return;
  if (held.size === 0) setImmediate(releaseAll);
  held.add(stream);
  stream.cork();
}
