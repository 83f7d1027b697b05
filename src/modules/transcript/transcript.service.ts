import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import type { Transcript, TranscriptKey } from '@cs-chat/contracts/rest/transcript.schemas';
import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../../db/types.ts';
import type { TransactionEventRegistry } from '../../events/transaction-events.ts';
import { nowSeconds } from '../../lib/time.ts';
import {
  checkChain,
  type ExportEntry,
  messageEntry,
  signedBytes,
  TRANSCRIPT_FORMAT,
  type TranscriptDocument,
} from '../../lib/transcript-chain.ts';
import type { ConversationService } from '../conversations/conversation.service.ts';
import type { MessageService } from '../messages/message.service.ts';
import * as repo from './transcript.repository.ts';

export type TranscriptService = ReturnType<typeof createTranscriptService>;

/**
 * The tamper-evident transcript (issue 16, part 4; src/lib/transcript-chain.ts
 * for the chain). Messages extend the chain in the send transaction itself
 * (message.repository.ts appendMessages); recalls and moderation deletes are
 * entries too, appended here by the messages module's transaction hooks. An
 * export lists the entries in chain order, checks them, and is signed.
 */
export function createTranscriptService(deps: {
  db: Kysely<Database>;
  conversations: ConversationService;
  messages: MessageService;
  /** Where the content guard announces its decisions (guard.flagged), in their transactions. */
  transactionEvents?: TransactionEventRegistry | undefined;
}) {
  const { db, conversations, messages } = deps;

  // Who and when are read back from the rows the recall and the delete just wrote (only the sender recalls).
  messages.recallTransaction.onRecall(async (trx, message) => {
    const at = await repo.recalledAt(trx, message.id);
    const entry = { kind: 'recall', message_id: message.id, seq: Number(message.seq), by: message.sender_id, at };
    await repo.appendEvent(trx, message.conversation_id, entry, at);
  });
  messages.deleteTransaction.onDelete(async (trx, message) => {
    const { by, at } = await repo.deletion(trx, message);
    const entry = { kind: 'delete', message_id: message.id, seq: Number(message.seq), by, at };
    await repo.appendEvent(trx, message.conversation_id, entry, at);
  });

  // A guard decision (allowed or masked and delivered, held, blocked) is an entry too, written where the
  // guard records it: only messages the guard flags pay for it. What was matched is left out (the
  // admins have it in guard_decisions); its labels and actions stay.
  deps.transactionEvents?.subscribe('guard.flagged', {
    wants: () => true,
    async write(tx, payload) {
      const flagged = await payload();
      const at = nowSeconds();
      const entry = {
        kind: 'guard',
        message_id: flagged.message_id,
        sender_id: flagged.sender_id,
        outcome: flagged.outcome,
        findings: flagged.findings.map((finding) => ({ label: finding.label, action: finding.action })),
        at,
      };
      await repo.appendEvent(tx.db, flagged.conversation_id, entry, at);
    },
  });

  let key: Promise<{ id: string; publicKey: string; privateKey: KeyObject; createdAt: number }> | undefined;
  function signingKey() {
    key ??= repo.newestKey(db).then((row) => ({
      id: row.id,
      publicKey: row.public_key,
      privateKey: createPrivateKey(row.private_key),
      createdAt: Number(row.created_at),
    }));
    // A failed read (an outage) is not kept: the next export tries again.
    key.catch(() => {
      key = undefined;
    });
    return key;
  }

  /**
   * The entries in chain order: a message at (seq, 0), an event at (after_seq, ordinal ≥ 1). `seeAll`
   * (admins): recalled originals and guard decisions; others get those redacted (hash as given).
   */
  function entriesOf(chain: repo.StoredChain, seeAll: boolean): ExportEntry[] {
    const stored = [
      ...chain.messages.map((m) => ({ seq: Number(m.seq), message: m })),
      ...chain.deleted.map((d) => ({ seq: Number(d.seq), deleted: d.chain_hash })),
    ].sort((a, b) => a.seq - b.seq);
    const entries: ExportEntry[] = [];
    let next = 0;
    /** The events before `seq` not yet listed. */
    const eventsUpTo = (seq: number) => {
      for (let event = chain.events[next]; event && Number(event.after_seq) < seq; event = chain.events[++next]) {
        const entry = JSON.parse(event.body) as { kind: string };
        // A held or blocked message is no participant's business (nor is who was flagged): admins only.
        if (entry.kind === 'guard' && !seeAll) entries.push({ kind: 'guard', redacted: 'guard', hash: event.hash });
        else entries.push({ ...entry, hash: event.hash });
      }
    };
    for (const item of stored) {
      eventsUpTo(item.seq);
      if ('deleted' in item) {
        entries.push({ kind: 'message', seq: item.seq, redacted: 'deleted', hash: item.deleted ?? null });
        continue;
      }
      const m = item.message;
      const hash = m.chain_hash ?? null;
      if (m.recalled_at !== null && !seeAll) {
        entries.push({ kind: 'message', seq: item.seq, id: m.id, redacted: 'recalled', hash });
      } else {
        entries.push({ ...messageEntry(m), hash });
      }
    }
    eventsUpTo(Number.POSITIVE_INFINITY);
    return entries;
  }

  return {
    async publicKey(): Promise<TranscriptKey> {
      const { id, publicKey, createdAt } = await signingKey();
      return { key_id: id, algorithm: 'Ed25519', public_key: publicKey, created_at: createdAt };
    },

    /**
     * A conversation's signed transcript, for its participants and admins (404 for anyone else).
     * Participants get recalled messages without content, as everywhere else; admins the originals.
     */
    async export(caller: UserRow, conversationId: string): Promise<Transcript> {
      const conversation = await conversations.visible(caller, conversationId);
      const chain = await repo.readChain(db, conversation.id);
      const entries = entriesOf(chain, caller.role === 'admin');
      const { id, publicKey, privateKey } = await signingKey();
      const unsigned: Omit<TranscriptDocument, 'signature'> = {
        format: TRANSCRIPT_FORMAT,
        conversation_id: conversation.id,
        participants: [conversation.participant1_id, conversation.participant2_id],
        generated_at: nowSeconds(),
        head: chain.head,
        entries,
        verification: checkChain(conversation.id, entries, chain.head),
        key_id: id,
        public_key: publicKey,
      };
      const signature = sign(null, signedBytes(unsigned), privateKey).toString('base64');
      return { ...unsigned, signature } as Transcript;
    },
  };
}
