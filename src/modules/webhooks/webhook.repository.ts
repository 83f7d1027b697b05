import { type Insertable, type Kysely, sql, type Transaction, type Updateable } from 'kysely';
import type {
  Database,
  WebhookDeliveriesTable,
  WebhookDeliveryRow,
  WebhookEndpointRow,
  WebhookEndpointsTable,
} from '../../db/types.ts';

type Db = Kysely<Database> | Transaction<Database>;

export function listEndpoints(db: Db): Promise<WebhookEndpointRow[]> {
  return db.selectFrom('webhook_endpoints').selectAll().orderBy('created_at').orderBy('id').execute();
}

export function findEndpoint(db: Db, id: string): Promise<WebhookEndpointRow | undefined> {
  return db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function countEndpoints(db: Db): Promise<number> {
  const row = await db
    .selectFrom('webhook_endpoints')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function insertEndpoint(db: Db, row: Insertable<WebhookEndpointsTable>): Promise<void> {
  await db.insertInto('webhook_endpoints').values(row).execute();
}

export async function updateEndpoint(db: Db, id: string, changes: Updateable<WebhookEndpointsTable>): Promise<void> {
  await db.updateTable('webhook_endpoints').set(changes).where('id', '=', id).execute();
}

/** Whether a row was deleted. */
export async function deleteEndpoint(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** The active endpoints and their events: what the outbox records for. */
export function activeSubscriptions(db: Db): Promise<{ id: string; events: string }[]> {
  return db.selectFrom('webhook_endpoints').select(['id', 'events']).where('is_active', '=', 1).execute();
}

/** One multi-row insert: the whole batch's outbox rows in one statement. */
export async function insertDeliveries(db: Db, rows: readonly Insertable<WebhookDeliveriesTable>[]): Promise<void> {
  if (rows.length > 0)
    await db
      .insertInto('webhook_deliveries')
      .values([...rows])
      .execute();
}

export async function deleteDeliveriesOf(db: Db, endpointId: string): Promise<void> {
  await db.deleteFrom('webhook_deliveries').where('endpoint_id', '=', endpointId).execute();
}

/**
 * Pending rows due now whose endpoint is active and that no earlier pending
 * row of the same conversation and endpoint holds back, in insert order.
 */
function dueQuery(db: Db, endpointIds: readonly string[], now: number, limit: number) {
  return db
    .selectFrom('webhook_deliveries as d')
    .where('d.status', '=', 'pending')
    .where('d.next_attempt_at', '<=', now)
    .where('d.lease_until', '<=', now)
    .where('d.endpoint_id', 'in', [...endpointIds])
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('webhook_deliveries as p')
            .select('p.position')
            .whereRef('p.endpoint_id', '=', 'd.endpoint_id')
            .whereRef('p.conversation_id', '=', 'd.conversation_id')
            .where('p.status', '=', 'pending')
            .whereRef('p.position', '<', 'd.position'),
        ),
      ),
    )
    .orderBy('d.position')
    .limit(limit);
}

/**
 * How instances claim rows without taking the same one: `skip-locked` (MySQL
 * 8, MariaDB 10.6+) selects `FOR UPDATE SKIP LOCKED` and leases what it got;
 * `update` leases with one UPDATE whose own condition re-checks the lease
 * (SQLite, where a statement is atomic and one writer runs at a time, and
 * older MySQL/MariaDB without SKIP LOCKED), then reads back what it leased.
 */
export type ClaimMode = 'skip-locked' | 'update';

/**
 * Leases up to `limit` due rows to `owner` until `leaseUntil` and answers them, in insert order.
 * `delivered`: successes of this owner not yet recorded, settled (settleDelivered) in the same
 * transaction before the due rows are looked for: one commit, so one flush to disk, where a claim
 * and a settle each had their own (they doubled the commits of a busy instance, competing with its
 * sends'); and a conversation's next event, held back by the one just delivered, is due at once.
 *
 * `runLength` > 1: each due row (the head of its conversation's pending events for its endpoint)
 * comes with up to runLength - 1 of the pending events after it, leased too, so the worker sends a
 * busy conversation's events one after another without a claim (a transaction and its commit) between
 * each. No lock is needed on them: while their head is pending and leased, no claimer takes them.
 */
