import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ACTIONS,
  type Action,
  type Caller,
  type Decision,
  decide,
  type Facts,
  isAllowedPair,
  type Role,
} from '../src/modules/access/access.policy.ts';

/**
 * Every action × every relation the caller can have to the resource × every
 * role → the answer, over the pure rules (no database). The answers are what
 * the API gives today (test/authorization-matrix.test.ts checks them end to
 * end): 'ok', or the status and error code of the refusal.
 */

const ROLES = ['buyer', 'merchant', 'service', 'admin'] as const satisfies readonly Role[];
type Outcome = 'ok' | `${403 | 404} ${string}`;
type PerRole = Record<(typeof ROLES)[number], Outcome>;

const everyone = (outcome: Outcome): PerRole => ({
  buyer: outcome,
  merchant: outcome,
  service: outcome,
  admin: outcome,
});
/** Chat roles get `others`, admins `admin`. */
const chat = (others: Outcome, admin: Outcome): PerRole => ({ ...everyone(others), admin });

interface Row {
  action: Action;
  relation: string;
  facts: Facts;
  expect: PerRole;
}

/** Relations to a conversation (or to the conversation of a message). */
const PARTICIPANT: Facts = { participant: true };
const STRANGER: Facts = { participant: false };

/** Relations to a user; `sharesConversation` is the one fact that costs a query. */
const SELF: Facts = { self: true, targetRole: 'buyer', targetStatus: 'active' };
const user = (
  targetRole: Role,
  targetStatus: 'active' | 'inactive' | 'deleted',
  sharesConversation: boolean,
): Facts => ({
  self: false,
  targetRole,
  targetStatus,
  sharesConversation,
});

