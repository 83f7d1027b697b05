import {
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  MysqlAdapter,
  MysqlIntrospector,
  MysqlQueryCompiler,
  type QueryResult,
  type Transaction,
} from 'kysely';
import type { Database } from '../../src/db/types.ts';
import { canonicalJson, chainHash, genesisHash, messageEntry } from '../../src/lib/transcript-chain.ts';
import { appendMessages, type UnreadColumn } from '../../src/modules/messages/message.repository.ts';
import { advanceWatermarks, searchTermRows } from '../../src/modules/search/search.repository.ts';
import { messageCreatedHook, type Subscriptions } from '../../src/modules/webhooks/webhook-outbox.ts';

/**
 * The statements of the service's send transaction, exactly as the service's
 * own appendMessages() issues them for one message through Kysely (recorded once from a fake
 * connection), as templates the bare mysql2 floor fills in. The floor thus
 * runs the same SQL text with the same parameters over the same client
 * library, without the service around it.
 */

export interface SendValues {
  id: string;
  conversation_id: string;
  sender_id: string;
  content: string;
  client_msg_id: string | null;
  created_at: number;
  preview: string;
}

/** `prev_seq` / `prev_head`: the conversation's last_seq and chain head the send wrote from (a guarded UPDATE). */
type Slot = keyof SendValues | 'seq' | 'chain_hash' | 'prev_seq' | 'prev_head';

export interface StatementTemplate {
  sql: string;
  /** Each parameter: a constant, or the name of the value it takes. */
  params: ({ constant: unknown } | { slot: Slot })[];
  /**
   * Whether this statement reads the conversation's last_seq and transcript chain head (under
   * its row lock), from which the floor computes the message's seq and chain hash as
   * appendMessages does (chainedValues).
   */
  readsHead: boolean;
}

const SENTINELS: Record<Slot, string | number> = {
  id: '__bench_id__',
  conversation_id: '__bench_conversation__',
  sender_id: '__bench_sender__',
  content: '__bench_content__',
  client_msg_id: '__bench_client_msg_id__',
  created_at: 1_999_999_937,
  preview: '__bench_preview__',
  seq: 888_888_887,
  chain_hash: '__bench_chain_hash__',
  prev_seq: 888_888_886,
  prev_head: 'e'.repeat(64),
};

/** The chain head the recording's conversation row answers (and a known head is). */
const SENTINEL_HEAD = SENTINELS.prev_head as string;

/**
 * The message's seq and chain hash, from its conversation's last_seq and chain head as the
 * send read them: exactly appendMessages' computation (src/lib/transcript-chain.ts).
 */
export function chainedValues(
  values: Omit<SendValues, 'preview'>,
  row: { last_seq: number | string; chain_head: string | null },
): { seq: number; chain_hash: string } {
  const seq = Number(row.last_seq) + 1;
  const entry = messageEntry({ ...values, seq, message_type: 'text', filename: null });
  return { seq, chain_hash: chainHash(row.chain_head ?? genesisHash(values.conversation_id), canonicalJson(entry)) };
}

/**
 * `selectRow`: what every select answers (by default the conversation's row, whose last_seq
 * makes the message's seq the seq sentinel, and a stand-in chain head).
 */
function recordingKysely(
  recorded: CompiledQuery[],
  selectRow: () => unknown = () => ({
    id: SENTINELS.conversation_id,
    last_seq: (SENTINELS.seq as number) - 1,
    chain_head: SENTINEL_HEAD,
  }),
): Kysely<Database> {
  const connection: DatabaseConnection = {
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      recorded.push(query);
      if (/^\s*select/i.test(query.sql)) return { rows: [selectRow() as R] };
      // Writes answer one affected row (appendMessages reads the seq from its SELECT, not from them).
      return { rows: [], numAffectedRows: 1n };
    },
    // biome-ignore lint/correctness/useYield: never streamed
    async *streamQuery() {
      throw new Error('not used');
    },
  };
  const driver: Driver = {
    async init() {},
    async acquireConnection() {
      return connection;
    },
    async beginTransaction(conn) {
      await conn.executeQuery({ sql: 'begin', parameters: [], query: undefined } as unknown as CompiledQuery);
    },
    async commitTransaction(conn) {
      await conn.executeQuery({ sql: 'commit', parameters: [], query: undefined } as unknown as CompiledQuery);
    },
    async rollbackTransaction() {},
    async releaseConnection() {},
    async destroy() {},
  };
  return new Kysely<Database>({
    dialect: {
      createAdapter: () => new MysqlAdapter(),
      createDriver: () => driver,
      createIntrospector: (db) => new MysqlIntrospector(db),
      createQueryCompiler: () => new MysqlQueryCompiler(),
    },
  });
}

/**
 * The send transaction's statements (begin … commit) for a message whose
 * recipient's counter is `unread`; `readsUnread` as when a hook asks for the
 * recipient's count (the webhook outbox with an endpoint subscribed).
 */
