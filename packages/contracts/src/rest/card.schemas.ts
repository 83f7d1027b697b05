import Type, { type Static } from 'typebox';
import { IdParam } from './common.schemas.ts';

/**
 * Order and product cards (API.md, "Cards"): a message of type `card` whose
 * `content` is a Card as JSON. The host platform keeps each card's current
 * state (PUT /api/cards/{kind}/{id}); a conversation shows that state, so an
 * order that ships shows as shipped in every conversation about it.
 */

export const CARD_KINDS = ['product', 'order'] as const;
export type CardKind = (typeof CARD_KINDS)[number];

export const MAX_CARD_URL_LENGTH = 500;

/** https only: a card links to the platform's own pages and images, never to plain http. */
const HttpsUrl = (description: string) =>
  Type.String({ minLength: 9, maxLength: MAX_CARD_URL_LENGTH, pattern: '^https://[^\\s<>"\\\\]+$', description });

export const CardKindParam = Type.Enum(CARD_KINDS, { description: 'What the card shows: a product or an order' });
/** The platform's id of a product or order. */
export const cardId = (description = "The platform's id of the product or order") =>
  Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9_.:-]+$', description });
export const CardId = cardId();

/** What a card shows besides its kind and id: every field bounded. */
export const cardStateFields = {
  title: Type.String({ minLength: 1, maxLength: 200, description: 'The product name, or what the order is' }),
  image_url: Type.Optional(HttpsUrl('A picture of it (https)')),
  price: Type.Optional(
    Type.String({
      pattern: '^(0|[1-9][0-9]{0,11})(\\.[0-9]{1,2})?$',
      maxLength: 15,
      description: 'A decimal amount in the currency, as text so no rounding creeps in ("199.00")',
    }),
  ),
  currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. CNY' })),
  status: Type.Optional(
    Type.String({ minLength: 1, maxLength: 50, description: 'The state shown on the card ("已发货", "in stock")' }),
  ),
  url: Type.Optional(HttpsUrl('Where the card leads on the platform (https)')),
};

export const Card = Type.Object(
  { kind: CardKindParam, id: CardId, ...cardStateFields },
  {
    additionalProperties: false,
    title: 'Card',
    description:
      "A product or order card: a `card` message's `content` is one as JSON. URLs must be https; every field is bounded.",
    examples: [
      {
        kind: 'order',
        id: 'O20261205001',
        title: '羊毛大衣 L 码 ×1',
        price: '899.00',
        currency: 'CNY',
        status: '已发货',
        url: 'https://shop.example.com/orders/O20261205001',
      },
    ],
  },
);
export type Card = Static<typeof Card>;

export const CardParams = Type.Object({ kind: CardKindParam, id: CardId });

export const MAX_CARD_USERS = 20;

export const PutCardBody = Type.Object(
  {
    ...cardStateFields,
    user_ids: Type.Optional(
      Type.Array(IdParam, {
        maxItems: MAX_CARD_USERS,
        uniqueItems: true,
        description:
          'Orders: the users who may open a conversation about it with `order_id` (its buyer and merchant); others get 404. Ignored for products, which anyone may open with.',
      }),
    ),
  },
  {
    additionalProperties: false,
    title: 'PutCardBody',
    description: "A card's current state, as the host platform knows it; replaces the state stored before.",
    examples: [
      { title: '羊毛大衣 L 码 ×1', price: '899.00', currency: 'CNY', status: '已发货', user_ids: ['b1', 'm1'] },
    ],
  },
);
export type PutCardBody = Static<typeof PutCardBody>;

export const PutCardResponse = Type.Object(
  {
    card: Card,
    changed: Type.Boolean({ description: 'Whether the state differs from the one stored before (or is new)' }),
    conversations_notified: Type.Integer({
      minimum: 0,
      description:
        'Conversations showing the card whose participants were sent `card_updated` (the most recently shown ones, at most 1000)',
    }),
  },
  { title: 'PutCardResponse', description: 'The stored state, and how far its change was pushed' },
);

export const PostCardBody = Type.Object(
  {
    kind: CardKindParam,
    id: CardId,
    sender_id: Type.String({
      minLength: 1,
      maxLength: 50,
      pattern: '^[A-Za-z0-9_-]+$',
      description: 'The participant the card is posted as (usually the buyer)',
    }),
  },
  {
    additionalProperties: false,
    title: 'PostCardBody',
    description: 'A card the platform stored with PUT /api/cards/{kind}/{id}, to post into the conversation',
    examples: [{ kind: 'order', id: 'O20261205001', sender_id: 'b1' }],
  },
);
export type PostCardBody = Static<typeof PostCardBody>;