const ROWS: Row[] = [
  // Conversations: participants and admins see them; to anyone else they do not exist.
  { action: 'conversation.view', relation: 'participant', facts: PARTICIPANT, expect: everyone('ok') },
  {
    action: 'conversation.view',
    relation: 'stranger',
    facts: STRANGER,
    expect: chat('404 conversation_not_found', 'ok'),
  },
  // Admins only watch: they open and send nothing, whatever the conversation.
  {
    action: 'conversation.open',
    relation: 'one of the pair',
    facts: PARTICIPANT,
    expect: chat('ok', '403 admin_read_only'),
  },
  {
    action: 'conversation.open',
    relation: 'not one of the pair',
    facts: STRANGER,
    expect: chat('403 not_a_participant', '403 admin_read_only'),
  },
  {
    action: 'conversation.send',
    relation: 'participant',
    facts: PARTICIPANT,
    expect: chat('ok', '403 admin_read_only'),
  },
  {
    action: 'conversation.send',
    relation: 'stranger',
    facts: STRANGER,
    expect: chat('404 conversation_not_found', '403 admin_read_only'),
  },
  { action: 'conversation.type', relation: 'participant', facts: PARTICIPANT, expect: everyone('ok') },
  {
    action: 'conversation.type',
    relation: 'stranger',
    facts: STRANGER,
    expect: chat('404 conversation_not_found', '403 not_a_participant'),
  },
  { action: 'conversation.list_of', relation: 'self', facts: { self: true }, expect: everyone('ok') },
  {
    action: 'conversation.list_of',
    relation: 'someone else',
    facts: { self: false },
    expect: chat('403 forbidden', 'ok'),
  },

  // Messages: seen with their conversation; marked read by their recipient only; deleted by admins.
  { action: 'message.view', relation: 'participant', facts: PARTICIPANT, expect: everyone('ok') },
  { action: 'message.view', relation: 'stranger', facts: STRANGER, expect: chat('404 message_not_found', 'ok') },
  {
    action: 'message.mark_read',
    relation: 'recipient',
    facts: { participant: true, sender: false },
    expect: everyone('ok'),
  },
  {
    action: 'message.mark_read',
    relation: 'sender',
    facts: { participant: true, sender: true },
    expect: everyone('403 forbidden'),
  },
  {
    action: 'message.mark_read',
    relation: 'stranger',
    facts: { participant: false, sender: false },
    expect: chat('404 message_not_found', '403 forbidden'),
  },
  { action: 'message.delete', relation: 'any', facts: {}, expect: chat('403 forbidden', 'ok') },

  // Speaking for someone else (sender_id, reader_id, user_id): nobody, admins included.
  { action: 'user.act_as', relation: 'self', facts: { self: true }, expect: everyone('ok') },
  { action: 'user.act_as', relation: 'someone else', facts: { self: false }, expect: everyone('403 forbidden') },

  // Users: admins and the user see everyone; others the directory and the people they talk with.
  { action: 'user.view', relation: 'self', facts: SELF, expect: everyone('ok') },
  {
    action: 'user.view',
    relation: 'buyer sharing a conversation',
    facts: user('buyer', 'active', true),
    expect: everyone('ok'),
  },
  {
    action: 'user.view',
    relation: 'buyer sharing nothing',
    facts: user('buyer', 'active', false),
    expect: chat('404 user_not_found', 'ok'),
  },
  {
    action: 'user.view',
    relation: 'directory merchant',
    facts: user('merchant', 'active', false),
    expect: everyone('ok'),
  },
  {
    action: 'user.view',
    relation: 'directory service',
    facts: user('service', 'active', false),
    expect: everyone('ok'),
  },
  {
    action: 'user.view',
    relation: 'disabled merchant',
    facts: user('merchant', 'inactive', false),
    expect: everyone('ok'),
  },
  {
    action: 'user.view',
    relation: 'deleted merchant',
    facts: user('merchant', 'deleted', false),
    expect: chat('404 user_not_found', 'ok'),
  },
  {
    action: 'user.view',
    relation: 'deleted buyer sharing a conversation',
    facts: user('buyer', 'deleted', true),
    expect: chat('404 user_not_found', 'ok'),
  },
  {
    action: 'user.view',
    relation: 'another admin',
    facts: user('admin', 'active', false),
    expect: chat('404 user_not_found', 'ok'),
  },
  { action: 'user.update', relation: 'self', facts: SELF, expect: everyone('ok') },
  {
    action: 'user.update',
    relation: 'directory merchant',
    facts: user('merchant', 'active', false),
    expect: chat('403 forbidden', 'ok'),
  },
  {
    action: 'user.update',
    relation: 'buyer sharing a conversation',
    facts: user('buyer', 'active', true),
    expect: chat('403 forbidden', 'ok'),
  },
  {
    action: 'user.update',
    relation: 'buyer sharing nothing',
    facts: user('buyer', 'active', false),
    expect: chat('404 user_not_found', 'ok'),
  },
  { action: 'user.manage', relation: 'self', facts: SELF, expect: chat('403 forbidden', 'ok') },
  {
    action: 'user.manage',
    relation: 'directory merchant',
    facts: user('merchant', 'active', false),
    expect: chat('403 forbidden', 'ok'),
  },
  {
    action: 'user.manage',
    relation: 'buyer sharing nothing',
    facts: user('buyer', 'active', false),
    expect: chat('404 user_not_found', 'ok'),
  },
  { action: 'user.reset_password', relation: 'any', facts: {}, expect: chat('403 forbidden', 'ok') },
  { action: 'user.list_role', relation: 'buyers', facts: { targetRole: 'buyer' }, expect: chat('403 forbidden', 'ok') },
  { action: 'user.list_role', relation: 'merchants', facts: { targetRole: 'merchant' }, expect: everyone('ok') },
  { action: 'user.list_role', relation: 'service agents', facts: { targetRole: 'service' }, expect: everyone('ok') },
  { action: 'user.list_role', relation: 'admins', facts: { targetRole: 'admin' }, expect: chat('403 forbidden', 'ok') },

  // Quick replies: their owner's (and the admins' to see); admins keep none.
  { action: 'quick_reply.view', relation: 'own', facts: { self: true }, expect: everyone('ok') },
  {
    action: 'quick_reply.view',
    relation: "someone else's",
    facts: { self: false },
    expect: chat('404 quick_reply_not_found', 'ok'),
  },
  { action: 'quick_reply.list_of', relation: 'self', facts: { self: true }, expect: everyone('ok') },
  {
    action: 'quick_reply.list_of',
    relation: 'someone else',
    facts: { self: false },
    expect: chat('403 forbidden', 'ok'),
  },
  { action: 'quick_reply.create', relation: 'any', facts: {}, expect: chat('ok', '403 forbidden') },

  // The admin audience: every event, every conversation and user listed.
  { action: 'realtime.watch_all', relation: 'any', facts: {}, expect: chat('403 forbidden', 'ok') },
  { action: 'webhook.manage', relation: 'any', facts: {}, expect: chat('403 forbidden', 'ok') },
  { action: 'report.rank_teams', relation: 'any', facts: {}, expect: chat('403 forbidden', 'ok') },

  // Recall: the sender only; admins moderate with delete.
  {
    action: 'message.recall',
    relation: 'own',
    facts: { participant: true, sender: true, author: true },
    expect: chat('ok', '403 admin_read_only'),
  },
  {
    action: 'message.recall',
    relation: "the other participant's",
    facts: { participant: true, sender: false, author: false },
    expect: chat('403 forbidden', '403 admin_read_only'),
  },
  {
    action: 'message.recall',
    relation: 'in a conversation not theirs',
    facts: { participant: false, sender: false, author: false },
    expect: chat('404 message_not_found', '403 admin_read_only'),
  },

  // The content guard: admins configure it; service agents review with them.
  { action: 'guard.configure', relation: 'any', facts: {}, expect: chat('403 forbidden', 'ok') },
  {
    action: 'guard.review',
    relation: 'any',
    facts: {},
    expect: { buyer: '403 forbidden', merchant: '403 forbidden', service: 'ok', admin: 'ok' },
  },

  // The team's work on a conversation: its customer (a participant of no team) is refused, strangers 404.
  ...(['conversation.assign', 'conversation.status', 'conversation.note'] as const).flatMap((action) => [
    {
      action,
      relation: 'participant of no team',
      facts: { ...PARTICIPANT, teamId: 'm1', assigneeId: null, assignTarget: 'self' as const },
      expect: chat('403 forbidden', 'ok'),
    },
    {
      action,
      relation: 'stranger',
      facts: { ...STRANGER, teamId: 'm1', assigneeId: null, assignTarget: 'self' as const },
      expect: chat('404 conversation_not_found', 'ok'),
    },
  ]),

  // Escalation: the customer (a participant) escalates; admins watch; posting as the platform is the desk's.
  {
    action: 'conversation.escalate',
    relation: 'participant',
    facts: { ...PARTICIPANT, teamId: 'm1', linkedDesk: null },
    expect: chat('ok', '403 admin_read_only'),
  },
  {
    action: 'conversation.escalate',
    relation: 'stranger',
    facts: { ...STRANGER, teamId: 'm1', linkedDesk: null },
    expect: chat('404 conversation_not_found', '403 admin_read_only'),
  },
  {
    action: 'conversation.post_as_platform',
    relation: 'participant',
    facts: { ...PARTICIPANT, teamId: 'm1', linkedDesk: { teamId: 'p1', assigneeId: 'p1a' } },
    expect: chat('403 forbidden', '403 admin_read_only'),
  },

  // Ratings (issue 14): the customer rates; the team's side reads them.
  {
    action: 'conversation.rate',
    relation: 'participant of no team',
    facts: { ...PARTICIPANT, teamId: 'm1' },
    expect: chat('ok', '403 admin_read_only'),
  },
  {
    action: 'conversation.rate',
    relation: 'stranger',
    facts: { ...STRANGER, teamId: 'm1' },
    expect: chat('404 conversation_not_found', '403 admin_read_only'),
  },
  {
    action: 'conversation.view_ratings',
    relation: 'participant of no team',
    facts: { ...PARTICIPANT, teamId: 'm1', assigneeId: 'm1a' },
    expect: chat('403 forbidden', 'ok'),
  },
  {
    action: 'conversation.view_ratings',
    relation: 'stranger',
    facts: { ...STRANGER, teamId: 'm1', assigneeId: 'm1a' },
    expect: chat('404 conversation_not_found', 'ok'),
  },

  // Teams: a chat role alone belongs to no team (the team table below has the members).
  ...(['team.view', 'team.manage_members', 'team.settings', 'team.view_report'] as const).map((action) => ({
    action,
    relation: 'a team the caller is not in',
    facts: { teamId: 'm1' },
    expect: chat('404 team_not_found', 'ok'),
  })),
];

