import Type, { type Static } from 'typebox';

/**
 * The tamper-evident transcript (docs/API.md, "Transcript"): a conversation's
 * entries in chain order, each with `hash = SHA-256(previous hash ‖ canonical
 * JSON of the entry without hash)`, signed with the server's Ed25519 key.
 */

// No pattern: an export shows what is stored, even a hash altered into something else (it then fails there).
const Hash = Type.String({ description: 'SHA-256, lower-case hex (64 characters)' });
const NullableString = Type.Union([Type.String(), Type.Null()]);

export const TranscriptEntry = Type.Object(
  {
    kind: Type.String({
      description:
        '`message`; `recall` (its sender took it back); `delete` (a moderator removed it); `guard` (a content guard decision: `message_id, sender_id, outcome, findings[{label, action}], at`)',
    }),
    hash: Type.Union([Hash, Type.Null()], {
      description: "The chain's hash up to this entry; null only for messages older than the chain (before its first)",
    }),
    redacted: Type.Optional(
      Type.String({
        description:
          "`deleted` (moderated) or `recalled` (shown to a participant): the content is left out and the entry's stored hash is taken as given",
      }),
    ),
    seq: Type.Optional(Type.Integer({ description: "The message's seq (for recall and delete: the message's)" })),
    id: Type.Optional(Type.String({ description: "The message's id" })),
    sender_id: Type.Optional(Type.String()),
    message_type: Type.Optional(Type.String()),
    content: Type.Optional(Type.String()),
    filename: Type.Optional(NullableString),
    client_msg_id: Type.Optional(NullableString),
    created_at: Type.Optional(Type.Integer({ description: 'Unix seconds the message was stored' })),
    message_id: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description: 'The message a recall, delete or guard decision is about (null: a blocked message, never stored)',
      }),
    ),
    by: Type.Optional(Type.String({ description: 'Who recalled or deleted it' })),
    at: Type.Optional(Type.Integer({ description: 'Unix seconds of the recall or delete' })),
  },
  {
    additionalProperties: true,
    title: 'TranscriptEntry',
    description: 'One entry of the chain: its fields (exactly what was hashed) and its hash',
  },
);

export const TranscriptVerification = Type.Object(
  {
    valid: Type.Boolean({ description: 'Whether every entry follows from the one before and the head is the last' }),
    entries: Type.Optional(Type.Integer()),
    redacted: Type.Optional(Type.Integer({ description: 'Entries whose hash was taken as given' })),
    index: Type.Optional(Type.Integer({ description: 'The first entry that fails (its index in `entries`)' })),
    kind: Type.Optional(Type.String()),
    seq: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
    reason: Type.Optional(Type.String()),
  },
  {
    title: 'TranscriptVerification',
    description: "The server's own check of the chain as stored, when it exported it",
  },
);

export const Transcript = Type.Object(
  {
    format: Type.Literal('cs-chat-transcript/1'),
    conversation_id: Type.String(),
    participants: Type.Array(Type.String(), { description: 'The two participants ids' }),
    generated_at: Type.Integer({ description: 'Unix seconds' }),
    head: Type.Union([Hash, Type.Null()], { description: "The conversation's chain head (the last entry's hash)" }),
    entries: Type.Array(TranscriptEntry, { description: 'Messages and events in chain order' }),
    verification: TranscriptVerification,
    key_id: Type.String({ description: 'The signing key (GET /api/transcript-key)' }),
    public_key: Type.String({ description: 'The signing public key (PEM, SPKI)' }),
    signature: Type.String({
      description:
        'Ed25519 over the canonical JSON (sorted keys, no spaces) of this document without `signature`; base64',
    }),
  },
  {
    title: 'Transcript',
    description:
      'A signed, verifiable export of one conversation; check it offline with `npm run transcript:verify -- <file>`',
  },
);
export type Transcript = Static<typeof Transcript>;

export const TranscriptKey = Type.Object(
  {
    key_id: Type.String(),
    algorithm: Type.Literal('Ed25519'),
    public_key: Type.String({ description: 'PEM (SPKI)' }),
    created_at: Type.Integer({ description: 'Unix seconds' }),
  },
  { title: 'TranscriptKey', description: 'The public key that verifies transcript signatures' },
);
export type TranscriptKey = Static<typeof TranscriptKey>;
