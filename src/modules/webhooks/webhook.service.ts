import { randomBytes } from 'node:crypto';
import {
  type CreateWebhookBody,
  type DeliveriesQuery,
  MAX_WEBHOOK_ENDPOINTS,
  type UpdateWebhookBody,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookEndpointWithSecret,
  type WebhookPing,
} from '@cs-chat/contracts/rest/webhook.schemas';
import type { Kysely, Updateable } from 'kysely';
import type {
  Database,
  UserRow,
  WebhookDeliveryRow,
  WebhookEndpointRow,
  WebhookEndpointsTable,
} from '../../db/types.ts';
import { badRequest, notFound } from '../../lib/errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowSeconds } from '../../lib/time.ts';
import type { AccessService } from '../access/access.service.ts';
import * as repo from './webhook.repository.ts';
import { eventBody, newEventId, outboxRows, type Subscriptions } from './webhook-outbox.ts';
import { checkWebhookUrl, type ResolveHost, resolveHost } from './webhook-url.ts';

/** How long the secret before a rotation keeps signing (both signatures are sent meanwhile). */
export const PREVIOUS_SECRET_SECONDS = 24 * 60 * 60;

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export type WebhookService = ReturnType<typeof createWebhookService>;

export function createWebhookService({
  db,
  access,
  subscriptions,
  allowLoopbackHttp,
  resolve = resolveHost,
}: {
  db: Kysely<Database>;
  access: AccessService;
  subscriptions: Subscriptions;
  /** DEBUG=True: http:// to loopback is accepted (development, tests). */
  allowLoopbackHttp: boolean;
  resolve?: ResolveHost | undefined;
}) {
  const toEndpoint = (row: WebhookEndpointRow): WebhookEndpoint => {
    const expires = row.previous_secret_expires_at === null ? null : Number(row.previous_secret_expires_at);
    return {
      id: row.id,
      url: row.url,
      description: row.description,
      events: row.events.split(','),
      active: Boolean(row.is_active),
      allow_private_network: Boolean(row.allow_private_network),
      disabled_reason: row.disabled_reason,
      previous_secret_expires_at: expires !== null && expires > nowSeconds() ? expires : null,
      created_at: Number(row.created_at),
      updated_at: Number(row.updated_at),
    };
  };

  const seconds = (ms: number | null) => (ms === null ? null : Math.floor(Number(ms) / 1000));
  const toDelivery = (row: WebhookDeliveryRow): WebhookDelivery => ({
    event_id: row.event_id,
    event_type: row.event_type,
    conversation_id: row.conversation_id,
    status: row.status,
    attempts: Number(row.attempts),
    next_attempt_at: row.status === 'pending' ? seconds(row.next_attempt_at) : null,
    last_status_code: row.last_status_code === null ? null : Number(row.last_status_code),
    last_error: row.last_error,
    last_duration_ms: row.last_duration_ms === null ? null : Number(row.last_duration_ms),
    created_at: seconds(row.created_at) ?? 0,
    delivered_at: seconds(row.delivered_at),
  });

  async function existing(caller: UserRow, id: string): Promise<WebhookEndpointRow> {
    access.require(caller, 'webhook.manage');
    const row = await repo.findEndpoint(db, id);
    if (!row) throw notFound('webhook_not_found');
    return row;
  }

  return {
    async list(caller: UserRow): Promise<WebhookEndpoint[]> {
      access.require(caller, 'webhook.manage');
      return (await repo.listEndpoints(db)).map(toEndpoint);
    },

    async get(caller: UserRow, id: string): Promise<WebhookEndpoint> {
      return toEndpoint(await existing(caller, id));
    },

    async create(caller: UserRow, body: CreateWebhookBody): Promise<WebhookEndpointWithSecret> {
      access.require(caller, 'webhook.manage');
      const allowPrivateNetwork = body.allow_private_network ?? false;
      await checkWebhookUrl(body.url, { allowLoopbackHttp, allowPrivateNetwork }, resolve);
      if ((await repo.countEndpoints(db)) >= MAX_WEBHOOK_ENDPOINTS) throw badRequest('webhook_limit');
      const now = nowSeconds();
      const row: WebhookEndpointRow = {
        id: uuidv7(),
        url: body.url,
        description: body.description ?? null,
        events: body.events.join(','),
        secret: newWebhookSecret(),
        previous_secret: null,
        previous_secret_expires_at: null,
        allow_private_network: allowPrivateNetwork ? 1 : 0,
        is_active: 1,
        disabled_reason: null,
        created_at: now,
        updated_at: now,
        failing_since: null,
      };
      await repo.insertEndpoint(db, row);
      await subscriptions.refresh();
      return { ...toEndpoint(row), secret: row.secret };
    },

    /** Answers the new secret when `rotate_secret` asked for one. */
    async update(
      caller: UserRow,
      id: string,
      body: UpdateWebhookBody,
    ): Promise<WebhookEndpoint | WebhookEndpointWithSecret> {
      const row = await existing(caller, id);
      const url = body.url ?? row.url;
      const allowPrivateNetwork = body.allow_private_network ?? Boolean(row.allow_private_network);
      // Checked again whenever either changes: narrowing the network must not keep a private target.
      if (body.url !== undefined || body.allow_private_network !== undefined) {
        await checkWebhookUrl(url, { allowLoopbackHttp, allowPrivateNetwork }, resolve);
      }
      const now = nowSeconds();
      const changes: Updateable<WebhookEndpointsTable> = { updated_at: now };
      if (body.url !== undefined) changes.url = body.url;
      if (body.events !== undefined) changes.events = body.events.join(',');
      if (body.description !== undefined) changes.description = body.description;
      if (body.allow_private_network !== undefined) changes.allow_private_network = allowPrivateNetwork ? 1 : 0;
      if (body.active !== undefined) {
        changes.is_active = body.active ? 1 : 0;
        // Re-enabled by an admin: the service's reason for disabling it no longer holds.
        if (body.active) {
          changes.disabled_reason = null;
          changes.failing_since = null;
        }
      }
      let secret: string | undefined;
      if (body.rotate_secret) {
        secret = newWebhookSecret();
        changes.secret = secret;
        changes.previous_secret = row.secret;
        changes.previous_secret_expires_at = now + PREVIOUS_SECRET_SECONDS;
      }
      await repo.updateEndpoint(db, id, changes);
      await subscriptions.refresh();
      const updated = toEndpoint({ ...row, ...changes } as WebhookEndpointRow);
      return secret === undefined ? updated : { ...updated, secret };
    },

    async remove(caller: UserRow, id: string): Promise<void> {
      access.require(caller, 'webhook.manage');
      if (!(await repo.deleteEndpoint(db, id))) throw notFound('webhook_not_found');
      await repo.deleteDeliveriesOf(db, id);
      await subscriptions.refresh();
    },

    /** Queues a `ping` event for the endpoint (delivered like any other, while it is active). */
    async ping(caller: UserRow, id: string): Promise<WebhookPing> {
      await existing(caller, id);
      const now = Date.now();
      const event = { id: newEventId(), type: 'ping', conversationId: null, now };
      const body = eventBody('ping', new Date(now), { webhook_id: id });
      await repo.insertDeliveries(db, outboxRows([id], { ...event, body }));
      subscriptions.nudge();
      return { event_id: event.id };
    },

    /** The endpoint's latest deliveries first. */
    async deliveries(caller: UserRow, id: string, query: DeliveriesQuery): Promise<WebhookDelivery[]> {
      await existing(caller, id);
      return (await repo.deliveriesOf(db, id, query.status, query.limit ?? 50)).map(toDelivery);
    },

    /** Makes one delivery due now with a fresh retry schedule (a failed one, or a delivered one again). */
    async retry(caller: UserRow, id: string, eventId: string): Promise<WebhookDelivery> {
      await existing(caller, id);
      const row = await repo.findDelivery(db, id, eventId);
      if (!row) throw notFound('webhook_delivery_not_found');
      const now = Date.now();
      await repo.requeueDelivery(db, row.position, now);
      subscriptions.nudge();
      return toDelivery({ ...row, status: 'pending', attempts: 0, next_attempt_at: now, lease_until: 0 });
    },
  };
}
