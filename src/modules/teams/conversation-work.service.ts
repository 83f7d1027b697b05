import type { Conversation } from '@cs-chat/contracts/rest/conversation.schemas';
import type { Message } from '@cs-chat/contracts/rest/message.schemas';
import type {
  AssignmentBody,
  CreateNoteBody,
  EscalationBody,
  Note,
  PlatformPostBody,
  StatusBody,
} from '@cs-chat/contracts/rest/team.schemas';
import { type Kysely, sql } from 'kysely';
import { isMysql } from '../../db/dialect.ts';
import { inTransaction, type Tx } from '../../db/transaction.ts';
import type { ConversationAssignmentsTable, ConversationRow, Database, MessageRow, UserRow } from '../../db/types.ts';
import type { ConversationState } from '../../events/domain-events.ts';
import type { EventPublisher } from '../../events/hub.ts';
import type { TransactionEventRecorder } from '../../events/transaction-events.ts';
import { badRequest, conflict, forbidden, notFound } from '../../lib/errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowSeconds } from '../../lib/time.ts';
import type { AccessService } from '../access/access.service.ts';
import type { ConversationService } from '../conversations/conversation.service.ts';
import { appendMessages, unreadColumnOf } from '../messages/message.repository.ts';
import type { MessageService } from '../messages/message.service.ts';
import { previewOf } from '../messages/message-content.ts';
import { recordResolves } from '../reports/report-counters.ts';
import { findUserById, findUsersByIds } from '../users/user.repository.ts';
import type { UserService } from '../users/user.service.ts';
import { rosterQueries } from './team.repository.ts';

export type AssignmentKind = ConversationAssignmentsTable['kind'];

/** What the customer reads in the timeline when a conversation changes hands (a `system` message). */
export function systemText(kind: AssignmentKind, to: Pick<UserRow, 'username'> | undefined): string {
  if (kind === 'release' || kind === 'requeue' || !to) return '会话已转入排队，稍后将有客服为您服务';
  if (kind === 'transfer') return `会话已转接给客服 ${to.username}`;
  return `客服 ${to.username} 为您服务`;
}

export interface ConversationWorkDeps {
  db: Kysely<Database>;
  access: AccessService;
  users: UserService;
  conversations: ConversationService;
  messages: Pick<MessageService, 'present'>;
  events: EventPublisher;
  /** Webhook events written in the change's transaction (conversation.assigned, …). */
  transactionEvents: TransactionEventRecorder;
}

export type ConversationWorkService = ReturnType<typeof createConversationWorkService>;

const stateOf = (row: ConversationRow): ConversationState => ({
  id: row.id,
  participants: [row.participant1_id, row.participant2_id],
  teamId: row.team_id,
  assigneeId: row.assignee_id,
  status: row.status,
  linkedConversationId: row.linked_conversation_id,
});

/**
 * The team's work on a conversation (issue 13): assignment (claim, assign,
 * transfer, release), status, and internal notes. Each change of hands is
 * logged and, in a team with members, shown to both sides as a `system`
 * message (never unread); a team of one writes none.
 */
