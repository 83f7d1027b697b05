import type { Kysely } from 'kysely';
import { isMysql } from '../../src/db/dialect.ts';
import type { Database } from '../../src/db/types.ts';
import { uuidv7 } from '../../src/lib/ids.ts';
import { recordRating, recordResolves } from '../../src/modules/reports/report-counters.ts';

/**
 * Writes a conversation's history straight into the database at chosen times (the
 * reports' tests need hours and days to pass): messages take the next seq under the
 * conversation's row lock as a send does; a resolve and a rating are recorded by
 * the same functions the status and rating services call.
 */
export function historyWriter(db: Kysely<Database>) {
  async function lockedConversation(trx: Kysely<Database>, conversationId: string) {
    const query = trx
      .selectFrom('conversations')
      .select(['last_seq', 'resolutions', 'team_id'])
      .where('id', '=', conversationId);
    return (isMysql(trx) ? query.forUpdate() : query).executeTakeFirstOrThrow();
  }
  return {
    async message(
      conversationId: string,
      message: { sender: string; at: number; type?: 'text' | 'system' | 'platform'; auto?: boolean },
    ): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const seq = Number((await lockedConversation(trx, conversationId)).last_seq) + 1;
        await trx
          .insertInto('messages')
          .values({
            id: uuidv7(),
            conversation_id: conversationId,
            seq,
            sender_id: message.sender,
            content: 'x',
            message_type: message.type ?? 'text',
            filename: null,
            client_msg_id: null,
            created_at: message.at,
            auto_reply: message.auto ? 1 : 0,
          })
          .execute();
        await trx
          .updateTable('conversations')
          .set({ last_seq: seq, message_count: seq, updated_at: message.at })
          .where('id', '=', conversationId)
          .execute();
      });
    },
    async resolve(conversationId: string, resolvedBy: string | null, at: number): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const row = await lockedConversation(trx, conversationId);
        await trx
          .updateTable('conversations')
          .set({ status: 'resolved', resolutions: Number(row.resolutions) + 1 })
          .where('id', '=', conversationId)
          .execute();
        const resolve = {
          conversationId,
          teamId: row.team_id,
          afterSeq: Number(row.last_seq),
          resolution: Number(row.resolutions) + 1,
          resolvedBy,
        };
        await recordResolves(trx, [resolve], at);
      });
    },
    rating(teamId: string, assigneeId: string | null, score: number, at: number): Promise<void> {
      return recordRating(db, { team_id: teamId, assignee_id: assigneeId, score, created_at: at });
    },
  };
}
