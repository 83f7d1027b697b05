import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Locator } from 'playwright-core';
import { BROWSER_SKIP_REASON } from '../helpers/browser.ts';
import { testDialects } from '../helpers/databases.ts';
import { until } from '../helpers/polling.ts';
import {
  assertAccessible,
  type Browsers,
  type ConsoleServer,
  demoSignIn,
  documentScreenshot,
  openBrowsers,
  type Person,
  startConsoleServer,
} from './console-harness.ts';

/**
 * Issue 18's reports view (issue 14's response-time reports) in a real browser. Two buyers write
 * to the shop m1 and two of its agents answer, through the API; the supervisor m1s1 signs in
 * with a password, opens the reports and finds the API's figures in the table (by day, then by
 * agent) and the API's own CSV in the download. An agent has no reports page; an admin ranks
 * the teams and opens the shop's report.
 */

type Row = Record<string, string | number | null>;
type Report = { rows: Row[]; totals: Row };

const KEYS = new Set(['day', 'agent_id', 'agent_name']);

/** A figure as the table should write it, worked out here rather than by the console's own formatter. */
function written(figure: string, value: string | number | null): string {
  if (value === null) return '—';
  if (typeof value === 'string') return value;
  if (figure === 'response_rate_3min') return `${Number((value * 100).toFixed(1))}%`;
  return String(Number(value.toFixed(1)));
}

/** The cells of one report row, in the API's order of figures. */
async function assertRowShows(row: Locator, apiRow: Row): Promise<void> {
  const figures = Object.keys(apiRow).filter((key) => !KEYS.has(key));
  const cells = await row.locator('td').allTextContents();
  assert.deepEqual(
    cells.map((cell) => cell.trim()),
    figures.map((figure) => written(figure, apiRow[figure] ?? null)),
  );
}

async function signInWithPassword(person: Person, username: string, password: string): Promise<void> {
  await person.page.getByLabel('用户名').fill(username);
  await person.page.getByLabel('密码').fill(password);
  await person.page.getByRole('button', { name: '登录', exact: true }).click();
  await person.page.getByRole('button', { name: '退出登录' }).waitFor();
}

const pageButton = (person: Person, name: '工作台' | '报表') =>
  person.page.getByRole('navigation', { name: '页面' }).getByRole('button', { name, exact: true });