export async function claimDue(
  db: Kysely<Database>,
  mode: ClaimMode,
  claim: {
    endpointIds: readonly string[];
    now: number;
    limit: number;
    owner: string;
    leaseUntil: number;
    delivered?: readonly Delivered[];
    runLength?: number;
  },
): Promise<WebhookDeliveryRow[]> {
  const { endpointIds, now, limit, owner, leaseUntil, delivered = [], runLength = 1 } = claim;
  if (endpointIds.length === 0 || limit <= 0) {
    await settleDelivered(db, owner, delivered, now);
    return [];
  }
  const lease = { lease_until: leaseUntil, lease_owner: owner };
  if (mode === 'skip-locked') {
    // READ COMMITTED: under REPEATABLE READ the locking scan also locks the gaps of the due index, and every
    // send transaction's outbox INSERT (holding its conversation's lock) waited for the claim to commit.
    // Order does not depend on it: one conversation's rows are inserted under its row lock, in commit order.
    return db
      .transaction()
      .setIsolationLevel('read committed')
      .execute(async (trx) => {
        await settleDelivered(trx, owner, delivered, now);
        const found = await dueQuery(trx, endpointIds, now, limit)
          .selectAll('d')
          .select(laterPending(runLength))
          .forUpdate()
          .skipLocked()
          .execute();
        if (found.length === 0) return [];
        const heads = found.map(({ later_pending: _, ...row }) => row);
        const followers = await followersOf(trx, withLaterPending(found), runLength);
        return leaseRows(trx, withFollowers(heads, followers, now), lease);
      });
  }
  return db.transaction().execute(async (trx) => {
    await settleDelivered(trx, owner, delivered, now);
    // MySQL refuses a subquery on the table being updated unless it is materialised: a derived table.
    const chosen = trx
      .selectFrom(dueQuery(trx, endpointIds, now, limit).select('d.position').as('due'))
      .select('due.position');
    await trx
      .updateTable('webhook_deliveries')
      .set(lease)
      .where('position', 'in', chosen)
      .where('status', '=', 'pending')
      .where('lease_until', '<=', now)
      .execute();
    const found = await trx
      .selectFrom('webhook_deliveries as d')
      .selectAll('d')
      .select(laterPending(runLength))
      .where('d.lease_owner', '=', owner)
      .where('d.lease_until', '=', leaseUntil)
      .where('d.status', '=', 'pending')
      .orderBy('d.position')
      .execute();
    const heads = found.map(({ later_pending: _, ...row }) => row);
    const followers = await followersOf(trx, withLaterPending(found), runLength);
    return [...heads, ...(await leaseRows(trx, withFollowers(heads, followers, now).slice(heads.length), lease))];
  });
}

/**
 * Whether a later event of a head's conversation is pending for its endpoint (one probe of the
 * order index per head): only those heads have followers to read. Under steady sends over many
 * conversations almost none has, and reading followers for every head cost the claim more than
 * the runs saved (measured: the subscribed send 1,190 vs 1,445 msg/s at c=16).
 */
function laterPending(runLength: number) {
  if (runLength <= 1) return sql<number>`0`.as('later_pending');
  return sql<number>`exists (select 1 from webhook_deliveries n where n.endpoint_id = d.endpoint_id and n.conversation_id = d.conversation_id and n.status = 'pending' and n.position > d.position)`.as(
    'later_pending',
  );
}

const withLaterPending = (rows: readonly (WebhookDeliveryRow & { later_pending: number | string })[]) =>
  rows.filter((row) => Number(row.later_pending) === 1);

