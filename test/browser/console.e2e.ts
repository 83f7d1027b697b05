import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEMO_USERS } from '../../src/modules/users/demo-users.ts';
import { BROWSER_SKIP_REASON } from '../helpers/browser.ts';
import { testDialects } from '../helpers/databases.ts';
import type { TestResponse } from '../helpers/http.ts';
import { until } from '../helpers/polling.ts';
import {
  assertAccessible,
  type Browsers,
  CONSOLE_PLATFORM_KEY,
  type ConsoleServer,
  demoSignIn,
  documentScreenshot,
  openBrowsers,
  type Person,
  startConsoleServer,
} from './console-harness.ts';

/**
 * Issue 18, part 4: the web console in a real browser (Debian's Chromium).
 * A buyer and a merchant, each in their own browser context, chat live both
 * ways; an image one uploads shows at the other; the server restarts in the
 * middle and the pages recover what they missed; an admin watching both
 * deletes a message, which disappears for both. axe finds no serious or
 * critical violation on any view. `npm run screenshots` also writes the
 * README's pictures from here.
 */

const messageIn = (person: Person, text: string) => person.page.locator('li.message', { hasText: text });

async function send(person: Person, text: string): Promise<void> {
  await person.page.getByLabel('输入消息').fill(text);
  await person.page.getByRole('button', { name: '发送', exact: true }).click();
}

async function open(person: Person, partner: string): Promise<void> {
  await person.page.locator('button.conversation', { hasText: partner }).click();
}

