import { MESSAGE_TYPES } from '@cs-chat/contracts/rest/message.schemas';
import { type Kysely, type RawBuilder, type SelectQueryBuilder, sql, type Transaction } from 'kysely';
import { type CappedCount, COUNT_CAP, cappedCount, pageIsReadable } from '../../db/capped-count.ts';
import { isMysql } from '../../db/dialect.ts';
import type { ConversationRow, ConversationStatus, Database, MessageRow, TeamRole } from '../../db/types.ts';
import { unprocessable } from '../../lib/errors.ts';
import { uuidv7Floor } from '../../lib/ids.ts';
import { canonicalJson, chainHash, genesisHash, messageEntry } from '../../lib/transcript-chain.ts';
import { type Viewer, visibleConversationIds } from '../conversations/conversation.repository.ts';
import type { IssuedUpload } from '../media/stored-uploads.ts';
import type { ScreenVerdict } from './content-screen.ts';

type Db = Kysely<Database> | Transaction<Database>;

export function findMessageById(db: Db, id: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findByClientMsgId(
  db: Db,
  conversationId: string,
  senderId: string,
  clientMsgId: string,
): Promise<MessageRow | undefined> {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', '=', conversationId)
    .where('sender_id', '=', senderId)
    .where('client_msg_id', '=', clientMsgId)
    .executeTakeFirst();
}

/** How many same-looking recent messages are read to find a byte-for-byte equal one. */
const DUPLICATE_CANDIDATES = 20;

/**
 * The reference client POSTs a message and then sends the same text as a WS
 * frame without client_msg_id: the message that sender stored in the last
 * seconds since `since` with the same conversation, type, content and file
 * name, if any. Only a byte-for-byte equal message counts: the database may
 * compare more loosely (MySQL 5.7 has no NO PAD collation, so "pay 100" would
 * equal "pay 100   " there), so the candidates it finds are checked here. The
 * id bound turns this into a short range scan of the sender's newest messages
 * (messages_sender_type_index is (sender_id, message_type, id), ids are UUIDv7).
 */
export async function findRecentDuplicate(
  db: Db,
  match: {
    conversationId: string;
    senderId: string;
    messageType: MessageRow['message_type'];
    content: string;
    filename: string | null;
    since: number;
  },
): Promise<MessageRow | undefined> {
  const candidates = await db
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', '=', match.conversationId)
    .where('sender_id', '=', match.senderId)
    .where('id', '>=', uuidv7Floor(match.since * 1000))
    .where('message_type', '=', match.messageType)
    .where('content', '=', match.content)
    .where('created_at', '>=', match.since)
    .where('recalled_at', 'is', null)
    .orderBy('seq', 'desc')
    .limit(DUPLICATE_CANDIDATES)
    .execute();
  return candidates.find((row) => row.content === match.content && row.filename === match.filename);
}

export type UnreadColumn = 'participant1_unread' | 'participant2_unread';

export function unreadColumnOf(conversation: Pick<ConversationRow, 'participant1_id'>, userId: string): UnreadColumn {
  return conversation.participant1_id === userId ? 'participant1_unread' : 'participant2_unread';
}

/** One message to store with appendMessages: its row and what it changes in its conversation. */
export interface Append {
  /** The row as inserted: seq and is_read are the statement's, recalled_at is never set by a send. */
  message: Omit<MessageRow, 'seq' | 'is_read' | 'recalled_at'>;
  /** The other participant: known before the transaction (participants never change), for hooks that need it. */
  recipientId: string;
  recipientUnread: UnreadColumn;
  preview: string;
  /** What the content screen found in it, for its send-transaction hook to record; absent for nearly every message. */
  screened?: ScreenVerdict | undefined;
  /**
   * Which side wrote it, in a conversation a team answers (issue 13): a
   * customer message reopens it and starts the wait for a reply
   * (awaiting_reply_since); a team answer ends the wait. Written by the same
   * statement that claims the seqs, so it costs no round trip.
   */
  side?: 'customer' | 'team';
  /** A team-side sender's role in the team (the teams module's send hook reads it). */
  teamRole?: TeamRole;
  /** Stored already read and counted in nobody's unread count (system messages). */
  read?: boolean;
}

/** What appendMessages learnt of one stored message. */
export interface Appended {
  seq: number;
  /** The recipient's unread count in its conversation including this message; only when asked (`unread`). */
  unread: number | undefined;
  /**
   * On the first customer message of its batch that reopened a pending or resolved team
   * conversation (issue 13): the status it had and what its lists show, read by the same
   * locked SELECT that claims the seqs (a few columns more, no statement more).
   */
  reopened?: Reopened;
}

/** A conversation a customer's message reopened (status back to `open`), as it was just before. */
export interface Reopened {
  previousStatus: Exclude<ConversationStatus, 'open'>;
  teamId: string | null;
  assigneeId: string | null;
  linkedConversationId: string | null;
}

/** `CASE id WHEN <conversation> THEN <value> … ELSE <column> END` over the conversations `value` answers for. */
function perConversationOr<T>(
  groups: ReadonlyMap<string, readonly Append[]>,
  column: 'status' | 'awaiting_reply_since',
  value: (appends: readonly Append[]) => RawBuilder<T> | T | undefined,
): RawBuilder<T> | undefined {
  const branches = [...groups].flatMap(([id, appends]) => {
    const v = value(appends);
    return v === undefined ? [] : [sql`WHEN ${id} THEN ${v}`];
  });
  if (branches.length === 0) return undefined;
  return sql<T>`CASE ${sql.ref('id')} ${sql.join(branches, sql` `)} ELSE ${sql.ref(column)} END`;
}

/**
 * When a group's customer has been waiting since, after its messages: null when
 * the team answered last; the first customer message after the team's last answer
 * of the group; else since before the group (or its first customer message).
 */
function awaitingAfter(group: readonly Append[]): RawBuilder<number | null> | undefined {
  if (!group.some((append) => append.side !== undefined)) return undefined;
  const lastTeam = group.findLastIndex((append) => append.side === 'team');
  const firstCustomer = group.findIndex((append, i) => i > lastTeam && append.side === 'customer');
  if (firstCustomer < 0) return sql<null>`NULL`;
  const since = (group[firstCustomer] as Append).message.created_at;
  return lastTeam >= 0 ? sql<number>`${since}` : sql<number>`COALESCE(${sql.ref('awaiting_reply_since')}, ${since})`;
}

/** `CASE id WHEN <conversation> THEN <value> … END`: one value per conversation of a batch. */
function perConversation<T>(
  groups: ReadonlyMap<string, readonly Append[]>,
  value: (appends: readonly Append[]) => T,
): RawBuilder<T> {
  const branches = [...groups].map(([id, appends]) => sql`WHEN ${id} THEN ${value(appends)}`);
  return sql<T>`CASE ${sql.ref('id')} ${sql.join(branches, sql` `)} END`;
}

/**
 * A conversation's last_seq and transcript chain head, as a send transaction
 * of this process committed them (append-batcher.ts keeps the recent ones).
 */
export interface ChainHead {
  lastSeq: number;
  head: string;
}

/** What one conversation of a send transaction gets: its messages' seqs and hashes, its new head. */
interface ConversationClaim {
  appends: Append[];
  next: ChainHead;
  stored: Map<Append, Appended & { chain_hash: string }>;
}

type HeadRow = {
  id: string;
  last_seq: number | string;
  chain_head: string | null;
  participant1_unread?: number | string;
  participant2_unread?: number | string;
  /** Read only when a customer message may reopen the conversation. */
  status?: ConversationStatus;
  team_id?: string | null;
  assignee_id?: string | null;
  linked_conversation_id?: string | null;
};

/**
 * Each message's seq and hash, from its conversation's last_seq and chain
 * head: the next seqs as one block in the order of `appends`, the chain
 * extended in that order (src/lib/transcript-chain.ts); with `unread`, the
 * recipient's count including each message, from the row's counters.
 */
function claimFrom(row: HeadRow, appends: Append[], unread: boolean): ConversationClaim {
  const counts = {
    participant1_unread: Number(row.participant1_unread),
    participant2_unread: Number(row.participant2_unread),
  };
  const stored = new Map<Append, Appended & { chain_hash: string }>();
  let head = row.chain_head ?? genesisHash(row.id);
  let seq = Number(row.last_seq);
  for (const append of appends) {
    seq += 1;
    head = chainHash(head, canonicalJson(messageEntry({ ...append.message, seq })));
    if (!append.read) counts[append.recipientUnread] += 1;
    stored.set(append, { seq, chain_hash: head, unread: unread ? counts[append.recipientUnread] : undefined });
  }
  const reopener = appends.find((append) => append.side === 'customer');
  const reopenedFrom = row.status;
  if (reopener && reopenedFrom !== undefined && reopenedFrom !== 'open') {
    const claim = stored.get(reopener) as Appended & { chain_hash: string };
    claim.reopened = {
      previousStatus: reopenedFrom,
      teamId: row.team_id ?? null,
      assigneeId: row.assignee_id ?? null,
      linkedConversationId: row.linked_conversation_id ?? null,
    };
  }
  return { appends, next: { lastSeq: seq, head }, stored };
}

/**
 * The conversations' UPDATE: new last_seq and chain head with the counters,
 * preview and team fields. With `expected`, only where each row still holds
 * that last_seq and head (a guess from this process's last commit); answers
 * how many rows it changed.
 */
async function advanceConversations(
  trx: Transaction<Database>,
  claims: ReadonlyMap<string, ConversationClaim>,
  expected?: ReadonlyMap<string, ChainHead>,
): Promise<number> {
  const groups = new Map([...claims].map(([id, claim]) => [id, claim.appends]));
  const added = perConversation(groups, (group) => group.length);
  const lastTime = perConversation(groups, (group) => (group[group.length - 1] as Append).message.created_at);
  const unreadFor = (column: UnreadColumn) =>
    sql<number>`${sql.ref(column)} + ${perConversation(groups, (group) => group.filter((a) => a.recipientUnread === column && !a.read).length)}`;
  // A customer message reopens a pending or resolved conversation; both sides move the wait for a reply.
  const status = perConversationOr<ConversationRow['status']>(groups, 'status', (group) =>
    group.some((append) => append.side === 'customer') ? 'open' : undefined,
  );
  const awaiting = perConversationOr(groups, 'awaiting_reply_since', awaitingAfter);
  const result = await trx
    .updateTable('conversations')
    .set({
      ...(status ? { status } : {}),
      ...(awaiting ? { awaiting_reply_since: awaiting } : {}),
      last_seq: sql<number>`last_seq + ${added}`,
      message_count: sql<number>`message_count + ${added}`,
      participant1_unread: unreadFor('participant1_unread'),
      participant2_unread: unreadFor('participant2_unread'),
      last_message: perConversation(groups, (group) => (group[group.length - 1] as Append).preview),
      last_message_time: lastTime,
      updated_at: lastTime,
      chain_head: sql<string>`CASE ${sql.ref('id')} ${sql.join(
        [...claims].map(([id, claim]) => sql`WHEN ${id} THEN ${claim.next.head}`),
        sql` `,
      )} END`,
    })
    .where('id', 'in', [...groups.keys()])
    .$if(expected !== undefined, (query) =>
      query.where((eb) =>
        eb.or(
          [...(expected ?? [])].map(([id, head]) =>
            eb.and([
              eb('id', '=', id),
              eb('last_seq', '=', head.lastSeq),
              eb('chain_head', '=', head.head),
              // A customer message into a conversation that is not open reopens it: that takes the read.
              ...(claims.get(id)?.appends.some((append) => append.side === 'customer')
                ? [eb('status', '=', 'open')]
                : []),
            ]),
          ),
        ),
      ),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * The send transaction's writes, for one message or a batch (group commit):
 * one statement per step whatever the number of messages. Each message needs
 * its conversation's last_seq and transcript chain head as they are under the
 * row lock; the UPDATE then writes the new last_seq and head with the
 * counters, and the insert cannot collide on seq. Concurrent sends to one
 * conversation queue on the lock (MySQL: one statement locks every
 * conversation of a batch in key order, so two batches cannot deadlock on
 * them; SQLite runs one transaction at a time).
 *
 * `heads`: what this process's last commits left in the conversations. When
 * every conversation of the batch is in it, the UPDATE is written from it
 * straight away, guarded by those very values, and no locking read comes
 * first: the usual case, where a conversation's sends come through one
 * instance. A guard that fails for some row (another instance wrote since, a
 * recall moved the head) costs a locking read of the heads and a second
 * UPDATE for those rows alone. `written` is told the heads this transaction
 * leaves, for the caller to keep once it commits.
 *
 * With `unread`, the heads are always read first, and that locked read also
 * takes the unread counters, so each message learns its recipient's count
 * including it (a webhook's `recipient_unread`) at no statement more; without
 * it, not one column more is read. Returns each message's seq (and count), or
 * undefined where its conversation is gone.
 */
export async function appendMessages(
  trx: Transaction<Database>,
  appends: readonly Append[],
  options: {
    unread?: boolean;
    heads?: ReadonlyMap<string, ChainHead>;
    written?: (heads: ReadonlyMap<string, ChainHead>) => void;
  } = {},
): Promise<(Appended | undefined)[]> {
  const wanted = new Map<string, Append[]>();
  for (const append of appends) {
    const group = wanted.get(append.message.conversation_id);
    if (group) group.push(append);
    else wanted.set(append.message.conversation_id, [append]);
  }
  const unread = options.unread === true;
  // A customer's message may reopen its conversation: what it was is read with the seqs, for its event.
  const mayReopen = appends.some((append) => append.side === 'customer');
  const known = options.heads;
  const guessable = !unread && known !== undefined && [...wanted.keys()].every((id) => known.has(id));
  const expected = new Map(guessable ? [...wanted.keys()].map((id) => [id, known.get(id) as ChainHead]) : []);
  const guessed = new Map(
    [...expected].map(([id, head]) => [
      id,
      claimFrom({ id, last_seq: head.lastSeq, chain_head: head.head }, wanted.get(id) ?? [], false),
    ]),
  );
  const changed = guessed.size > 0 ? await advanceConversations(trx, guessed, expected) : 0;

  let claims = guessed;
  if (changed < wanted.size) {
    // Read under the row lock (taken already where the guarded UPDATE got to a row). A row whose head is
    // the one the guarded UPDATE wrote was advanced by it; every other one is advanced from what is read.
    const read = trx
      .selectFrom('conversations')
      .select(['id', 'last_seq', 'chain_head'])
      .$if(unread, (query) => query.select(['participant1_unread', 'participant2_unread']))
      .$if(mayReopen, (query) => query.select(['status', 'team_id', 'assignee_id', 'linked_conversation_id']))
      .where('id', 'in', [...wanted.keys()]);
    const rows: HeadRow[] = await (isMysql(trx) ? read.forUpdate() : read).execute();
    if (rows.length === 0) return appends.map(() => undefined);
    claims = new Map();
    const behind = new Map<string, ConversationClaim>();
    for (const row of rows) {
      const advanced = guessed.get(row.id);
      if (advanced && row.chain_head === advanced.next.head) claims.set(row.id, advanced);
      else behind.set(row.id, claimFrom(row, wanted.get(row.id) ?? [], unread));
    }
    if (behind.size > 0) await advanceConversations(trx, behind);
    for (const [id, claim] of behind) claims.set(id, claim);
  }

  const rows = appends.flatMap((append) => {
    const claim = claims.get(append.message.conversation_id)?.stored.get(append);
    return claim === undefined
      ? []
      : [{ ...append.message, seq: claim.seq, chain_hash: claim.chain_hash, is_read: append.read ? 1 : 0 }];
  });
  await trx.insertInto('messages').values(rows).execute();
  options.written?.(new Map([...claims].map(([id, claim]) => [id, claim.next])));
  return appends.map((append) => {
    const claim = claims.get(append.message.conversation_id)?.stored.get(append);
    return claim && { seq: claim.seq, unread: claim.unread, ...(claim.reopened ? { reopened: claim.reopened } : {}) };
  });
}

/** Messages of one conversation in a seq range, via the (conversation_id, seq) key. */
export function messagesBySeq(
  db: Db,
  conversationId: string,
  range: { after?: number; atLeast?: number; before?: number; atMost?: number },
  order: 'asc' | 'desc',
  limit: number,
): Promise<MessageRow[]> {
  let query = db.selectFrom('messages').selectAll().where('conversation_id', '=', conversationId);
  if (range.after !== undefined) query = query.where('seq', '>', range.after);
  if (range.atLeast !== undefined) query = query.where('seq', '>=', range.atLeast);
  if (range.before !== undefined) query = query.where('seq', '<', range.before);
  if (range.atMost !== undefined) query = query.where('seq', '<=', range.atMost);
  return query.orderBy('seq', order).limit(limit).execute();
}

/** Seqs of moderated messages in a conversation, ascending. */
export async function deletedSeqs(db: Db, conversationId: string): Promise<number[]> {
  const rows = await db
    .selectFrom('deleted_messages')
    .select('seq')
    .where('conversation_id', '=', conversationId)
    .orderBy('seq')
    .execute();
  return rows.map((row) => Number(row.seq));
}

export interface MessageFilter {
  senderId?: string;
  messageType?: MessageRow['message_type'];
  /** Only messages older than this one (ids are UUIDv7: id order is creation order): the keyset cursor. */
  beforeId?: string;
}

/** Where a message list looks: everywhere (admins), or the conversations of one participant. */
export type MessageScope = { kind: 'all' } | { kind: 'conversations'; ids: readonly string[] };

/**
 * Up to this many conversations, a participant's list reads each
 * conversation's newest matches through its own index range and merges them
 * (bounded work whatever the filters); past it, one walk of an index in id
 * order filtered by membership. Buyers have a handful of conversations.
 */
export const PER_CONVERSATION_MERGE_LIMIT = 50;

/**
 * A merged page reads up to offset + limit rows from each conversation: past
 * this many in all, a numbered page is a 422 (page further with before_id,
 * whose pages read only `limit` from each).
 */
export const MERGED_ROWS_BUDGET = 50_000;

function matching<QB extends SelectQueryBuilder<Database, 'messages', any>>(query: QB, filter: MessageFilter): QB {
  let q = query;
  if (filter.senderId) q = q.where('sender_id', '=', filter.senderId) as QB;
  if (filter.messageType) q = q.where('message_type', '=', filter.messageType) as QB;
  if (filter.beforeId) q = q.where('id', '<', filter.beforeId) as QB;
  return q;
}

/**
 * Across conversations, the sender's messages: (sender_id, message_type, id)
 * (migration 20261204120000). With a type it is one id-ordered range; without,
 * a merge of one range per type. So a sender's rare type is an empty or short
 * range, not a walk of all their messages.
 */
const SENDER_INDEX = 'messages_sender_type_index';

/**
 * The index that serves a filter newest first across conversations: its
 * equality columns, then id. Named in the query, because MariaDB, left to
 * choose, intersects two single-purpose indexes and sorts every match;
 * undefined: the primary key. A sender without a type is read by sendersNewest.
 */
function indexFor(filter: MessageFilter): string | undefined {
  if (filter.senderId) return SENDER_INDEX;
  if (filter.messageType) return 'messages_type_id_index';
  return undefined;
}

/**
 * Within one conversation: (conversation_id, is_read, sender_id, message_type, id),
 * which is also read-all's index. With its four equality columns fixed it is an
 * id-ordered range, so a conversation's matches are a merge of the few ranges a
 * filter leaves open (is_read 0/1 × the participants or the sender × the types
 * or the type): no index of its own on the send path.
 */
const CONVERSATION_INDEX = 'messages_unread_list_index';

/** `messages`, read through `index` when given (FORCE INDEX on MySQL, INDEXED BY on SQLite). */
function messagesThrough(db: Db, index: string | undefined) {
  if (index === undefined) return db.selectFrom('messages');
  const table = isMysql(db)
    ? sql`messages force index (${sql.ref(index)})`
    : sql`messages indexed by ${sql.ref(index)}`;
  // Kysely takes any expression as a FROM item; typed as the table it reads.
  return db.selectFrom(table as unknown as 'messages');
}

function select(db: Db, filter: MessageFilter, index: string | undefined, idsOnly: boolean) {
  const from = messagesThrough(db, index);
  return matching(idsOnly ? from.select('id') : from.selectAll(), filter) as SelectQueryBuilder<
    Database,
    'messages',
    MessageRow
  >;
}

/**
 * Who may have sent a conversation's messages: its two participants and the
 * members of the team answering it (issue 13: a member's message carries the
 * member as sender). A team of one adds nobody.
 */
export type Participants = ReadonlyMap<string, readonly string[]>;

async function participantsOf(db: Db, ids: readonly string[]): Promise<Participants> {
  const rows = await db
    .selectFrom('conversations')
    .select(['id', 'participant1_id', 'participant2_id', 'team_id'])
    .where('id', 'in', ids)
    .execute();
  const teams = [...new Set(rows.flatMap((row) => (row.team_id === null ? [] : [row.team_id])))];
  // Members past and present (a removed member's messages stay): through the (team_id, team_role) index.
  const members =
    teams.length === 0
      ? []
      : await db.selectFrom('users').select(['id', 'team_id']).where('team_id', 'in', teams).execute();
  return new Map(
    rows.map((row) => [
      row.id,
      [
        ...new Set([
          row.participant1_id,
          row.participant2_id,
          ...members.filter((member) => member.team_id === row.team_id).map((member) => member.id),
        ]),
      ],
    ]),
  );
}

/**
 * One conversation's matches as id-ordered ranges of CONVERSATION_INDEX, each
 * newest first and stopping at `window`: up to 2 × 2 × 3 of them (no filter),
 * one pair with sender and type. A conversation that is gone has none.
 */
function conversationRanges(
  db: Db,
  conversationId: string,
  participants: Participants,
  filter: MessageFilter,
  window: number,
  idsOnly: boolean,
) {
  const senders = filter.senderId ? [filter.senderId] : (participants.get(conversationId) ?? []);
  const types = filter.messageType ? [filter.messageType] : MESSAGE_TYPES;
  const cursor: MessageFilter = filter.beforeId ? { beforeId: filter.beforeId } : {};
  return [0, 1].flatMap((isRead) =>
    senders.flatMap((senderId) =>
      types.map((type) =>
        select(db, cursor, CONVERSATION_INDEX, idsOnly)
          .where('conversation_id', '=', conversationId)
          .where('is_read', '=', isRead)
          .where('sender_id', '=', senderId)
          .where('message_type', '=', type)
          .orderBy('id', 'desc')
          .limit(window),
      ),
    ),
  );
}

/**
 * Ranges merged newest first (id descending), for the caller to limit and
 * offset; unordered for a count, which needs no sort of what the ranges read.
 */
function mergeRanges(
  db: Db,
  ranges: SelectQueryBuilder<Database, 'messages', MessageRow>[],
  idsOnly: boolean,
  ordered: boolean,
) {
  const branches = ranges.map((range, i) => db.selectFrom(range.as(`r${i}`)).selectAll());
  const [first, ...rest] = branches;
  if (!first) {
    // Nothing to read (a conversation that is gone): an empty result of the same shape.
    return select(db, {}, undefined, idsOnly).where(sql<boolean>`1 = 0`).orderBy('id', 'desc');
  }
  const union = rest.reduce((all, branch) => all.unionAll(branch), first);
  const merged = db.selectFrom(union.as('merged')).selectAll();
  return (ordered ? merged.orderBy('id', 'desc') : merged) as unknown as SelectQueryBuilder<
    Database,
    'messages',
    MessageRow
  >;
}

/** One conversation's matches, newest first; `window` bounds what is read (offset + limit). */
function ofConversation(
  db: Db,
  conversationId: string,
  participants: Participants,
  filter: MessageFilter,
  window: number,
  idsOnly: boolean,
  ordered: boolean,
) {
  const ranges = conversationRanges(db, conversationId, participants, filter, window, idsOnly);
  return mergeRanges(db, ranges, idsOnly, ordered);
}

/**
 * Matching messages newest first (id descending), for the caller to limit and
 * offset; `window` bounds what each range contributes (offset + limit).
 */
function newest(
  db: Db,
  scope: MessageScope,
  participants: Participants,
  filter: MessageFilter,
  window: number,
  idsOnly: boolean,
  ordered: boolean,
) {
  if (scope.kind === 'all') return acrossConversations(db, filter, undefined, window, idsOnly, ordered, (q) => q);
  const ranges = scope.ids.flatMap((id) => conversationRanges(db, id, participants, filter, window, idsOnly));
  return mergeRanges(db, ranges, idsOnly, ordered);
}

/**
 * Matches across conversations newest first, kept by `scoped`: one walk of the
 * filter's id-ordered index (or `byDefault`), or for a sender without a type,
 * a merge of the sender's range of each type, each stopping at `window`.
 */
function acrossConversations(
  db: Db,
  filter: MessageFilter,
  byDefault: string | undefined,
  window: number,
  idsOnly: boolean,
  ordered: boolean,
  scoped: (
    query: SelectQueryBuilder<Database, 'messages', MessageRow>,
  ) => SelectQueryBuilder<Database, 'messages', MessageRow>,
) {
  if (filter.senderId && !filter.messageType) {
    const ranges = MESSAGE_TYPES.map((type) =>
      scoped(select(db, { ...filter, messageType: type }, SENDER_INDEX, idsOnly))
        .orderBy('id', 'desc')
        .limit(window),
    );
    return mergeRanges(db, ranges, idsOnly, ordered);
  }
  return scoped(select(db, filter, indexFor(filter) ?? byDefault, idsOnly)).orderBy('id', 'desc');
}

/** Membership by subquery: the fallback for participants (and team members) of many conversations. */
function newestOfParticipant(
  db: Db,
  viewer: Viewer,
  filter: MessageFilter,
  window: number,
  idsOnly: boolean,
  ordered: boolean,
) {
  // Walking the id-ordered index of the filter and keeping members stops after the page; MariaDB's own
  // choice (materialise the membership, then sort all its messages) reads every message of the participant.
  return acrossConversations(db, filter, isMysql(db) ? 'PRIMARY' : undefined, window, idsOnly, ordered, (query) =>
    query.where('conversation_id', 'in', visibleConversationIds(db, viewer)),
  );
}

/**
 * The conversations a viewer's list reads (theirs; a team member's also the team's they see):
 * their ids, or the viewer when there are too many to merge.
 */
export async function participantScope(
  db: Db,
  viewer: Viewer,
): Promise<MessageScope | { kind: 'participant'; viewer: Viewer }> {
  const rows = await visibleConversationIds(db, viewer)
    .limit(PER_CONVERSATION_MERGE_LIMIT + 1)
    .execute();
  if (rows.length > PER_CONVERSATION_MERGE_LIMIT) return { kind: 'participant', viewer };
  return { kind: 'conversations', ids: rows.map((row) => row.id) };
}

export type ListScope = Awaited<ReturnType<typeof participantScope>>;

/**
 * The capped count of several conversations' matches, one conversation after
 * another, each asked only for what the cap still lacks: at most COUNT_CAP + 1
 * index entries read in all (a union would read the cap from every one).
 */
async function countMerged(
  db: Db,
  ids: readonly string[],
  participants: Participants,
  filter: MessageFilter,
): Promise<CappedCount> {
  let total = 0;
  for (const id of ids) {
    const left = COUNT_CAP - total;
    const counted = await cappedCount(
      db,
      (n) => ofConversation(db, id, participants, filter, n, true, false).limit(n),
      left,
    );
    if (!counted.exact) return { count: COUNT_CAP, exact: false };
    total += counted.count;
  }
  return { count: total, exact: true };
}

/** Newest first, with a count exact up to COUNT_CAP; a page past a capped count is a 422 (see capped-count.ts). */
export async function listMessages(
  db: Db,
  scope: ListScope,
  filter: MessageFilter,
  limit: number,
  offset: number,
): Promise<CappedCount & { rows: MessageRow[] }> {
  if (scope.kind === 'conversations' && scope.ids.length === 0) return { count: 0, exact: true, rows: [] };
  const merged = scope.kind === 'conversations' && scope.ids.length > 1;
  // Without a sender filter, a conversation's ranges are per participant.
  const participants: Participants =
    scope.kind === 'conversations' && !filter.senderId ? await participantsOf(db, scope.ids) : new Map();
  const query = (window: number, idsOnly: boolean, ordered = true) =>
    scope.kind === 'participant'
      ? newestOfParticipant(db, scope.viewer, filter, window, idsOnly, ordered)
      : newest(db, scope, participants, filter, window, idsOnly, ordered);
  const counted =
    merged && scope.kind === 'conversations'
      ? await countMerged(db, scope.ids, participants, filter)
      : await cappedCount(db, (n) => query(n, true, false).limit(n));
  if (!pageIsReadable(counted, offset)) return { ...counted, rows: [] };
  if (merged && scope.kind === 'conversations' && scope.ids.length * (offset + limit) > MERGED_ROWS_BUDGET) {
    throw unprocessable('page_too_deep', ['page: page further back with before_id']);
  }
  // The page's ids from the index ranges (covering where the ranges are), then only their rows by primary
  // key: a merge reads up to `window` ids from each range, but whole rows only for the page.
  const page = query(offset + limit, true)
    .limit(limit)
    .offset(offset);
  const rows = await db
    .selectFrom(page.as('page'))
    .innerJoin('messages', 'messages.id', 'page.id')
    .selectAll('messages')
    .orderBy('messages.id', 'desc')
    .execute();
  return { ...counted, rows };
}

/**
 * Takes the conversation's row lock for the rest of the transaction (MySQL;
 * SQLite runs one transaction at a time anyway). Every writer of a
 * conversation's messages (send, read, read-all, delete) takes it before any
 * message's, so concurrent writers queue in one order, never deadlock, and
 * each sees the others' read flags as committed.
 */
async function lockConversation(trx: Transaction<Database>, conversationId: string): Promise<void> {
  if (!isMysql(trx)) return;
  await trx.selectFrom('conversations').select('id').where('id', '=', conversationId).forUpdate().execute();
}

/**
 * The recipient reads one message: their count drops by one if, and only if,
 * this flips its flag. Run in a transaction. Returns whether it was unread.
 */
export async function markMessageRead(
  trx: Transaction<Database>,
  message: Pick<MessageRow, 'id' | 'conversation_id'>,
  column: UnreadColumn,
): Promise<boolean> {
  await lockConversation(trx, message.conversation_id);
  const result = await trx
    .updateTable('messages')
    .set({ is_read: 1 })
    .where('id', '=', message.id)
    .where('is_read', '=', 0)
    .executeTakeFirst();
  const flipped = Number(result.numUpdatedRows) > 0;
  if (flipped) await decrementUnread(trx, message.conversation_id, column);
  return flipped;
}

/** Whose messages read-all marks: one sender's (the customer's), or everyone's but the reader's side (a team's). */
export type Senders = { only: string } | { allBut: string };

/**
 * Marks every unread message of `senders` in this conversation and zeroes the
 * reader's count, in that transaction; answers how many it marked. The count
 * first, which takes the conversation's lock (see lockConversation): marking
 * first, a concurrent send (which locks the conversation, then inserts)
 * deadlocked.
 */
export async function markConversationRead(
  trx: Transaction<Database>,
  conversationId: string,
  senders: Senders,
  readerColumn: UnreadColumn,
): Promise<number> {
  await trx
    .updateTable('conversations')
    .set({ [readerColumn]: 0 })
    .where('id', '=', conversationId)
    .execute();
  const marked = await trx
    .updateTable('messages')
    .set({ is_read: 1 })
    .where('conversation_id', '=', conversationId)
    .where('is_read', '=', 0)
    .where('sender_id', 'only' in senders ? '=' : '!=', 'only' in senders ? senders.only : senders.allBut)
    .executeTakeFirst();
  return Number(marked.numUpdatedRows);
}

/** A conversation's last seq and one participant's unread count, as this transaction sees them. */
export async function readState(
  trx: Transaction<Database>,
  conversationId: string,
  column: UnreadColumn,
): Promise<{ lastSeq: number; unread: number }> {
  const row = await trx
    .selectFrom('conversations')
    .select(['last_seq', `${column} as unread`])
    .where('id', '=', conversationId)
    .executeTakeFirst();
  return { lastSeq: Number(row?.last_seq ?? 0), unread: Number(row?.unread ?? 0) };
}

/** One more unread message for `column`'s participant (a platform post counts for both sides). */
export async function incrementUnread(db: Db, conversationId: string, column: UnreadColumn): Promise<void> {
  await db
    .updateTable('conversations')
    .set((eb) => ({ [column]: eb(column, '+', 1) }))
    .where('id', '=', conversationId)
    .execute();
}

export async function decrementUnread(db: Db, conversationId: string, column: UnreadColumn): Promise<void> {
  await db
    .updateTable('conversations')
    .set((eb) => ({ [column]: eb(column, '-', 1) }))
    .where('id', '=', conversationId)
    .where(column, '>', 0)
    .execute();
}

/**
 * Hard-deletes a message, keeping the conversation's counters (the
 * recipient's unread count in `recipientUnread` included) and preview true.
 * False, with nothing changed, when it is already gone.
 */
export async function deleteMessage(
  trx: Transaction<Database>,
  message: MessageRow,
  recipientUnread: UnreadColumn,
  deletedBy: string,
  now: number,
  previewOf: (row: MessageRow) => string,
): Promise<boolean> {
  // The conversation row is written first, as a send does: concurrent deletes (and sends) in
  // one conversation queue on it here. Written later, after deleted_messages (whose foreign-key
  // check takes a shared lock on it), two deletes each holding it shared deadlock (MySQL); and
  // the newest message below is read only once the ones before have committed.
  await trx
    .updateTable('conversations')
    .set((eb) => ({ message_count: eb('message_count', '-', 1) }))
    .where('id', '=', message.conversation_id)
    .execute();
  // Whether it was still unread is learnt from the delete itself (a current read under the
  // conversation's lock): the copy the caller read earlier may have been marked read since.
  const unread = await trx
    .deleteFrom('messages')
    .where('id', '=', message.id)
    .where('is_read', '=', 0)
    .executeTakeFirst();
  const wasUnread = Number(unread.numDeletedRows) > 0;
  const { numDeletedRows } = wasUnread
    ? unread
    : await trx.deleteFrom('messages').where('id', '=', message.id).executeTakeFirst();
  // A concurrent delete of the same message won. The count comes back here rather than by a
  // rollback: a caller's transaction (db/transaction.ts) may take the 404 and commit its other work.
  if (Number(numDeletedRows) === 0) {
    await trx
      .updateTable('conversations')
      .set((eb) => ({ message_count: eb('message_count', '+', 1) }))
      .where('id', '=', message.conversation_id)
      .execute();
    return false;
  }
  if (wasUnread) await decrementUnread(trx, message.conversation_id, recipientUnread);
  const [latest] = await messagesBySeq(trx, message.conversation_id, {}, 'desc', 1);
  await trx
    .updateTable('conversations')
    .set({
      last_message: latest ? previewOf(latest) : null,
      last_message_time: latest ? latest.created_at : null,
    })
    .where('id', '=', message.conversation_id)
    .execute();
  await trx
    .insertInto('deleted_messages')
    .values({
      conversation_id: message.conversation_id,
      seq: message.seq,
      message_id: message.id,
      deleted_by: deletedBy,
      deleted_at: now,
      // The transcript keeps the entry's hash where the content went (src/modules/transcript).
      chain_hash: message.chain_hash ?? null,
    })
    .execute();
  return true;
}

/**
 * Marks a message recalled, keeping the conversation true: the recipient's
 * unread count drops if it was still unread (and it counts as read from then
 * on, so no later read counts it again), and the preview becomes `preview`
 * if it is the newest live message. False, with nothing changed, when it was
 * already recalled (or is gone). Takes the conversation's lock first, as
 * every writer of its messages does.
 */
export async function recallMessage(
  trx: Transaction<Database>,
  message: Pick<MessageRow, 'id' | 'conversation_id'>,
  recipientUnread: UnreadColumn,
  now: number,
  preview: string,
): Promise<boolean> {
  await lockConversation(trx, message.conversation_id);
  // Whether it was unread is learnt from the update itself (a current read under the lock).
  const unread = await trx
    .updateTable('messages')
    .set({ recalled_at: now, is_read: 1 })
    .where('id', '=', message.id)
    .where('recalled_at', 'is', null)
    .where('is_read', '=', 0)
    .executeTakeFirst();
  const wasUnread = Number(unread.numUpdatedRows) > 0;
  if (!wasUnread) {
    const read = await trx
      .updateTable('messages')
      .set({ recalled_at: now })
      .where('id', '=', message.id)
      .where('recalled_at', 'is', null)
      .executeTakeFirst();
    if (Number(read.numUpdatedRows) === 0) return false;
  }
  if (wasUnread) await decrementUnread(trx, message.conversation_id, recipientUnread);
  const [latest] = await messagesBySeq(trx, message.conversation_id, {}, 'desc', 1);
  if (latest?.id === message.id) {
    await trx
      .updateTable('conversations')
      .set({ last_message: preview })
      .where('id', '=', message.conversation_id)
      .execute();
  }
  return true;
}

/** A day in ms: the margin for clocks that disagree on when an upload's day began. */
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Whether a live message (or a user's avatar) still refers to an upload. Only
 * messages sent since the upload's day can, and ids are UUIDv7, so the scan is
 * the primary key's range from that day on, not the whole table; moderation
 * is rare, and this runs once per deleted image or file.
 */
export async function uploadInUse(db: Db, upload: IssuedUpload): Promise<boolean> {
  const [message, user] = await Promise.all([
    db
      .selectFrom('messages')
      .select('id')
      .where('id', '>=', uuidv7Floor(upload.uploadedFrom - DAY_MS))
      .where('message_type', '!=', 'text')
      .where('content', '=', upload.path)
      .limit(1)
      .executeTakeFirst(),
    db.selectFrom('users').select('id').where('avatar', '=', upload.path).limit(1).executeTakeFirst(),
  ]);
  return message !== undefined || user !== undefined;
}