/**
 * Team members (issue 13) against team m1: its owner, a supervisor, an agent,
 * an agent of another team, and an admin for comparison.
 */
const TEAM_CALLERS = {
  owner: { id: 'm1', role: 'merchant', team_id: 'm1', team_role: 'owner' },
  supervisor: { id: 'm1s', role: 'merchant', team_id: 'm1', team_role: 'supervisor' },
  agent: { id: 'm1a', role: 'merchant', team_id: 'm1', team_role: 'agent' },
  otherAgent: { id: 'm2a', role: 'merchant', team_id: 'm2', team_role: 'agent' },
  admin: { id: 'a1', role: 'admin', team_id: null, team_role: null },
  deskAgent: { id: 'p1a', role: 'service', team_id: 'p1', team_role: 'agent' },
} as const satisfies Record<string, Caller>;
type TeamCaller = keyof typeof TEAM_CALLERS;

interface TeamRow {
  action: Action;
  relation: string;
  facts: Facts;
  expect: Record<TeamCaller, Outcome>;
}

const TEAM_M1: Facts = { teamId: 'm1' };
/** A conversation of a buyer with m1 (the owner is its participant; members are not). */
const m1Conversation = (assigneeId: string | null): Facts => ({
  participant: false,
  teamId: 'm1',
  assigneeId,
  linkedDesk: null,
});
const teamRow = (
  action: Action,
  relation: string,
  facts: Facts,
  outcomes: [TeamCaller, Outcome][],
  otherwise: Outcome,
): TeamRow => ({
  action,
  relation,
  facts,
  expect: Object.fromEntries(
    (Object.keys(TEAM_CALLERS) as TeamCaller[]).map((who) => {
      const named = (name: TeamCaller) => outcomes.find(([caller]) => caller === name)?.[1];
      // A desk agent is a stranger to the shop's conversations unless a row says otherwise.
      return [who, named(who) ?? (who === 'deskAgent' ? (named('otherAgent') ?? otherwise) : otherwise)];
    }),
  ) as Record<TeamCaller, Outcome>,
});

