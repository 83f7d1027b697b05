import { createHash, createPublicKey, verify } from 'node:crypto';

/**
 * The tamper-evident transcript's hash chain (issue 16, part 4), shared by the
 * server and the offline verifier (src/cli/transcript-verify.ts):
 *
 *   hash = SHA-256(previous hash ‖ canonical JSON of the entry)   (hex)
 *
 * The first entry's previous hash is the conversation's genesis, so a chain
 * cannot be passed off as another conversation's. Canonical JSON: object keys
 * sorted, no spaces, JSON.stringify's escaping; entries hold only strings,
 * integers, null and flat objects.
 */

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export function canonicalJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] as Json)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function genesisHash(conversationId: string): string {
  return createHash('sha256')
    .update(canonicalJson({ kind: 'genesis', conversation_id: conversationId }))
    .digest('hex');
}

/** The next hash of a chain whose head is `previous`, for an entry given as its canonical JSON. */
export function chainHash(previous: string, canonicalEntry: string): string {
  return createHash('sha256').update(previous).update(canonicalEntry).digest('hex');
}

/** What a message's entry holds: what its sender sent, where, when (nothing that changes later, like is_read). */
export type MessageFields = {
  id: string;
  seq: number;
  sender_id: string;
  message_type: string;
  content: string;
  filename: string | null;
  client_msg_id: string | null;
  created_at: number;
};

export function messageEntry(message: MessageFields): { kind: 'message' } & MessageFields {
  return {
    kind: 'message',
    id: message.id,
    seq: Number(message.seq),
    sender_id: message.sender_id,
    message_type: message.message_type,
    content: message.content,
    filename: message.filename,
    client_msg_id: message.client_msg_id,
    created_at: Number(message.created_at),
  };
}

/**
 * One entry of an export: the hashed fields and `hash`. A `redacted` entry
 * (a moderated message, or a recalled one shown to a participant) carries only
 * kind, seq, redacted and its stored hash: its hash is taken as given, and the
 * next entry's hash, computed over it, still proves nothing was altered after.
 * `hash` null: a message older than the chain (only before its first entry).
 */
export type ExportEntry = { [key: string]: Json } & { kind: string; hash: string | null; redacted?: string };

export interface TranscriptDocument {
  format: typeof TRANSCRIPT_FORMAT;
  conversation_id: string;
  participants: string[];
  generated_at: number;
  head: string | null;
  entries: ExportEntry[];
  /** The server's own check of the chain as stored, when it exported it (informative: verify yourself). */
  verification: ChainCheck;
  key_id: string;
  /** PEM (SPKI); compare with GET /api/transcript-key, or give the verifier that key. */
  public_key: string;
  /** Base64 Ed25519 signature over the canonical JSON of the document without this field. */
  signature: string;
}

export const TRANSCRIPT_FORMAT = 'cs-chat-transcript/1';

export type ChainFailure = {
  /** Index in `entries`. */
  index: number;
  kind: string;
  seq: number | null;
  reason: string;
};

export type ChainCheck = { valid: true; entries: number; redacted: number } | ({ valid: false } & ChainFailure);

/** The entry kind that explains each redaction of a message (guard entries are the admins', without one). */
const REDACTION_EXPLAINED_BY: Record<string, string> = { deleted: 'delete', recalled: 'recall' };

const seqOf = (entry: ExportEntry): number | null => (typeof entry.seq === 'number' ? entry.seq : null);

/** Walks the chain from the genesis; the first entry whose hash does not follow is the failure. */
export function checkChain(conversationId: string, entries: readonly ExportEntry[], head: string | null): ChainCheck {
  let previous = genesisHash(conversationId);
  let chained = false;
  let redacted = 0;
  // A message shown without content must be explained by a later recall or delete entry of its seq
  // (which is hashed in full): a redaction cannot hide a message nobody recalled or deleted.
  const unexplained = new Map<number, { index: number; awaits: string }>();
  for (const [index, entry] of entries.entries()) {
    const fail = (reason: string): ChainCheck => ({ valid: false, index, kind: entry.kind, seq: seqOf(entry), reason });
    if (entry.hash === null) {
      // Older than the chain: allowed only before its first entry.
      if (chained) return fail('entry has no hash after the chain began');
      continue;
    }
    chained = true;
    if (typeof entry.hash !== 'string' || !/^[0-9a-f]{64}$/.test(entry.hash)) return fail('malformed hash');
    const seq = seqOf(entry);
    if (entry.redacted !== undefined) {
      redacted += 1;
      const awaits = REDACTION_EXPLAINED_BY[entry.redacted];
      if (entry.kind === 'message' && awaits !== undefined && seq !== null) unexplained.set(seq, { index, awaits });
      previous = entry.hash;
      continue;
    }
    const { hash, ...fields } = entry;
    const expected = chainHash(previous, canonicalJson(fields));
    if (expected !== hash) return fail('hash does not match the entry and the one before it');
    if (seq !== null && unexplained.get(seq)?.awaits === entry.kind) unexplained.delete(seq);
    previous = hash;
  }
  const [first] = [...unexplained.values()].sort((a, b) => a.index - b.index);
  if (first) {
    const entry = entries[first.index] as ExportEntry;
    return {
      valid: false,
      index: first.index,
      kind: entry.kind,
      seq: seqOf(entry),
      reason: `shown as ${entry.redacted} but no ${first.awaits} entry of its seq follows`,
    };
  }
  const last = chained ? previous : null;
  if (last !== head) {
    return {
      valid: false,
      index: entries.length,
      kind: 'head',
      seq: null,
      reason: 'the head does not match the last entry (entries missing at the end?)',
    };
  }
  return { valid: true, entries: entries.length, redacted };
}

/** The bytes an export's signature covers. */
export function signedBytes(document: Omit<TranscriptDocument, 'signature'> | TranscriptDocument): Buffer {
  const { signature: _signature, ...unsigned } = document as TranscriptDocument;
  return Buffer.from(canonicalJson(unsigned as unknown as Json));
}

export function signatureValid(document: TranscriptDocument, publicKeyPem = document.public_key): boolean {
  try {
    return verify(
      null,
      signedBytes(document),
      createPublicKey(publicKeyPem),
      Buffer.from(document.signature, 'base64'),
    );
  } catch {
    return false;
  }
}
