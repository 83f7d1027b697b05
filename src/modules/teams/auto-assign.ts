import { type Kysely, sql } from 'kysely';
import { isMysql } from '../../db/dialect.ts';
import { isDeadlock } from '../../db/errors.ts';
import { inTransaction } from '../../db/transaction.ts';
import type { Database, UserRow } from '../../db/types.ts';
import type { EventHub } from '../../events/hub.ts';
import { nowSeconds } from '../../lib/time.ts';
import { recordResolves } from '../reports/report-counters.ts';
import type { ConversationWorkService } from './conversation-work.service.ts';
import { findTeam } from './team.repository.ts';

/** A member away longer than this has their conversations that await a reply assigned again. */
export const OFFLINE_GRACE_MS = 2 * 60_000;
/** How often every instance sweeps: the queue, agents gone offline, idle conversations to resolve. */
export const SWEEP_INTERVAL_MS = 30_000;
/** Conversations assigned per drain at most (the next drain or sweep takes the rest). */
const DRAIN_BATCH = 50;
const DEADLOCK_RETRIES = 3;

export interface AutoAssignDeps {
  db: Kysely<Database>;
  work: Pick<ConversationWorkService, 'handOver' | 'ownerIfStaffed'>;
  /** The subset of `userIds` online on any instance (presence through the bus). */
  online: (userIds: readonly string[]) => Promise<readonly string[]>;
  /** The team's members other than the owner, cached (realtime's roster when there is one). */
  membersOf: (teamId: string) => Promise<readonly { id: string; role: 'supervisor' | 'agent' }[]>;
  logger: { warn(details: object, message: string): void };
}

export type AutoAssigner = ReturnType<typeof createAutoAssigner>;

/**
 * Automatic assignment (issue 13, docs/API.md "Teams"). A conversation that
 * needs someone (its customer wrote; nobody holds it) goes, in a transaction
 * of its own after the message's commit, to a member who is online (on any
 * instance), available and under capacity: min(their max_open, the team's
 * max_open_per_agent) unresolved conversations. Its previous holder first when
 * they can take it, else the fewest open, then the one assigned least recently.
 *
 * Right under concurrency without in-memory state: the conversation's row is
 * locked first, then the candidates' rows in id order, and their open
 * conversations are counted under those locks (every assignment takes the
 * assignee's row lock), so two instances never push one member over capacity
 * and a conversation never gets two holders. The open, unassigned
 * conversations that await a reply are the durable queue: a drain (a member
 * came online, became available or has room again) and the periodic sweep of
 * every instance take them oldest first.
 */
