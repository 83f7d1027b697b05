/**
 * Server-to-client WebSocket text frames (RFC 6455 §5.2: FIN set, opcode 1,
 * unmasked), built once per event. A fan-out writes the same frame to every
 * recipient's TCP socket instead of having `ws` frame the payload again for
 * each one. Safe beside `ws` because its sender never queues here: no
 * per-message deflate, no Blob payloads, so every frame of a socket leaves
 * in the order it was written.
 */
export function textFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length <= 0xffff ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
  } else if (length <= 0xffff) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  payload.copy(frame, headerLength);
  return frame;
}

/** An event as a text frame: JSON, UTF-8, framed. */
export function eventFrame(json: string): Buffer {
  return textFrame(Buffer.from(json));
}
