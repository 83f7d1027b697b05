import { errorResponses } from '@cs-chat/contracts/rest/common.schemas';
import {
  GuardDecisionList,
  GuardDecisionsQuery,
  GuardQueue,
  GuardQueueQuery,
  GuardRules,
  PutGuardRulesBody,
  ReviewBody,
  ReviewParams,
  ReviewResult,
} from '@cs-chat/contracts/rest/guard.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { GuardService } from './guard.service.ts';

/** The content guard's rules (admin) and review queue (admins and service agents); docs/API.md. */
export const guardRoutes: FastifyPluginAsyncTypebox<{ guard: GuardService }> = async (app, { guard }) => {
  const tags = ['guard'];

  app.get(
    '/rules',
    {
      schema: {
        tags,
        operationId: 'getGuardRules',
        summary: "The content guard's action per label and sender role, and its sensitive words (admin)",
        response: { 200: GuardRules, ...errorResponses(401, 403, 503) },
      },
    },
    (request) => guard.getRules(request.caller),
  );

  app.put(
    '/rules',
    {
      schema: {
        tags,
        operationId: 'putGuardRules',
        summary: 'Replace the rules and the sensitive words (admin); other instances apply them within 5 s',
        body: PutGuardRulesBody,
        response: { 200: GuardRules, ...errorResponses(400, 401, 403, 422, 503) },
      },
    },
    (request) => guard.putRules(request.caller, request.body),
  );

  app.get(
    '/decisions',
    {
      schema: {
        tags,
        operationId: 'listGuardDecisions',
        summary:
          "What the guard found and did, newest first (one row per finding): a sender's with their strikes (admins and service agents)",
        querystring: GuardDecisionsQuery,
        response: { 200: GuardDecisionList, ...errorResponses(401, 403, 422, 503) },
      },
    },
    (request) => guard.decisions(request.caller, request.query),
  );

  app.get(
    '/queue',
    {
      schema: {
        tags,
        operationId: 'getGuardQueue',
        summary: 'Messages held for review, oldest first (admins and service agents)',
        querystring: GuardQueueQuery,
        response: { 200: GuardQueue, ...errorResponses(401, 403, 422, 503) },
      },
    },
    (request) => guard.queue(request.caller, request.query.limit),
  );

  app.post(
    '/queue/:message_id',
    {
      schema: {
        tags,
        operationId: 'reviewHeldMessage',
        summary:
          'Approve (deliver it now: seq, unread count, preview, pushes) or reject a held message (admins and service agents)',
        params: ReviewParams,
        body: ReviewBody,
        response: { 200: ReviewResult, ...errorResponses(400, 401, 403, 404, 422, 503) },
      },
    },
    (request) => guard.review(request.caller, request.params.message_id, request.body.decision),
  );
};
