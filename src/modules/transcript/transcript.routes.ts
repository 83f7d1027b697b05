import { errorResponses, IdParams } from '@cs-chat/contracts/rest/common.schemas';
import { Transcript, TranscriptKey } from '@cs-chat/contracts/rest/transcript.schemas';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { TranscriptService } from './transcript.service.ts';

const tags = ['transcript'];

/** A conversation's signed transcript (participants and admins); docs/API.md, "Transcript". */
export const transcriptRoutes: FastifyPluginAsyncTypebox<{ transcript: TranscriptService }> = async (
  app,
  { transcript },
) => {
  app.get(
    '/conversations/:id/transcript',
    {
      schema: {
        tags,
        operationId: 'getTranscript',
        summary:
          "The conversation's hash-chained entries (messages, recalls, moderation deletes), checked and signed with the server's Ed25519 key (participants and admins)",
        params: IdParams,
        response: { 200: Transcript, ...errorResponses(401, 404, 503) },
      },
    },
    (request) => transcript.export(request.caller, request.params.id),
  );
};

/** The public key that verifies transcripts: public, so anyone holding an export can check it. */
export const transcriptKeyRoutes: FastifyPluginAsyncTypebox<{ transcript: TranscriptService }> = async (
  app,
  { transcript },
) => {
  app.get(
    '/transcript-key',
    {
      schema: {
        tags,
        operationId: 'getTranscriptKey',
        summary: 'The Ed25519 public key that signs transcripts (no sign-in needed)',
        security: [],
        response: { 200: TranscriptKey, ...errorResponses(429, 503) },
      },
    },
    () => transcript.publicKey(),
  );
};
