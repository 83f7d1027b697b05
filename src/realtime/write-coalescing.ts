/** The TCP stream under a WebSocket (a net.Socket): frames are written to it directly. */
export interface FrameStream {
  write(frame: Buffer): unknown;
  cork(): void;
  uncork(): void;
}

let written = new Set<FrameStream>();
let held = new Set<FrameStream>();

function endOfTurn(): void {
  const streams = held;
  written = new Set();
  held = new Set();
  for (const stream of streams) stream.uncork();
}

/**
 * Call before writing a frame to a stream. A stream's first frame in a turn
 * of the event loop leaves at once; from its second on they are held until
 * the loop's check phase and leave together in one writev system call. Under
 * load an admin gets the message of every commit that completed in that turn:
 * one system call instead of one each, and for small frames on loopback or in
 * a VM the call, not the bytes, is most of the cost. A single broadcast still
 * goes out socket by socket while the loop runs, so its first recipients do
 * not wait for its last. Nothing waits for more traffic: no timer.
 */
export function beforeWrite(stream: FrameStream): void {
  if (held.has(stream)) return;
  if (written.size === 0) setImmediate(endOfTurn);
  if (written.has(stream)) {
    held.add(stream);
    stream.cork();
  } else {
    written.add(stream);
  }
}
