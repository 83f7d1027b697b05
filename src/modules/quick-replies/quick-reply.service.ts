import type { Kysely } from 'kysely';
import type { Database, QuickReplyRow, UserRow } from '../../db/types.ts';
import { badRequest, forbidden, notFound } from '../../lib/errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowSeconds } from '../../lib/time.ts';
import * as repo from './quick-reply.repository.ts';
import {
  type CreateQuickReplyBody,
  MAX_ACTIVE_QUICK_REPLIES,
  type QuickReply,
  type UpdateQuickReplyBody,
} from './quick-reply.schemas.ts';

export type QuickReplyService = ReturnType<typeof createQuickReplyService>;

export function createQuickReplyService({ db }: { db: Kysely<Database> }) {
  const toQuickReply = (row: QuickReplyRow): QuickReply => ({
    id: row.id,
    user_id: row.user_id,
    content: row.content,
    sort_order: Number(row.sort_order),
    is_active: Boolean(row.is_active),
    created_at: Number(row.created_at),
  });

  /** The owner's or an admin's view of one quick reply; 404 for everyone else. */
  async function owned(caller: UserRow, id: string): Promise<QuickReplyRow> {
    const row = await repo.findActiveQuickReply(db, id);
    if (!row || (caller.role !== 'admin' && row.user_id !== caller.id)) throw notFound('quick_reply_not_found');
    return row;
  }

  return {
    async listFor(caller: UserRow, userId: string): Promise<QuickReply[]> {
      if (caller.role !== 'admin' && caller.id !== userId) throw forbidden();
      return (await repo.activeQuickReplies(db, userId)).map(toQuickReply);
    },

    async create(caller: UserRow, body: CreateQuickReplyBody): Promise<QuickReply> {
      if (caller.role === 'admin') throw forbidden();
      if (body.user_id !== undefined && body.user_id !== caller.id) throw forbidden();
      const now = nowSeconds();
      const row = {
        id: uuidv7(),
        user_id: caller.id,
        content: body.content,
        sort_order: body.sort_order ?? 0,
        is_active: 1,
        created_at: now,
        updated_at: now,
      };
      await db.transaction().execute(async (trx) => {
        await repo.lockOwner(trx, caller.id);
        if ((await repo.countActive(trx, caller.id)) >= MAX_ACTIVE_QUICK_REPLIES) throw badRequest('quick_reply_limit');
        await repo.insertQuickReply(trx, row);
      });
      return toQuickReply(row);
    },

    async update(caller: UserRow, id: string, body: UpdateQuickReplyBody): Promise<QuickReply> {
      const row = await owned(caller, id);
      const changes = {
        ...(body.content !== undefined ? { content: body.content } : {}),
        ...(body.sort_order !== undefined ? { sort_order: body.sort_order } : {}),
        updated_at: nowSeconds(),
      };
      await repo.updateQuickReply(db, id, changes);
      return toQuickReply({ ...row, ...changes });
    },

    async remove(caller: UserRow, id: string): Promise<void> {
      await owned(caller, id);
      await repo.updateQuickReply(db, id, { is_active: 0, updated_at: nowSeconds() });
    },
  };
}
