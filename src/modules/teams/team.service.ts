import type {
  CreateMemberBody,
  Team,
  TeamMember,
  TeamSettings,
  UpdateMemberBody,
  UpdateTeamSettingsBody,
} from '@cs-chat/contracts/rest/team.schemas';
import type { Kysely } from 'kysely';
import { isMysql } from '../../db/dialect.ts';
import { inTransaction } from '../../db/transaction.ts';
import type { Database, TeamRow, UserRow } from '../../db/types.ts';
import type { EventPublisher } from '../../events/hub.ts';
import { badRequest, conflict, notFound } from '../../lib/errors.ts';
import { nowSeconds } from '../../lib/time.ts';
import type { AccessService } from '../access/access.service.ts';
import { autoReplyColumns, autoReplySettingsOf } from '../auto-replies/auto-reply-settings.ts';
import { findUserById } from '../users/user.repository.ts';
import type { TeamFields, UserService } from '../users/user.service.ts';
import type { ConversationWorkService } from './conversation-work.service.ts';
import * as repo from './team.repository.ts';

export interface TeamServiceDeps {
  db: Kysely<Database>;
  users: UserService;
  access: AccessService;
  /** Told when a team's members or settings change (realtime's roster forgets the team). */
  events: EventPublisher;
  /** The subset of `userIds` online on any instance. */
  online: (userIds: readonly string[]) => Promise<readonly string[]>;
  /** Hands a removed member's conversations back to the queue, as any change of hands (log, webhook, events). */
  work: Pick<ConversationWorkService, 'handOver' | 'ownerIfStaffed'>;
}

export type TeamService = ReturnType<typeof createTeamService>;

export function settingsOf(team: TeamRow): TeamSettings {
  return {
    max_open_per_agent: Number(team.max_open_per_agent),
    auto_assign: Boolean(team.auto_assign),
    auto_resolve_hours: team.auto_resolve_hours === null ? null : Number(team.auto_resolve_hours),
    ...autoReplySettingsOf(team),
    slow_reply_seconds: Number(team.slow_reply_seconds),
    slow_reply_escalation_seconds: Number(team.slow_reply_escalation_seconds),
  };
}

