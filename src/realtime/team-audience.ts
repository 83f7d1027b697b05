import { type RosterMember, type TeamSide, teamRecipients } from '../modules/access/team-lines.ts';
import type { RealtimeLogger } from './realtime.ts';

export type { RosterMember, TeamSide };

/**
 * Where realtime learns who answers for a team (issue 13), injected by the
 * composition (the teams module's queries): realtime reads no chat tables.
 */
export interface TeamRosterSource {
  /** The team's members other than its owner, not deleted; [] for a team of one. */
  membersOf(teamId: string): Promise<readonly RosterMember[]>;
  /** The conversation's assignee now (null: in the queue). */
  assigneeOf(conversationId: string): Promise<string | null>;
}

/** A conversation as an audience needs it: its answering team and its customer. */
export interface ConversationSides {
  id: string;
  /** The team's owner; null: no team answers it (a pair no rule allows). */
  teamId: string | null;
  customerId: string;
  participants: readonly [string, string];
}

const TEAM_OF_ONE: TeamSide = { members: [], assigneeId: null };

/**
 * Who hears of what `from` did in the conversation: the other side. From the
 * customer, the team side (teamRecipients: with the queue when unassigned);
 * from the team, the customer and the team's owner, supervisors and assignee.
 * A team of one is its owner: the other participant, as before teams.
 */
export function otherSide(conversation: ConversationSides, from: string, team: TeamSide): string[] {
  const { teamId, customerId, participants } = conversation;
  if (teamId === null) return [participants[0] === from ? participants[1] : participants[0]];
  if (from === customerId) return teamRecipients(teamId, team, true);
  return [customerId, ...teamRecipients(teamId, team, false)];
}

/**
 * The roster of every team this instance has pushed for, cached (forgotten on
 * `team.changed`, relayed to every instance over the bus), and a queue per
 * conversation that keeps its events in order while a roster or an assignee is
 * being read. A team of one, once known, resolves at once: no query, no wait.
 */
export function createTeamRoster(source: TeamRosterSource | undefined, logger: RealtimeLogger) {
  const rosters = new Map<string, readonly RosterMember[]>();
  /** Conversations with an event waiting for a read: later events queue behind it. */
  const tails = new Map<string, Promise<void>>();

  async function membersOf(teamId: string): Promise<readonly RosterMember[]> {
    const known = rosters.get(teamId);
    if (known) return known;
    const members = source ? await source.membersOf(teamId) : [];
    rosters.set(teamId, members);
    return members;
  }

  async function resolve(conversation: ConversationSides): Promise<TeamSide> {
    if (conversation.teamId === null || !source) return TEAM_OF_ONE;
    const members = await membersOf(conversation.teamId);
    if (members.length === 0) return TEAM_OF_ONE;
    return { members, assigneeId: await source.assigneeOf(conversation.id) };
  }

  return {
    /**
     * Runs `deliver` with the conversation's team side, in the order the
     * conversation's events arrived: at once for a known team of one, else
     * after the reads (a failed read is logged and delivers as a team of one).
     */
    withTeam(conversation: ConversationSides, deliver: (side: TeamSide) => void): void {
      const { id, teamId } = conversation;
      const pending = tails.get(id);
      if (!pending && (teamId === null || !source || rosters.get(teamId)?.length === 0)) {
        deliver(TEAM_OF_ONE);
        return;
      }
      const next = (pending ?? Promise.resolve())
        .then(() => resolve(conversation))
        .catch((error: unknown) => {
          logger.error({ err: error, conversationId: id }, 'team roster read failed');
          return TEAM_OF_ONE;
        })
        .then(deliver);
      tails.set(id, next);
      void next.finally(() => {
        if (tails.get(id) === next) tails.delete(id);
      });
    },

    /** The team's members other than the owner, from the cache when known ([] without a source). */
    members: membersOf,

    /** The team's members or settings changed (on any instance): read its roster again when next needed. */
    forget(teamId: string): void {
      rosters.delete(teamId);
    },

    /** Resolves when every queued event has been delivered (tests). */
    async idle(): Promise<void> {
      while (tails.size > 0) await Promise.allSettled([...tails.values()]);
    },
  };
}

export type TeamRoster = ReturnType<typeof createTeamRoster>;
