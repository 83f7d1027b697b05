import type { Page } from '@cs-chat/contracts/rest/common.schemas';
import type {
  Conversation,
  CreateConversationBody,
  ListConversationsQuery,
} from '@cs-chat/contracts/rest/conversation.schemas';
import type { Role, User } from '@cs-chat/contracts/rest/user.schemas';
import type { Kysely } from 'kysely';
import type { Static } from 'typebox';
import { isUniqueViolation } from '../../db/errors.ts';
import { inTransaction, type Tx } from '../../db/transaction.ts';
import type { ConversationRow, Database, UserRow } from '../../db/types.ts';
import type { TransactionEventRecorder } from '../../events/transaction-events.ts';
import { badRequest, notFound } from '../../lib/errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowSeconds } from '../../lib/time.ts';
import { type Action, isAllowedPair } from '../access/access.policy.ts';
import type { AccessService } from '../access/access.service.ts';
import { customerOf } from '../access/presence-rule.ts';
import { findUserById } from '../users/user.repository.ts';
import type { UserService } from '../users/user.service.ts';
import * as repo from './conversation.repository.ts';

/** Who takes part in a conversation and which team answers it: fixed when it is created, so safe to remember. */
export type Membership = Pick<ConversationRow, 'id' | 'participant1_id' | 'participant2_id' | 'team_id'>;

/** Memberships remembered per process; the send path checks one on every message. */
const MEMBERSHIP_CACHE_SIZE = 50_000;

export function isParticipant(conversation: Membership, userId: string): boolean {
  return conversation.participant1_id === userId || conversation.participant2_id === userId;
}

export function otherParticipant(
  conversation: Pick<Membership, 'participant1_id' | 'participant2_id'>,
  userId: string,
): string {
  return conversation.participant1_id === userId ? conversation.participant2_id : conversation.participant1_id;
}

/**
 * The participant `user` speaks for (issue 13): themselves, or for a member
 * of the team answering the conversation, the team's owner. Undefined for
 * anyone else (an admin watching).
 */
export function sideOf(conversation: Membership, user: Pick<UserRow, 'id' | 'team_id'>): string | undefined {
  if (isParticipant(conversation, user.id)) return user.id;
  if (conversation.team_id !== null && user.team_id === conversation.team_id) return conversation.team_id;
  return undefined;
}

/** Whose unread count a message from `senderId` raises: the other side's participant (a member's: the customer's). */
export function recipientOf(conversation: Membership, senderId: string): string {
  if (isParticipant(conversation, senderId) || conversation.team_id === null) {
    return otherParticipant(conversation, senderId);
  }
  return otherParticipant(conversation, conversation.team_id);
}

/** The account a user stands for in a pair: a team member (not the owner) stands for the team's owner. */
async function ownerFor(db: Kysely<Database>, user: UserRow): Promise<UserRow | undefined> {
  if (!user.team_id || user.team_id === user.id) return user;
  return findUserById(db, user.team_id);
}

export interface ConversationServiceDeps {
  db: Kysely<Database>;
  users: UserService;
  access: AccessService;
  /** Told of a new conversation inside its transaction (the webhook outbox writes there). */
  transactionEvents: TransactionEventRecorder;
}

export type ConversationService = ReturnType<typeof createConversationService>;