/** Leases rows the claim chose (one UPDATE), answering them as leased. */
async function leaseRows(
  trx: Transaction<Database>,
  rows: readonly WebhookDeliveryRow[],
  lease: { lease_until: number; lease_owner: string },
): Promise<WebhookDeliveryRow[]> {
  if (rows.length > 0)
    await trx
      .updateTable('webhook_deliveries')
      .set(lease)
      .where(
        'position',
        'in',
        rows.map((row) => row.position),
      )
      .execute();
  return rows.map((row) => ({ ...row, ...lease }));
}

/**
 * Up to runLength - 1 pending rows after each head of a conversation, in one statement (a UNION
 * of one index range per head, each with its own LIMIT: a conversation's whole backlog is not read).
 */
async function followersOf(
  trx: Transaction<Database>,
  heads: readonly WebhookDeliveryRow[],
  runLength: number,
): Promise<WebhookDeliveryRow[]> {
  const runs = heads.filter((head) => head.conversation_id !== null);
  if (runLength <= 1 || runs.length === 0) return [];
  const after = (head: WebhookDeliveryRow) =>
    trx
      .selectFrom((eb) =>
        eb
          .selectFrom('webhook_deliveries')
          .selectAll()
          .where('endpoint_id', '=', head.endpoint_id)
          .where('conversation_id', '=', head.conversation_id)
          .where('status', '=', 'pending')
          .where('position', '>', head.position)
          .orderBy('position')
          .limit(runLength - 1)
          .as('f'),
      )
      .selectAll();
  const [first, ...rest] = runs;
  let query = after(first as WebhookDeliveryRow);
  for (const head of rest) query = query.unionAll(after(head));
  return query.execute();
}

/** Which run a row belongs to: its endpoint and conversation (rows of no conversation have none). */
export const runKey = (row: Pick<WebhookDeliveryRow, 'endpoint_id' | 'conversation_id'>) =>
  `${row.endpoint_id} ${row.conversation_id}`;

/**
 * The heads, then each head's followers in order, up to the first that is not due or is leased
 * (a retry waiting out its backoff; rows a crashed instance left leased): the run stops there.
 */
function withFollowers(
  heads: readonly WebhookDeliveryRow[],
  followers: readonly WebhookDeliveryRow[],
  now: number,
): WebhookDeliveryRow[] {
  const byRun = new Map<string, WebhookDeliveryRow[]>();
  for (const row of [...followers].sort((a, b) => Number(a.position) - Number(b.position))) {
    const key = runKey(row);
    const run = byRun.get(key);
    if (run) run.push(row);
    else byRun.set(key, [row]);
  }
  const taken: WebhookDeliveryRow[] = [...heads];
  for (const head of heads) {
    for (const row of byRun.get(runKey(head)) ?? []) {
      if (Number(row.next_attempt_at) > now || Number(row.lease_until) > now) break;
      taken.push(row);
    }
  }
  return taken;
}

/** Gives rows back (a run cut short): pending, due as they were, for any instance to claim. */
export async function releaseLeases(db: Db, owner: string, positions: readonly number[]): Promise<void> {
  if (positions.length > 0)
    await db
      .updateTable('webhook_deliveries')
      .set({ lease_until: 0, lease_owner: null })
      .where('position', 'in', [...positions])
      .where('lease_owner', '=', owner)
      .where('status', '=', 'pending')
      .execute();
}

/** Records an attempt's outcome, if the row is still leased to `owner` (else another worker took it over). */
export async function settleDelivery(
  db: Db,
  position: number,
  owner: string,
  changes: Updateable<WebhookDeliveriesTable>,
): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ ...changes, lease_until: 0, lease_owner: null })
    .where('position', '=', position)
    .where('lease_owner', '=', owner)
    .execute();
}

/** One delivered row's outcome, for settleDelivered. */
export interface Delivered {
  position: number;
  statusCode: number;
  durationMs: number;
}

/**
 * Marks rows still leased to `owner` delivered, in one statement (one commit
 * for many deliveries), each with its own status code and duration.
 */