export function createConversationWorkService({
  db,
  access,
  users,
  conversations,
  messages,
  events,
  transactionEvents,
}: ConversationWorkDeps) {
  const roster = rosterQueries(db);

  /** The conversation's row, locked for the rest of the transaction (MySQL; SQLite runs one at a time). */
  async function locked(tx: Tx, id: string): Promise<ConversationRow> {
    const query = tx.db.selectFrom('conversations').selectAll().where('id', '=', id);
    const row = await (isMysql(tx.db) ? query.forUpdate() : query).executeTakeFirst();
    if (!row) throw notFound('conversation_not_found');
    return row;
  }

  /**
   * Moves the conversation to `to` (null: the queue) in the caller's
   * transaction: the row, the log, the member's last assignment time and the
   * system message; the pushes after commit. The conversation must be locked.
   */
  async function handOver(
    tx: Tx,
    conversation: ConversationRow,
    change: {
      to: UserRow | null;
      kind: AssignmentKind;
      actorId: string;
      note?: string | undefined;
      /** The team's owner (the system message's sender) when the team has members; none: a team of one. */
      owner: UserRow | undefined;
    },
  ): Promise<void> {
    const now = nowSeconds();
    const from = conversation.assignee_id;
    const to = change.to?.id ?? null;
    await tx.db
      .updateTable('conversations')
      .set({
        assignee_id: to,
        previous_assignee_id: from ?? conversation.previous_assignee_id,
        assigned_at: to ? now : null,
      })
      .where('id', '=', conversation.id)
      .execute();
    if (to) await tx.db.updateTable('users').set({ last_assigned_at: now }).where('id', '=', to).execute();
    await tx.db
      .insertInto('conversation_assignments')
      .values({
        conversation_id: conversation.id,
        actor_id: change.actorId,
        from_id: from,
        to_id: to,
        note: change.note ?? null,
        kind: change.kind,
        created_at: now,
      })
      .execute();
    const teamId = conversation.team_id;
    if (teamId !== null) {
      await transactionEvents.record(tx, 'conversation.assigned', () => ({
        conversation_id: conversation.id,
        team_id: teamId,
        assignee_id: to,
        previous_assignee_id: from,
        kind: change.kind,
        actor_id: change.actorId,
        note: change.note ?? null,
        assigned_at: now,
      }));
    }
    const system =
      change.owner && conversation.team_id === change.owner.id
        ? await writeSystemMessage(tx, conversation, change.owner, systemText(change.kind, change.to ?? undefined), now)
        : undefined;
    const state = { ...stateOf(conversation), assigneeId: to };
    tx.afterCommit(() => {
      events.publish('conversation.updated', {
        conversation: state,
        change: 'assignment',
        previousAssigneeId: from,
        actorId: change.actorId,
        timestamp: now,
      });
    });
    if (system) tx.afterCommit(() => publishMessage(system, state));
  }

  /**
   * A `system` message in the conversation's timeline, sent by `owner` (the team's owner), stored
   * read (it is never unread), in the caller's transaction; with its sender's profile, so
   * publishing it reads nothing.
   */
  async function writeSystemMessage(
    tx: Tx,
    conversation: ConversationRow,
    owner: UserRow | undefined,
    content: string,
    now: number,
  ): Promise<{ row: MessageRow; sender: UserRow } | undefined> {
    if (!owner) return undefined;
    const row = {
      id: uuidv7(),
      conversation_id: conversation.id,
      sender_id: owner.id,
      content,
      message_type: 'system' as const,
      filename: null,
      client_msg_id: null,
      created_at: now,
    };
    // Read by nobody's count (read: true): the recipient named is only the column it would have raised.
    const [appended] = await appendMessages(tx.db, [
      {
        message: row,
        recipientId: conversation.participant1_id,
        recipientUnread: 'participant1_unread',
        preview: previewOf('system', content),
        read: true,
      },
    ]);
    return appended === undefined
      ? undefined
      : { row: { ...row, seq: appended.seq, is_read: 1, recalled_at: null }, sender: owner };
  }

  /** Pushes a message the service wrote (system, platform) to both sides, as a send would. */
  function publishMessage(
    written: { row: MessageRow; sender: UserRow } | MessageRow,
    state: ConversationState,
    presented?: Message,
  ): void {
    const row = 'row' in written ? written.row : written;
    void (async () => {
      const known = 'row' in written ? new Map([[written.sender.id, users.toUser(written.sender)]]) : undefined;
      const message = presented ?? (await messages.present([row], known))[0];
      if (!message) return;
      events.publish(
        'message.created',
        { message, participants: state.participants, teamId: state.teamId },
        { origin: { skipConnectionId: null, echoToSender: true } },
      );
    })();
  }

  /** The team's owner when it has members besides the owner; undefined for a team of one (no system messages). */
  async function ownerIfStaffed(teamId: string | null): Promise<UserRow | undefined> {
    if (teamId === null || (await roster.membersOf(teamId)).length === 0) return undefined;
    return findUserById(db, teamId);
  }

  return {
    handOver,
    ownerIfStaffed,

    /**
     * POST /api/conversations/{id}/assignment: `assignee_id` the caller's own
     * id claims it, another member's assigns it (supervisors, the owner,
     * admins) or passes it on (its holder: a transfer), null releases it.
     */
    async assign(caller: UserRow, id: string, body: AssignmentBody): Promise<Conversation> {
      const seen = await conversations.visible(caller, id);
      const target = body.assignee_id;
      const assignTarget = target === null ? 'queue' : target === caller.id ? 'self' : 'other';
      await access.requireAccess(caller, 'conversation.assign', { conversation: seen, assignTarget });
      let to: UserRow | null = null;
      if (target !== null) {
        const member = await findUserById(db, target);
        if (!member || member.team_id === null || member.team_id !== seen.team_id || member.status !== 'active') {
          throw notFound('member_not_found');
        }
        to = member;
      }
      const owner = await ownerIfStaffed(seen.team_id);
      const isAgent = caller.team_role === 'agent' && caller.team_id === seen.team_id;
      await inTransaction(db, undefined, async (tx) => {
        const conversation = await locked(tx, id);
        const from = conversation.assignee_id;
        if (from === target) return;
        // Checked again under the lock: a colleague may have claimed it since the caller looked.
        if (isAgent && assignTarget === 'self' && from !== null) throw conflict('assigned_to_other');
        if (isAgent && assignTarget !== 'self' && from !== caller.id) throw forbidden();
        const kind: AssignmentKind =
          target === null ? 'release' : target === caller.id ? 'claim' : from === caller.id ? 'transfer' : 'assign';
        await handOver(tx, conversation, { to, kind, actorId: caller.id, note: body.note, owner });
      });
      return conversations.presentById(id);
    },

    /** POST /api/conversations/{id}/status: pending (waiting on the customer), resolved, or open again. */
    async setStatus(caller: UserRow, id: string, body: StatusBody): Promise<Conversation> {
      const seen = await conversations.visible(caller, id);
      await access.requireAccess(caller, 'conversation.status', { conversation: seen });
      await inTransaction(db, undefined, async (tx) => {
        const conversation = await locked(tx, id);
        if (conversation.status === body.status) return;
        const now = nowSeconds();
        await tx.db
          .updateTable('conversations')
          .set({
            status: body.status,
            // Each resolution opens a rating episode (issue 14): the buyer may rate it once.
            ...(body.status === 'resolved'
              ? { resolved_at: now, awaiting_reply_since: null, resolutions: sql<number>`resolutions + 1` }
              : {}),
          })
          .where('id', '=', id)
          .execute();
        if (body.status === 'resolved') {
          // Where the episode ends for the reports (after the last message, read under the row lock), and the count.
          const resolve = {
            conversationId: id,
            teamId: conversation.team_id,
            afterSeq: Number(conversation.last_seq),
            resolution: Number(conversation.resolutions) + 1,
            resolvedBy: caller.id,
          };
          await recordResolves(tx.db, [resolve], now);
        }
        await transactionEvents.record(tx, 'conversation.status_changed', () => ({
          conversation_id: id,
          team_id: conversation.team_id,
          status: body.status,
          previous_status: conversation.status,
          actor_id: caller.id,
          changed_at: now,
        }));
        const state = { ...stateOf(conversation), status: body.status };
        tx.afterCommit(() =>
          events.publish('conversation.updated', {
            conversation: state,
            change: 'status',
            previousAssigneeId: null,
            actorId: caller.id,
            timestamp: now,
          }),
        );
      });
      return conversations.presentById(id);
    },

    /**
     * POST /api/conversations/{id}/escalation: the platform desk (the oldest service account)
     * gets the buyer's conversation with it, linked both ways, marked as needing someone (so it
     * is assigned like any desk conversation); both timelines show the escalation.
     */
    async escalate(caller: UserRow, id: string, body: EscalationBody): Promise<Conversation> {
      const seen = await conversations.visible(caller, id);
      await access.requireAccess(caller, 'conversation.escalate', { conversation: seen });
      const shop = seen.team_id === null ? undefined : await findUserById(db, seen.team_id);
      const customerId = seen.participant1_id === seen.team_id ? seen.participant2_id : seen.participant1_id;
      const customer = await findUserById(db, customerId);
      if (shop?.role !== 'merchant' || customer?.role !== 'buyer') throw badRequest('cannot_escalate');
      const desk = await db
        .selectFrom('users')
        .selectAll()
        .where('role', '=', 'service')
        .where('team_role', '=', 'owner')
        .where('status', '=', 'active')
        .orderBy('created_at')
        .orderBy('id')
        .executeTakeFirst();
      if (!desk) throw notFound('team_not_found');
      const opened = await conversations.open(customer, { participant1_id: customer.id, participant2_id: desk.id });
      const deskId = opened.conversation.id;
      const now = nowSeconds();
      await inTransaction(db, undefined, async (tx) => {
        // Both rows locked in id order, as a batch of sends locks them.
        const [first, second] = [id, deskId].sort() as [string, string];
        const a = await locked(tx, first);
        const b = await locked(tx, second);
        const original = a.id === id ? a : b;
        const linked = a.id === id ? b : a;
        await tx.db.updateTable('conversations').set({ linked_conversation_id: deskId }).where('id', '=', id).execute();
        await tx.db
          .updateTable('conversations')
          .set({ linked_conversation_id: id, status: 'open', awaiting_reply_since: linked.awaiting_reply_since ?? now })
          .where('id', '=', deskId)
          .execute();
        await transactionEvents.record(tx, 'conversation.escalated', () => ({
          conversation_id: id,
          desk_conversation_id: deskId,
          team_id: shop.id,
          customer_id: customer.id,
          desk_id: desk.id,
          reason: body.reason,
          escalated_by: caller.id,
          escalated_at: now,
        }));
        const notes = [
          { conversation: original, owner: shop, text: `会话已升级至平台客服：${body.reason}` },
          { conversation: linked, owner: desk, text: `来自店铺会话的升级：${body.reason}` },
        ];
        for (const { conversation, owner, text } of notes) {
          const system = await writeSystemMessage(tx, conversation, owner, text, now);
          const state: ConversationState = {
            ...stateOf(conversation),
            linkedConversationId: conversation.id === id ? deskId : id,
            ...(conversation.id === deskId ? { status: 'open' as const } : {}),
          };
          tx.afterCommit(() => {
            events.publish('conversation.updated', {
              conversation: state,
              change: 'escalation',
              previousAssigneeId: null,
              actorId: caller.id,
              timestamp: now,
            });
            if (system) publishMessage(system, state);
          });
        }
      });
      return conversations.presentById(deskId);
    },

    /** POST /api/conversations/{id}/platform-messages: the desk handling the escalation speaks in the original. */
    async postAsPlatform(caller: UserRow, id: string, body: PlatformPostBody): Promise<Message> {
      const seen = await conversations.visible(caller, id);
      await access.requireAccess(caller, 'conversation.post_as_platform', { conversation: seen });
      const customer = seen.participant1_id === seen.team_id ? seen.participant2_id : seen.participant1_id;
      const row = {
        id: uuidv7(),
        conversation_id: id,
        sender_id: caller.id,
        content: body.content,
        message_type: 'platform' as const,
        filename: null,
        client_msg_id: null,
        created_at: nowSeconds(),
      };
      const stored = await inTransaction(db, undefined, async (tx) => {
        const [appended] = await appendMessages(tx.db, [
          {
            message: row,
            recipientId: customer,
            recipientUnread: unreadColumnOf(seen, customer),
            preview: previewOf('platform', body.content),
          },
        ]);
        if (appended === undefined) throw notFound('conversation_not_found');
        const { seq } = appended;
        // Both sides are told: the shop's count rises too.
        const shopColumn = unreadColumnOf(
          seen,
          customer === seen.participant1_id ? seen.participant2_id : seen.participant1_id,
        );
        await tx.db
          .updateTable('conversations')
          .set((eb) => ({ [shopColumn]: eb(shopColumn, '+', 1) }))
          .where('id', '=', id)
          .execute();
        return { ...row, seq, is_read: 0, recalled_at: null };
      });
      const [message] = await messages.present([stored], new Map([[caller.id, users.toUser(caller)]]));
      if (!message) throw notFound('conversation_not_found');
      publishMessage(stored, stateOf(seen), message);
      return message;
    },

    /** GET /api/conversations/{id}/notes: oldest first. */
    async notes(caller: UserRow, id: string): Promise<Note[]> {
      const conversation = await conversations.visible(caller, id);
      await access.requireAccess(caller, 'conversation.note', { conversation });
      const rows = await db
        .selectFrom('conversation_notes')
        .selectAll()
        .where('conversation_id', '=', id)
        .orderBy('created_at')
        .orderBy('id')
        .limit(500)
        .execute();
      const authors = new Map(
        (await findUsersByIds(db, [...new Set(rows.map((row) => row.author_id))])).map((u) => [u.id, users.toUser(u)]),
      );
      return rows.map((row) => ({
        ...row,
        created_at: Number(row.created_at),
        author: authors.get(row.author_id) ?? null,
      }));
    },

    /** POST /api/conversations/{id}/notes: pushed as `note` to the team's side and admins, never the customer. */
    async addNote(caller: UserRow, id: string, body: CreateNoteBody): Promise<Note> {
      const conversation = await conversations.visible(caller, id);
      await access.requireAccess(caller, 'conversation.note', { conversation });
      const row = {
        id: uuidv7(),
        conversation_id: id,
        author_id: caller.id,
        content: body.content,
        created_at: nowSeconds(),
      };
      await db.insertInto('conversation_notes').values(row).execute();
      const note: Note = { ...row, author: users.toUser(caller) };
      events.publish('note.created', {
        note,
        participants: [conversation.participant1_id, conversation.participant2_id],
        teamId: conversation.team_id,
      });
      return note;
    },
  };
}
