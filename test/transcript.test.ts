import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Kysely, Updateable } from 'kysely';
import type { Database } from '../src/db/types.ts';
import {
  canonicalJson,
  chainHash,
  checkChain,
  type ExportEntry,
  genesisHash,
  signatureValid,
  type TranscriptDocument,
} from '../src/lib/transcript-chain.ts';
import { createTranscriptService } from '../src/modules/transcript/transcript.service.ts';
import { testDialects } from './helpers/databases.ts';
import { insertUser, openScratchDatabase } from './helpers/factories.ts';
import { runNode } from './helpers/node-run.ts';
import { assertError } from './helpers/rest.ts';
import { createTestServices } from './helpers/services.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** `npm run transcript:verify -- <file> [args]` on `document`. */
async function verifyOffline(document: unknown, args: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'transcript-'));
  try {
    const file = join(dir, 'transcript.json');
    writeFileSync(file, JSON.stringify(document, null, 2));
    return await runNode(['src/cli/transcript-verify.ts', file, ...args], { env: {}, cwd: ROOT });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const kinds = (document: TranscriptDocument) =>
  document.entries.map((e) => (e.redacted ? `${e.kind}:${e.redacted}` : `${e.kind}:${e.seq}`));

describe('transcript chain (pure)', () => {
  test('each hash covers the one before and the entry; changing either fails at that entry', () => {
    const first = { kind: 'message', seq: 1, content: 'a' };
    const second = { kind: 'message', seq: 2, content: 'b' };
    const h1 = chainHash(genesisHash('c1'), canonicalJson(first));
    const h2 = chainHash(h1, canonicalJson(second));
    const entries: ExportEntry[] = [
      { ...first, hash: h1 },
      { ...second, hash: h2 },
    ];
    assert.deepEqual(checkChain('c1', entries, h2), { valid: true, entries: 2, redacted: 0 });
    // Another conversation's genesis: the first entry fails.
    assert.equal((checkChain('c2', entries, h2) as { index: number }).index, 0);
    assert.equal(
      (checkChain('c1', [{ ...first, content: 'A', hash: h1 }, entries[1] as ExportEntry], h2) as { index: number })
        .index,
      0,
    );
    // A message shown as removed needs the removal's own (hashed) entry after it.
    const removed: ExportEntry[] = [
      { kind: 'message', seq: 1, redacted: 'deleted', hash: h1 },
      entries[1] as ExportEntry,
    ];
    assert.deepEqual(checkChain('c1', removed, h2), {
      valid: false,
      index: 0,
      kind: 'message',
      seq: 1,
      reason: 'shown as deleted but no delete entry of its seq follows',
    });
    const deletion = { kind: 'delete', message_id: 'x', seq: 1, by: 'a1', at: 5 };
    const h3 = chainHash(h2, canonicalJson(deletion));
    assert.equal(checkChain('c1', [...removed, { ...deletion, hash: h3 }], h3).valid, true);
    // A dropped last entry: the head gives it away.
    assert.equal((checkChain('c1', [entries[0] as ExportEntry], h2) as { kind: string }).kind, 'head');
    // Key order does not matter (canonical JSON), values do.
    assert.equal(canonicalJson({ b: 1, a: [null, 'x'] }), '{"a":[null,"x"],"b":1}');
  });
});

for (const dialect of testDialects) {
  describe(`transcript over REST (${dialect.name})`, () => {
    let app: TestApp;
    let tokens: Record<string, string>;
    let chat: string;
    const sent: { id: string; seq: number }[] = [];
    let db: Kysely<Database>;

    const send = async (content: string) => {
      const response = await app.client.post('/api/messages/', {
        token: tokens.b1,
        body: { conversation_id: chat, content, client_msg_id: `c-${sent.length}` },
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      sent.push(response.body);
      return response.body as { id: string; seq: number };
    };
    const transcript = async (token: string | undefined) => {
      const response = await app.client.get(`/api/conversations/${chat}/transcript`, { token });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body as TranscriptDocument;
    };

    before(async () => {
      app = await startTestApp(dialect);
      db = app.server.database.db;
      tokens = await app.addUsers({ b1: 'buyer', m1: 'merchant', a1: 'admin', b2: 'buyer' });
      chat = await app.conversation(tokens.b1 as string, 'b1', 'm1');
      await send('你好,这件还有货吗');
      const recalled = await send('发错了');
      const deleted = await send('要删掉的一条');
      assert.equal((await app.client.post(`/api/messages/${recalled.id}/recall`, { token: tokens.b1 })).status, 200);
      assert.equal((await app.client.delete(`/api/messages/${deleted.id}`, { token: tokens.a1 })).status, 200);
      await send('最后一条 last');
    });
    after(() => app.close());

    test('sends, a recall and a delete: the chain verifies and is signed with the published key', async () => {
      const key = await app.client.get('/api/transcript-key');
      assert.equal(key.status, 200);
      assert.equal(key.body.algorithm, 'Ed25519');
      for (const token of [tokens.b1, tokens.m1, tokens.a1]) {
        const document = await transcript(token);
        assert.deepEqual(document.verification, {
          valid: true,
          entries: 6,
          redacted: token === tokens.a1 ? 1 : 2,
        });
        assert.deepEqual(checkChain(chat, document.entries, document.head), document.verification);
        assert.equal(document.key_id, key.body.key_id);
        assert.equal(document.public_key, key.body.public_key);
        assert.ok(signatureValid(document, key.body.public_key));
        const stored = await db
          .selectFrom('conversations')
          .select('chain_head')
          .where('id', '=', chat)
          .executeTakeFirst();
        assert.equal(document.head, stored?.chain_head);
      }
      // Chain order: the messages by seq, the recall and the delete after the seq that was last when they happened.
      assert.deepEqual(kinds(await transcript(tokens.m1)), [
        'message:1',
        'message:recalled',
        'message:deleted',
        'recall:2',
        'delete:3',
        'message:4',
      ]);
      const admins = await transcript(tokens.a1);
      assert.equal(admins.entries[1]?.content, '发错了', 'admins see the recalled original');
      assert.equal(admins.entries[3]?.by, 'b1');
      assert.equal(admins.entries[4]?.by, 'a1');
      const participants = await transcript(tokens.m1);
      assert.equal(participants.entries[1]?.content, undefined, 'participants do not');
      assert.equal(JSON.stringify(participants).includes('要删掉的一条'), false);
    });

    test('a stranger gets 404, nobody signed in 401; the key is public', async () => {
      assertError(await app.client.get(`/api/conversations/${chat}/transcript`, { token: tokens.b2 }), 404);
      assertError(await app.client.get(`/api/conversations/${chat}/transcript`), 401);
      assertError(await app.client.get('/api/conversations/no-such/transcript', { token: tokens.a1 }), 404);
    });

    test('any single byte of a stored message changed in the database: the check fails at that entry', async () => {
      const target = sent[3] as { id: string; seq: number };
      const index = 5;
      const original = await db
        .selectFrom('messages')
        .selectAll()
        .where('id', '=', target.id)
        .executeTakeFirstOrThrow();
      const flip = (text: string, at: number) =>
        text.slice(0, at) + String.fromCharCode(text.charCodeAt(at) ^ 1) + text.slice(at + 1);
      const changes: Record<string, Updateable<Database['messages']>> = {};
      for (const at of [0, original.content.length - 1])
        changes[`content byte ${at}`] = { content: flip(original.content, at) };
      changes.created_at = { created_at: Number(original.created_at) + 1 };
      changes.client_msg_id = { client_msg_id: flip(original.client_msg_id as string, 0) };
      changes.message_type = { message_type: 'file' };
      // A stored hash altered into something that is not even hex still exports, and fails there.
      changes.chain_hash = { chain_hash: flip(original.chain_hash as string, 10) };
      changes['chain_hash, not hex'] = { chain_hash: `g${(original.chain_hash as string).slice(1)}` };
      for (const [what, change] of Object.entries(changes)) {
        await db.updateTable('messages').set(change).where('id', '=', target.id).execute();
        try {
          const document = await transcript(tokens.a1);
          assert.deepEqual(
            { valid: document.verification.valid, index: (document.verification as { index?: number }).index },
            { valid: false, index },
            what,
          );
          // The export is still signed as read: the offline verifier names the same entry.
          const run = await verifyOffline(document);
          assert.equal(run.code, 1, `${what}: ${run.stdout}${run.stderr}`);
          assert.match(run.stderr, new RegExp(`at entry #${index} \\(message, seq ${target.seq}\\)`), what);
        } finally {
          await db.updateTable('messages').set(original).where('id', '=', target.id).execute();
        }
      }
      // An earlier entry changed: the failure is there, not later.
      const first = sent[0] as { id: string };
      const row = await db
        .selectFrom('messages')
        .select('content')
        .where('id', '=', first.id)
        .executeTakeFirstOrThrow();
      await db
        .updateTable('messages')
        .set({ content: `${row.content}!` })
        .where('id', '=', first.id)
        .execute();
      try {
        assert.equal(((await transcript(tokens.a1)).verification as { index?: number }).index, 0);
      } finally {
        await db.updateTable('messages').set({ content: row.content }).where('id', '=', first.id).execute();
      }
      // Marked recalled in the database, without a recall: participants' export (content withheld) still fails there.
      await db.updateTable('messages').set({ recalled_at: 1 }).where('id', '=', first.id).execute();
      try {
        const verification = (await transcript(tokens.m1)).verification as { index?: number; reason?: string };
        assert.deepEqual(
          { index: verification.index, reason: verification.reason },
          { index: 0, reason: 'shown as recalled but no recall entry of its seq follows' },
        );
      } finally {
        await db.updateTable('messages').set({ recalled_at: null }).where('id', '=', first.id).execute();
      }
      assert.equal((await transcript(tokens.a1)).verification.valid, true);
    });

    test('offline: a good export verifies; one altered after signing, or checked with another key, does not', async () => {
      const document = await transcript(tokens.b1);
      const key = (await app.client.get('/api/transcript-key')).body;
      const dir = mkdtempSync(join(tmpdir(), 'transcript-key-'));
      try {
        writeFileSync(join(dir, 'key.pem'), key.public_key);
        const ok = await verifyOffline(document, ['--key', join(dir, 'key.pem')]);
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(ok.stdout, /^OK: .*6 entries/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const altered = structuredClone(document);
      (altered.entries[0] as ExportEntry).content = '你好,这件还有货吗?';
      const run = await verifyOffline(altered);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /signature does not verify/);
      const { generateKeyPairSync } = await import('node:crypto');
      const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
      assert.equal(signatureValid(document, other), false);
    });
    test('guard decisions are entries: delivered, held, blocked; admins see them, participants get them redacted', async () => {
      const rules = (await app.client.get('/api/guard/rules', { token: tokens.a1 })).body.rules;
      const put = await app.client.put('/api/guard/rules', { token: tokens.a1, body: { rules, words: ['违禁词'] } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const before = (await transcript(tokens.a1)).entries.length;
      const post = (content: string) =>
        app.client.post('/api/messages/', { token: tokens.b1, body: { conversation_id: chat, content } });
      const masked = await post('电话 13800138000');
      assert.equal(masked.status, 201, JSON.stringify(masked.body));
      const held = await post('我们私下交易吧');
      assert.equal(held.status, 202, JSON.stringify(held.body));
      assertError(await post('这是违禁词'), 422);
      const approved = await app.client.post(`/api/guard/queue/${held.body.id}`, {
        token: tokens.a1,
        body: { decision: 'approve' },
      });
      assert.equal(approved.status, 200, JSON.stringify(approved.body));

      const admins = await transcript(tokens.a1);
      assert.equal(admins.verification.valid, true, JSON.stringify(admins.verification));
      assert.equal(checkChain(chat, admins.entries, admins.head).valid, true, 'as received');
      assert.ok(signatureValid(admins));
      const added = admins.entries.slice(before);
      assert.deepEqual(
        added.map((e) => (e.kind === 'guard' ? `guard:${e.outcome}:${e.message_id}` : `message:${e.id}`)),
        [
          `message:${masked.body.id}`,
          `guard:delivered:${masked.body.id}`,
          `guard:held:${held.body.id}`,
          'guard:blocked:null',
          `message:${held.body.id}`,
        ],
      );
      assert.deepEqual(added[1]?.findings, [{ label: 'phone', action: 'mask' }]);
      assert.equal(JSON.stringify(added).includes('13800138000'), false, 'what was matched is not in the chain');

      const participants = await transcript(tokens.m1);
      assert.equal(participants.verification.valid, true);
      assert.equal(checkChain(chat, participants.entries, participants.head).valid, true, 'as received');
      assert.ok(signatureValid(participants));
      assert.deepEqual(
        participants.entries.slice(before).map((e) => e.redacted ?? e.kind),
        ['message', 'guard', 'guard', 'guard', 'message'],
      );
      assert.equal(JSON.stringify(participants).includes('违禁词'), false);
    });
  });

  describe(`transcript with group commit (${dialect.name})`, () => {
    let scratch: Awaited<ReturnType<typeof openScratchDatabase>>;
    before(async () => {
      scratch = await openScratchDatabase(dialect);
    });
    after(() => scratch.close());

    test('messages stored in shared transactions, across conversations, chain in seq order and verify', async () => {
      const { db } = scratch;
      const merchant = await insertUser(db, { id: 'gm1', role: 'merchant' });
      const buyers = [
        await insertUser(db, { id: 'gb1', role: 'buyer' }),
        await insertUser(db, { id: 'gb2', role: 'buyer' }),
      ];
      const admin = await insertUser(db, { id: 'ga1', role: 'admin' });
      const batches: number[] = [];
      const services = createTestServices(db, { batching: { maxConcurrent: 1, maxBatch: 64 } });
      services.messages.sendTransaction.onBatch(async (_trx, stored) => void batches.push(stored.length));
      const transcripts = createTranscriptService({
        db,
        conversations: services.conversations,
        messages: services.messages,
      });
      const chats: string[] = [];
      for (const buyer of buyers) {
        const { conversation } = await services.conversations.open(buyer, {
          participant1_id: buyer.id,
          participant2_id: merchant.id,
        });
        chats.push(conversation.id);
      }
      const origin = { skipConnectionId: null, echoToSender: true };
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => {
          const buyer = buyers[i % 2] as (typeof buyers)[number];
          return services.messages.send(
            buyer,
            { conversation_id: chats[i % 2] as string, content: `第 ${i} 条` },
            origin,
          );
        }),
      );
      assert.ok(
        batches.some((n) => n > 2),
        `some transactions stored several messages: ${batches}`,
      );
      for (const chat of chats) {
        const document = await transcripts.export(admin, chat);
        assert.deepEqual(document.verification, { valid: true, entries: 15, redacted: 0 });
        assert.deepEqual(
          document.entries.map((e) => e.seq),
          Array.from({ length: 15 }, (_, i) => i + 1),
        );
      }
    });
  });
}
