import type { ErrorCode } from '@cs-chat/contracts/error-codes';
import type { TeamRole, UserRow } from '../../db/types.ts';
import type { ErrorKind } from '../../lib/errors.ts';

/**
 * Who may see or act on a conversation, a message or a user: every rule in
 * one table, with no I/O. A rule gets the caller and what is known of the
 * caller's relation to the resource (the facts), and answers allowed or the
 * refusal the API gives today: not_found (404) where the resource must not be revealed,
 * forbidden (403) where the caller may see it but not do this. The access service
 * (access.service.ts) turns resources into facts and refusals into errors.
 */

export type Role = UserRow['role'];
/** The caller; `team_id` and `team_role` (issue 13) matter only to team rules, and default to none. */
export type Caller = Pick<UserRow, 'id' | 'role'> & Partial<Pick<UserRow, 'team_id' | 'team_role'>>;

/** Roles anyone may look up: the directory of people a buyer can contact. */
export const DIRECTORY_ROLES: readonly Role[] = ['merchant', 'service'];

const ALLOWED_PAIRS = new Set(['buyer:merchant', 'buyer:service', 'merchant:service']);

/** Whether users of these roles may have a conversation with each other. */
export function isAllowedPair(a: Role, b: Role): boolean {
  return ALLOWED_PAIRS.has([a, b].sort().join(':'));
}

export const ACTIONS = [
  /** Read a conversation, its history and its messages (admins watch every conversation). */
  'conversation.view',
  /** Open (get or create) a conversation; `participant`: the caller is one of the pair asked for. */
  'conversation.open',
  /** Send a message into a conversation. */
  'conversation.send',
  /** Tell the other participant one is typing. */
  'conversation.type',
  /** List the conversations of the user named (`self`: the caller). */
  'conversation.list_of',
  /** Read one message. */
  'message.view',
  /** Mark one message read: only its recipient. */
  'message.mark_read',
  /** Moderation: hard-delete a message. */
  'message.delete',
  /** Take back one's own message (within the recall window, which the service checks). */
  'message.recall',
  /** Speak for the user named in a body or query (sender_id, reader_id, user_id): only for oneself. */
  'user.act_as',
  /** See a user's profile. */
  'user.view',
  /** Change a user's profile or password. */
  'user.update',
  /** Change a user's role or status. */
  'user.manage',
  /** Set a user's password without knowing the old one. */
  'user.reset_password',
  /** List the users of a role (`targetRole`). */
  'user.list_role',
  /** See, change or remove a quick reply (`self`: the caller owns it). */
  'quick_reply.view',
  /** List the quick replies of the user named (`self`: the caller). */
  'quick_reply.list_of',
  /** Write a quick reply of one's own. */
  'quick_reply.create',
  /** Everything, everywhere: every message and status event, every conversation and user listed. */
  'realtime.watch_all',
  /** Register, change, test and remove webhook endpoints, and read their deliveries. */
  'webhook.manage',
  /** Read and replace the content guard's rules and sensitive words. */
  'guard.configure',
  /** Read the content guard's review queue and approve or reject held messages. */
  'guard.review',
  /** See a team (`teamId`): its settings and members. */
  'team.view',
  /** Add, change and remove the members of a team (`teamId`). */
  'team.manage_members',
  /** Change a team's (`teamId`) settings. */
  'team.settings',
  /** Read a team's (`teamId`) response-time report: its owner and supervisors, admins (issue 14). */
  'team.view_report',
  /** Rank every team by its response times: admins. */
  'report.rank_teams',
  /** Claim, assign, transfer or release a conversation (`assignTarget`). */
  'conversation.assign',
  /** Set a conversation's status (pending, resolved, open). */
  'conversation.status',
  /** Read and write a conversation's internal notes (never its customer). */
  'conversation.note',
  /** Escalate a buyer–shop conversation to the platform desk: its customer or the shop's members. */
  'conversation.escalate',
  /** Post into an escalated conversation as the platform: the desk agent handling its linked conversation. */
  'conversation.post_as_platform',
  /** Rate a resolution of the conversation (issue 14): its customer only. */
  'conversation.rate',
  /** Read a conversation's ratings: the team's owner and supervisors, its assignee, admins. */
  'conversation.view_ratings',
] as const;

export type Action = (typeof ACTIONS)[number];