export async function recordSendTransaction(
  unread: UnreadColumn,
  options: { readsUnread?: boolean; headKnown?: boolean } = {},
): Promise<StatementTemplate[]> {
  const recorded: CompiledQuery[] = [];
  const db = recordingKysely(recorded);
  await db.transaction().execute((trx) =>
    appendMessages(
      trx,
      [
        {
          message: {
            id: SENTINELS.id as string,
            conversation_id: SENTINELS.conversation_id as string,
            sender_id: SENTINELS.sender_id as string,
            content: SENTINELS.content as string,
            message_type: 'text',
            filename: null,
            client_msg_id: SENTINELS.client_msg_id as string,
            created_at: SENTINELS.created_at as number,
          },
          recipientId: 'recipient',
          recipientUnread: unread,
          preview: SENTINELS.preview as string,
        },
      ],
      {
        unread: options.readsUnread === true,
        // As the service's batcher, when its last commit left the conversation's head: a guarded UPDATE, no read.
        ...(options.headKnown
          ? {
              heads: new Map([
                [SENTINELS.conversation_id as string, { lastSeq: SENTINELS.prev_seq as number, head: SENTINEL_HEAD }],
              ]),
            }
          : {}),
      },
    ),
  );
  await db.destroy();
  const bySentinel = new Map<unknown, Slot>(Object.entries(SENTINELS).map(([slot, value]) => [value, slot as Slot]));
  // The hash the recorded statements carry is the one computed from the sentinels: its slot.
  const { preview: _preview, ...message } = SENTINELS as unknown as SendValues;
  const recordedHash = chainedValues(message, { last_seq: (SENTINELS.seq as number) - 1, chain_head: SENTINEL_HEAD });
  bySentinel.set(recordedHash.chain_hash, 'chain_hash');
  return recorded.map((query) => ({
    sql: query.sql,
    params: query.parameters.map((value) => {
      const slot = bySentinel.get(value);
      return slot ? { slot } : { constant: value };
    }),
    readsHead: /^\s*select/i.test(query.sql) && /chain_head/.test(query.sql),
  }));
}

export function fillParams(
  template: StatementTemplate,
  values: SendValues & { seq?: number; chain_hash?: string; prev_seq?: number; prev_head?: string },
): unknown[] {
  return template.params.map((param) => ('constant' in param ? param.constant : values[param.slot]));
}

/** The statements `run` issues through Kysely (nothing reaches a database; selects answer one stand-in row). */
export async function recordQueries(run: (db: Kysely<Database>) => Promise<unknown>): Promise<CompiledQuery[]> {
  const recorded: CompiledQuery[] = [];
  const db = recordingKysely(recorded);
  await run(db);
  await db.destroy();
  return recorded;
}

const compiler = recordingKysely([]);

/**
 * The search index's writes for one text message, as a plain loop would make
 * them in its send transaction (the service's indexer makes the same writes
 * after the commit, batched over many messages): the INSERT IGNORE of its
 * terms, then the conversation's search_seq, so the service's indexer finds
 * nothing left to do. Compiled by the same Kysely dialect; none when the
 * message has no term.
 */
export async function searchIndexStatements(
  values: Pick<SendValues, 'id' | 'conversation_id' | 'content'> & { seq: number },
): Promise<{ sql: string; params: unknown[] }[]> {
  // In key order, as the indexer writes them: two inserts meeting on duplicates then cannot deadlock.
  const rows = searchTermRows([{ ...values, message_type: 'text' }]).sort((a, b) =>
    a.term < b.term ? -1 : a.term > b.term ? 1 : 0,
  );
  if (rows.length === 0) return [];
  const insert = compiler.insertInto('message_search_terms').values(rows).ignore().compile();
  const [watermark] = await recordQueries((db) =>
    advanceWatermarks(db, [{ conversationId: values.conversation_id, after: values.seq - 1, upTo: values.seq }]),
  );
  return [insert, watermark as CompiledQuery].map((query) => ({
    sql: query.sql,
    params: query.parameters as unknown[],
  }));
}

/**
 * The webhook outbox's statements in the send transaction for one message
 * with `endpointIds` subscribed to message.created: the real batch hook
 * (messageCreatedHook) prepared and written against a recording connection,
 * so the floor issues the same INSERT of the outbox rows (presence answers at
 * once, in-process, before the transaction; the recipient's `unread` count is
 * what the send's own statements read, recordSendTransaction with readsUnread).
 */
export async function webhookOutboxStatements(
  values: SendValues & { seq: number; unread: number },
  recipientId: string,
  endpointIds: readonly string[],
): Promise<{ sql: string; params: unknown[] }[]> {
  const recorded: CompiledQuery[] = [];
  const db = recordingKysely(recorded);
  const subscriptions = { endpointsFor: () => endpointIds } as unknown as Subscriptions;
  const hook = messageCreatedHook({ subscriptions, online: async () => [], baseUrl: 'http://bench.test' });
  const { preview, unread, ...message } = values;
  const append = {
    message: { ...message, message_type: 'text' as const, filename: null },
    recipientId,
    recipientUnread: 'participant2_unread' as const,
    preview,
  };
  const prepared = await hook.prepare([append]);
  await hook.write(
    db as unknown as Transaction<Database>,
    [{ message: { ...append.message, seq: values.seq, is_read: 0, recalled_at: null }, append, unread }],
    prepared,
  );
  await db.destroy();
  return recorded.map((query) => ({ sql: query.sql, params: [...query.parameters] }));
}
