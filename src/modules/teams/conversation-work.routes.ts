import { errorResponses, IdParams } from '@cs-chat/contracts/rest/common.schemas';
import { Conversation } from '@cs-chat/contracts/rest/conversation.schemas';
import { Message } from '@cs-chat/contracts/rest/message.schemas';
import {
  AssignmentBody,
  CreateNoteBody,
  EscalationBody,
  Note,
  NoteList,
  PlatformPostBody,
  StatusBody,
} from '@cs-chat/contracts/rest/team.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ConversationWorkService } from './conversation-work.service.ts';

/** The team's work on a conversation (issue 13), under /api/conversations/{id}/. */
export const conversationWorkRoutes: FastifyPluginAsyncTypebox<{ work: ConversationWorkService }> = async (
  app,
  { work },
) => {
  const tags = ['teams'];

  app.post(
    '/:id/assignment',
    {
      schema: {
        tags,
        operationId: 'assignConversation',
        summary:
          "Claim (your own id), assign (supervisors, the owner, admins), pass on (its holder) or release (null) a team's conversation",
        params: IdParams,
        body: AssignmentBody,
        response: { 200: Conversation, ...errorResponses(401, 403, 404, 409, 422, 503) },
      },
    },
    (request) => work.assign(request.caller, request.params.id, request.body),
  );

  app.post(
    '/:id/status',
    {
      schema: {
        tags,
        operationId: 'setConversationStatus',
        summary: "Set a team's conversation pending, resolved or open (its members who see it, admins)",
        params: IdParams,
        body: StatusBody,
        response: { 200: Conversation, ...errorResponses(401, 403, 404, 422, 503) },
      },
    },
    (request) => work.setStatus(request.caller, request.params.id, request.body),
  );

  app.post(
    '/:id/escalation',
    {
      schema: {
        tags,
        operationId: 'escalateConversation',
        summary:
          "Escalate a buyer–shop conversation to the platform desk (its buyer, the shop's members): 201 the desk's linked conversation",
        params: IdParams,
        body: EscalationBody,
        response: { 201: Conversation, ...errorResponses(400, 401, 403, 404, 422, 503) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await work.escalate(request.caller, request.params.id, request.body)),
  );

  app.post(
    '/:id/platform-messages',
    {
      schema: {
        tags,
        operationId: 'postAsPlatform',
        summary:
          'Post into an escalated conversation as the platform (the desk agent handling it): a `platform` message both sides see',
        params: IdParams,
        body: PlatformPostBody,
        response: { 201: Message, ...errorResponses(401, 403, 404, 422, 503) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await work.postAsPlatform(request.caller, request.params.id, request.body)),
  );

  app.get(
    '/:id/notes',
    {
      schema: {
        tags,
        operationId: 'listConversationNotes',
        summary:
          "A conversation's internal notes, oldest first (its team's members who see it, admins; never the customer)",
        params: IdParams,
        response: { 200: NoteList, ...errorResponses(401, 403, 404, 422, 503) },
      },
    },
    (request) => work.notes(request.caller, request.params.id),
  );

  app.post(
    '/:id/notes',
    {
      schema: {
        tags,
        operationId: 'createConversationNote',
        summary: 'Leave an internal note on a conversation (pushed as `note` to the team and admins)',
        params: IdParams,
        body: CreateNoteBody,
        response: { 201: Note, ...errorResponses(401, 403, 404, 422, 503) },
      },
    },
    async (request, reply) => reply.code(201).send(await work.addNote(request.caller, request.params.id, request.body)),
  );
};