export async function settleDelivered(db: Db, owner: string, rows: readonly Delivered[], now: number): Promise<void> {
  const [first, ...rest] = rows;
  if (!first) return;
  await db
    .updateTable('webhook_deliveries')
    .set((eb) => {
      const perRow = (pick: (row: Delivered) => number) => {
        let chosen = eb.case('position').when(first.position).then(pick(first));
        for (const row of rest) chosen = chosen.when(row.position).then(pick(row));
        return chosen.end();
      };
      return {
        status: 'delivered' as const,
        attempts: eb('attempts', '+', 1),
        last_status_code: perRow((row) => row.statusCode),
        last_error: null,
        last_duration_ms: perRow((row) => row.durationMs),
        delivered_at: now,
        updated_at: now,
        lease_until: 0,
        lease_owner: null,
      };
    })
    .where(
      'position',
      'in',
      rows.map((row) => row.position),
    )
    .where('lease_owner', '=', owner)
    .execute();
}

export async function markEndpointSucceeding(db: Db, id: string): Promise<void> {
  await db
    .updateTable('webhook_endpoints')
    .set({ failing_since: null })
    .where('id', '=', id)
    .where('failing_since', 'is not', null)
    .execute();
}

/** Notes a failure; answers since when the endpoint has been failing (ms). */
export async function markEndpointFailing(db: Db, id: string, now: number): Promise<number> {
  await db
    .updateTable('webhook_endpoints')
    .set({ failing_since: now })
    .where('id', '=', id)
    .where('failing_since', 'is', null)
    .execute();
  const row = await db.selectFrom('webhook_endpoints').select('failing_since').where('id', '=', id).executeTakeFirst();
  return row?.failing_since === null || row === undefined ? now : Number(row.failing_since);
}

export async function disableEndpoint(db: Db, id: string, reason: string, now: number): Promise<void> {
  await db
    .updateTable('webhook_endpoints')
    .set({ is_active: 0, disabled_reason: reason, updated_at: Math.floor(now / 1000) })
    .where('id', '=', id)
    .execute();
}

export function endpointForDelivery(db: Db, id: string) {
  return db
    .selectFrom('webhook_endpoints')
    .select([
      'id',
      'url',
      'secret',
      'previous_secret',
      'previous_secret_expires_at',
      'allow_private_network',
      'is_active',
      'failing_since',
    ])
    .where('id', '=', id)
    .executeTakeFirst();
}

/** Deletes delivered rows older than `deliveredBefore`, failed ones last touched before `failedBefore`. */
export async function pruneDeliveries(db: Db, deliveredBefore: number, failedBefore: number): Promise<number> {
  const delivered = await db
    .deleteFrom('webhook_deliveries')
    .where('status', '=', 'delivered')
    .where('delivered_at', '<', deliveredBefore)
    .executeTakeFirst();
  const failed = await db
    .deleteFrom('webhook_deliveries')
    .where('status', '=', 'failed')
    .where('updated_at', '<', failedBefore)
    .executeTakeFirst();
  // Rows an instance wrote for an endpoint deleted meanwhile (its list was up to 5 s old).
  const orphans = await db
    .deleteFrom('webhook_deliveries')
    .where('endpoint_id', 'not in', db.selectFrom('webhook_endpoints').select('id'))
    .executeTakeFirst();
  return Number(delivered.numDeletedRows) + Number(failed.numDeletedRows) + Number(orphans.numDeletedRows);
}

export function deliveriesOf(db: Db, endpointId: string, status: string | undefined, limit: number) {
  let query = db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('endpoint_id', '=', endpointId)
    .orderBy('position', 'desc')
    .limit(limit);
  if (status !== undefined) query = query.where('status', '=', status as WebhookDeliveryRow['status']);
  return query.execute();
}

export function findDelivery(db: Db, endpointId: string, eventId: string) {
  return db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('endpoint_id', '=', endpointId)
    .where('event_id', '=', eventId)
    .executeTakeFirst();
}

/** Makes a delivery due now with a fresh retry schedule. */
export async function requeueDelivery(db: Db, position: number, now: number): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', attempts: 0, next_attempt_at: now, lease_until: 0, lease_owner: null, updated_at: now })
    .where('position', '=', position)
    .execute();
}
