import {
  GUARD_LABELS,
  type GuardAction,
  type GuardDecision,
  type GuardDecisionList,
  type GuardDecisionsQuery,
  type GuardLabel,
  type GuardQueue,
  type GuardRole,
  type GuardRules,
  type GuardRuleTable,
  type PutGuardRulesBody,
  type ReviewResult,
} from '@cs-chat/contracts/rest/guard.schemas';
import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../../db/errors.ts';
import { inTransaction, type Tx } from '../../db/transaction.ts';
import type { Database, HeldMessageRow, UserRow } from '../../db/types.ts';
import type { EventPublisher } from '../../events/hub.ts';
import type { TransactionEventRecorder } from '../../events/transaction-events.ts';
import { forbidden, notFound, unprocessable } from '../../lib/errors.ts';
import { nowSeconds } from '../../lib/time.ts';
import type { AccessService } from '../access/access.service.ts';
import type { ContentScreen, HeldRecord, ScreenVerdict } from '../messages/content-screen.ts';
import type { MessageService } from '../messages/message.service.ts';
import * as repo from './guard.repository.ts';
import { type CompiledRules, compileRules, DEFAULT_RULES, judge } from './guard-rules.ts';

/**
 * How long an instance keeps the rules it read before reading them again in
 * the background: a change made on another instance applies within this
 * (one made here, at once). The send path never waits for that read, only
 * the first send of a process does.
 */
export const GUARD_RULES_REFRESH_MS = 5_000;

/**
 * A refusal repeated within this long (same sender, conversation and text) is
 * not recorded again: the reference client sends every message twice (POST,
 * then the same text over its socket), which must not be two strikes.
 */
export const REPEATED_REFUSAL_MS = 10_000;
const REMEMBERED_REFUSALS = 10_000;

export type GuardService = ReturnType<typeof createGuardService>;

/** A held row as the message service sees it: what it delivers, and whether it was. */
function heldRecord(row: HeldMessageRow): HeldRecord {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    senderId: row.sender_id,
    content: row.deliver_content,
    clientMsgId: row.client_msg_id,
    createdAt: Number(row.created_at),
    delivered: row.status === 'approved',
    rejected: row.status === 'rejected',
  };
}

/** What the guard found in one message, as the `guard.flagged` webhook tells it (docs/WEBHOOKS.md). */
/**
 * The content guard (docs/API.md, "Content guard"): screens every text send
 * before anything is stored or pushed (message.service.ts asks it through
 * ContentScreen), records its decisions and strikes, holds messages for
 * review, and serves the rules and the queue to admins and service agents.
 */
