import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/types.ts';
import { backfillReports } from '../src/modules/reports/report-backfill.ts';
import { createReportFollower } from '../src/modules/reports/report-follower.ts';
import { testDialects } from './helpers/databases.ts';
import { eventually } from './helpers/polling.ts';
import { historyWriter } from './helpers/report-history.ts';
import { assertError, sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Response-time reports (issue 14) end to end: the live follower turns real sends,
 * resolves and ratings into the report; who may read it; the CSV; the backfill
 * writes exactly what the live follower wrote; two instances' followers over one
 * database count every turn once. The figures against a brute force:
 * test/reports.property.test.ts.
 */

/** Every stored figure and turn, in a stable order, histograms parsed (key order is not meaning). */
async function stored(db: Kysely<Database>) {
  const daily = await db
    .selectFrom('report_daily')
    .selectAll()
    .orderBy('team_id')
    .orderBy('local_day')
    .orderBy('agent_id')
    .execute();
  const turns = await db
    .selectFrom('reply_turns')
    .selectAll()
    .orderBy('conversation_id')
    .orderBy('answer_seq')
    .execute();
  return {
    daily: daily.map(
      (row): Record<string, unknown> => ({
        ...Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])),
        first_histogram: JSON.parse(row.first_histogram),
        response_histogram: JSON.parse(row.response_histogram),
      }),
    ),
    turns: turns.map((row) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number.isNaN(Number(v)) ? v : Number(v)])),
    ),
  };
}

/** Shanghai's today, the default time zone's. */
const today = () => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(Date.now());

