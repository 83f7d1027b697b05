import { Readable } from 'node:stream';
import mysql from 'mysql2/promise';
import { uuidv7 } from '../../src/lib/ids.ts';
import { searchTerms } from '../../src/lib/search-terms.ts';
import { MESSAGE_COLUMNS, type SeededConversation } from './database.ts';
import { xorshift32 } from './random.ts';

/**
 * The search scenario's table, made fast enough for 10,000,000 messages and
 * their ~150,000,000 index rows on a small machine (bench/README.md, "Search").
 *
 * Inserting each batch's index rows as they come (message order) puts each
 * message's number term (`#123`) at a random place in message_search_terms'
 * primary key (term, message_id): once the numbers' rows outgrow the buffer
 * pool (MariaDB's default 128 MiB) each costs a random page read, and multi-row
 * INSERTs cost more per row than LOAD DATA. Here the messages are generated
 * first (deterministically: every run loads the same table), kept in compact
 * arrays, then streamed to the server with LOAD DATA LOCAL INFILE (no file on
 * disk) in primary-key order: messages by id (UUIDv7, which follows time), the
 * index rows term by term, each term's rows by message id. Every page is filled
 * once, in order. The caller drops the secondary keys before and builds them
 * after (one sort each).
 */

/** Sentences a message is made of (two each); `订单` is in two of them. */
export const PHRASES = [
  '请问这款还有货吗',
  '我的订单什么时候发货',
  '快递单号是多少呢',
  '可以开发票吗',
  '这个颜色还有库存吗',
  '退货地址在哪里',
  '已经帮您催促物流了',
  '感谢您的耐心等待',
  '优惠券怎么使用',
  '尺码偏大还是偏小',
  '包装有破损怎么办',
  '订单已经帮您改好地址',
];
export const RARE = '阿莫西林';
export const RARE_COUNT = 10;

export interface SearchSeedPlan {
  messages: number;
  /** Share of the messages in the first conversation (the focus). */
  focusShare: number;
}

export type SearchSeedProgress = (step: string) => void;

/** The table's messages, in id order, as compact arrays (10,000,000 take about 600 MB). */
class GeneratedMessages {
  readonly count: number;
  /** Each message's id, 36 ASCII bytes. */
  readonly ids: Buffer;
  /** Index into the conversations. */
  readonly conversation: Uint16Array | Uint32Array;
  readonly seq: Uint32Array;
  /** Which two phrases (a * PHRASES.length + b). */
  readonly phrases: Uint8Array;
  readonly rareEvery: number;
  readonly baseMs: number;
  /** Each conversation's highest seq. */
  readonly lastSeq: Uint32Array;

  constructor(plan: SearchSeedPlan, conversations: readonly SeededConversation[]) {
    const n = plan.messages;
    this.count = n;
    this.ids = Buffer.alloc(n * 36);
    this.conversation = conversations.length <= 0xffff ? new Uint16Array(n) : new Uint32Array(n);
    this.seq = new Uint32Array(n);
    this.phrases = new Uint8Array(n);
    this.lastSeq = new Uint32Array(conversations.length);
    this.rareEvery = Math.max(1, Math.floor(n / RARE_COUNT));
    this.baseMs = Date.now() - n * 5 - 60_000;
    // The same table every run.
    const next = xorshift32(12345);
    const others = conversations.length - 1;
    for (let i = 0; i < n; i++) {
      const c = next() % 1000 < plan.focusShare * 1000 || others === 0 ? 0 : 1 + (i % others);
      this.conversation[i] = c;
      const seq = (this.lastSeq[c] ?? 0) + 1;
      this.lastSeq[c] = seq;
      this.seq[i] = seq;
      const a = next() % PHRASES.length;
      const b = next() % PHRASES.length;
      this.phrases[i] = a * PHRASES.length + b;
      // 5 ms apart: ids increase with i, so the id order is the load order.
      this.ids.write(uuidv7(this.baseMs + i * 5), i * 36, 'latin1');
    }
  }

  isRare(i: number): boolean {
    return i % this.rareEvery === this.rareEvery - 1;
  }

