import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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
 * Issue 18, part 3: the console's team inbox (issue 13) in a real browser.
 * A buyer writes to the shop m1; its agent m1a1 sees it in the queue live and
 * claims it (the buyer sees the system line), writes an internal note the
 * buyer never sees, and transfers it to m1a2, who sees it arrive under "mine";
 * the supervisor m1s1 sees it under "all" and resolves it. axe finds no
 * serious or critical violation on the inbox views.
 */

const NOTE = '老客户，发票走月结';

const conversationOf = (person: Person) => person.page.locator('button.conversation', { hasText: '仁和大药房' });
const tab = (person: Person, name: string) =>
  person.page.getByRole('group', { name: '收件箱筛选' }).getByRole('button', { name, exact: true });

for (const dialect of testDialects) {
  describe(`the console's team inbox in Chromium (${dialect.name})`, { skip: BROWSER_SKIP_REASON }, () => {
    let server: ConsoleServer;
    let browsers: Browsers;

    before(async () => {
      server = await startConsoleServer(dialect);
      browsers = await openBrowsers();
      // By hand here: automatic assignment would hand the conversation to an online agent at once.
      const owner = await server.app.tokenFor('m1', 'merchant');
      const settings = await server.app.client.put('/api/teams/m1/settings', {
        token: owner,
        body: { auto_assign: false },
      });
      assert.equal(settings.status, 200, JSON.stringify(settings.body));
    });
    after(async () => {
      await browsers?.close();
      await server?.close();
    });

    test('queue, claim, internal note, transfer, resolve: each member sees what is theirs, live', async () => {
      const buyer = await browsers.open('buyer', server.url);
      const agent = await browsers.open('m1a1', server.url);
      const colleague = await browsers.open('m1a2', server.url);
      const supervisor = await browsers.open('m1s1', server.url);
      await browsers.step('team sign-in', async () => {
        await demoSignIn(buyer, 'b1');
        await demoSignIn(agent, 'm1a1');
        await demoSignIn(colleague, 'm1a2');
        await demoSignIn(supervisor, 'm1s1');
        // The sign-in names the team: an agent whose queue is still empty has the inbox's tabs at once.
        await tab(agent, '排队中').and(agent.page.locator('[aria-pressed="true"]')).waitFor();
        assert.equal(await conversationOf(agent).count(), 0);
      });

      await browsers.step('queue', async () => {
        await buyer.page.getByLabel('发起新会话').selectOption('m1');
        await buyer.page.getByRole('button', { name: '开始' }).click();
        await buyer.page.getByLabel('输入消息').fill('请问可以开增值税发票吗？');
        await buyer.page.getByRole('button', { name: '发送', exact: true }).click();
        // Live in the agent's queue (the tab an agent starts on); an agent has no "all".
        await conversationOf(agent).waitFor();
        await tab(agent, '排队中').and(agent.page.locator('[aria-pressed="true"]')).waitFor();
        assert.equal(await tab(agent, '全部').count(), 0);
        await conversationOf(colleague).waitFor();
        // The colleague watches their own conversations for the transfer to come.
        await tab(colleague, '我的').click();
        await conversationOf(colleague).waitFor({ state: 'detached' });
      });

      await browsers.step('claim', async () => {
        await conversationOf(agent).click();
        await agent.page.getByTestId('assignee').getByText('排队中，尚无处理人').waitFor();
        // Nobody holds it: nothing to release or transfer for an agent.
        assert.equal(await agent.page.getByRole('button', { name: '放回队列' }).count(), 0);
        assert.equal(await agent.page.getByRole('button', { name: '转接' }).count(), 0);
        await agent.page.getByRole('button', { name: '接待', exact: true }).click();
        await agent.page.getByTestId('assignee').getByText('处理人：华润医药-小王').waitFor();
        // The buyer sees the change of hands as a centred system line, not as a bubble.
        await buyer.page.locator('li.message.system', { hasText: '华润医药-小王' }).waitFor();
        await assertAccessible(agent.page, "the agent's inbox and conversation panel");
      });

      await browsers.step('note and transfer', async () => {
        await agent.page.getByLabel('写一条内部备注').fill(NOTE);
        await agent.page.getByRole('button', { name: '添加备注' }).click();
        await agent.page.locator('.notes li', { hasText: NOTE }).waitFor();
        await agent.page.getByLabel('转给同事').selectOption('m1a2');
        await agent.page.getByLabel('交接备注（可选）').fill('客户要月结发票');
        await agent.page.getByRole('button', { name: '转接' }).click();
        // It arrives live under the colleague's "mine", note included.
        await conversationOf(colleague).click();
        await colleague.page.getByTestId('assignee').getByText('处理人：华润医药-小张').waitFor();
        await colleague.page.locator('.notes li', { hasText: NOTE }).waitFor();
        // The buyer got the transfer's system line (after the note was written) and never the note.
        await buyer.page.locator('li.message.system', { hasText: '华润医药-小张' }).waitFor();
        assert.equal(await buyer.page.getByText(NOTE).count(), 0);
        assert.equal(await buyer.page.getByText('内部备注').count(), 0);
      });

      await browsers.step('availability', async () => {
        // The agent steps away: their own `available` (PATCH /api/teams/m1/members/m1a1), as the team sees it.
        const toggle = agent.page.getByLabel('接待中（可自动分配）');
        assert.equal(await toggle.isChecked(), true);
        await toggle.uncheck();
        const owner = await server.app.tokenFor('m1', 'merchant');
        await until(
          async () => (await server.app.client.get('/api/teams/m1', { token: owner })).body,
          (team) => team.members.find((m: { user: { id: string } }) => m.user.id === 'm1a1')?.available === false,
          "m1a1 unavailable in the team's members",
        );
      });

      await browsers.step('supervisor resolves', async () => {
        await tab(supervisor, '全部').and(supervisor.page.locator('[aria-pressed="true"]')).waitFor();
        await conversationOf(supervisor).click();
        await supervisor.page.getByTestId('assignee').getByText('处理人：华润医药-小张').waitFor();
        await supervisor.page.locator('.notes li', { hasText: NOTE }).waitFor();
        // The holder typing reaches the supervisor too, shown as the holder, never as the buyer.
        await colleague.page.getByLabel('输入消息').fill('好的，这就为您开票');
        await supervisor.page.locator('p.typing', { hasText: '华润医药-小张 正在输入' }).waitFor();
        await supervisor.page.getByRole('button', { name: '设为已解决' }).click();
        await supervisor.page.getByTestId('assignee').getByText('已解决').waitFor();
        // The holder's view follows (conversation_updated).
        await colleague.page.getByTestId('assignee').getByText('已解决').waitFor();
        await assertAccessible(supervisor.page, "the supervisor's inbox");
        await documentScreenshot(supervisor.page, 'console-inbox');
      });

      await browsers.step('owner as a customer', async () => {
        // The shop's owner writes to the platform desk: the desk's team answers that one, and
        // "all" still lists it beside the shop's own conversations.
        const owner = await browsers.open('m1', server.url);
        await demoSignIn(owner, 'm1');
        await tab(owner, '全部').and(owner.page.locator('[aria-pressed="true"]')).waitFor();
        await conversationOf(owner).waitFor();
        await owner.page.getByLabel('发起新会话').selectOption('p1');
        await owner.page.getByRole('button', { name: '开始' }).click();
        await owner.page.locator('button.conversation', { hasText: '平台客服' }).waitFor();
        // The owner has no availability of their own to toggle.
        assert.equal(await owner.page.getByLabel('接待中（可自动分配）').count(), 0);
      });

      await browsers.step('platform message', async () => {
        // Escalated to the platform desk, whose owner posts into the shop's conversation as the platform.
        const buyerToken = await server.app.tokenFor('b1', 'buyer');
        const conversationId = await server.app.conversation(buyerToken, 'b1', 'm1');
        const escalated = await server.app.client.post(`/api/conversations/${conversationId}/escalation`, {
          token: buyerToken,
          body: { reason: '发票迟迟未开' },
        });
        assert.equal(escalated.status, 201, JSON.stringify(escalated.body));
        const posted = await server.app.client.post(`/api/conversations/${conversationId}/platform-messages`, {
          token: await server.app.tokenFor('p1', 'service'),
          body: { content: '平台已介入，请商家今日内开具发票' },
        });
        assert.equal(posted.status, 201, JSON.stringify(posted.body));
        // Marked as the platform's; the escalation's reason is a centred system line.
        const line = buyer.page.locator('li.message.platform', { hasText: '平台已介入' });
        await line.locator('.platform-tag', { hasText: '平台消息' }).waitFor();
        await buyer.page.locator('li.message.system', { hasText: '发票迟迟未开' }).waitFor();
        await assertAccessible(buyer.page, "the buyer's chat with system and platform lines");
      });

      for (const person of browsers.people)
        assert.deepEqual(
          person.log.filter((line) => line.startsWith('[pageerror]')),
          [],
          `${person.name}'s page threw`,
        );
    });
  });
}
