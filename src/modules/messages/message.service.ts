import type { Page } from '@cs-chat/contracts/rest/common.schemas';
import type { HistoryQuery, Message, MessageType, SendableMessageType } from '@cs-chat/contracts/rest/message.schemas';
import type { User } from '@cs-chat/contracts/rest/user.schemas';
import type { Kysely } from 'kysely';
import { isDatabaseUnavailable, isUniqueViolation } from '../../db/errors.ts';
import { inTransaction, type Tx } from '../../db/transaction.ts';
import type { ConversationRow, Database, MessageRow, UserRow } from '../../db/types.ts';
import type { EventOrigin } from '../../events/domain-events.ts';
import type { EventPublisher } from '../../events/hub.ts';
import type { TransactionEventRecorder } from '../../events/transaction-events.ts';
import { conflict, forbidden, notFound, unprocessable } from '../../lib/errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { toAbsoluteUrl } from '../../lib/media-url.ts';
import { nowSeconds } from '../../lib/time.ts';
import type { MessageMetrics } from '../../observability/metrics.ts';
import type { AccessService } from '../access/access.service.ts';
import { findCard, findCardStates } from '../cards/card.repository.ts';
import { type CardKey, cardKeyOf, cardKeyString, sameCardKey } from '../cards/card-content.ts';
import { zeroUnread } from '../conversations/conversation.repository.ts';
import {
  type ConversationService,
  otherParticipant,
  recipientOf,
  sideOf,
} from '../conversations/conversation.service.ts';
import { fileOf, parseIssuedUpload, removeUpload } from '../media/stored-uploads.ts';
import { findUserById, findUsersByIds } from '../users/user.repository.ts';
import type { UserService } from '../users/user.service.ts';
import { type AppendBatcherOptions, createAppendBatcher, DEFAULT_APPEND_BATCHING } from './append-batcher.ts';
import type { ContentScreen, HeldSend, ScreenVerdict } from './content-screen.ts';
import { pageWindow } from './history.ts';
import * as repo from './message.repository.ts';
import { parseContent, previewOf, type StoredContent } from './message-content.ts';
import {
  type AfterCommit,
  createDeleteTransactionHooks,
  createRecallTransactionHooks,
  createSendTransactionHooks,
  HookFailure,
  runCommitted,
  type SendTransactionPlan,
} from './send-transaction.ts';
import { type PreparedServerMessages, type ServerMessage, serverAppend } from './server-messages.ts';

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

/** How long after sending a sender may recall a message (seconds; the edge itself included). */
export const RECALL_WINDOW_SECONDS = 120;
/** A recalled message's preview, when it is the newest of its conversation. */
export const RECALLED_PREVIEW = '[已撤回]';

/** Where a send came from, which decides who among the sender's connections sees it. */
export type SendOrigin = EventOrigin;

/**
 * A message stored for its sender by someone else (a card the host platform posts, the server's own
 * messages, a held message a reviewer approved) reaches every connection of its sender.
 */
const SERVER_ORIGIN: SendOrigin = { skipConnectionId: null, echoToSender: true };

/** A frame without client_msg_id repeating a message stored this recently is the reference client's echo. */
export const LEGACY_DUPLICATE_WINDOW_SECONDS = 10;

export interface MessageServiceDeps {
  db: Kysely<Database>;
  users: UserService;
  conversations: ConversationService;
  access: AccessService;
  /** Told of every committed send, read and delete. */
  events: EventPublisher;
  /** Told of reads and deletes inside their transactions (the webhook outbox writes there). */
  transactionEvents: TransactionEventRecorder;
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
  /** Unix seconds now, for the recall window (tests move it); nowSeconds unless given. */
  clock?: (() => number) | undefined;
}

export type MessageService = ReturnType<typeof createMessageService>;