export function createConversationService({ db, users, access, transactionEvents }: ConversationServiceDeps) {
  function toConversation(
    row: ConversationRow,
    people: ReadonlyMap<string, User>,
    assignee: User | null = null,
  ): Conversation {
    const p1 = people.get(row.participant1_id) ?? null;
    const p2 = people.get(row.participant2_id) ?? null;
    const withRole = (role: Role) => (p1?.role === role ? 1 : p2?.role === role ? 2 : 0);
    const customer = withRole('buyer');
    const merchant = withRole('merchant');
    const unread = [0, Number(row.participant1_unread), Number(row.participant2_unread)] as const;
    const participants = [null, p1, p2] as const;
    const ids = [null, row.participant1_id, row.participant2_id] as const;
    return {
      id: row.id,
      participant1_id: row.participant1_id,
      participant2_id: row.participant2_id,
      participant1_unread: unread[1],
      participant2_unread: unread[2],
      last_message: row.last_message,
      last_message_time: row.last_message_time === null ? null : Number(row.last_message_time),
      last_seq: Number(row.last_seq),
      created_at: Number(row.created_at),
      updated_at: Number(row.updated_at),
      participant1: p1,
      participant2: p2,
      customer_id: ids[customer],
      merchant_id: ids[merchant],
      customer_unread_count: unread[customer],
      merchant_unread_count: unread[merchant],
      customer: participants[customer],
      merchant: participants[merchant],
      team_id: row.team_id,
      assignee_id: row.assignee_id,
      assignee: row.assignee_id === null ? null : (assignee ?? people.get(row.assignee_id) ?? null),
      status: row.status,
      linked_conversation_id: row.linked_conversation_id,
    };
  }

  /** Participants' profiles by id, as the API shows them (a missing row is left out). */
  const profiles = (people: readonly (repo.ParticipantRow | null)[]): Map<string, User> =>
    new Map(people.filter((p) => p !== null).map((p) => [p.id, users.toUser(p)]));

  /** A conversation as the API shows it, given its participants' (and assignee's) rows, at hand or joined. */
  function presentWith(row: ConversationRow, people: readonly (repo.ParticipantRow | null)[]): Conversation {
    return toConversation(row, profiles(people));
  }

  const presentJoined = (item: repo.ConversationWithParticipants) =>
    presentWith(item.conversation, [item.participant1, item.participant2, item.assignee]);

  /** Like presentWith, reading the assignee's row when it is not among `people`. */
  async function presentReading(row: ConversationRow, people: readonly UserRow[], q: Kysely<Database>) {
    const assigneeId = row.assignee_id;
    const assignee =
      assigneeId === null || people.some((p) => p.id === assigneeId) ? undefined : await findUserById(q, assigneeId);
    return presentWith(row, assignee ? [...people, assignee] : people);
  }

  /**
   * The conversation if the caller may `action` it (access.policy.ts; viewing:
   * participants and admins); 404 if it does not exist or they may not see it.
   */
  async function visible(
    caller: UserRow,
    id: string,
    action: Extract<Action, 'conversation.view' | 'conversation.type'> = 'conversation.view',
    tx?: Tx,
  ): Promise<ConversationRow> {
    const conversation = await repo.findConversationById(tx?.db ?? db, id);
    if (!conversation) throw notFound('conversation_not_found');
    // Asynchronous: an escalated conversation's desk side is read when a rule needs it.
    await access.requireAccess(caller, action, { conversation }, tx);
    return conversation;
  }

  const memberships = new Map<string, Membership>();

  /**
   * Like `visible`, for sending (404 for strangers, 403 admin_read_only for
   * admins): only who takes part is needed, and the pair never changes, so it
   * is read once per process and then remembered.
   */
  async function membership(caller: UserRow, id: string): Promise<Membership> {
    let known = memberships.get(id);
    if (!known) {
      const row = await repo.findConversationById(db, id);
      if (!row) throw notFound('conversation_not_found');
      known = {
        id: row.id,
        participant1_id: row.participant1_id,
        participant2_id: row.participant2_id,
        team_id: row.team_id,
      };
      if (memberships.size >= MEMBERSHIP_CACHE_SIZE) {
        const oldest = memberships.keys().next().value;
        if (oldest !== undefined) memberships.delete(oldest);
      }
      memberships.set(id, known);
    }
    access.require(caller, 'conversation.send', { conversation: known });
    return known;
  }

  /** Like `visible`, with both participants' profiles read in the same query. */
  async function visibleWithParticipants(caller: UserRow, id: string): Promise<repo.ConversationWithParticipants> {
    const item = await repo.findConversationWithParticipants(db, id);
    if (!item) throw notFound('conversation_not_found');
    await access.requireAccess(caller, 'conversation.view', { conversation: item.conversation });
    return item;
  }

  return {
    visible,
    membership,

    /** Like `visible`, with the participants' profiles (history pages show them as senders) from the same query. */
    async visibleWithProfiles(
      caller: UserRow,
      id: string,
    ): Promise<{ conversation: ConversationRow; profiles: ReadonlyMap<string, User> }> {
      const item = await visibleWithParticipants(caller, id);
      return { conversation: item.conversation, profiles: profiles([item.participant1, item.participant2]) };
    },

    /**
     * The conversations the caller sees (admins: everyone's, or `query.user_id`'s as a participant),
     * narrowed by status, assignee (`me`, `none` or an id) and answering team.
     */
    async list(caller: UserRow, query: Static<typeof ListConversationsQuery>, page: Page) {
      const userId = query.user_id;
      if (userId !== undefined) access.require(caller, 'conversation.list_of', { userId });
      let viewer: repo.Viewer | undefined = caller;
      if (access.allowsNow(caller, 'realtime.watch_all')) {
        viewer = userId === undefined ? undefined : { id: userId, team_id: null, team_role: null };
      }
      const filter: repo.ConversationFilter = {
        ...(query.status !== undefined ? { status: query.status } : {}),
        ...(query.team_id !== undefined ? { teamId: query.team_id } : {}),
        ...(query.assignee_id === undefined
          ? {}
          : {
              assignee:
                query.assignee_id === 'none'
                  ? { kind: 'none' as const }
                  : { kind: 'id' as const, id: query.assignee_id === 'me' ? caller.id : query.assignee_id },
            }),
      };
      const { count, exact, rows } = await repo.listConversations(
        db,
        viewer,
        filter,
        page.pageSize,
        (page.page - 1) * page.pageSize,
      );
      return { count, ...(exact ? {} : { count_exact: false }), results: rows.map(presentJoined) };
    },

    /** The conversation as the API shows it, with no access check (the caller checked before changing it). */
    async presentById(id: string): Promise<Conversation> {
      const item = await repo.findConversationWithParticipants(db, id);
      if (!item) throw notFound('conversation_not_found');
      return presentJoined(item);
    },

    /**
     * The conversations the caller sees (admins: everyone's) with a participant named
     * like `text` (the other participant, for a participant; the customer, for a team
     * member), newest activity first.
     */
    async listByName(caller: UserRow, text: string, page: Page) {
      const scope = access.allowsNow(caller, 'realtime.watch_all') ? undefined : caller;
      const { count, exact, rows } = await repo.listConversationsByName(
        db,
        scope,
        text,
        page.pageSize,
        (page.page - 1) * page.pageSize,
      );
      return { count, ...(exact ? {} : { count_exact: false }), results: rows.map(presentJoined) };
    },

    async get(caller: UserRow, id: string): Promise<Conversation> {
      return presentJoined(await visibleWithParticipants(caller, id));
    },

    async detail(caller: UserRow, id: string) {
      const item = await visibleWithParticipants(caller, id);
      return { ...presentJoined(item), message_count: Number(item.conversation.message_count) };
    },

    /**
     * Get-or-create for an unordered pair; `created` tells 201 from 200. Alone
     * it needs no transaction (the unique pair key settles a race, and the
     * winner must be read afresh), so it joins only a caller's: there, losing
     * that race may throw the unique violation, for the caller to retry. When
     * `conversation.created` is wanted (a webhook subscribes), the insert and
     * the event's outbox row get a transaction of their own, the reads before
     * stay outside it (the winner of a race is read afresh after its rollback).
     */
    async open(
      caller: UserRow,
      body: CreateConversationBody,
      tx?: Tx,
    ): Promise<{ conversation: Conversation; created: boolean }> {
      const q = tx?.db ?? db;
      access.refuseEarly(caller, 'conversation.open');
      const [a, b] =
        'participant1_id' in body ? [body.participant1_id, body.participant2_id] : [body.customer_id, body.merchant_id];
      access.require(caller, 'conversation.open', { conversation: { participant1_id: a, participant2_id: b } });
      const otherId = a === caller.id ? b : a;
      if (otherId === caller.id) throw badRequest('invalid_pair');
      const named = await findUserById(q, otherId);
      if (!named || named.status === 'deleted') throw notFound('user_not_found');
      // A team member stands for the team's owner: the conversation is the owner's pair (issue 13).
      const [me, other] = await Promise.all([ownerFor(q, caller), ownerFor(q, named)]);
      if (!me || !other || other.status === 'deleted') throw notFound('user_not_found');
      if (me.id === other.id) throw badRequest('invalid_pair');
      if (!isAllowedPair(caller.role, other.role)) {
        // Say why only about people the caller may see; otherwise do not reveal the id exists.
        throw (await access.allows(caller, 'user.view', { user: named }, tx))
          ? badRequest('invalid_pair')
          : notFound('user_not_found');
      }

      const existing = await repo.findConversationByPair(q, me.id, other.id);
      // Both participants are at hand: no need to read them again.
      const present = (row: ConversationRow) => presentReading(row, [me, other], q);
      if (existing) return { conversation: await present(existing), created: false };
      const [participant1_id, participant2_id] = repo.orderedPair(me.id, other.id);
      const now = nowSeconds();
      const row = {
        id: uuidv7(),
        participant1_id,
        participant2_id,
        // Presence is shared at once when the customer side opened it (docs/REALTIME.md, "Presence").
        started_by: caller.id,
        // The served side's team answers it (for a merchant with the desk: the desk).
        team_id: customerOf(me, other) === me ? other.id : me.id,
        created_at: now,
        updated_at: now,
      };
      const roleOf = (id: string) => (id === caller.id ? caller.role : other.role);
      const withRole = (role: Role) => [participant1_id, participant2_id].find((id) => roleOf(id) === role) ?? null;
      try {
        if (tx || transactionEvents.wanted('conversation.created')) {
          await inTransaction(db, tx, async (t) => {
            await repo.insertConversation(t.db, row);
            await transactionEvents.record(t, 'conversation.created', () => ({
              conversation_id: row.id,
              participant1_id,
              participant2_id,
              customer_id: withRole('buyer'),
              merchant_id: withRole('merchant'),
              started_by: caller.id,
              created_at: now,
            }));
          });
        } else {
          await repo.insertConversation(db, row);
        }
      } catch (error) {
        // A concurrent request created the pair first: answer with that row.
        if (!isUniqueViolation(error)) throw error;
        const winner = await repo.findConversationByPair(q, me.id, other.id);
        if (!winner) throw error;
        return { conversation: await present(winner), created: false };
      }
      const created = await repo.findConversationByPair(q, me.id, other.id);
      if (!created) throw notFound('conversation_not_found');
      return { conversation: await present(created), created: true };
    },
  };
}
