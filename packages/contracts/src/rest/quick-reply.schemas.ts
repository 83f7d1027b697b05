import Type, { type Static } from 'typebox';
import { IdParam } from './common.schemas.ts';

export const MAX_ACTIVE_QUICK_REPLIES = 10;

export const QuickReply = Type.Object({
  id: Type.String(),
  user_id: Type.String(),
  content: Type.String(),
  sort_order: Type.Integer(),
  is_active: Type.Boolean(),
  created_at: Type.Integer(),
});
export type QuickReply = Static<typeof QuickReply>;

const Content = Type.String({ minLength: 1, maxLength: 500 });
const SortOrder = Type.Integer({ minimum: -1_000_000, maximum: 1_000_000 });

export const CreateQuickReplyBody = Type.Object(
  { content: Content, sort_order: Type.Optional(SortOrder), user_id: Type.Optional(IdParam) },
  { additionalProperties: false },
);
export type CreateQuickReplyBody = Static<typeof CreateQuickReplyBody>;

export const UpdateQuickReplyBody = Type.Object(
  { content: Type.Optional(Content), sort_order: Type.Optional(SortOrder) },
  { additionalProperties: false },
);
export type UpdateQuickReplyBody = Static<typeof UpdateQuickReplyBody>;
