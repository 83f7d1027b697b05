import type { Kysely } from 'kysely';
import type { Tx } from '../../db/transaction.ts';
import type { ConversationRow, Database, MessageRow, UserRow } from '../../db/types.ts';
import { DomainError } from '../../lib/errors.ts';
import {
  type Action,
  type Caller,
  type Decision,
  decide,
  type Facts,
  type Refusal,
  type Role,
} from './access.policy.ts';
import { shareConversation } from './access.repository.ts';

/**
 * Who takes part in a conversation: all an access rule needs of it. The team
 * and assignee matter only to team members; a resource without them makes the
 * rules that need them say so.
 */
export type Participants = Pick<ConversationRow, 'participant1_id' | 'participant2_id'> &
  Partial<Pick<ConversationRow, 'team_id' | 'assignee_id' | 'linked_conversation_id'>>;

/** What a caller acts on; the facts the rules need are derived from it. */
export interface AccessResource {
  /** The conversation acted on (or the message's). */
  conversation?: Participants;
  message?: Pick<MessageRow, 'sender_id'>;
  /** The user acted on. */
  user?: Pick<UserRow, 'id' | 'role' | 'status'>;
  /** A user named only by id (sender_id, reader_id, user_id in a request). */
  userId?: string;
  /** A role asked about (listing users). */
  role?: Role;
  /** The team acted on (its owner's id). */
  teamId?: string;
  /** Where an assignment sends the conversation. */
  assignTarget?: Facts['assignTarget'];
}

/** The caller's relation to the resource, as far as it is at hand without a query. */
export function factsOf(caller: Caller, resource: AccessResource): Facts {
  const facts: Facts = {};
  const { conversation, message, user } = resource;
  if (conversation) {
    facts.participant = conversation.participant1_id === caller.id || conversation.participant2_id === caller.id;
    if (conversation.team_id !== undefined) facts.teamId = conversation.team_id;
    if (conversation.assignee_id !== undefined) facts.assigneeId = conversation.assignee_id;
    // Linked to nothing: no escalation to ask about (a linked one is read when a rule needs it).
    if (!conversation.linked_conversation_id) facts.linkedDesk = null;
  }
  if (message) {
    // A team member's side is the team: everyone but the customer (the participant who is not the team).
    const teamSide =
      conversation?.team_id != null && caller.team_id === conversation.team_id ? conversation.team_id : undefined;
    const customer =
      teamSide === undefined
        ? undefined
        : conversation?.participant1_id === teamSide
          ? conversation.participant2_id
          : conversation?.participant1_id;
    facts.sender = teamSide === undefined ? message.sender_id === caller.id : message.sender_id !== customer;
    facts.author = message.sender_id === caller.id;
  }
  if (resource.userId !== undefined) facts.self = resource.userId === caller.id;
  if (resource.role) facts.targetRole = resource.role;
  if (resource.teamId !== undefined) facts.teamId = resource.teamId;
  if (resource.assignTarget !== undefined) facts.assignTarget = resource.assignTarget;
  if (user) {
    facts.self = user.id === caller.id;
    facts.targetRole = user.role;
    facts.targetStatus = user.status;
  }
  return facts;
}

function errorOf(refusal: Refusal): DomainError {
  return new DomainError(refusal.kind, refusal.error);
}

/** A rule asked for a fact its caller should have given: a bug, not a refusal. */
function missingFact(action: Action, decision: Extract<Decision, { kind: 'needs' }>): Error {
  return new Error(`access rule ${action} needs the fact "${decision.fact}", which the resource does not give`);
}

export type AccessService = ReturnType<typeof createAccessService>;

/**
 * The one place services ask "may this caller do this?" (immich's
 * requireAccess). The rules are access.policy.ts; this reads the facts they
 * need and turns a refusal into the API's 404 or 403.
 */
export function createAccessService(db: Kysely<Database>) {
  /** The decision, asking the database for facts the rules need that the resource does not give. */
  async function decideWithQueries(
    caller: Caller,
    action: Action,
    resource: AccessResource,
    tx: Tx | undefined,
  ): Promise<Decision> {
    const facts = factsOf(caller, resource);
    for (;;) {
      const decision = decide(caller, action, facts);
      if (decision.kind !== 'needs') return decision;
      const linked = resource.conversation?.linked_conversation_id;
      if (decision.fact === 'linkedDesk' && linked && facts.linkedDesk === undefined) {
        const desk = await (tx?.db ?? db)
          .selectFrom('conversations')
          .select(['team_id', 'assignee_id'])
          .where('id', '=', linked)
          .executeTakeFirst();
        facts.linkedDesk = desk ? { teamId: desk.team_id, assigneeId: desk.assignee_id } : null;
        continue;
      }
      if (decision.fact !== 'sharesConversation' || !resource.user || facts.sharesConversation !== undefined) {
        throw missingFact(action, decision);
      }
      facts.sharesConversation = await shareConversation(tx?.db ?? db, caller.id, resource.user.id);
    }
  }

  /** The decision from the facts at hand (no query). */
  function decideNow(caller: Caller, action: Action, resource: AccessResource): Decision {
    const decision = decide(caller, action, factsOf(caller, resource));
    if (decision.kind === 'needs') throw missingFact(action, decision);
    return decision;
  }

  return {
    /**
     * Throws the 404 or 403 the rules give, reading any fact they need (whether two users share a
     * conversation), in the caller's transaction when one is given.
     */
    async requireAccess(caller: Caller, action: Action, resource: AccessResource = {}, tx?: Tx): Promise<void> {
      const decision = await decideWithQueries(caller, action, resource, tx);
      if (decision.kind === 'refused') throw errorOf(decision.refusal);
    },

    /** Whether the rules allow it, reading any fact they need. */
    async allows(caller: Caller, action: Action, resource: AccessResource = {}, tx?: Tx): Promise<boolean> {
      return (await decideWithQueries(caller, action, resource, tx)).kind === 'allowed';
    },

    /** Like requireAccess, for rules the resource at hand decides (the send path: no query, no await). */
    require(caller: Caller, action: Action, resource: AccessResource = {}): void {
      const decision = decideNow(caller, action, resource);
      if (decision.kind === 'refused') throw errorOf(decision.refusal);
    },

    /** Like allows, for rules the resource at hand decides. */
    allowsNow(caller: Caller, action: Action, resource: AccessResource = {}): boolean {
      return decideNow(caller, action, resource).kind === 'allowed';
    },

    /**
     * Throws when the caller's role alone refuses the action (an admin sending),
     * before the resource is looked up: that refusal comes first, as it always has.
     */
    refuseEarly(caller: Caller, action: Action): void {
      const decision = decide(caller, action);
      if (decision.kind === 'refused') throw errorOf(decision.refusal);
    },
  };
}
