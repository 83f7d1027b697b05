import type { Rating, RatingBody, TeamRatingsQuery } from '@cs-chat/contracts/rest/rating.schemas';
import type { Kysely, Selectable } from 'kysely';
import { isUniqueViolation } from '../../db/errors.ts';
import { inTransaction } from '../../db/transaction.ts';
import type { ConversationRatingsTable, Database, UserRow } from '../../db/types.ts';
import type { EventPublisher } from '../../events/hub.ts';
import type { TransactionEventRecorder } from '../../events/transaction-events.ts';
import { conflict, notFound } from '../../lib/errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowSeconds } from '../../lib/time.ts';
import type { AccessService } from '../access/access.service.ts';
import type { ConversationService } from '../conversations/conversation.service.ts';
import { recordRating } from '../reports/report-counters.ts';

export interface RatingDeps {
  db: Kysely<Database>;
  access: AccessService;
  conversations: Pick<ConversationService, 'visible'>;
  events: EventPublisher;
  /** Where rating.created is announced, in the rating's transaction (the webhook outbox). */
  transactionEvents?: TransactionEventRecorder | undefined;
}

export type RatingService = ReturnType<typeof createRatingService>;

const present = (row: Selectable<ConversationRatingsTable>): Rating => ({
  ...row,
  episode: Number(row.episode),
  score: Number(row.score),
  created_at: Number(row.created_at),
});

/**
 * Satisfaction ratings (issue 14). Each resolution of a conversation is an
 * episode (`conversations.resolutions`); its buyer rates it once, which the
 * unique key (conversation_id, episode) holds also when two ratings race. A
 * reopen and a new resolve start the next episode.
 */
export function createRatingService({ db, access, conversations, events, transactionEvents }: RatingDeps) {
  return {
    /** POST /api/conversations/{id}/rating. */
    async rate(caller: UserRow, id: string, body: RatingBody): Promise<Rating> {
      const conversation = await conversations.visible(caller, id);
      await access.requireAccess(caller, 'conversation.rate', { conversation });
      if (conversation.status !== 'resolved') throw conflict('conversation_not_resolved');
      const row = {
        id: uuidv7(),
        conversation_id: id,
        episode: Number(conversation.resolutions),
        team_id: conversation.team_id,
        assignee_id: conversation.assignee_id,
        rater_id: caller.id,
        score: body.score,
        comment: body.comment ?? null,
        created_at: nowSeconds(),
      };
      try {
        // The team's report counts it in the same transaction (and a webhook row, when subscribed).
        await inTransaction(db, undefined, async (tx) => {
          await tx.db.insertInto('conversation_ratings').values(row).execute();
          await recordRating(tx.db, row);
          if (transactionEvents?.wanted('rating.created')) {
            await transactionEvents.record(tx, 'rating.created', () => {
              const { id: rating_id, ...rest } = row;
              return { rating_id, ...rest };
            });
          }
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict('already_rated');
        throw error;
      }
      const rating = present(row);
      events.publish('rating.created', {
        rating,
        participants: [conversation.participant1_id, conversation.participant2_id],
        teamId: conversation.team_id,
      });
      return rating;
    },

    /** GET /api/conversations/{id}/ratings: one per episode, newest first. */
    async ofConversation(caller: UserRow, id: string): Promise<Rating[]> {
      const conversation = await conversations.visible(caller, id);
      await access.requireAccess(caller, 'conversation.view_ratings', { conversation });
      const rows = await db
        .selectFrom('conversation_ratings')
        .selectAll()
        .where('conversation_id', '=', id)
        .orderBy('episode', 'desc')
        .execute();
      return rows.map(present);
    },

    /**
     * GET /api/teams/{owner_id}/ratings: the team's ratings newest first (the
     * owner, supervisors and admins all of them; an agent the ones given while
     * they held the conversation).
     */
    async ofTeam(caller: UserRow, ownerId: string, query: TeamRatingsQuery): Promise<Rating[]> {
      access.require(caller, 'team.view', { teamId: ownerId });
      const team = await db.selectFrom('teams').select('owner_id').where('owner_id', '=', ownerId).executeTakeFirst();
      if (!team) throw notFound('team_not_found');
      const agentOnly = caller.role !== 'admin' && caller.team_role === 'agent';
      const rows = await db
        .selectFrom('conversation_ratings')
        .selectAll()
        .where('team_id', '=', ownerId)
        .$if(agentOnly, (q) => q.where('assignee_id', '=', caller.id))
        .$if(query.before !== undefined, (q) => q.where('id', '<', query.before as string))
        .orderBy('id', 'desc')
        .limit(query.limit ?? 50)
        .execute();
      return rows.map(present);
    },
  };
}
