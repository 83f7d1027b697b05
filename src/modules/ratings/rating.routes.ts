import { errorResponses, IdParams } from '@cs-chat/contracts/rest/common.schemas';
import { Rating, RatingBody, RatingList, TeamRatingsQuery } from '@cs-chat/contracts/rest/rating.schemas';
import { OwnerIdParams } from '@cs-chat/contracts/rest/team.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RatingService } from './rating.service.ts';

/** Satisfaction ratings (issue 14), under /api/: a conversation's, and a team's. */
export const ratingRoutes: FastifyPluginAsyncTypebox<{ ratings: RatingService }> = async (app, { ratings }) => {
  const tags = ['quality'];

  app.post(
    '/conversations/:id/rating',
    {
      schema: {
        tags,
        operationId: 'rateConversation',
        summary:
          'Rate the latest resolution of a resolved conversation, once (its buyer); a reopen and a new resolve may be rated again',
        params: IdParams,
        body: RatingBody,
        response: { 201: Rating, ...errorResponses(401, 403, 404, 409, 422, 503) },
      },
    },
    async (request, reply) => reply.code(201).send(await ratings.rate(request.caller, request.params.id, request.body)),
  );

  app.get(
    '/conversations/:id/ratings',
    {
      schema: {
        tags,
        operationId: 'listConversationRatings',
        summary: "A conversation's ratings, newest first (the team's owner, supervisors, its assignee; admins)",
        params: IdParams,
        response: { 200: RatingList, ...errorResponses(401, 403, 404, 422, 503) },
      },
    },
    (request) => ratings.ofConversation(request.caller, request.params.id),
  );

  app.get(
    '/teams/:owner_id/ratings',
    {
      schema: {
        tags,
        operationId: 'listTeamRatings',
        summary:
          "A team's ratings, newest first (the owner, supervisors, admins; an agent the ratings of conversations they held)",
        params: OwnerIdParams,
        querystring: TeamRatingsQuery,
        response: { 200: RatingList, ...errorResponses(401, 404, 422, 503) },
      },
    },
    (request) => ratings.ofTeam(request.caller, request.params.owner_id, request.query),
  );
};
