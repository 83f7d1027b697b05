import { errorResponses, SuccessResponse } from '@cs-chat/contracts/rest/common.schemas';
import {
  CreateMemberBody,
  MemberParams,
  OwnerIdParams,
  Team,
  TeamMember,
  TeamSettings,
  UpdateMemberBody,
  UpdateTeamSettingsBody,
} from '@cs-chat/contracts/rest/team.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { TeamService } from './team.service.ts';

export const teamRoutes: FastifyPluginAsyncTypebox<{ teams: TeamService }> = async (app, { teams }) => {
  const tags = ['teams'];

  app.get(
    '/:owner_id',
    {
      schema: {
        tags,
        operationId: 'getTeam',
        summary: "A team: its settings and members (the team's members, admins)",
        params: OwnerIdParams,
        response: { 200: Team, ...errorResponses(401, 404, 422, 503) },
      },
    },
    (request) => teams.get(request.caller, request.params.owner_id),
  );

  app.post(
    '/:owner_id/members',
    {
      schema: {
        tags,
        operationId: 'createTeamMember',
        summary: "Create a member account of the owner's role (owner, admin)",
        params: OwnerIdParams,
        body: CreateMemberBody,
        response: { 201: TeamMember, ...errorResponses(401, 403, 404, 409, 422, 503) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await teams.addMember(request.caller, request.params.owner_id, request.body)),
  );

  app.patch(
    '/:owner_id/members/:user_id',
    {
      schema: {
        tags,
        operationId: 'updateTeamMember',
        summary:
          "Change a member's team role, availability or capacity (owner, admin; a member their own availability)",
        params: MemberParams,
        body: UpdateMemberBody,
        response: { 200: TeamMember, ...errorResponses(400, 401, 403, 404, 422, 503) },
      },
    },
    (request) => teams.updateMember(request.caller, request.params.owner_id, request.params.user_id, request.body),
  );

  app.delete(
    '/:owner_id/members/:user_id',
    {
      schema: {
        tags,
        operationId: 'deleteTeamMember',
        summary: 'Remove a member; their open conversations go back to the queue (owner, admin)',
        params: MemberParams,
        response: { 200: SuccessResponse, ...errorResponses(400, 401, 403, 404, 422, 503) },
      },
    },
    async (request) => {
      await teams.removeMember(request.caller, request.params.owner_id, request.params.user_id);
      return { status: 'success' as const, message: `member ${request.params.user_id} removed` };
    },
  );

  app.put(
    '/:owner_id/settings',
    {
      schema: {
        tags,
        operationId: 'updateTeamSettings',
        summary: "Change a team's settings; fields left out keep their values (owner, supervisors, admin)",
        params: OwnerIdParams,
        body: UpdateTeamSettingsBody,
        response: { 200: TeamSettings, ...errorResponses(401, 403, 404, 422, 503) },
      },
    },
    (request) => teams.updateSettings(request.caller, request.params.owner_id, request.body),
  );
};