/** An m1 conversation escalated to the desk p1, whose linked conversation p1a holds. */
const escalated = (assigneeId: string | null, deskAssignee: string | null): Facts => ({
  ...m1Conversation(assigneeId),
  linkedDesk: { teamId: 'p1', assigneeId: deskAssignee },
});

const TEAM_ROWS: TeamRow[] = [
  // The desk agent handling an escalation reads the original and posts into it as the platform.
  teamRow(
    'conversation.view',
    'an escalated conversation the desk agent handles',
    escalated('m1b', 'p1a'),
    [
      ['deskAgent', 'ok'],
      ['agent', '404 conversation_not_found'],
      ['otherAgent', '404 conversation_not_found'],
    ],
    'ok',
  ),
  teamRow(
    'conversation.view',
    'one escalated to another desk agent',
    escalated(null, 'p1b'),
    [
      ['otherAgent', '404 conversation_not_found'],
      ['deskAgent', '404 conversation_not_found'],
    ],
    'ok',
  ),
  teamRow(
    'conversation.post_as_platform',
    'an escalated conversation the desk agent handles',
    escalated(null, 'p1a'),
    [
      ['deskAgent', 'ok'],
      ['owner', '403 forbidden'],
      ['supervisor', '403 forbidden'],
      ['agent', '403 forbidden'],
      ['otherAgent', '404 conversation_not_found'],
      ['admin', '403 admin_read_only'],
    ],
    'ok',
  ),
  teamRow(
    'conversation.escalate',
    'an unassigned team conversation',
    escalated(null, null),
    [
      ['otherAgent', '404 conversation_not_found'],
      ['admin', '403 admin_read_only'],
      ['deskAgent', '404 conversation_not_found'],
    ],
    'ok',
  ),
  // The owner is a participant of every conversation of its team (the participant rows above); the
  // facts below are a member's, who is not. The owner's rows show what it would be without that.
  // Viewing: supervisors all of the team's, agents the queue and their own; other teams nothing.
  ...(['conversation.view', 'message.view'] as const).flatMap((action) => {
    const missing = action === 'message.view' ? '404 message_not_found' : '404 conversation_not_found';
    return [
      teamRow(
        action,
        'an unassigned team conversation',
        m1Conversation(null),
        [['otherAgent', missing as Outcome]],
        'ok',
      ),
      teamRow(action, 'one assigned to the agent', m1Conversation('m1a'), [['otherAgent', missing as Outcome]], 'ok'),
      teamRow(
        action,
        'one assigned to a colleague',
        m1Conversation('m1b'),
        [
          ['agent', missing as Outcome],
          ['otherAgent', missing as Outcome],
        ],
        'ok',
      ),
    ];
  }),
  // Any member may answer (the send transaction refuses one held by someone else: 409); admins watch.
  teamRow(
    'conversation.send',
    'a team conversation',
    m1Conversation('m1b'),
    [
      ['otherAgent', '404 conversation_not_found'],
      ['admin', '403 admin_read_only'],
    ],
    'ok',
  ),
  teamRow(
    'conversation.type',
    'an unassigned team conversation',
    m1Conversation(null),
    [
      ['otherAgent', '404 conversation_not_found'],
      ['admin', '403 not_a_participant'],
    ],
    'ok',
  ),
  // Marking read: the side the message was sent to; for members, the customer's messages.
  // Ratings: the team side never rates; an agent reads only what they hold.
  teamRow(
    'conversation.rate',
    "an agent's conversation",
    m1Conversation('m1a'),
    [
      ['otherAgent', '404 conversation_not_found'],
      ['admin', '403 admin_read_only'],
    ],
    '403 forbidden',
  ),
  teamRow(
    'conversation.view_ratings',
    "the agent's own",
    m1Conversation('m1a'),
    [['otherAgent', '404 conversation_not_found']],
    'ok',
  ),
  teamRow(
    'conversation.view_ratings',
    'an unassigned team conversation',
    m1Conversation(null),
    [
      ['agent', '403 forbidden'],
      ['otherAgent', '404 conversation_not_found'],
    ],
    'ok',
  ),
  teamRow(
    'conversation.view_ratings',
    "a colleague's",
    m1Conversation('m1b'),
    [
      ['agent', '404 conversation_not_found'],
      ['otherAgent', '404 conversation_not_found'],
    ],
    'ok',
  ),
  teamRow(
    'message.mark_read',
    "the customer's message",
    { ...m1Conversation(null), sender: false },
    [
      ['otherAgent', '404 message_not_found'],
      ['admin', '403 forbidden'],
    ],
    'ok',
  ),
  // Assignment: agents claim what they see and pass on or release their own; supervisors, the owner
  // and admins anything; the customer (a participant of no team) 403.
  teamRow(
    'conversation.assign',
    'claiming the queue',
    { ...m1Conversation(null), assignTarget: 'self' },
    [['otherAgent', '404 conversation_not_found']],
    'ok',
  ),
  teamRow(
    'conversation.assign',
    'passing on their own',
    { ...m1Conversation('m1a'), assignTarget: 'other' },
    [['otherAgent', '404 conversation_not_found']],
    'ok',
  ),
  teamRow(
    'conversation.assign',
    'releasing the queue',
    { ...m1Conversation(null), assignTarget: 'queue' },
    [
      ['agent', '403 forbidden'],
      ['otherAgent', '404 conversation_not_found'],
    ],
    'ok',
  ),
  teamRow(
    'conversation.assign',
    "a colleague's",
    { ...m1Conversation('m1b'), assignTarget: 'other' },
    [
      ['agent', '404 conversation_not_found'],
      ['otherAgent', '404 conversation_not_found'],
    ],
    'ok',
  ),
  ...(['conversation.status', 'conversation.note'] as const).flatMap((action) => [
    teamRow(
      action,
      'an unassigned team conversation',
      m1Conversation(null),
      [['otherAgent', '404 conversation_not_found']],
      'ok',
    ),
    teamRow(
      action,
      "a colleague's",
      m1Conversation('m1b'),
      [
        ['agent', '404 conversation_not_found'],
        ['otherAgent', '404 conversation_not_found'],
      ],
      'ok',
    ),
  ]),
  teamRow(
    'message.mark_read',
    "a colleague's message",
    { ...m1Conversation(null), sender: true },
    [['otherAgent', '404 message_not_found']],
    '403 forbidden',
  ),

  {
    action: 'team.view',
    relation: 'team m1',
    facts: TEAM_M1,
    expect: {
      owner: 'ok',
      supervisor: 'ok',
      agent: 'ok',
      otherAgent: '404 team_not_found',
      admin: 'ok',
      deskAgent: '404 team_not_found',
    },
  },
  {
    action: 'team.manage_members',
    relation: 'team m1',
    facts: TEAM_M1,
    expect: {
      owner: 'ok',
      supervisor: '403 forbidden',
      agent: '403 forbidden',
      otherAgent: '404 team_not_found',
      admin: 'ok',
      deskAgent: '404 team_not_found',
    },
  },
  {
    action: 'team.settings',
    relation: 'team m1',
    facts: TEAM_M1,
    expect: {
      owner: 'ok',
      supervisor: 'ok',
      agent: '403 forbidden',
      otherAgent: '404 team_not_found',
      admin: 'ok',
      deskAgent: '404 team_not_found',
    },
  },
  {
    action: 'team.view_report',
    relation: 'team m1',
    facts: TEAM_M1,
    expect: {
      owner: 'ok',
      supervisor: 'ok',
      agent: '403 forbidden',
      otherAgent: '404 team_not_found',
      admin: 'ok',
      deskAgent: '404 team_not_found',
    },
  },
];

