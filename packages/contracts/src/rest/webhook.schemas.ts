import Type, { type Static } from 'typebox';

/** At most this many endpoints per deployment: every send writes one outbox row per subscribed endpoint. */
export const MAX_WEBHOOK_ENDPOINTS = 20;

/**
 * The events an endpoint can subscribe to (docs/WEBHOOKS.md); more join as
 * they are written to the outbox. `ping` is sent by the test call only.
 */
export const WEBHOOK_EVENTS = ['message.created', 'guard.flagged'] as const;
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];

const EventName = Type.Enum(WEBHOOK_EVENTS);
const Events = Type.Array(EventName, { minItems: 1, maxItems: WEBHOOK_EVENTS.length, uniqueItems: true });
const Url = Type.String({ minLength: 1, maxLength: 2000 });
const Description = Type.String({ maxLength: 500 });

export const WebhookEndpoint = Type.Object(
  {
    id: Type.String(),
    url: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    events: Type.Array(Type.String()),
    active: Type.Boolean(),
    allow_private_network: Type.Boolean(),
    /** Why the service disabled the endpoint (410, a day of failures); null otherwise. */
    disabled_reason: Type.Union([Type.String(), Type.Null()]),
    /** Unix seconds until which the secret before the last rotation still signs; null when none. */
    previous_secret_expires_at: Type.Union([Type.Integer(), Type.Null()]),
    created_at: Type.Integer(),
    updated_at: Type.Integer(),
  },
  { title: 'WebhookEndpoint', description: 'A registered webhook endpoint (never its secret)' },
);
export type WebhookEndpoint = Static<typeof WebhookEndpoint>;

/** Create and rotate answer the signing secret, once; nothing shows it again. */
export const WebhookEndpointWithSecret = Type.Object(
  {
    ...WebhookEndpoint.properties,
    secret: Type.String({ description: 'whsec_… (Standard Webhooks); shown only in this answer' }),
  },
  {
    title: 'WebhookEndpointWithSecret',
    description: 'The endpoint with its signing secret, shown only in this answer',
  },
);
export type WebhookEndpointWithSecret = Static<typeof WebhookEndpointWithSecret>;

export const CreateWebhookBody = Type.Object(
  {
    url: Url,
    events: Events,
    description: Type.Optional(Description),
    allow_private_network: Type.Optional(Type.Boolean()),
  },
  {
    additionalProperties: false,
    title: 'CreateWebhookBody',
    description: 'A new endpoint: its URL and the events it receives',
  },
);
export type CreateWebhookBody = Static<typeof CreateWebhookBody>;

export const UpdateWebhookBody = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(Events),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
    active: Type.Optional(Type.Boolean()),
    allow_private_network: Type.Optional(Type.Boolean()),
    rotate_secret: Type.Optional(Type.Boolean()),
  },
  {
    additionalProperties: false,
    title: 'UpdateWebhookBody',
    description: 'The fields to change; `rotate_secret: true` issues a new secret',
  },
);
export type UpdateWebhookBody = Static<typeof UpdateWebhookBody>;

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;

/** One event for one endpoint and how its delivery went. Times in Unix seconds. */
export const WebhookDelivery = Type.Object(
  {
    event_id: Type.String({ description: 'The webhook-id header: the same on every attempt' }),
    event_type: Type.String(),
    conversation_id: Type.Union([Type.String(), Type.Null()]),
    status: Type.Enum(WEBHOOK_DELIVERY_STATUSES),
    attempts: Type.Integer(),
    /** When a pending delivery is next tried; null once delivered or failed. */
    next_attempt_at: Type.Union([Type.Integer(), Type.Null()]),
    last_status_code: Type.Union([Type.Integer(), Type.Null()]),
    last_error: Type.Union([Type.String(), Type.Null()]),
    last_duration_ms: Type.Union([Type.Integer(), Type.Null()]),
    created_at: Type.Integer(),
    delivered_at: Type.Union([Type.Integer(), Type.Null()]),
  },
  { title: 'WebhookDelivery', description: 'One event for one endpoint, and how its delivery went' },
);
export type WebhookDelivery = Static<typeof WebhookDelivery>;

export const DeliveriesQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum(WEBHOOK_DELIVERY_STATUSES, { description: 'Only deliveries in this state' })),
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100, default: 50, description: 'How many, latest first (at most 100)' }),
    ),
  },
  { additionalProperties: false },
);
export type DeliveriesQuery = Static<typeof DeliveriesQuery>;

export const DeliveryParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9_-]+$', description: 'The endpoint id' }),
  event_id: Type.String({
    minLength: 1,
    maxLength: 50,
    pattern: '^[A-Za-z0-9_-]+$',
    description: 'The event id (the webhook-id header)',
  }),
});

export const WebhookPing = Type.Object(
  { event_id: Type.String({ description: 'The ping event id; its delivery shows in the deliveries list' }) },
  { title: 'WebhookPing', description: 'The ping event was queued for delivery' },
);
export type WebhookPing = Static<typeof WebhookPing>;
