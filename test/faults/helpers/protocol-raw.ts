import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * A WebSocket peer written against a bare TCP socket, for what a well-behaved
 * client library will not do: stop reading, stop answering pings, vanish, or
 * look at a refused upgrade's raw HTTP answer.
 */

export interface RawAnswer {
  /** The HTTP status of the upgrade answer (101 when it was accepted). */
  status: number;
  headers: Record<string, string>;
  /** The answer's body when it was not an upgrade. */
  body: string;
}

export type RawEvent = { type: string; [field: string]: any };

const OPCODE = { text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** One client frame (always masked, as RFC 6455 requires of clients). */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const length = payload.length;
  const head = Buffer.alloc(length < 126 ? 2 : length < 65_536 ? 4 : 10);
  head[0] = 0x80 | opcode;
  if (length < 126) head[1] = 0x80 | length;
  else if (length < 65_536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(length, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(length), 2);
  }
  const masked = Buffer.alloc(length);
  for (let i = 0; i < length; i++) masked[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return Buffer.concat([head, mask, masked]);
}

export class RawPeer {
  readonly socket: Socket;
  readonly answer: RawAnswer;
  readonly events: RawEvent[] = [];
  /** Protocol pings received from the server. */
  pings = 0;
  /** The close code of a close frame received, if any. */
  closeCode: number | undefined;
  /** Resolves when the TCP connection is gone (FIN or RST), with the time it went. */
  readonly gone: Promise<number>;
  /** Whether protocol pings are answered with pongs (a live client) or ignored (a dead one). */
  answerPings = true;
  #buffer: Buffer;
  #waiters = new Set<() => void>();

  constructor(socket: Socket, answer: RawAnswer, rest: Buffer) {
    this.socket = socket;
    this.answer = answer;
    this.#buffer = rest;
    this.gone = new Promise((resolve) => socket.once('close', () => resolve(performance.now())));
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#parse();
    });
    this.#parse();
  }

  #parse(): void {
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      const opcode = (b[0] ?? 0) & 0x0f;
      let length = (b[1] ?? 0) & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      if (b.length < offset + length) return;
      const payload = b.subarray(offset, offset + length);
      this.#buffer = b.subarray(offset + length);
      if (opcode === OPCODE.text) {
        this.events.push(JSON.parse(payload.toString('utf8')) as RawEvent);
        for (const waiter of this.#waiters) waiter();
      } else if (opcode === OPCODE.ping) {
        this.pings += 1;
        if (this.answerPings && this.socket.writable) this.socket.write(clientFrame(OPCODE.pong, payload));
        for (const waiter of this.#waiters) waiter();
      } else if (opcode === OPCODE.close) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    }
  }

  /** The first event (now or later) that matches; fails after `timeoutMs` or when the connection goes. */
  async waitFor(match: (event: RawEvent) => boolean, timeoutMs = 5000): Promise<RawEvent> {
    await this.until(() => this.events.some(match), 'an event', timeoutMs);
    return this.events.find(match) as RawEvent;
  }

  /** Resolves once `check` holds, re-checked on every frame received; fails after `timeoutMs` or when the connection goes. */
  until(check: () => boolean, label: string, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter = () => {
        if (!check()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${label}; got ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      const onGone = () => {
        done();
        reject(new Error(`connection closed while waiting for ${label}; got ${JSON.stringify(this.events)}`));
      };
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        this.socket.off('close', onGone);
      };
      this.#waiters.add(waiter);
      this.socket.once('close', onGone);
      waiter();
    });
  }

  sendText(text: string | Buffer): void {
    this.socket.write(clientFrame(OPCODE.text, typeof text === 'string' ? Buffer.from(text) : text));
  }

  /** Stops reading from the kernel: the server's writes pile up in its buffers, then ours. */
  stopReading(): void {
    this.socket.pause();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * Sends a WebSocket upgrade request over a bare TCP socket. Resolves with a
 * RawPeer once the answer's headers (and, for a refusal, its body) arrived.
 */
export function rawUpgrade(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<RawPeer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    socket.setNoDelay(true);
    let received = Buffer.alloc(0);
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', fail);
    socket.on('connect', () => {
      const lines = [
        `GET ${path} HTTP/1.1`,
        `Host: ${url.host}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        'Sec-WebSocket-Version: 13',
        ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      ];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine = '', ...headerLines] = received.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(statusLine.split(' ')[1]);
      const answerHeaders: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        answerHeaders[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const rest = received.subarray(end + 4);
      if (status === 101) {
        socket.off('data', onData);
        socket.off('error', fail);
        socket.on('error', () => {});
        resolve(new RawPeer(socket, { status, headers: answerHeaders, body: '' }, rest));
        return;
      }
      const length = Number(answerHeaders['content-length'] ?? 0);
      if (rest.length < length) return;
      socket.off('data', onData);
      socket.off('error', fail);
      socket.on('error', () => {});
      resolve(
        new RawPeer(
          socket,
          { status, headers: answerHeaders, body: rest.subarray(0, length).toString('utf8') },
          Buffer.alloc(0),
        ),
      );
    };
    socket.on('data', onData);
  });
}