function outcomeOf(decision: Decision): Outcome {
  if (decision.kind === 'allowed') return 'ok';
  if (decision.kind === 'needs') assert.fail(`the rule asked for ${decision.fact}, which the row gives`);
  // The status the HTTP layer gives each kind (src/http/error-handler.ts).
  return `${decision.refusal.kind === 'not_found' ? 404 : 403} ${decision.refusal.error}`;
}

const callerOf = (role: Role): Caller => ({ id: `${role}-caller`, role });

describe('access policy', () => {
  for (const row of ROWS) {
    for (const role of ROLES) {
      test(`${role} ${row.action} on ${row.relation} → ${row.expect[role]}`, () => {
        assert.equal(outcomeOf(decide(callerOf(role), row.action, row.facts)), row.expect[role]);
      });
    }
  }

  for (const row of TEAM_ROWS) {
    for (const [name, caller] of Object.entries(TEAM_CALLERS)) {
      const expected = row.expect[name as TeamCaller];
      test(`${name} ${row.action} on ${row.relation} → ${expected}`, () => {
        assert.equal(outcomeOf(decide(caller, row.action, row.facts)), expected);
      });
    }
  }

  test('the table covers every action', () => {
    const covered = new Set(ROWS.map((row) => row.action));
    assert.deepEqual(
      ACTIONS.filter((action) => !covered.has(action)),
      [],
    );
  });

  test('a rule asks for the fact it lacks instead of guessing', () => {
    const buyer = callerOf('buyer');
    // Whether two users share a conversation is a query: asked only when nothing cheaper decides.
    assert.deepEqual(decide(buyer, 'user.view', { self: false, targetRole: 'buyer', targetStatus: 'active' }), {
      kind: 'needs',
      fact: 'sharesConversation',
    });
    for (const facts of [SELF, user('merchant', 'active', false), user('buyer', 'deleted', false)]) {
      const { sharesConversation: _, ...cheap } = facts;
      assert.notEqual(decide(buyer, 'user.view', cheap).kind, 'needs');
    }
    assert.equal(decide(callerOf('admin'), 'user.view').kind, 'allowed');
    assert.deepEqual(decide(buyer, 'conversation.view'), { kind: 'needs', fact: 'participant' });
    assert.deepEqual(decide(buyer, 'conversation.open'), { kind: 'needs', fact: 'participant' });
    // An admin's send is refused before the conversation is even looked up.
    assert.equal(outcomeOf(decide(callerOf('admin'), 'conversation.send')), '403 admin_read_only');
  });

  test('conversations are allowed between the customer side and those who serve it only', () => {
    const pairs: [Role, Role, boolean][] = [
      ['buyer', 'merchant', true],
      ['buyer', 'service', true],
      ['merchant', 'service', true],
      ['merchant', 'buyer', true],
      ['buyer', 'buyer', false],
      ['merchant', 'merchant', false],
      ['service', 'service', false],
      ['buyer', 'admin', false],
      ['service', 'admin', false],
    ];
    for (const [a, b, allowed] of pairs) assert.equal(isAllowedPair(a, b), allowed, `${a} with ${b}`);
  });
});