for (const dialect of testDialects) {
  describe(`response-time reports (${dialect.name})`, () => {
    let app: TestApp;
    const t = {} as Record<string, string>;
    const report = (who: string, query: string, owner = 'm1') =>
      app.client.get(`/api/reports/teams/${owner}?${query}`, { token: t[who] });

    before(async () => {
      app = await startTestApp(dialect);
      Object.assign(t, await app.addUsers({ a1: 'admin', b1: 'buyer', b2: 'buyer', m1: 'merchant', m2: 'merchant' }));
      t.m1s = await app.addUser('m1s', 'merchant', { team_id: 'm1', team_role: 'supervisor' });
      t.m1a = await app.addUser('m1a', 'merchant', { team_id: 'm1', team_role: 'agent', username: '=Li, "Lee"' });
      assert.equal(
        (await app.client.put('/api/teams/m1/settings', { token: t.m1, body: { auto_assign: false } })).status,
        200,
      );
    });
    after(() => app.close());

    test('live: sends, a resolve, a rating and a reopen become the day’s figures, per day and per member', async () => {
      const id = await app.conversation(t.b1 as string, 'b1', 'm1');
      await sendText(app, t.b1 as string, id, '在吗？');
      await sendText(app, t.b1 as string, id, '想问下发货时间');
      await sendText(app, t.m1a as string, id, '您好，今天发货');
      const resolved = await app.client.post(`/api/conversations/${id}/status`, {
        token: t.m1a,
        body: { status: 'resolved' },
      });
      assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
      assert.equal(
        (await app.client.post(`/api/conversations/${id}/rating`, { token: t.b1, body: { score: 4 } })).status,
        201,
      );
      // The buyer writes again: a new episode, whose first response is m1s's.
      await sendText(app, t.b1 as string, id, '还有一个问题');
      await sendText(app, t.m1s as string, id, '请讲');
      const day = today();
      await eventually(async () => {
        const response = await report('m1', `from=${day}&to=${day}`);
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(response.body.totals.answered, 2);
      }, 'the follower counted both answers');
      const daily = await report('m1', `from=${day}&to=${day}`);
      const { first_response_p50, first_response_p90, response_p50, response_p90, ...counts } = daily.body.totals;
      assert.deepEqual(counts, {
        day: null,
        agent_id: null,
        agent_name: null,
        conversations: 2,
        buyer_turns: 2,
        answered: 2,
        unanswered: 0,
        team_messages: 2,
        response_rate_3min: 1,
        resolved: 1,
        ratings: 1,
        rating_average: 4,
      });
      for (const seconds of [first_response_p50, first_response_p90, response_p50, response_p90]) {
        assert.ok(seconds >= 0 && seconds <= 180, `answered within the test: ${seconds}`);
      }
      assert.deepEqual(daily.body.rows, [{ ...daily.body.totals, day }]);
      assert.equal(daily.body.timezone, 'Asia/Shanghai');
      assert.equal(daily.body.business_hours_adjusted, false);

      const members = await report('m1s', `from=${day}&to=${day}&group=agent`);
      assert.equal(members.status, 200);
      const byId = Object.fromEntries(members.body.rows.map((row: { agent_id: string }) => [row.agent_id, row]));
      assert.deepEqual(Object.keys(byId).sort(), ['m1a', 'm1s']);
      assert.deepEqual(
        [byId.m1a.agent_name, byId.m1a.conversations, byId.m1a.buyer_turns, byId.m1a.resolved, byId.m1a.unanswered],
        ['=Li, "Lee"', 1, 1, 1, null],
      );
      assert.deepEqual([byId.m1s.conversations, byId.m1s.buyer_turns, byId.m1s.resolved], [1, 1, 0]);
      assert.equal(members.body.totals.buyer_turns, 2);
    });

    test('who may read: the owner, supervisors and admins; agents 403; other teams and buyers 404', async () => {
      const range = 'from=2026-12-01&to=2026-12-07';
      for (const who of ['m1', 'm1s', 'a1']) assert.equal((await report(who, range)).status, 200, who);
      assertError(await report('m1a', range), 403, 'forbidden');
      assertError(await report('m2', range), 404, 'team_not_found');
      assertError(await report('b1', range), 404, 'team_not_found');
      assertError(await report('a1', range, 'nobody'), 404, 'team_not_found');
      assertError(await report('m1', 'from=2026-12-07&to=2026-12-01'), 400, 'invalid_report_range');
      const week = await report('m1', range);
      assert.deepEqual(
        week.body.rows.map((row: { day: string }) => row.day),
        ['2026-12-01', '2026-12-02', '2026-12-03', '2026-12-04', '2026-12-05', '2026-12-06', '2026-12-07'],
      );
      const ranking = await app.client.get(`/api/reports/teams?from=${today()}&to=${today()}`, { token: t.a1 });
      assert.equal(ranking.status, 200);
      assert.deepEqual(
        ranking.body.rows.slice(0, 1).map((row: { rank: number; owner_id: string }) => [row.rank, row.owner_id]),
        [[1, 'm1']],
        'the only team that answered ranks first',
      );
      assertError(await app.client.get(`/api/reports/teams?from=${today()}&to=${today()}`, { token: t.m1 }), 403);
    });

    test('CSV: UTF-8 with a BOM, a header, quoted fields, a totals row, offered as a file', async () => {
      const day = today();
      const response = await fetch(
        `${app.client.baseUrl}/api/reports/teams/m1?from=${day}&to=${day}&group=agent&format=csv`,
        {
          headers: { authorization: `Bearer ${t.m1}` },
        },
      );
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'text/csv; charset=utf-8');
      assert.match(
        response.headers.get('content-disposition') ?? '',
        /^attachment; filename="report-m1-.*-agent\.csv"/,
      );
      const bytes = new Uint8Array(await response.arrayBuffer());
      assert.deepEqual([...bytes.slice(0, 3)], [0xef, 0xbb, 0xbf], 'the BOM');
      const lines = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes).slice(1).split('\r\n');
      assert.equal(
        lines[0],
        'agent_id,agent_name,conversations,buyer_turns,answered,unanswered,team_messages,first_response_p50,first_response_p90,response_p50,response_p90,response_rate_3min,resolved,ratings,rating_average',
      );
      // A comma and quotes are quoted, quotes doubled; a leading = is defused for spreadsheets.
      assert.ok(
        lines.some((line) => line.startsWith(`m1a,"'=Li, ""Lee""",1,1,1,,`)),
        lines.join('\n'),
      );
      assert.ok(lines[lines.length - 2]?.startsWith('total,,2,2,2,0,2,'), lines.join('\n'));
      assert.equal(lines[lines.length - 1], '', 'ends with a line break');
      const daily = await fetch(`${app.client.baseUrl}/api/reports/teams/m1?from=${day}&to=${day}&format=csv`, {
        headers: { authorization: `Bearer ${t.m1}` },
      });
      const text = (await daily.text()).split('\r\n');
      assert.deepEqual([text[0]?.split(',')[0], text[1]?.split(',')[0], text[2]?.split(',')[0]], ['day', day, 'total']);
    });

    test('the backfill (rebuild) writes exactly what the live follower wrote; run again, it has nothing to do', async () => {
      const db = app.server.database.db;
      await app.server.reportFollower?.drain();
      const live = await stored(db);
      assert.ok(live.turns.length >= 2);
      const lines: string[] = [];
      await backfillReports(db, { rebuild: true, onProgress: (p) => lines.push(JSON.stringify(p)) });
      assert.deepEqual(await stored(db), live);
      assert.ok(lines.length >= 2, 'progress reported');
      const again = await backfillReports(db);
      assert.deepEqual([again.messages, again.behind], [0, 0]);
      assert.deepEqual(await stored(db), live);
    });

    // MySQL: a second instance with its own pool; SQLite (one process, one connection): two followers on it.
    test('two instances’ followers over one database count each turn once', async () => {
      const second =
        dialect.name === 'sqlite'
          ? undefined
          : await startTestApp(dialect, {
              sharedDatabase: app.scratch.urlString,
              server: { reportFollower: { enabled: false } },
            });
      try {
        const db = app.server.database.db;
        await app.server.reportFollower?.stop();
        const write = historyWriter(db);
        const base = Date.parse('2026-11-10T01:00:00Z') / 1000;
        for (let i = 0; i < 8; i++) {
          const buyer = `bb${i}`;
          t[buyer] = await app.addUser(buyer, 'buyer');
          const id = await app.conversation(t[buyer] as string, buyer, 'm2');
          for (let k = 0; k < 12; k++) {
            await write.message(id, { sender: buyer, at: base + i * 1000 + k * 60 });
            await write.message(id, { sender: 'm2', at: base + i * 1000 + k * 60 + 30 + k });
          }
        }
        const warn = (details: object, message: string) => assert.fail(`${message}: ${JSON.stringify(details)}`);
        const options = { messagesPerRound: 6, conversationsPerRound: 3, lookahead: 8 };
        const one = createReportFollower({ db, logger: { warn }, options });
        const two = createReportFollower({ db: second?.server.database.db ?? db, logger: { warn }, options });
        await Promise.all([one.drain(), two.drain(), one.drain(), two.drain()]);
        const both = await stored(db);
        const m2 = both.daily.filter((row) => row.team_id === 'm2');
        const sum = (column: string) => m2.reduce((total, row) => total + Number(row[column as keyof typeof row]), 0);
        assert.deepEqual(
          [sum('buyer_turns'), sum('answered'), sum('team_messages'), sum('conversations')],
          [96, 96, 96, 8],
        );
        assert.equal(both.turns.filter((turn) => turn.team_id === 'm2').length, 96);
        await backfillReports(db, { rebuild: true });
        assert.deepEqual(await stored(db), both, 'what one follower alone writes');
      } finally {
        await second?.close();
      }
    });
  });
}
