import type { Page } from '@cs-chat/contracts/rest/common.schemas';
import type { HistoryQuery, Message, MessageType, SendableMessageType } from '@cs-chat/contracts/rest/message.schemas';
import type { User } from '@cs-chat/contracts/rest/user.schemas';
import type { Kysely } from 'kysely';
import { isDatabaseUnavailable, isUniqueViolation } from '../../db/errors.ts';
import { inTransaction, type Tx } from '../../db/transaction.ts';
import type { ConversationRow, Database, MessageRow, UserRow } from '../../db/types.ts';
import type { EventOrigin } from '../../events/domain-events.ts';
import type { EventPublisher } from '../../events/hub.ts';
import { conflict, notFound } from '../../lib/errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { toAbsoluteUrl } from '../../lib/media-url.ts';
import { nowSeconds } from '../../lib/time.ts';
import type { MessageMetrics } from '../../observability/metrics.ts';
import type { AccessService } from '../access/access.service.ts';
import { zeroUnread } from '../conversations/conversation.repository.ts';
import {
  type ConversationService,
  otherParticipant,
  recipientOf,
  sideOf,
} from '../conversations/conversation.service.ts';
import { fileOf, parseIssuedUpload, removeUpload } from '../media/stored-uploads.ts';
import { findUsersByIds } from '../users/user.repository.ts';
import type { UserService } from '../users/user.service.ts';
import { type AppendBatcherOptions, createAppendBatcher, DEFAULT_APPEND_BATCHING } from './append-batcher.ts';
import { pageWindow } from './history.ts';
import * as repo from './message.repository.ts';
import { parseContent, previewOf, type StoredContent } from './message-content.ts';
import { createDeleteTransactionHooks, createSendTransactionHooks } from './send-transaction.ts';

/** Images and files are stored as paths and shown as URLs; text, system and platform messages as written. */
const isMedia = (type: MessageType) => type === 'image' || type === 'file';

export interface SendInput {
  conversation_id: string;
  content: string;
  /** Clients send these; system and platform messages are the server's. */
  message_type?: SendableMessageType | undefined;
  client_msg_id?: string | null | undefined;
  sender_id?: string | undefined;
}

/** Where a send came from, which decides who among the sender's connections sees it. */
export type SendOrigin = EventOrigin;

/** A frame without client_msg_id repeating a message stored this recently is the reference client's echo. */
export const LEGACY_DUPLICATE_WINDOW_SECONDS = 10;

export interface MessageServiceDeps {
  db: Kysely<Database>;
  users: UserService;
  conversations: ConversationService;
  access: AccessService;
  /** Told of every committed send, read and delete. */
  events: EventPublisher;
  baseUrl: string;
  mediaDir: string;
  /** Counts stored messages (after commit); omitted where nothing is measured. */
  metrics?: MessageMetrics | undefined;
  /**
   * The per-user send budget (REST and WebSocket draw on the same one,
   * src/quotas/quotas.ts): `take` throws the 429 when it is spent; a retry of
   * an earlier client_msg_id gets its token back.
   */
  sendBudget?: { take(userId: string): void; refund(userId: string): void } | undefined;
  /** How concurrent sends share transactions; DEFAULT_APPEND_BATCHING unless given. */
  batching?: AppendBatcherOptions | undefined;
}

export type MessageService = ReturnType<typeof createMessageService>;