for (const dialect of testDialects) {
  describe(`the console's reports in Chromium (${dialect.name})`, { skip: BROWSER_SKIP_REASON }, () => {
    let server: ConsoleServer;
    let browsers: Browsers;
    let supervisorToken: string;

    /** The report as the API answers the supervisor (the view must show exactly this). */
    const apiReport = async (query: string): Promise<Report> => {
      const response = await server.app.client.get(`/api/reports/teams/m1?${query}`, { token: supervisorToken });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body;
    };

    before(async () => {
      server = await startConsoleServer(dialect);
      browsers = await openBrowsers();
      supervisorToken = await server.app.tokenFor('m1s1', 'merchant');
      // Two buyer turns, each answered by an agent (an answer claims the queued conversation).
      for (const [buyer, agent, question, answer] of [
        ['b1', 'm1a1', '请问阿莫西林胶囊有货吗？', '有货，今天可以发出。'],
        ['b2', 'm1a2', '能开增值税专用发票吗？', '可以，请提供开票信息。'],
      ] as const) {
        const buyerToken = await server.app.tokenFor(buyer, 'buyer');
        const conversationId = await server.app.conversation(buyerToken, buyer, 'm1');
        for (const [token, content] of [
          [buyerToken, question],
          [await server.app.tokenFor(agent, 'merchant'), answer],
        ] as const) {
          const sent = await server.app.client.post('/api/messages/', {
            token,
            body: { conversation_id: conversationId, content },
          });
          assert.equal(sent.status, 201, JSON.stringify(sent.body));
        }
      }
      // The figures are kept as turns are answered: wait until both answers count (over days that
      // hold the team's today whatever this machine's zone), so the page shows final figures.
      const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
      await until(
        () => apiReport(`from=${day(-2)}&to=${day(2)}`),
        (report) => report.totals.answered === 2,
        'both answered turns in the report',
      );
    });
    after(async () => {
      await browsers?.close();
      await server?.close();
    });

    test('a supervisor reads the team report: the API’s figures by day and by agent, charts, and its CSV', async () => {
      const supervisor = await browsers.open('m1s1', server.url);
      await browsers.step('sign in and open the reports', async () => {
        await signInWithPassword(supervisor, '华润医药-李主管', 'm1s1pass');
        await pageButton(supervisor, '报表').click();
        await supervisor.page.getByRole('heading', { name: '团队：华润医药' }).waitFor();
      });

      await browsers.step('by day', async () => {
        const from = await supervisor.page.getByLabel('开始日期').inputValue();
        const to = await supervisor.page.getByLabel('结束日期').inputValue();
        // By default the last seven days, today being the team's today (its zone: Asia/Shanghai).
        assert.equal(to, new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date()));
        const query = `from=${from}&to=${to}&group=day`;
        const report = await apiReport(query);
        assert.equal(report.rows.length, 7, 'the last seven days, today included');
        assert.deepEqual([report.totals.buyer_turns, report.totals.answered], [2, 2]);
        const table = supervisor.page.getByRole('table', { name: '华润医药 的报表明细' });
        await table.locator('tr[data-key="totals"] td').first().waitFor();
        await assertRowShows(table.locator('tr[data-key="totals"]'), report.totals);
        for (const row of report.rows) await assertRowShows(table.locator(`tr[data-key="${row.day}"]`), row);
        // Both charts are drawn (ECharts' canvas in each).
        await supervisor.page.getByTestId('volume-chart').locator('canvas').waitFor();
        await supervisor.page.getByTestId('speed-chart').locator('canvas').waitFor();
        await assertAccessible(supervisor.page, 'the reports view');
        await documentScreenshot(supervisor.page, 'console-reports');
      });

      await browsers.step('by agent', async () => {
        const from = await supervisor.page.getByLabel('开始日期').inputValue();
        const to = await supervisor.page.getByLabel('结束日期').inputValue();
        const report = await apiReport(`from=${from}&to=${to}&group=agent`);
        assert.deepEqual(report.rows.map((row) => row.agent_id).sort(), ['m1a1', 'm1a2']);
        await supervisor.page.getByLabel('分组').selectOption('agent');
        const table = supervisor.page.getByRole('table', { name: '华润医药 的报表明细' });
        await table.getByRole('columnheader', { name: '客服', exact: true }).waitFor();
        for (const row of report.rows) {
          const line = table.locator(`tr[data-key="${row.agent_id}"]`);
          await line.getByRole('rowheader', { name: String(row.agent_name) }).waitFor();
          await assertRowShows(line, row);
        }
        await assertRowShows(table.locator('tr[data-key="totals"]'), report.totals);
      });

      await browsers.step('CSV', async () => {
        const from = await supervisor.page.getByLabel('开始日期').inputValue();
        const to = await supervisor.page.getByLabel('结束日期').inputValue();
        const [download] = await Promise.all([
          supervisor.page.waitForEvent('download'),
          supervisor.page.getByRole('button', { name: '下载 CSV' }).click(),
        ]);
        assert.equal(download.suggestedFilename(), `report-m1-${from}-${to}-agent.csv`);
        const saved = await readFile(await download.path());
        const response = await fetch(
          `${server.url}/api/reports/teams/m1?from=${from}&to=${to}&group=agent&format=csv`,
          {
            headers: { authorization: `Bearer ${supervisorToken}` },
          },
        );
        assert.equal(response.status, 200);
        const expected = Buffer.from(await response.arrayBuffer());
        assert.deepEqual(saved, expected, 'the file is the API’s CSV as it is');
        assert.equal(saved.subarray(0, 3).toString('hex'), 'efbbbf', 'with the BOM spreadsheets need');
      });

      assert.deepEqual(
        supervisor.log.filter((line) => line.startsWith('[pageerror]')),
        [],
      );
    });

    test('an agent has no reports page; the supervisor goes back to the inbox', async () => {
      const agent = await browsers.open('m1a1', server.url);
      await browsers.step('agent', async () => {
        await signInWithPassword(agent, '华润医药-小王', 'm1a1pass');
        // The workspace is up (the team's inbox), and no page switch is offered at all.
        await agent.page.getByRole('group', { name: '收件箱筛选' }).waitFor();
        assert.equal(await agent.page.getByRole('navigation', { name: '页面' }).count(), 0);
        assert.equal(await agent.page.getByRole('button', { name: '报表' }).count(), 0);
        assert.equal(await agent.page.getByRole('heading', { name: '服务质量报表' }).count(), 0);
      });
      const supervisor = browsers.people.find((person) => person.name === 'm1s1');
      assert.ok(supervisor);
      await browsers.step('back to the workspace', async () => {
        await pageButton(supervisor, '工作台').click();
        await supervisor.page.getByRole('group', { name: '收件箱筛选' }).waitFor();
        assert.equal(await supervisor.page.getByRole('heading', { name: '服务质量报表' }).count(), 0);
      });
    });

    test('an admin ranks the teams and opens the shop’s report', async () => {
      const admin = await browsers.open('admin', server.url);
      await browsers.step('ranking', async () => {
        await demoSignIn(admin, 'a2');
        await pageButton(admin, '报表').click();
        const ranking = admin.page.getByRole('table', { name: '各团队的 3 分钟回复率与响应时间排名' });
        const shop = ranking.locator('tr[data-key="m1"]');
        await shop.waitFor();
        // The shop answered every turn it was asked: first in the ranking.
        assert.equal((await shop.locator('td').first().textContent())?.trim(), '1');
        await shop.getByRole('button', { name: '查看明细：华润医药' }).click();
        const table = admin.page.getByRole('table', { name: '华润医药 的报表明细' });
        await until(
          async () => (await table.locator('tr[data-key="totals"] td[data-figure="answered"]').textContent())?.trim(),
          (text) => text === '2',
          "the shop's totals in the admin's view",
        );
        await assertAccessible(admin.page, "the admin's ranking and report");
      });
    });
  });
}
