import Type, { type Static } from 'typebox';
import { IdParam } from './common.schemas.ts';

export const MAX_ACTIVE_QUICK_REPLIES = 10;

export const QuickReply = Type.Object(
  {
    id: Type.String(),
    user_id: Type.String(),
    content: Type.String(),
    sort_order: Type.Integer(),
    is_active: Type.Boolean(),
    created_at: Type.Integer(),
  },
  {
    title: 'QuickReply',
    description: 'A canned answer a merchant or service agent sends with one click',
    examples: [
      {
        id: '0193a6f0-2b3c-7d4e-8f5a-6b7c8d9e0f1a',
        user_id: 'm1',
        content: '亲，您好！请问有什么可以帮您？',
        sort_order: 1,
        is_active: true,
        created_at: 1764892800,
      },
    ],
  },
);
export type QuickReply = Static<typeof QuickReply>;

const Content = Type.String({ minLength: 1, maxLength: 500 });
const SortOrder = Type.Integer({ minimum: -1_000_000, maximum: 1_000_000 });

export const CreateQuickReplyBody = Type.Object(
  { content: Content, sort_order: Type.Optional(SortOrder), user_id: Type.Optional(IdParam) },
  {
    additionalProperties: false,
    title: 'CreateQuickReplyBody',
    description: 'A new quick reply of the caller (`user_id`, when given, must be the caller)',
    examples: [{ content: '亲，已为您备注，今天 18:00 前发货。', sort_order: 2 }],
  },
);
export type CreateQuickReplyBody = Static<typeof CreateQuickReplyBody>;

export const UpdateQuickReplyBody = Type.Object(
  { content: Type.Optional(Content), sort_order: Type.Optional(SortOrder) },
  {
    additionalProperties: false,
    title: 'UpdateQuickReplyBody',
    description: 'The fields to change',
    examples: [{ content: '亲，今天的订单 18:00 前都会发出哦。' }],
  },
);
export type UpdateQuickReplyBody = Static<typeof UpdateQuickReplyBody>;
