/** The TCP stream under a WebSocket (a net.Socket): frames are written to it directly. */
export interface FrameStream {
  write(frame: Buffer): unknown;
  cork(): void;
  uncork(): void;
}

/** Turns of the event loop in which something was written, counted; the current one is open until its check phase. */
let turn = 0;
let turnOpen = false;
let held: FrameWriter[] = [];

function endOfTurn(): void {
  const writers = held;
  held = [];
  turn += 1;
  turnOpen = false;
  for (const writer of writers) writer.release();
}

/**
 * Writes frames to one stream. The stream's first frame in a turn of the
 * event loop leaves at once; from its second on they are held until the
 * loop's check phase and leave together in one writev system call. Under load
 * an admin gets the message of every commit that completed in that turn: one
 * system call instead of one each, and for small frames on loopback or in a
 * VM the call, not the bytes, is most of the cost. A single broadcast still
 * goes out socket by socket while the loop runs, so its first recipients do
 * not wait for its last. Nothing waits for more traffic: no timer. Per frame
 * this costs a number comparison, not a lookup.
 */
export class FrameWriter {
  readonly #stream: FrameStream;
  #lastTurn = -1;
  #holding = false;

  constructor(stream: FrameStream) {
    this.#stream = stream;
  }

  write(frame: Buffer): void {
    if (!turnOpen) {
      turnOpen = true;
      setImmediate(endOfTurn);
    }
    if (this.#lastTurn !== turn) {
      this.#lastTurn = turn;
    } else if (!this.#holding) {
      this.#holding = true;
      this.#stream.cork();
      held.push(this);
    }
    this.#stream.write(frame);
  }

  /** End of the turn: lets the held frames out. */
  release(): void {
    this.#holding = false;
    this.#stream.uncork();
  }
}