export function createTeamService({ db, users, access, events, online, work }: TeamServiceDeps) {
  /** The team, if it exists and the caller may `action` it; 404 otherwise (access.policy.ts). */
  async function accessibleTeam(
    caller: UserRow,
    ownerId: string,
    action: 'team.view' | 'team.manage_members' | 'team.settings',
  ): Promise<TeamRow> {
    // Refused before the lookup: whether a team exists is no stranger's business.
    access.require(caller, 'team.view', { teamId: ownerId });
    const team = await repo.findTeam(db, ownerId);
    if (!team) throw notFound('team_not_found');
    access.require(caller, action, { teamId: ownerId });
    return team;
  }

  /** A member of the team (not deleted), or 404. */
  async function memberOf(ownerId: string, userId: string): Promise<UserRow> {
    const member = await findUserById(db, userId);
    if (!member || member.team_id !== ownerId || member.status === 'deleted') throw notFound('member_not_found');
    return member;
  }

  async function present(rows: readonly UserRow[]): Promise<TeamMember[]> {
    const ids = rows.map((row) => row.id);
    const [connected, counts] = await Promise.all([online(ids), repo.openCounts(db, ids)]);
    const isOnline = new Set(connected);
    return rows.map((row) => ({
      user: users.toUser(row),
      team_role: row.team_role ?? 'agent',
      available: Boolean(row.available),
      max_open: row.max_open === null ? null : Number(row.max_open),
      online: isOnline.has(row.id),
      open_count: counts.get(row.id) ?? 0,
    }));
  }

  const changed = (ownerId: string) => events.publish('team.changed', { ownerId });

  return {
    async get(caller: UserRow, ownerId: string): Promise<Team> {
      const team = await accessibleTeam(caller, ownerId, 'team.view');
      return {
        owner_id: ownerId,
        settings: settingsOf(team),
        members: await present(await repo.listMembers(db, ownerId)),
      };
    },

    async addMember(caller: UserRow, ownerId: string, body: CreateMemberBody): Promise<TeamMember> {
      await accessibleTeam(caller, ownerId, 'team.manage_members');
      const owner = await findUserById(db, ownerId);
      if (!owner) throw notFound('team_not_found');
      const user = await users.create({ ...body, role: owner.role }, { team_id: ownerId, team_role: body.team_role });
      changed(ownerId);
      const [member] = await present([await memberOf(ownerId, user.id)]);
      if (!member) throw notFound('member_not_found');
      return member;
    },

    /**
     * The owner and admins change anything; a member may change their own
     * availability (and nothing else).
     */
    async updateMember(caller: UserRow, ownerId: string, userId: string, body: UpdateMemberBody): Promise<TeamMember> {
      const onlyOwnAvailability = caller.id === userId && body.team_role === undefined && body.max_open === undefined;
      await accessibleTeam(caller, ownerId, onlyOwnAvailability ? 'team.view' : 'team.manage_members');
      const member = await memberOf(ownerId, userId);
      if (member.team_role === 'owner' && body.team_role !== undefined) throw badRequest('cannot_modify_self');
      await users.updateMembership(userId, {
        ...(body.team_role !== undefined ? { team_role: body.team_role } : {}),
        ...(body.available !== undefined ? { available: body.available ? 1 : 0 } : {}),
        ...(body.max_open !== undefined ? { max_open: body.max_open } : {}),
      });
      changed(ownerId);
      const [updated] = await present([await memberOf(ownerId, userId)]);
      if (!updated) throw notFound('member_not_found');
      return updated;
    },

    /**
     * Deletes the member's account and puts their unresolved conversations back in the queue, each
     * as a change of hands (`member_removed`: a log row, the conversation.assigned webhook, the
     * queue's system line and conversation_updated); the queue's drain then assigns them again.
     */
    async removeMember(caller: UserRow, ownerId: string, userId: string): Promise<void> {
      await accessibleTeam(caller, ownerId, 'team.manage_members');
      const member = await memberOf(ownerId, userId);
      if (member.team_role === 'owner') throw badRequest('cannot_modify_self');
      const owner = await work.ownerIfStaffed(ownerId);
      await inTransaction(db, undefined, async (tx) => {
        // The member's row first: an assignment to them (which locks it) waits, then sees them deleted.
        await users.softDelete(caller, userId, tx);
        const query = tx.db
          .selectFrom('conversations')
          .selectAll()
          .where('assignee_id', '=', userId)
          .where('status', '!=', 'resolved')
          .orderBy('id');
        for (const conversation of await (isMysql(tx.db) ? query.forUpdate() : query).execute()) {
          await work.handOver(tx, conversation, { to: null, kind: 'member_removed', actorId: caller.id, owner });
        }
        tx.afterCommit(() => changed(ownerId));
      });
    },

    async updateSettings(caller: UserRow, ownerId: string, body: UpdateTeamSettingsBody): Promise<TeamSettings> {
      await accessibleTeam(caller, ownerId, 'team.settings');
      await repo.updateTeam(db, ownerId, {
        ...(body.max_open_per_agent !== undefined ? { max_open_per_agent: body.max_open_per_agent } : {}),
        ...(body.auto_assign !== undefined ? { auto_assign: body.auto_assign ? 1 : 0 } : {}),
        ...(body.auto_resolve_hours !== undefined ? { auto_resolve_hours: body.auto_resolve_hours } : {}),
        ...autoReplyColumns(body),
        ...(body.slow_reply_seconds !== undefined ? { slow_reply_seconds: body.slow_reply_seconds } : {}),
        ...(body.slow_reply_escalation_seconds !== undefined
          ? { slow_reply_escalation_seconds: body.slow_reply_escalation_seconds }
          : {}),
        updated_at: nowSeconds(),
      });
      changed(ownerId);
      const team = await repo.findTeam(db, ownerId);
      if (!team) throw notFound('team_not_found');
      return settingsOf(team);
    },

    /**
     * What makes a user created for team `ownerId` (POST /api/auth/token's team_id) a member of
     * it: 404 when there is no such team, 409 when the role is not the team's.
     */
    async membershipFor(ownerId: string, role: UserRow['role']): Promise<TeamFields> {
      const [team, owner] = await Promise.all([repo.findTeam(db, ownerId), findUserById(db, ownerId)]);
      if (!team || !owner || owner.status === 'deleted') throw notFound('team_not_found');
      if (owner.role !== role) throw conflict('not_a_team_member');
      return { team_id: ownerId, team_role: 'agent' };
    },
  };
}
