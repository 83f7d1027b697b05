import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';

/** `ws`'s own frame parser (not in its type definitions): an independent reader of the frames we build. */
type ReceiverClass = new (options: {
  isServer: boolean;
}) => Writable & {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): unknown;
};
const { Receiver } = createRequire(import.meta.url)('ws') as { Receiver: ReceiverClass };

/** Reads one server-to-client frame as a client would; fails unless it is exactly one text frame. */
export function readTextFrame(frame: Buffer): string {
  const receiver = new Receiver({ isServer: false });
  const texts: string[] = [];
  receiver.on('message', (data, isBinary) => {
    assert.equal(isBinary, false, 'a text frame');
    texts.push(data.toString('utf8'));
  });
  receiver.on('error', (error) => assert.fail(error));
  receiver.write(frame);
  assert.equal(texts.length, 1, 'exactly one complete frame');
  return texts[0] as string;
}
