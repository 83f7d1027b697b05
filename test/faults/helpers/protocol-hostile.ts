import assert from 'node:assert/strict';

/**
 * The hostile frames of case 8 (protocol-hostile-frames.test.ts) and which
 * socket sends which: built the same, deterministically, by the test (for the
 * expectations) and by the attacker worker (protocol-attacker.ts) that sends them.
 */

export interface Hostile {
  label: string;
  data: string | Buffer;
  binary?: boolean;
  /** The error_type this frame must be answered with. */
  expect: string;
  /** Answered without touching the database (safe right before a 1008). */
  sync: boolean;
}

const json = (value: unknown) => JSON.stringify(value);

/** The catalogue; `conv` is the hostile user's own conversation. */
export function catalogue(conv: string): Hostile[] {
  const frames: [string, string | Buffer, string, boolean?][] = [
    // Bad JSON.
    ['truncated', '{"type":"ping"', 'invalid_json'],
    ['single quotes', "{'type':'ping'}", 'invalid_json'],
    ['empty text frame', '', 'invalid_json'],
    ['NUL', '\u0000', 'invalid_json'],
    ['trailing garbage', '{"type":"ping"}x', 'invalid_json'],
    ['NaN literal', '{"type":"typing","conversation_id":"c","is_typing":NaN}', 'invalid_json'],
    ['byte order mark', '\uFEFF{"type":"ping"}', 'invalid_json'],
    // Not an object.
    ['array', '[{"type":"ping"}]', 'invalid_frame'],
    ['null', 'null', 'invalid_frame'],
    ['number overflowing to Infinity', '1e999', 'invalid_frame'],
    ['string', '"ping"', 'invalid_frame'],
    ['30,000 nested arrays', `${'['.repeat(30_000)}${']'.repeat(30_000)}`, 'invalid_frame'],
    // Unknown types.
    ['unknown type', json({ type: 'subscribe', channel: '*' }), 'unknown_frame_type'],
    ['type __proto__', '{"type":"__proto__"}', 'unknown_frame_type'],
    ['type constructor', json({ type: 'constructor' }), 'unknown_frame_type'],
    ['type toString', json({ type: 'toString' }), 'unknown_frame_type'],
    ['type hasOwnProperty', json({ type: 'hasOwnProperty' }), 'unknown_frame_type'],
    [
      '__proto__ smuggling a type',
      '{"__proto__":{"type":"ping"},"constructor":{"prototype":{"type":"ping"}}}',
      'unknown_frame_type',
    ],
    ['huge numeric type', '{"type":123456789012345678901234567890}', 'unknown_frame_type'],
    ['no type', json({ conversation_id: conv, content: 'x' }), 'unknown_frame_type'],
    ['type in upper case', json({ type: 'PING' }), 'unknown_frame_type'],
    ['10,000 nested objects', `{"type":"nope","x":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`, 'invalid_frame'],
    // Huge numbers and wrong field types.
    ['conversation_id 1e999', '{"type":"read","conversation_id":1e999}', 'validation_error'],
    ['is_typing 1.2e308', '{"type":"typing","conversation_id":"x","is_typing":1.2e308}', 'validation_error'],
    [
      'client_msg_id -0',
      '{"type":"message","conversation_id":"x","content":"y","client_msg_id":-0}',
      'validation_error',
    ],
    [
      'content nested 15,000 deep',
      `{"type":"message","conversation_id":"x","content":${'['.repeat(15_000)}${']'.repeat(15_000)}}`,
      'invalid_frame',
    ],
    [
      'brackets inside a string are not nesting',
      json({ type: 'message', conversation_id: 'x', content: '['.repeat(5601) }),
      'validation_error',
    ],
    ['numbers for strings', json({ type: 'message', conversation_id: 5, content: {} }), 'validation_error'],
    ['string for boolean', json({ type: 'typing', conversation_id: conv, is_typing: 'true' }), 'validation_error'],
    ['array for id', json({ type: 'read', conversation_id: [conv] }), 'validation_error'],
    [
      'unknown message_type',
      json({ type: 'message', conversation_id: conv, content: 'x', message_type: 'video' }),
      'validation_error',
    ],
    ['empty content', json({ type: 'message', conversation_id: conv, content: '' }), 'validation_error'],
    [
      'id of 51 characters',
      json({ type: 'message', conversation_id: 'x'.repeat(51), content: 'x' }),
      'validation_error',
    ],
    ['traversal as id', json({ type: 'read', conversation_id: '../../etc/passwd' }), 'validation_error'],
    [
      'client_msg_id of 65',
      json({ type: 'message', conversation_id: conv, content: 'x', client_msg_id: 'c'.repeat(65) }),
      'validation_error',
    ],
    [
      'client_msg_id with a space',
      json({ type: 'message', conversation_id: conv, content: 'x', client_msg_id: 'a b' }),
      'validation_error',
    ],
    [
      'content over the schema',
      json({ type: 'message', conversation_id: conv, content: 'x'.repeat(5601) }),
      'validation_error',
    ],
    ['a frame of exactly 64 KiB', exactly64KiB(conv), 'validation_error'],
    ['binary frame', Buffer.from('{"type":"ping"}'), 'binary_not_supported'],
    // Well-formed, refused by the service (after a database look-up).
    [
      'typing in a missing conversation',
      json({ type: 'typing', conversation_id: 'missing', is_typing: true }),
      'conversation_not_found',
      false,
    ],
    [
      'read of a missing conversation',
      json({ type: 'read', conversation_id: 'missing' }),
      'conversation_not_found',
      false,
    ],
    // Refused before any look-up: a lone surrogate has no UTF-8 form to store (issue 12, item 9).
    [
      'lone surrogate to a missing conversation',
      '{"type":"message","conversation_id":"missing","content":"\\ud800 lone"}',
      'validation_error',
    ],
    ['blank text', json({ type: 'message', conversation_id: conv, content: ' \t\n ' }), 'empty_content', false],
    [
      '5001 characters',
      json({ type: 'message', conversation_id: conv, content: '长'.repeat(5001), client_msg_id: 'long' }),
      'text_too_long',
      false,
    ],
    [
      'image URL with traversal',
      json({ type: 'message', conversation_id: conv, content: '/api/media/../../etc/passwd', message_type: 'image' }),
      'invalid_media_url',
      false,
    ],
    [
      'file on another host',
      json({
        type: 'message',
        conversation_id: conv,
        content: 'x.pdf|https://evil.example/x.pdf',
        message_type: 'file',
      }),
      'invalid_media_url',
      false,
    ],
    [
      'image never uploaded',
      json({
        type: 'message',
        conversation_id: conv,
        content: '/api/media/uploads/2024/01/01/aaaaaaaaaaaaaaaa.png',
        message_type: 'image',
      }),
      'invalid_media_url',
      false,
    ],
    [
      'posing as the other participant',
      json({ type: 'message', conversation_id: conv, content: 'hi', sender_id: 'hm' }),
      'forbidden',
      false,
    ],
  ];
  return frames.map(([label, data, expect, sync = true]) => ({
    label,
    data,
    binary: Buffer.isBuffer(data),
    expect,
    sync,
  }));
}