/** What is known of the caller's relation to the resource; a rule that needs a missing fact says so. */
export interface Facts {
  /** The caller is a participant of the conversation (the resource's, or the message's). */
  participant?: boolean;
  /** The caller's side sent the message (the caller, or for a team member, anyone of the team). */
  sender?: boolean;
  /** The caller wrote the message themselves (a colleague's message is their side's, not theirs). */
  author?: boolean;
  /** The user named is the caller. */
  self?: boolean;
  /** The target user's role (user.*), or the role asked about (user.list_role). */
  targetRole?: Role;
  targetStatus?: UserRow['status'];
  /** The caller and the target are the two participants of a conversation (a query: asked for last). */
  sharesConversation?: boolean;
  /** The team the resource belongs to (a team's owner id; a conversation's answering team); null: none. */
  teamId?: string | null;
  /** Who the conversation is assigned to; null: in the team's queue. */
  assigneeId?: string | null;
  /** Where an assignment sends the conversation: to the caller (a claim), another member, or the queue. */
  assignTarget?: 'self' | 'other' | 'queue';
  /**
   * The platform desk's conversation escalated from this one (its team and holder), or null: none.
   * A query, asked only when nothing cheaper decides.
   */
  linkedDesk?: { teamId: string | null; assigneeId: string | null } | null;
}

export type Fact = keyof Facts;

export interface Refusal {
  /** not_found where the resource must not be revealed, forbidden where it may be seen but not acted on. */
  kind: Extract<ErrorKind, 'not_found' | 'forbidden'>;
  error: ErrorCode;
}

export type Decision =
  | { kind: 'allowed' }
  | { kind: 'refused'; refusal: Refusal }
  /** The rule cannot decide without this fact. */
  | { kind: 'needs'; fact: Fact };

const allowed: Decision = { kind: 'allowed' };
const notFound = (error: ErrorCode): Decision => ({ kind: 'refused', refusal: { kind: 'not_found', error } });
const forbidden = (error: ErrorCode = 'forbidden'): Decision => ({
  kind: 'refused',
  refusal: { kind: 'forbidden', error },
});
const needs = (fact: Fact): Decision => ({ kind: 'needs', fact });

type Rule = (caller: Caller, facts: Facts) => Decision;

const isAdmin = (caller: Caller) => caller.role === 'admin';

/** The caller's role in team `teamId`, or undefined when they are not one of its members. */
function teamRoleIn(caller: Caller, teamId: string | null): TeamRole | undefined {
  return teamId !== null && caller.team_id === teamId ? (caller.team_role ?? undefined) : undefined;
}

/** A team's business: admins and the team roles listed; other members 403; everyone else 404. */
const teamRule =
  (...roles: TeamRole[]): Rule =>
  (caller, facts) => {
    if (isAdmin(caller)) return allowed;
    return given(facts, 'teamId', (teamId) => {
      const role = teamRoleIn(caller, teamId);
      if (!role) return notFound('team_not_found');
      return roles.includes(role) ? allowed : forbidden();
    });
  };

/** Runs `next` once `fact` is known. */
function given<F extends Fact>(facts: Facts, fact: F, next: (value: NonNullable<Facts[F]>) => Decision): Decision {
  const value = facts[fact];
  return value === undefined ? needs(fact) : next(value as NonNullable<Facts[F]>);
}

/**
 * Admins see every conversation; participants their own; the answering team's
 * owner and supervisors all of the team's, its agents those assigned to them
 * or to nobody (the queue). To anyone else it does not exist.
 */
function viewConversation(caller: Caller, facts: Facts, missing: ErrorCode): Decision {
  if (isAdmin(caller)) return allowed;
  return given(facts, 'participant', (participant) => {
    if (participant) return allowed;
    // Buyers and admins belong to no team: decided without the conversation's team.
    if (!caller.team_id) return notFound(missing);
    return given(facts, 'teamId', (teamId) => {
      const role = teamRoleIn(caller, teamId);
      if (!role)
        return handlesEscalation(
          caller,
          facts,
          () => allowed,
          () => notFound(missing),
        );
      if (role !== 'agent') return allowed;
      return given(facts, 'assigneeId', (assignee) =>
        assignee === null || assignee === caller.id ? allowed : notFound(missing),
      );
    });
  });
}

/**
 * The desk side of an escalation: the member of the platform desk handling the
 * linked conversation (its holder, or the desk's owner and supervisors) reads
 * the original and posts into it as the platform.
 */