  /** The message's text without its number: what its phrase pair and rarity decide. */
  static stem(pair: number, rare: boolean): string {
    const a = PHRASES[Math.floor(pair / PHRASES.length)];
    const b = PHRASES[pair % PHRASES.length];
    return `${a}，${b}${rare ? `，${RARE}` : ''}`;
  }

  content(i: number): string {
    return `${GeneratedMessages.stem(this.phrases[i] as number, this.isRare(i))} #${i}`;
  }

  id(i: number): string {
    return this.ids.toString('latin1', i * 36, i * 36 + 36);
  }
}

/** Buffers rows into ~1 MiB chunks for a stream. */
class ChunkWriter {
  private chunk = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  readonly full: Buffer[] = [];

  ensure(bytes: number): void {
    if (this.used + bytes <= this.chunk.length) return;
    this.full.push(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafe(Math.max(1 << 20, bytes));
    this.used = 0;
  }

  bytes(source: Buffer, start = 0, end = source.length): void {
    this.used += source.copy(this.chunk, this.used, start, end);
  }

  text(value: string): void {
    this.used += this.chunk.write(value, this.used, 'utf8');
  }

  take(): Buffer[] {
    const out = this.full.splice(0);
    return out;
  }

  rest(): Buffer[] {
    const out = this.full.splice(0);
    if (this.used > 0) out.push(this.chunk.subarray(0, this.used));
    this.used = 0;
    return out;
  }
}

const TAB = Buffer.from('\t');
const NEWLINE = Buffer.from('\n');

/** A LOAD DATA LOCAL INFILE of rows produced by `rows` (tab-separated, \N for NULL), streamed. */
async function loadData(
  connection: mysql.Connection,
  table: string,
  columns: readonly string[],
  rows: () => Iterable<Buffer>,
): Promise<number> {
  const [result] = await connection.query<mysql.ResultSetHeader>({
    sql: `LOAD DATA LOCAL INFILE 'stream' INTO TABLE \`${table}\` CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${columns.join(', ')})`,
    infileStreamFactory: () => Readable.from(rows(), { objectMode: false }),
  });
  return result.affectedRows;
}

/** The strings "0" … String(n - 1) in code-point order (what a binary collation sorts them by). */
function* numbersInTextOrder(n: number): Generator<number> {
  if (n > 0) yield 0;
  const stack: number[] = [];
  for (let d = 9; d >= 1; d--) if (d < n) stack.push(d);
  while (stack.length > 0) {
    const value = stack.pop() as number;
    yield value;
    for (let d = 9; d >= 0; d--) {
      const child = value * 10 + d;
      if (child < n) stack.push(child);
    }
  }
}

/**
 * Loads the messages and their index rows (the caller has dropped the
 * secondary keys) and sets each conversation's seqs, indexed up to last_seq.
 * Returns the index rows loaded.
 */
export async function loadSearchTable(
  url: string,
  plan: SearchSeedPlan,
  conversations: readonly SeededConversation[],
  progress: SearchSeedProgress,
): Promise<{ indexRows: number }> {
  const started = Date.now();
  const generated = new GeneratedMessages(plan, conversations);
  progress(
    `generated ${plan.messages.toLocaleString('en')} messages in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  // Each message's terms are its stem's bigrams and its number: checked against the real tokenizer.
  const stemTerms = new Map<number, string[]>();
  const stemKey = (pair: number, rare: boolean) => pair * 2 + (rare ? 1 : 0);
  for (let pair = 0; pair < PHRASES.length ** 2; pair++) {
    for (const rare of [false, true])
      stemTerms.set(stemKey(pair, rare), searchTerms(GeneratedMessages.stem(pair, rare)));
  }
  for (const i of [0, 1, generated.rareEvery - 1, plan.messages - 1]) {
    if (i < 0 || i >= plan.messages) continue;
    const expected = [
      ...(stemTerms.get(stemKey(generated.phrases[i] as number, generated.isRare(i))) ?? []),
      String(i),
    ];
    const actual = searchTerms(generated.content(i));
    if ([...actual].sort().join(' ') !== [...expected].sort().join(' ')) {
      throw new Error(`message ${i}: terms ${actual.join(' ')}, the loader expected ${expected.join(' ')}`);
    }
  }
  const fixedTerms = [...new Set([...stemTerms.values()].flat())].sort();
  // Binary collation: the numbers' terms (digits) sort before every CJK bigram.
  if (fixedTerms.some((term) => term <= '9')) throw new Error('a phrase term sorts among the numbers');

  const connection = await mysql.createConnection({ uri: url, charset: 'utf8mb4_unicode_ci' });
  try {
    // The rows are unique and reference nothing missing by construction.
    await connection.query('SET SESSION unique_checks = 0, foreign_key_checks = 0');
    const conversationIds = conversations.map((c) => Buffer.from(c.id, 'latin1'));
    const participants = conversations.map((c) => [c.participant1, c.participant2]);

    const loadedMessages = await loadData(connection, 'messages', MESSAGE_COLUMNS, function* () {
      const out = new ChunkWriter();
      for (let i = 0; i < generated.count; i++) {
        const c = generated.conversation[i] as number;
        const seq = generated.seq[i] as number;
        const sender = participants[c]?.[seq % 2 === 1 ? 0 : 1];
        const createdAt = Math.floor((generated.baseMs + i * 5) / 1000);
        out.ensure(512);
        out.bytes(generated.ids, i * 36, i * 36 + 36);
        out.bytes(TAB);
        out.bytes(conversationIds[c] as Buffer);
        out.text(`\t${seq}\t${sender}\t${generated.content(i)}\ttext\t\\N\t\\N\t1\t${createdAt}\n`);
        if (out.full.length > 0) yield* out.take();
      }
      yield* out.rest();
    });
    progress(
      `loaded ${loadedMessages.toLocaleString('en')} messages in ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );

    const termColumns = ['term', 'message_id', 'conversation_id'];
    const row = (out: ChunkWriter, term: Buffer, i: number) => {
      out.ensure(term.length + 76);
      out.bytes(term);
      out.bytes(TAB);
      out.bytes(generated.ids, i * 36, i * 36 + 36);
      out.bytes(TAB);
      out.bytes(conversationIds[generated.conversation[i] as number] as Buffer);
      out.bytes(NEWLINE);
    };
    let indexRows = await loadData(connection, 'message_search_terms', termColumns, function* () {
      const out = new ChunkWriter();
      for (const i of numbersInTextOrder(generated.count)) {
        row(out, Buffer.from(String(i), 'latin1'), i);
        if (out.full.length > 0) yield* out.take();
      }
      yield* out.rest();
    });
    progress(
      `loaded the numbers' ${indexRows.toLocaleString('en')} index rows in ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
    for (const [k, term] of fixedTerms.entries()) {
      // Which stems (phrase pair, rarity) have the term: one lookup per message.
      const has = new Uint8Array(PHRASES.length ** 2 * 2);
      for (const [key, terms] of stemTerms) has[key] = terms.includes(term) ? 1 : 0;
      const bytes = Buffer.from(term, 'utf8');
      indexRows += await loadData(connection, 'message_search_terms', termColumns, function* () {
        const out = new ChunkWriter();
        for (let i = 0; i < generated.count; i++) {
          if (has[stemKey(generated.phrases[i] as number, generated.isRare(i))] !== 1) continue;
          row(out, bytes, i);
          if (out.full.length > 0) yield* out.take();
        }
        yield* out.rest();
      });
      if (k % 10 === 9 || k === fixedTerms.length - 1) {
        progress(
          `loaded ${k + 1} / ${fixedTerms.length} terms, ${indexRows.toLocaleString('en')} index rows, in ${((Date.now() - started) / 1000).toFixed(0)} s`,
        );
      }
    }

    // Indexed up to last_seq: the rows above are the index, nothing is left for the server's indexer.
    for (const [c, conversation] of conversations.entries()) {
      const seq = generated.lastSeq[c] ?? 0;
      if (seq === 0) continue;
      await connection.query('UPDATE conversations SET last_seq = ?, message_count = ?, search_seq = ? WHERE id = ?', [
        seq,
        seq,
        seq,
        conversation.id,
      ]);
    }
    return { indexRows };
  } finally {
    await connection.end();
  }
}