export function createGuardService(deps: {
  db: Kysely<Database>;
  access: AccessService;
  messages: MessageService;
  /** Milliseconds; the refresh of the rules (tests). */
  clock?: () => number;
  /** Where `guard.flagged` is announced, in the transaction that records the decision (the webhook outbox). */
  transactionEvents?: TransactionEventRecorder | undefined;
  /** Told of rejected messages (their senders hear of it). */
  events?: EventPublisher | undefined;
}) {
  const { db, access, messages } = deps;
  const flagged = async (
    tx: Tx,
    ids: { id: string | null; conversationId: string; senderId: string },
    verdict: ScreenVerdict,
  ) =>
    deps.transactionEvents?.record(tx, 'guard.flagged', () => ({
      message_id: ids.id,
      conversation_id: ids.conversationId,
      sender_id: ids.senderId,
      sender_role: verdict.role as GuardRole,
      outcome: verdict.outcome === 'deliver' ? 'delivered' : verdict.outcome === 'hold' ? 'held' : 'blocked',
      delivered_content: verdict.outcome === 'block' ? null : verdict.content,
      findings: verdict.findings.map((finding) => ({
        label: finding.label as GuardLabel,
        action: finding.action as GuardAction,
        excerpt: finding.excerpt,
      })),
    }));
  const clock = deps.clock ?? Date.now;
  let rules: CompiledRules | undefined;
  let settings: { updated_at: number | null; updated_by: string | null } = { updated_at: null, updated_by: null };
  let loadedAt = 0;
  let loading: Promise<CompiledRules> | undefined;
  /** Recent refusals (sender, conversation, text) → until when a repeat is not recorded again. */
  const refusals = new Map<string, number>();

  /** Whether the same refusal was recorded within REPEATED_REFUSAL_MS; remembers this one otherwise. */
  function repeatedRefusal(key: string): boolean {
    const now = clock();
    const until = refusals.get(key);
    if (until !== undefined && until > now) return true;
    if (refusals.size >= REMEMBERED_REFUSALS) refusals.clear();
    refusals.set(key, now + REPEATED_REFUSAL_MS);
    return false;
  }

  /** The stored table over the defaults: a label added after the rules were saved gets its default. */
  function tableOf(json: string): GuardRuleTable {
    const stored = JSON.parse(json) as Partial<GuardRuleTable>;
    return Object.fromEntries(
      GUARD_LABELS.map((label) => [label, { ...DEFAULT_RULES[label], ...stored[label] }]),
    ) as GuardRuleTable;
  }

  function load(): Promise<CompiledRules> {
    loading ??= repo
      .loadSettings(db)
      .then((row) => {
        rules = row
          ? compileRules(tableOf(row.rules), JSON.parse(row.words) as string[])
          : compileRules(DEFAULT_RULES, []);
        settings = row ? { updated_at: Number(row.updated_at), updated_by: row.updated_by } : settings;
        loadedAt = clock();
        return rules;
      })
      .finally(() => {
        loading = undefined;
      });
    return loading;
  }

  /** The rules now: the first call reads them; later ones refresh them in the background when stale. */
  function current(): CompiledRules | Promise<CompiledRules> {
    if (rules === undefined) return load();
    if (clock() - loadedAt > GUARD_RULES_REFRESH_MS && loading === undefined) {
      // A failed refresh keeps the rules read last; the next send tries again.
      void load().catch(() => undefined);
    }
    return rules;
  }

  const screen: ContentScreen = {
    async inspect(sender, text) {
      return judge(await current(), sender.role, text);
    },

    async refuse(sender, conversationId, verdict) {
      const now = nowSeconds();
      const ids = { id: null, conversationId, senderId: sender.id };
      if (!repeatedRefusal(`${sender.id}\u0000${conversationId}\u0000${verdict.content}`)) {
        await inTransaction(db, undefined, async (tx) => {
          await repo.insertDecisions(tx.db, ids, verdict, now);
          // Before the strike: the transcript's entry locks the conversation, which a send locks
          // before its strike; the same order here cannot deadlock with it.
          await flagged(tx, ids, verdict);
          await repo.addStrike(tx.db, sender.id, now);
        });
      }
      const labels = [...new Set(verdict.findings.filter((f) => f.action === 'block').map((f) => f.label))];
      throw unprocessable('content_blocked', [`content: ${labels.join(', ')} may not be sent`]);
    },

    async hold(send, verdict) {
      const byClientMsgId = async () =>
        send.clientMsgId === null
          ? undefined
          : repo.findHeldByClientMsgId(db, {
              senderId: send.senderId,
              conversationId: send.conversationId,
              clientMsgId: send.clientMsgId,
            });
      // Retries are rare and holds rarer: a lookup first is cheap here (the unique key settles races).
      const earlier = await byClientMsgId();
      if (earlier) return { held: heldRecord(earlier), created: false };
      try {
        await inTransaction(db, undefined, async (tx) => {
          await repo.insertHeld(tx.db, {
            id: send.id,
            conversation_id: send.conversationId,
            sender_id: send.senderId,
            sender_role: verdict.role as 'buyer' | 'merchant' | 'service',
            content: send.content,
            deliver_content: verdict.content,
            message_type: 'text',
            client_msg_id: send.clientMsgId,
            labels: [...new Set(verdict.findings.map((f) => f.label))].join(','),
            status: 'pending',
            reviewed_by: null,
            reviewed_at: null,
            created_at: send.createdAt,
          });
          const ids = { id: send.id, conversationId: send.conversationId, senderId: send.senderId };
          await repo.insertDecisions(tx.db, ids, verdict, send.createdAt);
          await flagged(tx, ids, verdict);
        });
      } catch (error) {
        const winner = isUniqueViolation(error) ? await byClientMsgId() : undefined;
        if (!winner) throw error;
        return { held: heldRecord(winner), created: false };
      }
      return { held: { ...send, content: verdict.content, delivered: false, rejected: false }, created: true };
    },

    async findHeld(senderId, conversationId, content, since) {
      const row = await repo.findRecentHeld(db, { senderId, conversationId, content, since });
      return row && heldRecord(row);
    },
  };
  messages.screenWith(screen);

  // A flagged message that is delivered (allowed or masked) has its decisions, and its strike, written
  // in its send transaction; a clean one (nearly all) adds no statement.
  messages.sendTransaction.onMessage(async (trx, { message, append }) => {
    const verdict: ScreenVerdict | undefined = append.screened;
    if (!verdict) return;
    const ids = { id: message.id, conversationId: message.conversation_id, senderId: message.sender_id };
    await repo.insertDecisions(trx, ids, verdict, message.created_at);
    if (verdict.strike) await repo.addStrike(trx, message.sender_id, message.created_at);
    // Its outbox rows commit with the send, whose message.created wakes the delivery worker (src/server.ts).
    await flagged({ db: trx, afterCommit: () => {} }, ids, verdict);
  });

  function present(compiled: CompiledRules): GuardRules {
    return { rules: compiled.table, words: [...compiled.words], ...settings };
  }

  return {
    screen,

    async getRules(caller: UserRow): Promise<GuardRules> {
      access.require(caller, 'guard.configure');
      return present(await load());
    },

    /** Replaces the rules and the words; this instance applies them at once, others within the refresh. */
    async putRules(caller: UserRow, body: PutGuardRulesBody): Promise<GuardRules> {
      access.require(caller, 'guard.configure');
      const words = [...new Set(body.words.map((word) => word.trim()).filter((word) => word !== ''))];
      const updatedAt = nowSeconds();
      await repo.saveSettings(db, {
        rules: JSON.stringify(body.rules),
        words: JSON.stringify(words),
        updated_by: caller.id,
        updated_at: updatedAt,
      });
      return present(await load());
    },

    /** What the guard decided, newest first; a sender's with their strikes (admins and service agents). */
    async decisions(caller: UserRow, query: GuardDecisionsQuery): Promise<GuardDecisionList> {
      access.require(caller, 'guard.review');
      const rows = await repo.listDecisions(
        db,
        { senderId: query.sender_id, beforeId: query.before_id },
        query.limit ?? 50,
      );
      const strikes =
        query.sender_id === undefined
          ? null
          : ((await repo.strikesOf(db, [query.sender_id])).get(query.sender_id) ?? 0);
      return {
        results: rows.map((row) => ({
          ...row,
          label: row.label as GuardDecision['label'],
          action: row.action as GuardDecision['action'],
          created_at: Number(row.created_at),
        })),
        sender_strikes: strikes,
      };
    },

    async queue(caller: UserRow, limit = 50): Promise<GuardQueue> {
      access.require(caller, 'guard.review');
      const { count, rows } = await repo.pendingHeld(db, limit);
      const strikes = await repo.strikesOf(
        db,
        rows.map((row) => row.sender_id),
      );
      return {
        count,
        results: rows.map((row) => ({
          id: row.id,
          conversation_id: row.conversation_id,
          sender_id: row.sender_id,
          sender_role: row.sender_role,
          sender_strikes: strikes.get(row.sender_id) ?? 0,
          content: row.content,
          deliver_content: row.deliver_content,
          message_type: row.message_type,
          labels: row.labels.split(',') as GuardQueue['results'][number]['labels'],
          created_at: Number(row.created_at),
        })),
      };
    },

    /**
     * Approve delivers the held message (as a send: a seq, the recipient's
     * unread count, the preview, pushes); reject drops it and strikes its
     * sender. Either way the review is recorded on its decisions. 404 for a
     * message that is not waiting (unknown, or already reviewed); nobody
     * reviews their own.
     */
    async review(caller: UserRow, id: string, decision: 'approve' | 'reject'): Promise<ReviewResult> {
      access.require(caller, 'guard.review');
      const held = await repo.findHeld(db, id);
      if (held?.status !== 'pending') throw notFound('message_not_found');
      if (held.sender_id === caller.id) throw forbidden();
      const now = nowSeconds();
      if (decision === 'approve') {
        const message = await messages.deliverHeld(
          {
            id: held.id,
            conversationId: held.conversation_id,
            senderId: held.sender_id,
            content: held.deliver_content,
            clientMsgId: held.client_msg_id,
          },
          (trx) => repo.settleHeld(trx, id, 'approved', caller.id, now),
        );
        if (!message) throw notFound('message_not_found');
        return { id, status: 'approved', seq: message.seq };
      }
      const rejected = await db.transaction().execute(async (trx) => {
        if (!(await repo.settleHeld(trx, id, 'rejected', caller.id, now))) return false;
        await repo.addStrike(trx, held.sender_id, now);
        return true;
      });
      if (!rejected) throw notFound('message_not_found');
      deps.events?.publish('message.rejected', {
        id,
        conversationId: held.conversation_id,
        senderId: held.sender_id,
      });
      return { id, status: 'rejected', seq: null };
    },
  };
}