function exactly64KiB(conv: string): string {
  const head = json({ type: 'message', conversation_id: conv, content: '' }).slice(0, -2);
  const frame = `${head}${'y'.repeat(64 * 1024 - head.length - 2)}"}`;
  assert.equal(Buffer.byteLength(frame), 64 * 1024);
  return frame;
}

export type Plan =
  | { kind: 'errors'; frames: Hostile[] }
  | { kind: 'utf8'; frames: Hostile[]; fatal: Buffer }
  | { kind: 'oversize'; frames: Hostile[]; fatal: 'single' | 'fragmented' }
  | { kind: 'flood'; frames: Hostile[] };

export const HOSTILE_USERS = 10;
export const ERROR_SOCKETS = 320;
/** Every eighth error socket (40 of them) sends only the deeply nested frames (~60 KiB each). */
const NESTING_EVERY = 8;
export const INVALID_UTF8 = [
  Buffer.from([0x7b, 0xff, 0x7d]),
  Buffer.from([0xc0, 0xaf]),
  Buffer.from([0xed, 0xa0, 0x80]),
];

/** Which frames each hostile socket sends (`user` is the index of its hostile user), and how it ends. */
export function buildPlans(conversations: readonly string[]): { user: number; plan: Plan }[] {
  // One catalogue per user, shared by its sockets: 341 copies of the big frames would only bloat the heap.
  const catalogues = conversations.map((conv) => catalogue(conv));
  const plans: { user: number; plan: Plan }[] = [];
  for (let s = 0; s < ERROR_SOCKETS + 21; s++) {
    const user = s % HOSTILE_USERS;
    const all = catalogues[user] ?? [];
    const pick = (count: number, onlySync = false, onlyNested = false) => {
      const pool = all.filter((f) => (!onlySync || f.sync) && (!onlyNested || f.label.includes('nested')));
      return Array.from({ length: count }, (_, k) => pool[(s * 7 + k) % pool.length] as Hostile);
    };
    const index = s - ERROR_SOCKETS;
    const plan: Plan =
      index < 0
        ? { kind: 'errors', frames: pick(30, false, s % NESTING_EVERY === NESTING_EVERY - 1) }
        : index < 9
          ? { kind: 'utf8', frames: pick(20, true), fatal: INVALID_UTF8[index % 3] as Buffer }
          : index < 17
            ? { kind: 'oversize', frames: pick(20, true), fatal: index % 2 === 0 ? 'single' : 'fragmented' }
            : { kind: 'flood', frames: pick(60, true) };
    plans.push({ user, plan });
  }
  return plans;
}

/** Frames a plan sends, the fatal last one included. */
export function framesOf(plan: Plan): number {
  return plan.frames.length + (plan.kind === 'utf8' || plan.kind === 'oversize' ? 1 : 0);
}

/** The error_types a plan's socket must receive, in any order. */
export function expectedErrors(plan: Plan): string[] {
  return plan.kind === 'flood'
    ? [...plan.frames.slice(0, 30).map((f) => f.expect), ...Array<string>(20).fill('rate_limited')]
    : plan.frames.map((f) => f.expect);
}

/** The close code a plan earns (undefined: the socket must stay open). */
export function expectedClose(plan: Plan): number | undefined {
  return { errors: undefined, utf8: 1007, oversize: 1009, flood: 1008 }[plan.kind];
}