function handlesEscalation(caller: Caller, facts: Facts, yes: () => Decision, no: () => Decision): Decision {
  return given(facts, 'linkedDesk', (desk) => {
    if (desk === null) return no();
    const role = teamRoleIn(caller, desk.teamId);
    if (!role) return no();
    return role !== 'agent' || desk.assigneeId === caller.id ? yes() : no();
  });
}

/**
 * Whether the caller speaks in the conversation: a participant, or a member of
 * the team answering it (who speaks for its owner). Undefined when a fact is missing.
 */
function speaksIn(caller: Caller, facts: Facts): boolean | undefined {
  if (facts.participant) return true;
  if (!caller.team_id) return false;
  if (facts.teamId === undefined) return undefined;
  return teamRoleIn(caller, facts.teamId) !== undefined;
}

/** Admins and the user see everyone; otherwise the directory, and people one shares a conversation with. */
function viewUser(caller: Caller, facts: Facts): Decision {
  if (isAdmin(caller)) return allowed;
  return given(facts, 'self', (self) => {
    if (self) return allowed;
    return given(facts, 'targetStatus', (status) => {
      if (status === 'deleted') return notFound('user_not_found');
      return given(facts, 'targetRole', (role) => {
        if (DIRECTORY_ROLES.includes(role)) return allowed;
        return given(facts, 'sharesConversation', (shares) => (shares ? allowed : notFound('user_not_found')));
      });
    });
  });
}

/** `rule` for whoever may see the user; 404 (not 403) for the others. */
const afterViewingUser =
  (rule: Rule): Rule =>
  (caller, facts) => {
    const seen = viewUser(caller, facts);
    return seen.kind === 'allowed' ? rule(caller, facts) : seen;
  };

const adminOnly: Rule = (caller) => (isAdmin(caller) ? allowed : forbidden());

/** What belongs to the user named: theirs and the admins' to see. */
const ownOrAdmin: Rule = (caller, facts) => {
  if (isAdmin(caller)) return allowed;
  return given(facts, 'self', (self) => (self ? allowed : forbidden()));
};

/**
 * The team's work on a conversation (issue 13): its members who see it, and
 * admins; `agentRule` narrows what an agent may do. Its customer is told 403,
 * anyone else that it does not exist.
 */
const teamWork =
  (agentRule?: Rule): Rule =>
  (caller, facts) => {
    const seen = viewConversation(caller, facts, 'conversation_not_found');
    if (seen.kind !== 'allowed' || isAdmin(caller)) return seen;
    return given(facts, 'teamId', (teamId) => {
      const role = teamRoleIn(caller, teamId);
      if (!role) return forbidden();
      return role === 'agent' && agentRule ? agentRule(caller, facts) : allowed;
    });
  };

