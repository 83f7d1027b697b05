/**
 * Statements and commits per message of the send path on MySQL/MariaDB, counted
 * in the service's own process (every statement its mysql2 connections send,
 * BEGIN and COMMIT included), so other clients of the server count for
 * nothing: plain sends, then sends with one endpoint subscribed to
 * message.created, delivered meanwhile to a loopback receiver (the worker's
 * claims and settles counted until every event is recorded delivered).
 * Not part of `npm run bench` (no timing): a check of what a change does to
 * the database work, beside the noisy throughput figures.
 *
 *   TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test node bench/count-statements.ts [messages] [concurrency...]
 */
import mysql from 'mysql2';
import { testDialects } from '../test/helpers/databases.ts';
import { openConversation, sendText } from '../test/helpers/rest.ts';
import { startTestApp } from '../test/helpers/test-app.ts';
import { startReceiver } from '../test/helpers/webhook-receiver.ts';

const dialect = testDialects.find((each) => each.name === 'mysql');
if (!dialect) throw new Error('TEST_MYSQL_URL is not set');
const messages = Number(process.argv[2] ?? 400);
const concurrencies = process.argv.slice(3).map(Number);
if (concurrencies.length === 0) concurrencies.push(1, 4, 16);

const kinds = ['begin', 'commit', 'select', 'insert', 'update', 'delete', 'other'] as const;
let counts = Object.fromEntries(kinds.map((kind) => [kind, 0])) as Record<(typeof kinds)[number], number>;
const connectionProto = (mysql as unknown as { Connection: { prototype: { query: (...args: unknown[]) => unknown } } })
  .Connection.prototype;
const query = connectionProto.query;
connectionProto.query = function (this: unknown, ...args: unknown[]) {
  const first = args[0] as string | { sql: string };
  const text = (typeof first === 'string' ? first : first.sql).trimStart().toLowerCase();
  const kind = kinds.find((each) => text.startsWith(each === 'begin' ? 'begin' : each)) ?? 'other';
  counts[kind] += 1;
  return query.apply(this, args);
};

const app = await startTestApp(dialect, { env: { DEBUG: 'True' } });
const receiver = await startReceiver();
try {
  const admin = await app.addUser('admin-1', 'admin');
  const pairs: { token: string; conversation: string }[] = [];
  // Enough pairs that no user spends its send burst (100): each message goes to the next pair.
  const pairCount = Math.max(...concurrencies, Math.ceil((messages * concurrencies.length * 2) / 80));
  for (let i = 0; i < pairCount; i += 1) {
    const buyer = `buyer-${i}`;
    const token = await app.addUser(buyer, 'buyer');
    await app.addUser(`merchant-${i}`, 'merchant');
    pairs.push({ token, conversation: await openConversation(app, token, buyer, `merchant-${i}`) });
  }
  const delivered = async () =>
    Number(
      (
        await app.server.database.db
          .selectFrom('webhook_deliveries')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('status', '=', 'delivered')
          .executeTakeFirstOrThrow()
      ).n,
    );

  async function run(label: string, concurrency: number, subscribed: boolean) {
    // Warm-up: every conversation written once by this instance, so the measured sends find what they would.
    await Promise.all(pairs.map((pair) => sendText(app, pair.token, pair.conversation, 'warm-up')));
    const before = subscribed ? await delivered() : 0;
    const received = receiver.received.length;
    counts = Object.fromEntries(kinds.map((kind) => [kind, 0])) as typeof counts;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < messages) {
          next += 1;
          const pair = pairs[next % pairs.length] as (typeof pairs)[number];
          await sendText(app, pair.token, pair.conversation, `请问这件外套有 L 码吗？ ${next}`);
        }
      }),
    );
    if (subscribed) {
      await receiver.waitFor((all) => all.length >= received + messages, 'every event received', 60_000);
      const deadline = Date.now() + 30_000;
      while ((await delivered()) < before + messages && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // The polls just made are this script's, not the service's.
    }
    const per = Object.fromEntries(kinds.map((kind) => [kind, Math.round((counts[kind] / messages) * 100) / 100]));
    console.log(`${label} c=${concurrency}: per message ${JSON.stringify(per)}`);
  }

  for (const concurrency of concurrencies) await run('plain', concurrency, false);
  const hook = await app.client.post('/api/webhooks', {
    token: admin,
    body: { url: receiver.url, events: ['message.created'], description: 'count' },
  });
  if (hook.status !== 201) throw new Error(JSON.stringify(hook.body));
  for (const concurrency of concurrencies) await run('subscribed, delivered', concurrency, true);
} finally {
  await receiver.stop();
  await app.close();
}