export function createMessageService(deps: MessageServiceDeps) {
  const { db, users, conversations, access, events, baseUrl, mediaDir, metrics } = deps;
  const hooks = createSendTransactionHooks();
  const deleteHooks = createDeleteTransactionHooks();
  const appends = createAppendBatcher(
    db,
    {
      ...(deps.batching ?? DEFAULT_APPEND_BATCHING),
      onBatch: (messages) => metrics?.sendBatch(messages),
    },
    hooks,
  );

  function toMessage(row: MessageRow, sender: User | null): Message {
    return {
      id: row.id,
      conversation_id: row.conversation_id,
      sender_id: row.sender_id,
      content: isMedia(row.message_type) ? (toAbsoluteUrl(row.content, baseUrl) ?? row.content) : row.content,
      message_type: row.message_type,
      is_read: Boolean(row.is_read),
      created_at: Number(row.created_at),
      sender,
      seq: Number(row.seq),
      client_msg_id: row.client_msg_id,
      filename: row.filename,
      ...(row.auto_reply ? { auto: true as const } : {}),
    };
  }

  /** Messages with their senders' profiles; `known` profiles (a conversation's participants) are not read again. */
  async function present(rows: readonly MessageRow[], known?: ReadonlyMap<string, User>): Promise<Message[]> {
    const missing = [...new Set(rows.map((row) => row.sender_id))].filter((id) => !known?.has(id));
    const senders = new Map(known);
    for (const row of await findUsersByIds(db, missing)) senders.set(row.id, users.toUser(row));
    return rows.map((row) => toMessage(row, senders.get(row.sender_id) ?? null));
  }

  /** A retry of an earlier send: the original if it is the same message, else 409. */
  function replay(existing: MessageRow, type: MessageType, stored: StoredContent): MessageRow {
    if (
      existing.message_type !== type ||
      existing.content !== stored.content ||
      existing.filename !== stored.filename
    ) {
      throw conflict('client_msg_id_conflict');
    }
    return existing;
  }

  async function visibleMessage(
    caller: UserRow,
    id: string,
    tx?: Tx,
  ): Promise<{ message: MessageRow; conversation: ConversationRow }> {
    const message = await repo.findMessageById(tx?.db ?? db, id);
    if (message) {
      const conversation = await conversations
        .visible(caller, message.conversation_id, 'conversation.view', tx)
        .catch(() => undefined);
      if (conversation) return { message, conversation };
    }
    throw notFound('message_not_found');
  }

  /**
   * Revokes an upload a deleted message referred to: removed from disk (its
   * URL answers 404 from then on) unless a live message or an avatar still
   * refers to it. A send racing this delete may still refer to the file it
   * checked a moment before; that message then shows a missing file.
   */
  async function releaseUpload(storedPath: string): Promise<void> {
    const upload = parseIssuedUpload(storedPath);
    if (upload && !(await repo.uploadInUse(db, upload))) await removeUpload(fileOf(mediaDir, upload.path));
  }

  /** A conversation's history: numbered pages, or everything after / before a seq. */
  async function history(caller: UserRow, conversationId: string, query: HistoryQuery) {
    // Senders are the participants, so their profiles come with the conversation.
    const { conversation, profiles } = await conversations.visibleWithProfiles(caller, conversationId);
    const count = Number(conversation.message_count);
    const limit = query.limit ?? query.page_size ?? 50;
    let rows: MessageRow[];
    if (query.after_seq !== undefined) {
      rows = await repo.messagesBySeq(db, conversation.id, { after: query.after_seq }, 'asc', limit);
    } else if (query.before_seq !== undefined) {
      rows = await repo.messagesBySeq(db, conversation.id, { before: query.before_seq }, 'desc', limit);
      if (query.order === 'asc') rows.reverse();
    } else {
      const page: Page = { page: query.page ?? 1, pageSize: query.page_size ?? 50 };
      const window = await pageWindow(
        page.page,
        page.pageSize,
        query.order ?? 'asc',
        count,
        () => repo.deletedSeqs(db, conversation.id),
        Number(conversation.last_seq) !== count,
      );
      rows =
        window.kind === 'empty'
          ? []
          : await repo.messagesBySeq(db, conversation.id, window.range, window.order, page.pageSize);
    }
    return { count, results: await present(rows, profiles) };
  }

  /** The send itself, once the budget allowed it. */
  async function store(
    caller: UserRow,
    input: SendInput,
    origin: SendOrigin,
  ): Promise<{ message: Message; created: boolean }> {
    const conversation = await conversations.membership(caller, input.conversation_id);
    const type = input.message_type ?? 'text';
    const stored = await parseContent(type, input.content, { baseUrl, mediaDir });
    const clientMsgId = input.client_msg_id ?? null;

    // No lookup before the transaction: retries are rare, and the unique key on
    // (conversation, sender, client_msg_id) answers them authoritatively below.
    const row = {
      id: uuidv7(),
      conversation_id: conversation.id,
      sender_id: caller.id,
      content: stored.content,
      message_type: type,
      filename: stored.filename,
      client_msg_id: clientMsgId,
      created_at: nowSeconds(),
    };
    // A team member's message raises the customer's count; the customer's, the team's (its owner's column).
    const recipient = recipientOf(conversation, caller.id);
    const teamSide = conversation.team_id !== null && recipient !== conversation.team_id;
    let seq: number | undefined;
    try {
      seq = await appends.append({
        message: row,
        recipientUnread: repo.unreadColumnOf(conversation, recipient),
        preview: previewOf(type, stored.content),
        ...(conversation.team_id === null ? {} : { side: teamSide ? 'team' : 'customer' }),
        ...(teamSide && caller.team_role ? { teamRole: caller.team_role } : {}),
      });
    } catch (error) {
      // A concurrent send with the same client_msg_id committed first.
      if (clientMsgId === null || !isUniqueViolation(error)) throw error;
      const winner = await repo.findByClientMsgId(db, conversation.id, caller.id, clientMsgId);
      if (!winner) throw error;
      deps.sendBudget?.refund(caller.id);
      return { message: toMessage(replay(winner, type, stored), users.toUser(caller)), created: false };
    }
    if (seq === undefined) throw notFound('conversation_not_found');
    metrics?.messageStored(type);

    const message = toMessage({ ...row, seq, is_read: 0 }, users.toUser(caller));
    events.publish(
      'message.created',
      {
        message,
        participants: [conversation.participant1_id, conversation.participant2_id],
        teamId: conversation.team_id,
      },
      { origin },
    );
    return { message, created: true };
  }

  return {
    present,

    /**
     * Other modules' statements in the send transaction (an outbox row, an
     * index row): registered at composition time, they commit or roll back
     * with the message. See send-transaction.ts.
     */
    sendTransaction: hooks.registrar,

    /** Other modules' statements in a moderator's delete transaction (an index row's removal). */
    deleteTransaction: deleteHooks.registrar,

    /**
     * Stores a message in one transaction (row, seq, unread count, preview,
     * timestamps; concurrent sends may share it, see append-batcher.ts) and
     * pushes it after commit. Idempotent on client_msg_id.
     */
    async send(caller: UserRow, input: SendInput, origin: SendOrigin): Promise<{ message: Message; created: boolean }> {
      access.refuseEarly(caller, 'conversation.send');
      if (input.sender_id !== undefined) access.require(caller, 'user.act_as', { userId: input.sender_id });
      deps.sendBudget?.take(caller.id);
      try {
        return await store(caller, input, origin);
      } catch (error) {
        // Nothing was stored through no fault of the client's: the token comes back, so its retry is not refused.
        if (isDatabaseUnavailable(error)) deps.sendBudget?.refund(caller.id);
        throw error;
      }
    },

    /**
     * The reference client POSTs a message and then sends the same text as a
     * WebSocket frame without client_msg_id. That frame is an echo: the message
     * the caller stored in the last LEGACY_DUPLICATE_WINDOW_SECONDS with the
     * same conversation, type, content and file name, to be acknowledged
     * instead of stored twice. Undefined for any other send (one with a
     * client_msg_id, an admin's, or one repeating nothing).
     */
    async findLegacyEcho(caller: UserRow, input: SendInput): Promise<Message | undefined> {
      if ((input.client_msg_id ?? null) !== null || caller.role === 'admin') return undefined;
      const type = input.message_type ?? 'text';
      const stored = await parseContent(type, input.content, { baseUrl, mediaDir });
      const earlier = await repo.findRecentDuplicate(db, {
        conversationId: input.conversation_id,
        senderId: caller.id,
        messageType: type,
        content: stored.content,
        filename: stored.filename,
        since: nowSeconds() - LEGACY_DUPLICATE_WINDOW_SECONDS,
      });
      return earlier && toMessage(earlier, users.toUser(caller));
    },

    history,

    async list(
      caller: UserRow,
      query: {
        conversation_id?: string | undefined;
        sender_id?: string | undefined;
        message_type?: MessageType | undefined;
        before_id?: string | undefined;
      },
      page: Page,
    ): Promise<{ count: number; count_exact?: boolean; results: Message[] }> {
      // One conversation and no other filter: the seq-windowed history path (exact count, any depth).
      if (query.conversation_id && !query.sender_id && !query.message_type && !query.before_id) {
        return history(caller, query.conversation_id, { page: page.page, page_size: page.pageSize, order: 'desc' });
      }
      const filter: repo.MessageFilter = {
        ...(query.sender_id ? { senderId: query.sender_id } : {}),
        ...(query.message_type ? { messageType: query.message_type } : {}),
        ...(query.before_id ? { beforeId: query.before_id } : {}),
      };
      let scope: repo.ListScope;
      if (query.conversation_id) {
        const conversation = await conversations.visible(caller, query.conversation_id);
        scope = { kind: 'conversations', ids: [conversation.id] };
      } else {
        scope = access.allowsNow(caller, 'realtime.watch_all')
          ? { kind: 'all' }
          : await repo.participantScope(db, caller);
      }
      const { count, exact, rows } = await repo.listMessages(
        db,
        scope,
        filter,
        page.pageSize,
        (page.page - 1) * page.pageSize,
      );
      return { count, ...(exact ? {} : { count_exact: false }), results: await present(rows) };
    },

    /** The recipient marks one message read; their unread count drops with it. */
    async markRead(caller: UserRow, id: string, tx?: Tx): Promise<void> {
      const { message, conversation } = await visibleMessage(caller, id, tx);
      await access.requireAccess(caller, 'message.mark_read', { conversation, message }, tx);
      // The rule let only the side the message was sent to through: the caller speaks for it.
      const column = repo.unreadColumnOf(conversation, sideOf(conversation, caller) ?? caller.id);
      await inTransaction(db, tx, (t) => repo.markMessageRead(t.db, message, column));
    },

    /** Marks the other side's messages read, zeroes the caller's count, tells the other side. */
    async readAll(caller: UserRow, conversationId: string, readerId: string | undefined, tx?: Tx): Promise<void> {
      if (readerId !== undefined) access.require(caller, 'user.act_as', { userId: readerId });
      const conversation = await conversations.visible(caller, conversationId, 'conversation.view', tx);
      // Admins watch without leaving a trace: reading as an admin marks nothing.
      const side = sideOf(conversation, caller);
      if (side === undefined) return;
      const otherId = otherParticipant(conversation, side);
      // What the other side sent: the customer's messages, or (for the customer) every team member's.
      const senders: repo.Senders =
        conversation.team_id === side || conversation.team_id === null ? { only: otherId } : { allBut: side };
      await inTransaction(db, tx, async (t) => {
        await repo.markConversationRead(t.db, conversation.id, senders, repo.unreadColumnOf(conversation, side));
        t.afterCommit(() =>
          events.publish('conversation.read', {
            conversationId: conversation.id,
            readerId: side,
            actorId: caller.id,
            otherId,
            teamId: conversation.team_id,
            timestamp: nowSeconds(),
          }),
        );
      });
    },

    /** Zeroes the caller's unread count only. */
    async resetUnread(caller: UserRow, conversationId: string, userId: string | undefined, tx?: Tx): Promise<void> {
      if (userId !== undefined) access.require(caller, 'user.act_as', { userId });
      const conversation = await conversations.visible(caller, conversationId, 'conversation.view', tx);
      const side = sideOf(conversation, caller);
      if (side === undefined) return;
      // One statement: alone it needs no transaction of its own, so it joins only a caller's.
      await zeroUnread(tx?.db ?? db, conversation, side);
    },

    /**
     * Moderation: an admin hard-deletes a message; both participants are told.
     * An image or file goes with it once nothing else refers to it (see
     * releaseUpload); failing that is reported, not thrown: the message is gone.
     * In a caller's transaction the file goes after its commit, unreported.
     */
    async remove(caller: UserRow, id: string, tx?: Tx): Promise<{ releaseError?: unknown }> {
      access.refuseEarly(caller, 'message.delete');
      const message = await repo.findMessageById(tx?.db ?? db, id);
      if (!message) throw notFound('message_not_found');
      const conversation = await conversations.visible(caller, message.conversation_id, 'conversation.view', tx);
      await inTransaction(db, tx, async (t) => {
        const recipient = recipientOf(conversation, message.sender_id);
        const deleted = await repo.deleteMessage(
          t.db,
          message,
          repo.unreadColumnOf(conversation, recipient),
          caller.id,
          nowSeconds(),
          (row) => previewOf(row.message_type, row.content),
        );
        // Already deleted by a concurrent request: nothing changed; answer as if it was never there.
        if (!deleted) throw notFound('message_not_found');
        await deleteHooks.run(t.db, message);
        t.afterCommit(() =>
          events.publish('message.deleted', {
            id,
            conversationId: conversation.id,
            participants: [conversation.participant1_id, conversation.participant2_id],
            teamId: conversation.team_id,
          }),
        );
      });
      if (message.message_type === 'text') return {};
      if (tx) {
        // The file may go only once the caller's transaction has committed the delete, and by then
        // there is no answer left to report a failure in: the file then stays, as a failed release does.
        tx.afterCommit(() => void releaseUpload(message.content).catch(() => undefined));
        return {};
      }
      return releaseUpload(message.content).then(
        () => ({}),
        (releaseError: unknown) => ({ releaseError }),
      );
    },
  };
}