export function createMessageService(deps: MessageServiceDeps) {
  const { db, users, conversations, access, events, transactionEvents, baseUrl, mediaDir, metrics } = deps;
  const hooks = createSendTransactionHooks();
  /** The content guard, once it registered (screenWith); none in service-level tests that leave it out. */
  let screen: ContentScreen | undefined;
  const deleteHooks = createDeleteTransactionHooks();
  const recallHooks = createRecallTransactionHooks();
  const clock = deps.clock ?? nowSeconds;
  const appends = createAppendBatcher(
    db,
    {
      ...(deps.batching ?? DEFAULT_APPEND_BATCHING),
      onBatch: (messages) => metrics?.sendBatch(messages),
    },
    hooks,
  );

  /** A committed message: counted, and announced to every subscriber (the pushes among them) as coming from `origin`. */
  function announce(
    message: Message,
    conversation: Pick<ConversationRow, 'participant1_id' | 'participant2_id' | 'team_id'>,
    origin: SendOrigin,
  ): void {
    metrics?.messageStored(message.message_type);
    events.publish(
      'message.created',
      {
        message,
        participants: [conversation.participant1_id, conversation.participant2_id],
        teamId: conversation.team_id,
      },
      { origin },
    );
  }

  /**
   * Appends in a transaction outside the batcher (a held message delivered, a
   * message the server writes), with the send hooks as a batch would run them
   * (`plan` made before the transaction); a hook's failure is thrown as itself.
   * `between` runs after the rows and before the hooks.
   */
  async function appendWithHooks(
    trx: Tx['db'],
    appends: readonly repo.Append[],
    plan: SendTransactionPlan | undefined,
    afterCommit: AfterCommit,
    between?: (appended: readonly (repo.Appended | undefined)[]) => Promise<void>,
  ): Promise<(repo.Appended | undefined)[]> {
    const appended = await repo.appendMessages(trx, appends, { unread: plan?.readsUnread === true });
    await between?.(appended);
    try {
      if (plan) await hooks.run(trx, plan, appends, appended, afterCommit);
    } catch (error) {
      throw error instanceof HookFailure ? error.cause : error;
    }
    return appended;
  }

  /**
   * The wire form of a row. A recalled message is marked so; its content (and
   * file name) are shown only to those who `seeRecalled` (admins), everyone
   * else gets it empty. `cardState`: a card message's current state (the
   * platform's), shown instead of the card as it was sent.
   */
  function toMessage(row: MessageRow, sender: User | null, seeRecalled = false, cardState?: string): Message {
    const recalled = row.recalled_at !== null && row.recalled_at !== undefined;
    const hidden = recalled && !seeRecalled;
    let content = row.content;
    if (hidden) content = '';
    else if (row.message_type === 'card') content = cardState ?? content;
    else if (isMedia(row.message_type)) content = toAbsoluteUrl(row.content, baseUrl) ?? row.content;
    return {
      id: row.id,
      conversation_id: row.conversation_id,
      sender_id: row.sender_id,
      content,
      message_type: row.message_type,
      is_read: Boolean(row.is_read),
      created_at: Number(row.created_at),
      sender,
      seq: Number(row.seq),
      client_msg_id: row.client_msg_id,
      filename: hidden ? null : row.filename,
      ...(recalled ? { recalled_at: Number(row.recalled_at) } : {}),
      ...(row.auto_reply ? { auto: true as const } : {}),
    };
  }

  /** A held message as the row it will be once delivered: no seq yet. */
  function heldRow(held: HeldSend): MessageRow {
    return {
      id: held.id,
      conversation_id: held.conversationId,
      sender_id: held.senderId,
      content: held.content,
      message_type: 'text',
      filename: null,
      client_msg_id: held.clientMsgId,
      created_at: held.createdAt,
      seq: 0,
      is_read: 0,
      recalled_at: null,
    };
  }

  /** Whether the caller sees recalled messages' originals: admins, who watch and moderate. */
  const seesRecalled = (caller: Pick<UserRow, 'role'>) => caller.role === 'admin';

  /** Messages with their senders' profiles; `known` profiles (a conversation's participants) are not read again. */
  async function present(
    rows: readonly MessageRow[],
    known?: ReadonlyMap<string, User>,
    seeRecalled = false,
  ): Promise<Message[]> {
    const missing = [...new Set(rows.map((row) => row.sender_id))].filter((id) => !known?.has(id));
    const senders = new Map(known);
    for (const row of await findUsersByIds(db, missing)) senders.set(row.id, users.toUser(row));
    const cards = await currentCards(rows);
    return rows.map((row) =>
      toMessage(row, senders.get(row.sender_id) ?? null, seeRecalled, cards && cardStateOf(cards, row.content)),
    );
  }

  /** The current states of the cards among `rows`; no query when there are none (most pages). */
  async function currentCards(rows: readonly MessageRow[]): Promise<Map<string, string> | undefined> {
    const keys: CardKey[] = [];
    for (const row of rows) {
      const key = row.message_type === 'card' ? cardKeyOf(row.content) : undefined;
      if (key) keys.push(key);
    }
    return keys.length > 0 ? findCardStates(db, keys) : undefined;
  }

  function cardStateOf(states: ReadonlyMap<string, string>, content: string): string | undefined {
    const key = cardKeyOf(content);
    return key && states.get(cardKeyString(key));
  }

  /**
   * A retry of an earlier send: the original if it is the same message (as
   * stored: masked), else 409. A card the platform stored is the same card whatever state each send
   * caught it in (`platformCard`): compared by kind and id.
   */
  function replay(existing: MessageRow, type: MessageType, stored: StoredContent, platformCard = false): MessageRow {
    const sameContent = platformCard
      ? sameCardKey(existing.content, stored.content)
      : existing.content === stored.content;
    if (existing.message_type !== type || !sameContent || existing.filename !== stored.filename) {
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

  /**
   * What the content guard makes of a send: its text, or a file's name (the
   * recipient reads it as written: `加我微信shop8888.pdf`). Images have no
   * text. A file cannot wait in the review queue, which holds texts: a name
   * that would be held is refused instead (its findings recorded as blocks).
   */
  async function inspect(caller: UserRow, type: MessageType, parsed: StoredContent) {
    const text = type === 'text' ? parsed.content : parsed.filename;
    if (!screen || text === null) return undefined;
    const verdict = await screen.inspect(caller, text);
    if (verdict?.outcome !== 'hold' || type === 'text') return verdict;
    return {
      ...verdict,
      outcome: 'block',
      strike: true,
      findings: verdict.findings.map((finding) =>
        finding.action === 'hold' ? { ...finding, action: 'block' } : finding,
      ),
    } satisfies ScreenVerdict;
  }

  /** What is stored of a send once the guard masked what it read (the text, or the file's name). */
  function screenedContent(
    type: MessageType,
    parsed: StoredContent,
    verdict: ScreenVerdict | undefined,
  ): StoredContent {
    if (!verdict) return parsed;
    return type === 'text' ? { ...parsed, content: verdict.content } : { ...parsed, filename: verdict.content };
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
    return { count, results: await present(rows, profiles, seesRecalled(caller)) };
  }

  /**
   * A card as it is stored: participants may send product cards only (order
   * cards come from the host platform), and a card the platform stored is
   * sent in its current state, whatever the sender wrote into it. Only card
   * sends come here: other messages pay nothing for cards.
   */
  async function platformCardState(content: string, platform: boolean): Promise<string | undefined> {
    const key = cardKeyOf(content) as CardKey;
    if (key.kind === 'order' && !platform) throw forbidden('order_card_platform_only');
    return (await findCard(db, key))?.state;
  }

  /** The send itself, once the budget allowed it. */
  async function store(
    caller: UserRow,
    input: SendInput,
    origin: SendOrigin,
    platform = false,
  ): Promise<{ message: Message; created: boolean }> {
    const conversation = await conversations.membership(caller, input.conversation_id);
    const type = input.message_type ?? 'text';
    const parsed = await parseContent(type, input.content, { baseUrl, mediaDir });
    const cardState = type === 'card' ? await platformCardState(parsed.content, platform) : undefined;
    if (cardState !== undefined) parsed.content = cardState;
    const clientMsgId = input.client_msg_id ?? null;

    // The guard, before anything is stored or pushed: it may mask the text, refuse it, or hold it back.
    const screened = await inspect(caller, type, parsed);
    if (screen && screened?.outcome === 'block') await screen.refuse(caller, conversation.id, screened);
    const stored = screenedContent(type, parsed, screened);

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
    if (screen && screened?.outcome === 'hold') {
      // The client_msg_id may already name a delivered message (an approved hold, or a send the guard
      // let through, e.g. before the rules changed): that one answers, as any retry's original does.
      // Holds are rare: this lookup costs the plain send nothing.
      const sent =
        clientMsgId === null ? undefined : await repo.findByClientMsgId(db, conversation.id, caller.id, clientMsgId);
      if (sent) {
        const original = replay(sent, type, stored);
        deps.sendBudget?.refund(caller.id);
        return { message: toMessage(original, users.toUser(caller)), created: false };
      }
      const { held, created } = await screen.hold(
        {
          id: row.id,
          conversationId: row.conversation_id,
          senderId: caller.id,
          content: parsed.content,
          clientMsgId,
          createdAt: row.created_at,
        },
        screened,
      );
      if (!created) {
        // A retry of a held send: the earlier one, as it is now (still pending, or delivered).
        if (held.content !== stored.content) throw conflict('client_msg_id_conflict');
        deps.sendBudget?.refund(caller.id);
        // A reviewer refused it: it will never be delivered, so it is not pending either.
        if (held.rejected) throw unprocessable('content_blocked', ['content: rejected by a reviewer']);
        const delivered = held.delivered ? await repo.findMessageById(db, held.id) : undefined;
        if (delivered) return { message: toMessage(delivered, users.toUser(caller)), created: false };
      }
      // Pending: no seq yet (approval gives it one), nothing pushed, nothing counted.
      return { message: { ...toMessage(heldRow(held), users.toUser(caller)), pending: true }, created };
    }
    // A team member's message raises the customer's count; the customer's, the team's (its owner's column).
    const recipient = recipientOf(conversation, caller.id);
    const teamSide = conversation.team_id !== null && recipient !== conversation.team_id;
    let appended: repo.Appended | undefined;
    try {
      appended = await appends.store({
        message: row,
        recipientId: recipient,
        recipientUnread: repo.unreadColumnOf(conversation, recipient),
        preview: previewOf(type, stored.content),
        screened,
        ...(conversation.team_id === null ? {} : { side: teamSide ? 'team' : 'customer' }),
        ...(teamSide && caller.team_role ? { teamRole: caller.team_role } : {}),
      });
    } catch (error) {
      // A concurrent send with the same client_msg_id committed first.
      if (clientMsgId === null || !isUniqueViolation(error)) throw error;
      const winner = await repo.findByClientMsgId(db, conversation.id, caller.id, clientMsgId);
      if (!winner) throw error;
      deps.sendBudget?.refund(caller.id);
      const original = replay(winner, type, stored, cardState !== undefined);
      return { message: toMessage(original, users.toUser(caller), false, cardState), created: false };
    }
    if (appended === undefined) throw notFound('conversation_not_found');
    const message = toMessage({ ...row, seq: appended.seq, is_read: 0, recalled_at: null }, users.toUser(caller));
    announce(message, conversation, origin);
    announceReopened(conversation, appended.reopened, caller.id, row.created_at);
    return { message, created: true };
  }

  /** A customer's message reopened the conversation: the team's lists follow, as after a status change (issue 13). */
  function announceReopened(
    conversation: Pick<ConversationRow, 'id' | 'participant1_id' | 'participant2_id' | 'team_id'>,
    reopened: repo.Reopened | undefined,
    actorId: string,
    timestamp: number,
  ): void {
    if (!reopened) return;
    events.publish('conversation.updated', {
      conversation: {
        id: conversation.id,
        participants: [conversation.participant1_id, conversation.participant2_id],
        teamId: conversation.team_id,
        assigneeId: reopened.assigneeId,
        status: 'open',
        linkedConversationId: reopened.linkedConversationId,
      },
      change: 'status',
      previousAssigneeId: null,
      actorId,
      timestamp,
    });
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

    /** Other modules' statements in a recall's transaction (an index row's removal). */
    recallTransaction: recallHooks.registrar,

    /** Sets the content screen every text send passes (the guard registers itself at composition time). */
    screenWith(contentScreen: ContentScreen): void {
      screen = contentScreen;
    },

    /**
     * Delivers a held message its reviewer approved, as a send: appended now
     * (a new seq, the recipient's unread count and the preview), with the
     * send-transaction hooks, pushed to both participants after commit.
     * `claim` runs first in the same transaction and answers whether the
     * message is still pending (a concurrent review took it otherwise:
     * undefined, nothing written).
     */
    async deliverHeld(
      held: { id: string; conversationId: string; senderId: string; content: string; clientMsgId: string | null },
      claim: (trx: Tx['db']) => Promise<boolean>,
    ): Promise<Message | undefined> {
      const sender = await findUserById(db, held.senderId);
      if (!sender) throw notFound('user_not_found');
      // Deactivated or deleted since it was held: it could not send now, nor does a reviewer send for it.
      if (sender.status !== 'active') throw forbidden('user_inactive');
      const conversation = await conversations.membership(sender, held.conversationId);
      let row = {
        id: held.id,
        conversation_id: conversation.id,
        sender_id: sender.id,
        content: held.content,
        message_type: 'text' as const,
        filename: null,
        client_msg_id: held.clientMsgId,
        created_at: nowSeconds(),
      };
      // A team member is no participant: their message is for the customer, as in a send.
      const recipientId = recipientOf(conversation, sender.id);
      const deliver = async (message: typeof row): Promise<repo.Appended | undefined> => {
        const append: repo.Append = {
          message,
          recipientId,
          recipientUnread: repo.unreadColumnOf(conversation, recipientId),
          preview: previewOf('text', held.content),
          // Which side wrote it, as a send says (a customer's reopens, a member's ends the wait); no
          // teamRole: an approval is the reviewer's decision, not the member's claim.
          ...(conversation.team_id === null
            ? {}
            : { side: recipientId === conversation.team_id ? 'customer' : 'team' }),
        };
        // As a send's batch of one: what the hooks wait for outside the database first, then the transaction.
        const plan = hooks.any ? await hooks.plan([append]) : undefined;
        const committed: (() => void)[] = [];
        const stored = await db.transaction().execute(async (trx) => {
          if (!(await claim(trx))) return undefined;
          const [first] = await appendWithHooks(trx, [append], plan, (task) => committed.push(task));
          if (first === undefined) throw notFound('conversation_not_found');
          return first;
        });
        runCommitted(committed);
        return stored;
      };
      let appended: repo.Appended | undefined;
      try {
        appended = await deliver(row);
      } catch (error) {
        // While it waited, its sender sent a message with the same client_msg_id (the send path does
        // not look among held ones). The same text is its retry, delivered once the rules let it
        // through: this one is settled as that message, not delivered twice. Another text keeps the
        // id; this one is delivered without it (its sender's pending copy is known by its message id).
        if (row.client_msg_id === null || !isUniqueViolation(error)) throw error;
        const twin = await repo.findByClientMsgId(db, conversation.id, sender.id, row.client_msg_id);
        if (twin?.content === row.content) {
          const settled = await db.transaction().execute((trx) => claim(trx));
          return settled ? toMessage(twin, users.toUser(sender)) : undefined;
        }
        row = { ...row, client_msg_id: null };
        appended = await deliver(row);
      }
      if (appended === undefined) return undefined;
      const message = toMessage({ ...row, seq: appended.seq, is_read: 0, recalled_at: null }, users.toUser(sender));
      announce(message, conversation, SERVER_ORIGIN);
      announceReopened(conversation, appended.reopened, sender.id, row.created_at);
      return message;
    },

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
      const parsed = await parseContent(type, input.content, { baseUrl, mediaDir });
      const since = nowSeconds() - LEGACY_DUPLICATE_WINDOW_SECONDS;
      // The echo of a masked message repeats what its sender wrote; what was stored is masked.
      const screened = await inspect(caller, type, parsed);
      // A blocked one is refused again (the guard records a repeated refusal once).
      if (screened?.outcome === 'block') return undefined;
      if (screen && screened?.outcome === 'hold') {
        const held = await screen.findHeld(caller.id, input.conversation_id, parsed.content, since);
        if (!held) return undefined;
        const delivered = held.delivered ? await repo.findMessageById(db, held.id) : undefined;
        if (delivered) return toMessage(delivered, users.toUser(caller));
        return { ...toMessage(heldRow(held), users.toUser(caller)), pending: true };
      }
      const stored = screenedContent(type, parsed, screened);
      const earlier = await repo.findRecentDuplicate(db, {
        conversationId: input.conversation_id,
        senderId: caller.id,
        messageType: type,
        content: stored.content,
        filename: stored.filename,
        since,
      });
      return earlier && toMessage(earlier, users.toUser(caller));
    },

    history,

    /**
     * The host platform posts a card (`content`: a stored card's state) as
     * `sender`, a participant: the normal send path without the sender's send
     * budget, order cards allowed.
     */
    async postCard(sender: UserRow, conversationId: string, content: string): Promise<Message> {
      const input = { conversation_id: conversationId, content, message_type: 'card' as const };
      return (await store(sender, input, SERVER_ORIGIN, true)).message;
    },

    /**
     * Messages the server writes (server-messages.ts: a team's system notice,
     * the desk's platform post, an auto reply), first step, before the
     * transaction: their rows, and what the send hooks wait for outside the
     * database (presence, only when a webhook endpoint wants message.created),
     * so no row lock is held while it is asked.
     */
    async prepareServerMessages(drafts: readonly ServerMessage[]): Promise<PreparedServerMessages> {
      const appends = drafts.map(serverAppend);
      const plan = hooks.any ? await hooks.plan(appends.map((entry) => entry.append)) : undefined;
      return { messages: drafts, appends, plan };
    },

    /**
     * Second step, in the caller's transaction: stored as a send stores a
     * message (seq, transcript chain, preview, the counts its kind raises) with
     * the send hooks (the webhook's message.created row among them; a hook's
     * failure rolls the caller's transaction back), then pushed to both sides
     * and counted once it commits. Answers them as stored; a message whose
     * conversation is gone is not written and left out.
     */
    async writeServerMessages(tx: Tx, prepared: PreparedServerMessages): Promise<Message[]> {
      const appends = prepared.appends.map((entry) => entry.append);
      const appended = await appendWithHooks(
        tx.db,
        appends,
        prepared.plan,
        (task) => tx.afterCommit(task),
        async (done) => {
          for (const [i, { append, alsoRaises }] of prepared.appends.entries()) {
            if (alsoRaises && done[i]) await repo.incrementUnread(tx.db, append.message.conversation_id, alsoRaises);
          }
        },
      );
      return prepared.messages.flatMap(({ conversation, sender }, i) => {
        const stored = appended[i];
        const { append } = prepared.appends[i] as (typeof prepared.appends)[number];
        if (stored === undefined) return [];
        const row = { ...append.message, seq: stored.seq, is_read: append.read ? 1 : 0, recalled_at: null };
        const message = toMessage(row, users.toUser(sender));
        tx.afterCommit(() => announce(message, conversation, SERVER_ORIGIN));
        return [message];
      });
    },

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
      return {
        count,
        ...(exact ? {} : { count_exact: false }),
        results: await present(rows, undefined, seesRecalled(caller)),
      };
    },

    /** The recipient marks one message read; their unread count drops with it. */
    async markRead(caller: UserRow, id: string, tx?: Tx): Promise<void> {
      const { message, conversation } = await visibleMessage(caller, id, tx);
      await access.requireAccess(caller, 'message.mark_read', { conversation, message }, tx);
      // The rule let only the side the message was sent to through: the caller speaks for it.
      const side = sideOf(conversation, caller) ?? caller.id;
      const column = repo.unreadColumnOf(conversation, side);
      await inTransaction(db, tx, async (t) => {
        // Already read: nothing happened, nothing to announce.
        if (!(await repo.markMessageRead(t.db, message, column))) return;
        await transactionEvents.record(t, 'message.read', async () => ({
          conversation_id: conversation.id,
          reader_id: side,
          sender_id: message.sender_id,
          message_id: message.id,
          seq: Number(message.seq),
          reader_unread: (await repo.readState(t.db, conversation.id, column)).unread,
          read_at: nowSeconds(),
        }));
      });
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
        const column = repo.unreadColumnOf(conversation, side);
        const marked = await repo.markConversationRead(t.db, conversation.id, senders, column);
        // The pushed conversation.read says "read up to now" even when nothing was unread; message.read, a
        // durable event a host platform acts on, only when a message was.
        if (marked > 0) {
          await transactionEvents.record(t, 'message.read', async () => ({
            conversation_id: conversation.id,
            reader_id: side,
            sender_id: otherId,
            message_id: null,
            seq: (await repo.readState(t.db, conversation.id, column)).lastSeq,
            reader_unread: 0,
            read_at: nowSeconds(),
          }));
        }
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
     * The sender takes a message back within RECALL_WINDOW_SECONDS of sending
     * it: it stays (admins still see the original, marked recalled), the
     * participants get it without content from then on, the recipient's
     * unread count and the preview are corrected, its search terms go, and
     * both participants (and admins) get `message_recalled`. Recalling it
     * again answers the same, with no second event.
     */
    async recall(caller: UserRow, id: string): Promise<Message> {
      const { message, conversation } = await visibleMessage(caller, id);
      access.require(caller, 'message.recall', { conversation, message });
      const sender = users.toUser(caller);
      if (message.recalled_at !== null) return toMessage(message, sender);
      const now = clock();
      if (now - Number(message.created_at) > RECALL_WINDOW_SECONDS) {
        throw unprocessable('recall_window_passed', [
          `id: sent more than ${RECALL_WINDOW_SECONDS} seconds ago; only newer messages can be recalled`,
        ]);
      }
      // A team member is no participant: their message raised the customer's count (recipientOf).
      const recipient = recipientOf(conversation, message.sender_id);
      let answer: MessageRow = { ...message, recalled_at: now };
      await inTransaction(db, undefined, async (t) => {
        const recalled = await repo.recallMessage(
          t.db,
          message,
          repo.unreadColumnOf(conversation, recipient),
          now,
          RECALLED_PREVIEW,
        );
        if (!recalled) {
          // A concurrent recall of the same message won (it told everyone): its answer is this one's.
          // Or a moderator deleted the message since it was read above: gone, as for any other caller.
          const current = await repo.findMessageById(t.db, id);
          if (!current) throw notFound('message_not_found');
          answer = current;
          return;
        }
        await recallHooks.run(t.db, message);
        t.afterCommit(() =>
          events.publish('message.recalled', {
            id,
            conversationId: conversation.id,
            participants: [conversation.participant1_id, conversation.participant2_id],
            teamId: conversation.team_id,
            recalledAt: now,
          }),
        );
      });
      return toMessage(answer, sender);
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
        const now = nowSeconds();
        const deleted = await repo.deleteMessage(
          t.db,
          message,
          repo.unreadColumnOf(conversation, recipient),
          caller.id,
          now,
          (row) => (row.recalled_at !== null ? RECALLED_PREVIEW : previewOf(row.message_type, row.content)),
        );
        // Already deleted by a concurrent request: nothing changed; answer as if it was never there.
        if (!deleted) throw notFound('message_not_found');
        await deleteHooks.run(t.db, message);
        await transactionEvents.record(t, 'message.deleted', () => ({
          message_id: message.id,
          conversation_id: conversation.id,
          seq: Number(message.seq),
          sender_id: message.sender_id,
          message_type: message.message_type,
          created_at: Number(message.created_at),
          deleted_by: caller.id,
          deleted_at: now,
        }));
        t.afterCommit(() =>
          events.publish('message.deleted', {
            id,
            conversationId: conversation.id,
            participants: [conversation.participant1_id, conversation.participant2_id],
            teamId: conversation.team_id,
          }),
        );
      });
      if (message.message_type === 'text' || message.message_type === 'card') return {};
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