for (const dialect of testDialects) {
  describe(`the console in Chromium (${dialect.name})`, { skip: BROWSER_SKIP_REASON }, () => {
    let server: ConsoleServer;
    let browsers: Browsers;
    let buyer: Person;
    let merchant: Person;

    before(async () => {
      server = await startConsoleServer(dialect);
      browsers = await openBrowsers();
    });
    after(async () => {
      await browsers?.close();
      await server?.close();
    });

    test('the sign-in page offers the demo users (DEBUG=True); one click signs in', async () => {
      await browsers.step('sign-in', async () => {
        buyer = await browsers.open('buyer', server.url);
        merchant = await browsers.open('merchant', server.url);
        await buyer.page.getByRole('heading', { name: '演示账号（DEBUG 模式）' }).waitFor();
        assert.equal(await buyer.page.locator('button[data-user-id]').count(), DEMO_USERS.length);
        await assertAccessible(buyer.page, 'the sign-in page');
        await documentScreenshot(buyer.page, 'console-sign-in');
        await demoSignIn(buyer, 'b1');
        await demoSignIn(merchant, 'm1');
        await buyer.page.getByText('当前用户：仁和大药房（买家）').waitFor();
      });
    });

    test('a buyer and a merchant chat live both ways, with unread counts, read receipts and typing', async () => {
      await browsers.step('chat', async () => {
        // The buyer opens a conversation with the merchant and writes first.
        await buyer.page.getByLabel('发起新会话').selectOption('m1');
        await buyer.page.getByRole('button', { name: '开始' }).click();
        await send(buyer, '你好，请问阿莫西林胶囊有货吗？');
        await messageIn(buyer, '阿莫西林').getByText('未读').waitFor();

        // Live at the merchant: the conversation appears with one unread message.
        const conversation = merchant.page.locator('button.conversation', { hasText: '仁和大药房' });
        await conversation.locator('.badge', { hasText: '1' }).waitFor();
        await open(merchant, '仁和大药房');
        await messageIn(merchant, '阿莫西林').waitFor();
        // Opening it read it: the buyer's receipt turns to 已读.
        await messageIn(buyer, '阿莫西林').getByText('已读').waitFor();

        // The merchant types (the buyer sees it) and answers with a quick reply.
        await merchant.page.getByLabel('输入消息').pressSequentially('现货');
        await buyer.page.getByText('华润医药 正在输入…').waitFor();
        await merchant.page.getByRole('group', { name: '快捷回复' }).getByRole('button').nth(1).click();
        const reply = await merchant.page.getByLabel('输入消息').inputValue();
        assert.equal(reply, '现货充足，今天下单今天发货。');
        await merchant.page.getByLabel('输入消息').press('Enter');
        await messageIn(buyer, '现货充足').waitFor();
        await send(buyer, '好的，我下单 20 盒。');
        await messageIn(merchant, '我下单 20 盒').waitFor();
        await assertAccessible(buyer.page, "the buyer's chat");
        await assertAccessible(merchant.page, "the merchant's chat");
      });
    });

    test('an image uploaded by the buyer shows at the merchant, and a file arrives as a named download', async () => {
      await browsers.step('image', async () => {
        const png = readFileSync(join(server.app.config.MEDIA_DIR, 'avatars', 'buyer.png'));
        await buyer.page
          .getByTestId('attach')
          .setInputFiles({ name: '处方单.png', mimeType: 'image/png', buffer: png });
        const image = merchant.page.locator('li.message img.image');
        await image.waitFor();
        assert.match((await image.getAttribute('src')) ?? '', /^http:\/\/127\.0\.0\.1:\d+\/api\/media\/uploads\//);
        // It loaded: the browser decoded the stored file.
        await until(
          () => image.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth > 0),
          (loaded) => loaded,
          'the image loaded at the merchant',
        );
        await buyer.page.locator('li.message.mine img.image').waitFor();

        await buyer.page
          .getByTestId('attach')
          .setInputFiles({ name: '订货单.txt', mimeType: 'text/plain', buffer: Buffer.from('阿莫西林胶囊 20 盒\n') });
        const file = merchant.page.locator('li.message a.file', { hasText: '订货单.txt' });
        await file.waitFor();
        assert.match((await file.getAttribute('href')) ?? '', /\/api\/media\/uploads\/.+\.txt$/);
        await documentScreenshot(buyer.page, 'console-chat');
      });
    });

    test('an order card the platform posts shows as a card on both sides, and its new state arrives live', async () => {
      await browsers.step('card', async () => {
        const platform = { 'x-api-key': CONSOLE_PLATFORM_KEY };
        const order = { title: '布洛芬缓释胶囊 0.3g×20 粒 ×10 盒', price: '359.00', currency: 'CNY', status: '待发货' };
        const put = (status: string) =>
          server.app.client.put('/api/cards/order/O20261205001', {
            body: { ...order, status, user_ids: ['b1'] },
            headers: platform,
          });
        assert.equal((await put('待发货')).status, 200);
        const token = await server.app.tokenFor('b1', 'buyer');
        const conversationId = await server.app.conversation(token, 'b1', 'm1');
        const posted = await server.app.client.post(`/api/conversations/${conversationId}/cards`, {
          body: { kind: 'order', id: 'O20261205001', sender_id: 'b1' },
          headers: platform,
        });
        assert.equal(posted.status, 201, JSON.stringify(posted.body));
        for (const person of [buyer, merchant]) {
          const card = person.page.locator('li.message .product-card', { hasText: '布洛芬缓释胶囊' });
          await card.getByText('待发货').waitFor();
          await card.getByText('订单 · O20261205001').waitFor();
        }
        assert.equal((await put('已发货')).status, 200);
        for (const person of [buyer, merchant]) {
          await person.page.locator('li.message .product-card').getByText('已发货').waitFor();
        }
        await assertAccessible(buyer.page, 'a card in the chat');
      });
    });

    test('the server restarts mid-conversation: a banner shows, and the pages recover what they missed', async () => {
      await browsers.step('restart', async () => {
        const merchantToken = await server.app.tokenFor('m1', 'merchant');
        const conversationId = await buyer.page
          .locator('button.conversation[aria-current="true"]')
          .getAttribute('data-conversation-id');
        assert.ok(conversationId);
        await server.restart(async () => {
          // Down: both pages say so, and the buyer writes anyway (sent once the server is back).
          await buyer.page.getByTestId('reconnect-banner').waitFor();
          await merchant.page.getByTestId('reconnect-banner').waitFor();
          await send(buyer, '服务器重启期间发送的消息');
          await messageIn(buyer, '服务器重启期间').getByText('发送中').waitFor();
          // The buyer's browser stays off the network until the merchant's next messages are stored:
          // it can only have them by catching up.
          await buyer.context.setOffline(true);
        });
        for (const text of ['重启后补发 1', '重启后补发 2']) {
          const response: TestResponse = await server.app.client.post('/api/messages/', {
            token: merchantToken,
            body: { conversation_id: conversationId, content: text },
          });
          assert.equal(response.status, 201, JSON.stringify(response.body));
        }
        await buyer.context.setOffline(false);
        await buyer.page.getByTestId('reconnect-banner').waitFor({ state: 'detached' });
        await messageIn(merchant, '服务器重启期间').waitFor();
        await messageIn(buyer, '服务器重启期间')
          .getByText(/未读|已读/)
          .waitFor();
        for (const text of ['重启后补发 1', '重启后补发 2']) await messageIn(buyer, text).waitFor();
        // Each once, the merchant's two in the order they were stored, on both sides.
        for (const person of [buyer, merchant]) {
          const texts = await person.page.locator('li.message .text').allTextContents();
          assert.deepEqual(
            texts.filter((text) => text.includes('重启')).sort(),
            ['服务器重启期间发送的消息', '重启后补发 1', '重启后补发 2'].sort(),
            person.name,
          );
          assert.deepEqual(
            texts.filter((text) => text.startsWith('重启后补发')),
            ['重启后补发 1', '重启后补发 2'],
          );
        }
      });
    });

    test('an admin sees both sides live and deletes a message, which disappears for the participants', async () => {
      await browsers.step('moderation', async () => {
        const admin = await browsers.open('admin', server.url);
        await demoSignIn(admin, 'a2');
        await admin.page.locator('button.conversation', { hasText: '仁和大药房 ↔ 华润医药' }).click();
        await messageIn(admin, '阿莫西林').waitFor();
        await messageIn(admin, '现货充足').waitFor();
        // Live at the admin too.
        await send(merchant, '已为您安排今天发货。');
        await messageIn(admin, '已为您安排今天发货').waitFor();
        await assertAccessible(admin.page, 'the admin monitor');
        await documentScreenshot(admin.page, 'console-monitor');

        const target = messageIn(admin, '好的，我下单 20 盒。');
        await target.getByRole('button', { name: '删除' }).click();
        await target.getByRole('button', { name: '确认删除' }).click();
        await admin.page.getByText('消息已删除').waitFor();
        for (const person of [admin, buyer, merchant])
          await messageIn(person, '好的，我下单 20 盒。').waitFor({ state: 'detached' });
        // The rest stays.
        await messageIn(buyer, '阿莫西林').waitFor();

        // The users tab lists everyone; disabling one says so.
        await admin.page.getByRole('tab', { name: '用户' }).click();
        await admin.page.getByRole('button', { name: '停用 康宁药店' }).click();
        await admin.page.getByRole('button', { name: '启用 康宁药店' }).waitFor();
        await assertAccessible(admin.page, "the admin's users tab");
      });
    });

    test('a long history shows its latest page, and earlier messages on request', async () => {
      await browsers.step('history', async () => {
        const token = await server.app.tokenFor('m2', 'merchant');
        const conversationId = await server.app.conversation(token, 'm2', 'b1');
        for (let i = 1; i <= 60; i++) {
          const response: TestResponse = await server.app.client.post('/api/messages/', {
            token,
            body: { conversation_id: conversationId, content: `历史消息 ${i}` },
          });
          assert.equal(response.status, 201, JSON.stringify(response.body));
        }
        // A conversation the buyer did not have arrives with its messages, its unread count whole.
        const conversation = buyer.page.locator('button.conversation', { hasText: '国药控股' });
        await conversation.locator('.badge', { hasText: '60' }).waitFor();
        await conversation.click();
        await messageIn(buyer, '历史消息 60').waitFor();
        assert.equal(await buyer.page.locator('li.message').count(), 50);
        await buyer.page.getByRole('button', { name: '加载更早的消息' }).click();
        await buyer.page.locator('li.message .text', { hasText: /^历史消息 1$/ }).waitFor();
        assert.equal(await buyer.page.locator('li.message').count(), 60);
        await buyer.page.getByRole('button', { name: '加载更早的消息' }).waitFor({ state: 'detached' });
      });
    });

    test('English at the switch, remembered by the page', async () => {
      await browsers.step('language', async () => {
        await buyer.page.getByLabel('语言').selectOption('en');
        await buyer.page.getByRole('button', { name: 'Sign out' }).waitFor();
        assert.equal(await buyer.page.locator('html').getAttribute('lang'), 'en');
        await buyer.page.reload();
        await buyer.page.getByRole('heading', { name: 'Conversations' }).waitFor();
        await buyer.page.getByRole('button', { name: 'Sign out' }).click();
        await buyer.page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
      });
    });

    test('keyboard only: Tab reaches a demo user and Enter signs in', async () => {
      await browsers.step('keyboard', async () => {
        const agent = await browsers.open('agent', server.url);
        const focusedUser = () =>
          agent.page.evaluate(
            () =>
              (globalThis as unknown as { document: { activeElement: { dataset?: { userId?: string } } | null } })
                .document.activeElement?.dataset?.userId,
          );
        // The demo list arrives with its own request: Tab through the page once it is there.
        await agent.page.locator('button[data-user-id="p1"]').waitFor();
        let presses = 0;
        while ((await focusedUser()) !== 'p1') {
          assert.ok(++presses < 30, 'Tab never reached the demo user p1');
          await agent.page.keyboard.press('Tab');
        }
        await agent.page.keyboard.press('Enter');
        await agent.page.getByText('当前用户：平台客服（客服）').waitFor();
        await assertAccessible(agent.page, "a service agent's chat");
      });
    });

    test('a session ended elsewhere (log out everywhere) brings the page back to sign-in', async () => {
      await browsers.step('session-ended', async () => {
        const token = await server.app.tokenFor('m1', 'merchant');
        const response: TestResponse = await server.app.client.post('/api/auth/logout-all', { token });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        await merchant.page.getByRole('heading', { name: '登录', exact: true }).waitFor();
      });
    });

    test('no page threw an uncaught error or broke its Content-Security-Policy', () => {
      // Failed requests while the server restarted or the session ended are expected; exceptions are not.
      for (const person of browsers.people) {
        const broken = person.log.filter(
          (line) => line.startsWith('[pageerror]') || /Content.Security.Policy/i.test(line),
        );
        assert.deepEqual(broken, [], person.name);
      }
    });
  });
}
