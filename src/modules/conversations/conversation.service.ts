import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../../db/errors.ts';
import type { ConversationRow, Database, UserRow } from '../../db/types.ts';
import type { Page } from '../../http/common.schemas.ts';
import { badRequest, forbidden, notFound } from '../../lib/errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowSeconds } from '../../lib/time.ts';
import { findUserById } from '../users/user.repository.ts';
import type { Role, User } from '../users/user.schemas.ts';
import type { UserService } from '../users/user.service.ts';
import * as repo from './conversation.repository.ts';
import type { Conversation, CreateConversationBody } from './conversation.schemas.ts';

const ALLOWED_PAIRS = new Set(['buyer:merchant', 'buyer:service', 'merchant:service']);

export function isAllowedPair(a: Role, b: Role): boolean {
  return ALLOWED_PAIRS.has([a, b].sort().join(':'));
}

/** Who takes part in a conversation: fixed when it is created, so safe to remember. */
export type Membership = Pick<ConversationRow, 'id' | 'participant1_id' | 'participant2_id'>;

/** Memberships remembered per process; the send path checks one on every message. */
const MEMBERSHIP_CACHE_SIZE = 50_000;

export function isParticipant(conversation: Membership, userId: string): boolean {
  return conversation.participant1_id === userId || conversation.participant2_id === userId;
}

export function otherParticipant(conversation: Membership, userId: string): string {
  return conversation.participant1_id === userId ? conversation.participant2_id : conversation.participant1_id;
}

export interface ConversationServiceDeps {
  db: Kysely<Database>;
  users: UserService;
}

export type ConversationService = ReturnType<typeof createConversationService>;

export function createConversationService({ db, users }: ConversationServiceDeps) {
  function toConversation(row: ConversationRow, people: ReadonlyMap<string, User>): Conversation {
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
    };
  }

  /** Participants' profiles by id, as the API shows them (a missing row is left out). */
  const profiles = (people: readonly (repo.ParticipantRow | null)[]): Map<string, User> =>
    new Map(people.filter((p) => p !== null).map((p) => [p.id, users.toUser(p)]));

  /** A conversation as the API shows it, given its participants' rows (already at hand or joined). */
  function presentWith(row: ConversationRow, people: readonly (repo.ParticipantRow | null)[]): Conversation {
    return toConversation(row, profiles(people));
  }

  const presentJoined = (item: repo.ConversationWithParticipants) =>
    presentWith(item.conversation, [item.participant1, item.participant2]);

  const canAccess = (caller: UserRow, conversation: ConversationRow) =>
    caller.role === 'admin' || isParticipant(conversation, caller.id);

  /** The conversation if the caller takes part in it or is an admin; 404 otherwise. */
  async function visible(caller: UserRow, id: string): Promise<ConversationRow> {
    const conversation = await repo.findConversationById(db, id);
    if (!conversation || !canAccess(caller, conversation)) throw notFound('conversation_not_found');
    return conversation;
  }

  const memberships = new Map<string, Membership>();

  /**
   * Like `visible`, for callers that need only who takes part (sending): the
   * pair never changes, so it is read once per process and then remembered.
   */
  async function membership(caller: UserRow, id: string): Promise<Membership> {
    let known = memberships.get(id);
    if (!known) {
      const row = await repo.findConversationById(db, id);
      if (!row) throw notFound('conversation_not_found');
      known = { id: row.id, participant1_id: row.participant1_id, participant2_id: row.participant2_id };
      if (memberships.size >= MEMBERSHIP_CACHE_SIZE) {
        const oldest = memberships.keys().next().value;
        if (oldest !== undefined) memberships.delete(oldest);
      }
      memberships.set(id, known);
    }
    if (caller.role !== 'admin' && !isParticipant(known, caller.id)) throw notFound('conversation_not_found');
    return known;
  }

  /** Like `visible`, with both participants' profiles read in the same query. */
  async function visibleWithParticipants(caller: UserRow, id: string): Promise<repo.ConversationWithParticipants> {
    const item = await repo.findConversationWithParticipants(db, id);
    if (!item || !canAccess(caller, item.conversation)) throw notFound('conversation_not_found');
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

    async list(caller: UserRow, userId: string | undefined, page: Page) {
      if (caller.role !== 'admin' && userId !== undefined && userId !== caller.id) throw forbidden();
      const scope = caller.role === 'admin' ? userId : caller.id;
      const { count, exact, rows } = await repo.listConversations(
        db,
        scope,
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

    /** Get-or-create for an unordered pair; `created` tells 201 from 200. */
    async open(
      caller: UserRow,
      body: CreateConversationBody,
    ): Promise<{ conversation: Conversation; created: boolean }> {
      if (caller.role === 'admin') throw forbidden('admin_read_only');
      const [a, b] =
        'participant1_id' in body ? [body.participant1_id, body.participant2_id] : [body.customer_id, body.merchant_id];
      if (a !== caller.id && b !== caller.id) throw forbidden('not_a_participant');
      const otherId = a === caller.id ? b : a;
      if (otherId === caller.id) throw badRequest('invalid_pair');
      const other = await findUserById(db, otherId);
      if (!other || other.status === 'deleted') throw notFound('user_not_found');
      if (!isAllowedPair(caller.role, other.role)) {
        // Say why only about people the caller may see; otherwise do not reveal the id exists.
        throw (await users.canSee(caller, other)) ? badRequest('invalid_pair') : notFound('user_not_found');
      }

      const existing = await repo.findConversationByPair(db, a, b);
      // Both participants are at hand: no need to read them again.
      const present = (row: ConversationRow) => presentWith(row, [caller, other]);
      if (existing) return { conversation: present(existing), created: false };
      const [participant1_id, participant2_id] = repo.orderedPair(a, b);
      const now = nowSeconds();
      try {
        await repo.insertConversation(db, {
          id: uuidv7(),
          participant1_id,
          participant2_id,
          // Presence is shared at once when the customer side opened it (docs/REALTIME.md, "Presence").
          started_by: caller.id,
          created_at: now,
          updated_at: now,
        });
      } catch (error) {
        // A concurrent request created the pair first: answer with that row.
        if (!isUniqueViolation(error)) throw error;
        const winner = await repo.findConversationByPair(db, a, b);
        if (!winner) throw error;
        return { conversation: present(winner), created: false };
      }
      const created = await repo.findConversationByPair(db, a, b);
      if (!created) throw notFound('conversation_not_found');
      return { conversation: present(created), created: true };
    },
  };
}
