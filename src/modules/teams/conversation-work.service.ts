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
import type { ConversationAssignmentsTable, ConversationRow, Database, UserRow } from '../../db/types.ts';
import type { ConversationState } from '../../events/domain-events.ts';
import type { EventPublisher } from '../../events/hub.ts';
import type { TransactionEventRecorder } from '../../events/transaction-events.ts';
import { badRequest, conflict, forbidden, notFound } from '../../lib/errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowSeconds } from '../../lib/time.ts';
import type { AccessService } from '../access/access.service.ts';
import type { ConversationService } from '../conversations/conversation.service.ts';
import type { MessageService } from '../messages/message.service.ts';
import { recordResolves } from '../reports/report-counters.ts';
import { findUserById, findUsersByIds } from '../users/user.repository.ts';
import type { UserService } from '../users/user.service.ts';
import { rosterQueries } from './team.repository.ts';

export type AssignmentKind = ConversationAssignmentsTable['kind'];

/** What the customer reads in the timeline when a conversation changes hands (a `system` message). */
export function systemText(kind: AssignmentKind, to: Pick<UserRow, 'username'> | undefined): string {
  if (kind === 'release' || kind === 'requeue' || kind === 'member_removed' || !to)
    return '会话已转入排队，稍后将有客服为您服务';
  if (kind === 'transfer') return `会话已转接给客服 ${to.username}`;
  return `客服 ${to.username} 为您服务`;
}

export interface ConversationWorkDeps {
  db: Kysely<Database>;
  access: AccessService;
  users: UserService;
  conversations: ConversationService;
  messages: Pick<MessageService, 'prepareServerMessages' | 'writeServerMessages'>;
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
    if (change.owner && conversation.team_id === change.owner.id) {
      // Its text follows the row locked above, so it is prepared here, in the transaction: the send hooks'
      // wait outside the database (presence, only while an endpoint wants message.created) holds the lock.
      const notice = { kind: 'system' as const, conversation, sender: change.owner, createdAt: now };
      const content = systemText(change.kind, change.to ?? undefined);
      await messages.writeServerMessages(tx, await messages.prepareServerMessages([{ ...notice, content }]));
    }
  }

  /**
   * Sets the conversation's status in the caller's transaction (the row locked, the status a new
   * one): the conversation.status_changed webhook with it, conversation_updated after the commit.
   */
  async function changeStatus(
    tx: Tx,
    conversation: ConversationRow,
    status: ConversationRow['status'],
    actorId: string,
    /** Whom the reports count the resolve for: the actor, or nobody when the sweep resolved it. */
    resolvedBy: string | null = actorId,
  ): Promise<void> {
    const now = nowSeconds();
    await tx.db
      .updateTable('conversations')
      .set({
        status,
        // Each resolution opens a rating episode (issue 14): the buyer may rate it once.
        ...(status === 'resolved'
          ? { resolved_at: now, awaiting_reply_since: null, resolutions: sql<number>`resolutions + 1` }
          : {}),
      })
      .where('id', '=', conversation.id)
      .execute();
    if (status === 'resolved') {
      // Where the episode ends for the reports (after the last message, read under the row lock), and the count.
      const resolve = {
        conversationId: conversation.id,
        teamId: conversation.team_id,
        afterSeq: Number(conversation.last_seq),
        resolution: Number(conversation.resolutions) + 1,
        resolvedBy,
      };
      await recordResolves(tx.db, [resolve], now);
    }
    await transactionEvents.record(tx, 'conversation.status_changed', () => ({
      conversation_id: conversation.id,
      team_id: conversation.team_id,
      status,
      previous_status: conversation.status,
      actor_id: actorId,
      changed_at: now,
    }));
    const state = { ...stateOf(conversation), status };
    tx.afterCommit(() =>
      events.publish('conversation.updated', {
        conversation: state,
        change: 'status',
        previousAssigneeId: null,
        actorId,
        timestamp: now,
      }),
    );
  }

  /** The team's owner when it has members besides the owner; undefined for a team of one (no system messages). */
  async function ownerIfStaffed(teamId: string | null): Promise<UserRow | undefined> {
    if (teamId === null || (await roster.membersOf(teamId)).length === 0) return undefined;
    return findUserById(db, teamId);
  }

  return {
    handOver,
    changeStatus,
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
        if (conversation.status !== body.status) await changeStatus(tx, conversation, body.status, caller.id);
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
      // Both timelines show it: a system message from each team's owner.
      const notices = await messages.prepareServerMessages([
        {
          kind: 'system',
          conversation: seen,
          sender: shop,
          content: `会话已升级至平台客服：${body.reason}`,
          createdAt: now,
        },
        {
          kind: 'system',
          conversation: opened.conversation,
          sender: desk,
          content: `来自店铺会话的升级：${body.reason}`,
          createdAt: now,
        },
      ]);
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
        for (const conversation of [original, linked]) {
          const state: ConversationState = {
            ...stateOf(conversation),
            linkedConversationId: conversation.id === id ? deskId : id,
            ...(conversation.id === deskId ? { status: 'open' as const } : {}),
          };
          tx.afterCommit(() =>
            events.publish('conversation.updated', {
              conversation: state,
              change: 'escalation',
              previousAssigneeId: null,
              actorId: caller.id,
              timestamp: now,
            }),
          );
        }
        await messages.writeServerMessages(tx, notices);
      });
      return conversations.presentById(deskId);
    },

    /** POST /api/conversations/{id}/platform-messages: the desk handling the escalation speaks in the original. */
    async postAsPlatform(caller: UserRow, id: string, body: PlatformPostBody): Promise<Message> {
      const seen = await conversations.visible(caller, id);
      await access.requireAccess(caller, 'conversation.post_as_platform', { conversation: seen });
      const post = await messages.prepareServerMessages([
        { kind: 'platform', conversation: seen, sender: caller, content: body.content, createdAt: nowSeconds() },
      ]);
      const [message] = await inTransaction(db, undefined, (tx) => messages.writeServerMessages(tx, post));
      if (!message) throw notFound('conversation_not_found');
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
