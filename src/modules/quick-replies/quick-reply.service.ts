import {
  type CreateQuickReplyBody,
  MAX_ACTIVE_QUICK_REPLIES,
  type QuickReply,
  type UpdateQuickReplyBody,
} from '@cs-chat/contracts/rest/quick-reply.schemas';
import type { Kysely } from 'kysely';
import type { Database, QuickReplyRow, UserRow } from '../../db/types.ts';
import { badRequest, notFound } from '../../lib/errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowSeconds } from '../../lib/time.ts';
import type { AccessService } from '../access/access.service.ts';
import * as repo from './quick-reply.repository.ts';

export type QuickReplyService = ReturnType<typeof createQuickReplyService>;

export function createQuickReplyService({ db, access }: { db: Kysely<Database>; access: AccessService }) {
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
    if (!row) throw notFound('quick_reply_not_found');
    access.require(caller, 'quick_reply.view', { userId: row.user_id });
    return row;
  }

  return {
    async listFor(caller: UserRow, userId: string): Promise<QuickReply[]> {
      access.require(caller, 'quick_reply.list_of', { userId });
      return (await repo.activeQuickReplies(db, userId)).map(toQuickReply);
    },

    async create(caller: UserRow, body: CreateQuickReplyBody): Promise<QuickReply> {
      access.require(caller, 'quick_reply.create');
      if (body.user_id !== undefined) access.require(caller, 'user.act_as', { userId: body.user_id });
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