const RULES: Record<Action, Rule> = {
  'conversation.view': (caller, facts) => viewConversation(caller, facts, 'conversation_not_found'),

  // Admins only watch: they open nothing and send nothing, whatever the conversation.
  'conversation.open': (caller, facts) => {
    if (isAdmin(caller)) return forbidden('admin_read_only');
    return given(facts, 'participant', (participant) => (participant ? allowed : forbidden('not_a_participant')));
  },
  // Any member of the answering team may answer; whether someone else holds it is the send
  // transaction's to tell (409 assigned_to_other), under the conversation's lock.
  'conversation.send': (caller, facts) => {
    if (isAdmin(caller)) return forbidden('admin_read_only');
    return given(facts, 'participant', () => {
      const speaks = speaksIn(caller, facts);
      if (speaks === undefined) return needs('teamId');
      return speaks ? allowed : notFound('conversation_not_found');
    });
  },
  // An admin sees the conversation, so is told why, not that it does not exist.
  'conversation.type': (caller, facts) => {
    const seen = viewConversation(caller, facts, 'conversation_not_found');
    if (seen.kind !== 'allowed') return seen;
    return speaksIn(caller, facts) ? allowed : forbidden('not_a_participant');
  },
  'conversation.list_of': ownOrAdmin,

  'message.view': (caller, facts) => viewConversation(caller, facts, 'message_not_found'),
  // Only the side the message was sent to (`sender`: the caller's side sent it).
  'message.mark_read': (caller, facts) => {
    const seen = viewConversation(caller, facts, 'message_not_found');
    if (seen.kind !== 'allowed') return seen;
    if (!speaksIn(caller, facts)) return forbidden();
    return given(facts, 'sender', (sender) => (sender ? forbidden() : allowed));
  },
  'message.delete': adminOnly,
  // Only its author (a team member not a colleague's message); admins, who never send, moderate with delete instead.
  'message.recall': (caller, facts) => {
    const seen = viewConversation(caller, facts, 'message_not_found');
    if (seen.kind !== 'allowed') return seen;
    if (isAdmin(caller)) return forbidden('admin_read_only');
    return given(facts, 'author', (author) => (author ? allowed : forbidden()));
  },

  'user.act_as': (_caller, facts) => given(facts, 'self', (self) => (self ? allowed : forbidden())),
  'user.view': viewUser,
  'user.update': afterViewingUser((caller, facts) => (isAdmin(caller) || facts.self ? allowed : forbidden())),
  'user.manage': afterViewingUser(adminOnly),
  'user.reset_password': adminOnly,
  'user.list_role': (caller, facts) => {
    if (isAdmin(caller)) return allowed;
    return given(facts, 'targetRole', (role) => (DIRECTORY_ROLES.includes(role) ? allowed : forbidden()));
  },

  'quick_reply.view': (caller, facts) => {
    if (isAdmin(caller)) return allowed;
    return given(facts, 'self', (self) => (self ? allowed : notFound('quick_reply_not_found')));
  },
  'quick_reply.list_of': ownOrAdmin,
  // Admins keep no quick replies: they never send.
  'quick_reply.create': (caller) => (isAdmin(caller) ? forbidden() : allowed),

  'realtime.watch_all': adminOnly,
  'webhook.manage': adminOnly,
  'guard.configure': adminOnly,
  // Service agents are the platform's own staff: they review as the admins do (issue 16).
  'guard.review': (caller) => (isAdmin(caller) || caller.role === 'service' ? allowed : forbidden()),

  'team.view': teamRule('owner', 'supervisor', 'agent'),
  'team.manage_members': teamRule('owner'),
  'team.settings': teamRule('owner', 'supervisor'),
  // Agents see their own work elsewhere, not their colleagues' figures.
  'team.view_report': teamRule('owner', 'supervisor'),
  'report.rank_teams': adminOnly,

  // An agent claims what they see (the queue, or their own); passes on or releases only their own.
  'conversation.assign': teamWork((caller, facts) =>
    given(facts, 'assignTarget', (target) => {
      if (target === 'self') return allowed;
      return given(facts, 'assigneeId', (assignee) => (assignee === caller.id ? allowed : forbidden()));
    }),
  ),
  'conversation.status': teamWork(),
  'conversation.note': teamWork(),
  // The customer, or the shop's members who see it (the service checks it is a buyer–shop conversation).
  'conversation.escalate': (caller, facts) => {
    const seen = viewConversation(caller, facts, 'conversation_not_found');
    if (seen.kind !== 'allowed') return seen;
    if (isAdmin(caller)) return forbidden('admin_read_only');
    return speaksIn(caller, facts) ? allowed : forbidden();
  },
  'conversation.post_as_platform': (caller, facts) => {
    const seen = viewConversation(caller, facts, 'conversation_not_found');
    if (seen.kind !== 'allowed') return seen;
    if (isAdmin(caller)) return forbidden('admin_read_only');
    return handlesEscalation(
      caller,
      facts,
      () => allowed,
      () => forbidden(),
    );
  },
  // The customer, who sees it as a participant and is not of the team answering it.
  'conversation.rate': (caller, facts) => {
    const seen = viewConversation(caller, facts, 'conversation_not_found');
    if (seen.kind !== 'allowed') return seen;
    if (isAdmin(caller)) return forbidden('admin_read_only');
    return given(facts, 'teamId', (teamId) =>
      facts.participant && caller.id !== teamId && teamRoleIn(caller, teamId) === undefined ? allowed : forbidden(),
    );
  },
  // An agent reads the ratings of what they hold, not of the queue's or a colleague's.
  'conversation.view_ratings': teamWork((caller, facts) =>
    given(facts, 'assigneeId', (assignee) => (assignee === caller.id ? allowed : forbidden())),
  ),
};

/** The answer of the rules to `caller` doing `action`, given what is known of the resource. */
export function decide(caller: Caller, action: Action, facts: Facts = {}): Decision {
  return RULES[action](caller, facts);
}