export function createAutoAssigner({ db, work, online, membersOf, logger }: AutoAssignDeps) {
  /** Members seen offline holding conversations, since when (ms): this instance's sweeps compare. */
  const offlineSince = new Map<string, number>();

  /** Assigns one conversation if it needs someone and someone can take it; true when it did. */
  async function assignOnce(conversationId: string, teamId: string): Promise<boolean> {
    const members = await membersOf(teamId);
    if (members.length === 0) return false;
    // Most customer messages land in a conversation someone holds: one read by key settles those.
    const glance = await db
      .selectFrom('conversations')
      .select(['assignee_id', 'status'])
      .where('id', '=', conversationId)
      .executeTakeFirst();
    if (!glance || glance.assignee_id !== null || glance.status !== 'open') return false;
    const team = await findTeam(db, teamId);
    if (!team?.auto_assign) return false;
    const present = new Set(await online(members.map((member) => member.id)));
    const candidates = members
      .map((member) => member.id)
      .filter((id) => present.has(id))
      .sort();
    if (candidates.length === 0) return false;
    const owner = await work.ownerIfStaffed(teamId);
    return inTransaction(db, undefined, async (tx) => {
      const mysql = isMysql(tx.db);
      const conversationQuery = tx.db.selectFrom('conversations').selectAll().where('id', '=', conversationId);
      const conversation = await (mysql ? conversationQuery.forUpdate() : conversationQuery).executeTakeFirst();
      if (!conversation || conversation.assignee_id !== null || conversation.team_id !== teamId) return false;
      if (conversation.status !== 'open' || conversation.awaiting_reply_since === null) return false;
      // The candidates' rows, locked in id order (every assignment takes its assignee's lock).
      const usersQuery = tx.db
        .selectFrom('users')
        .selectAll()
        .where('id', 'in', candidates)
        .where('team_id', '=', teamId)
        .where('status', '=', 'active')
        .orderBy('id');
      const rows: UserRow[] = await (mysql ? usersQuery.forUpdate() : usersQuery).execute();
      // Counted under those locks: the first plain read of this transaction, so its snapshot is after them.
      const counts = await tx.db
        .selectFrom('conversations')
        .select((eb) => ['assignee_id', eb.fn.countAll<number>().as('count')])
        .where(
          'assignee_id',
          'in',
          rows.map((row) => row.id),
        )
        .where('status', '!=', 'resolved')
        .groupBy('assignee_id')
        .execute();
      const open = new Map(counts.map((row) => [row.assignee_id, Number(row.count)]));
      const eligible = rows.filter((row) => {
        const capacity = Math.min(Number(row.max_open ?? Number.POSITIVE_INFINITY), Number(team.max_open_per_agent));
        return Boolean(row.available) && (open.get(row.id) ?? 0) < capacity;
      });
      const previous = eligible.find((row) => row.id === conversation.previous_assignee_id);
      const chosen =
        previous ??
        eligible.sort(
          (a, b) =>
            (open.get(a.id) ?? 0) - (open.get(b.id) ?? 0) ||
            Number(a.last_assigned_at ?? 0) - Number(b.last_assigned_at ?? 0) ||
            (a.id < b.id ? -1 : 1),
        )[0];
      if (!chosen) return false;
      await work.handOver(tx, conversation, { to: chosen, kind: 'auto', actorId: teamId, owner });
      return true;
    });
  }

  async function assign(conversationId: string, teamId: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await assignOnce(conversationId, teamId);
      } catch (error) {
        if (!isDeadlock(error) || attempt >= DEADLOCK_RETRIES) throw error;
      }
    }
  }

  /** The team's queue, oldest wait first. */
  function queued(teamId: string, limit: number) {
    return db
      .selectFrom('conversations')
      .select('id')
      .where('team_id', '=', teamId)
      .where('assignee_id', 'is', null)
      .where('status', '=', 'open')
      .where('awaiting_reply_since', 'is not', null)
      .orderBy('awaiting_reply_since')
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /** Assigns the team's queue, oldest first, each in its own transaction, until nobody can take more. */
  async function drain(teamId: string): Promise<number> {
    let assigned = 0;
    for (const { id } of await queued(teamId, DRAIN_BATCH)) {
      if (!(await assign(id, teamId))) break;
      assigned += 1;
    }
    return assigned;
  }

  /** Puts an absent member's conversations that await a reply back through assignment. */
  async function requeueAbsent(memberId: string, teamId: string): Promise<void> {
    const held = await db
      .selectFrom('conversations')
      .select('id')
      .where('assignee_id', '=', memberId)
      .where('status', '=', 'open')
      .where('awaiting_reply_since', 'is not', null)
      .execute();
    const owner = await work.ownerIfStaffed(teamId);
    for (const { id } of held) {
      await inTransaction(db, undefined, async (tx) => {
        const query = tx.db.selectFrom('conversations').selectAll().where('id', '=', id);
        const conversation = await (isMysql(tx.db) ? query.forUpdate() : query).executeTakeFirst();
        // Answered or taken over meanwhile: nothing to do.
        if (!conversation || conversation.assignee_id !== memberId || conversation.awaiting_reply_since === null)
          return;
        await work.handOver(tx, conversation, { to: null, kind: 'requeue', actorId: teamId, owner });
      });
    }
  }

  /** One sweep: assign every queue, requeue members offline past the grace, resolve idle conversations. */
  async function sweep(now = Date.now()): Promise<void> {
    const waiting = await db
      .selectFrom('conversations')
      .select('team_id')
      .distinct()
      .where('assignee_id', 'is', null)
      .where('status', '=', 'open')
      .where('awaiting_reply_since', 'is not', null)
      .where('team_id', 'is not', null)
      .limit(200)
      .execute();
    const holders = await db
      .selectFrom('conversations')
      .select(['assignee_id', 'team_id'])
      .distinct()
      .where('assignee_id', 'is not', null)
      .where('status', '=', 'open')
      .where('awaiting_reply_since', 'is not', null)
      .limit(1000)
      .execute();
    const present = new Set(await online(holders.flatMap((row) => (row.assignee_id ? [row.assignee_id] : []))));
    const requeued = new Set<string>();
    for (const { assignee_id: memberId, team_id: teamId } of holders) {
      if (!memberId || !teamId || memberId === teamId) continue;
      if (present.has(memberId)) {
        offlineSince.delete(memberId);
        continue;
      }
      const since = offlineSince.get(memberId) ?? now;
      offlineSince.set(memberId, since);
      if (now - since < OFFLINE_GRACE_MS) continue;
      await requeueAbsent(memberId, teamId);
      offlineSince.delete(memberId);
      requeued.add(teamId);
    }
    for (const teamId of new Set([...waiting.flatMap((row) => (row.team_id ? [row.team_id] : [])), ...requeued])) {
      await drain(teamId);
    }
    await autoResolve();
  }

  /** Resolves the conversations idle longer than their team's auto_resolve_hours. */
  async function autoResolve(): Promise<void> {
    const teams = await db
      .selectFrom('teams')
      .select(['owner_id', 'auto_resolve_hours'])
      .where('auto_resolve_hours', 'is not', null)
      .execute();
    const now = nowSeconds();
    for (const team of teams) {
      // The idle conversations locked, so each resolve is marked after its last message (the reports' episodes).
      await inTransaction(db, undefined, async (tx) => {
        const query = tx.db
          .selectFrom('conversations')
          .select(['id', 'last_seq', 'resolutions'])
          .where('team_id', '=', team.owner_id)
          .where('status', '!=', 'resolved')
          .where('updated_at', '<', now - Number(team.auto_resolve_hours) * 3600)
          .orderBy('id');
        const idle = await (isMysql(tx.db) ? query.forUpdate() : query).execute();
        if (idle.length === 0) return;
        await tx.db
          .updateTable('conversations')
          .set({ status: 'resolved', resolved_at: now, awaiting_reply_since: null, resolutions: sql`resolutions + 1` })
          .where(
            'id',
            'in',
            idle.map((row) => row.id),
          )
          .execute();
        const resolves = idle.map((row) => ({
          conversationId: row.id,
          teamId: team.owner_id,
          afterSeq: Number(row.last_seq),
          resolution: Number(row.resolutions) + 1,
          resolvedBy: null,
        }));
        await recordResolves(tx.db, resolves, now);
      });
    }
  }

  /** Runs `task` in the background: a failure is logged, never thrown at the event that caused it. */
  const background = (what: string, task: () => Promise<unknown>) =>
    void task().catch((error: unknown) => logger.warn({ err: error }, `automatic assignment: ${what} failed`));

  return {
    assign,
    drain,
    sweep,

    /**
     * Subscribes to the events that start assignment: a customer's message (not a
     * system or platform one) into a conversation nobody holds; a member's team changing
     * (availability, capacity, a removal). A team of one, once its roster is cached, costs nothing.
     */
    subscribe(hub: Pick<EventHub, 'subscribe'>): () => void {
      const unsubscribers = [
        hub.subscribe('message.created', ({ message, participants, teamId }) => {
          if (teamId === null || message.message_type === 'system' || message.message_type === 'platform') return;
          const customer = participants[0] === teamId ? participants[1] : participants[0];
          if (message.sender_id !== customer) return;
          background('a customer message', async () => {
            if ((await membersOf(teamId)).length === 0) return;
            await assign(message.conversation_id, teamId);
          });
        }),
        hub.subscribe('team.changed', ({ ownerId }) => background('a team change', () => drain(ownerId))),
        // Room again for the member who lost it (released, passed on, requeued) or resolved it: the
        // queue may move. An assignment from the queue frees nobody's room, so it starts no drain.
        hub.subscribe('conversation.updated', ({ conversation, change, previousAssigneeId }) => {
          const teamId = conversation.teamId;
          if (teamId === null) return;
          // An escalation: the desk's conversation needs someone, like a customer's message.
          if (change === 'escalation' && conversation.assigneeId === null) {
            background('an escalation', () => assign(conversation.id, teamId));
            return;
          }
          const freed = change === 'assignment' ? previousAssigneeId !== null : conversation.status === 'resolved';
          if (freed) background('a conversation change', () => drain(teamId));
        }),
      ];
      return () => {
        for (const unsubscribe of unsubscribers) unsubscribe();
      };
    },

    /** A user's first connection opened (on any instance): a member's team may assign them its queue. */
    cameOnline(user: Pick<UserRow, 'id' | 'team_id' | 'team_role'>): void {
      const teamId = user.team_id;
      if (!teamId || user.team_role === 'owner' || !user.team_role) return;
      offlineSince.delete(user.id);
      background('a member coming online', () => drain(teamId));
    },

    /** Sweeps every SWEEP_INTERVAL_MS until the returned function is called. */
    start(intervalMs = SWEEP_INTERVAL_MS): () => void {
      const timer = setInterval(() => background('the sweep', () => sweep()), intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
