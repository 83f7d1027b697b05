/**
 * Issue 18, part 1: Swagger UI's "Authorize" signs in with a username and
 * password, as FastAPI's /docs does. A real Chromium opens /api/docs, fills the
 * OAuth2 password form and authorizes; the token Swagger UI keeps is a working
 * bearer token of that user. Screenshot: test-results/swagger-ui-authorized.png.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BROWSER_SKIP_REASON, type BrowserSession, openBrowser } from './helpers/browser.ts';
import { testDialects } from './helpers/databases.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

describe('Swagger UI: Authorize with a username and password', { skip: BROWSER_SKIP_REASON }, () => {
  let app: TestApp;
  let browser: BrowserSession;

  before(async () => {
    app = await startTestApp(testDialects[0] ?? assert.fail('no dialect'));
    await app.addUser('m1', 'merchant', { username: '优选旗舰店', password: 'secret-123' });
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test('the OAuth2 password form signs in and Swagger UI keeps a working bearer token', async () => {
    const page = await browser.newPage();
    try {
      // Swagger UI resolves the token URL against the document's server, BASE_URL (http://chat.test in
      // tests): the page is opened there too, each request forwarded to the test server, as a proxy would.
      const base = new URL(app.config.BASE_URL).origin;
      await page.route(`${base}/**`, async (route) => {
        const response = await route.fetch({ url: route.request().url().replace(base, app.server.url) });
        await route.fulfill({ response });
      });
      await page.goto(`${base}/api/docs`);
      await page.locator('button.btn.authorize').first().click();
      await page.locator('#oauth_username').fill('优选旗舰店');
      await page.locator('#oauth_password').fill('secret-123');
      const tokenResponse = page.waitForResponse(
        (response) => response.url().endsWith('/api/auth/oauth2/token') && response.request().method() === 'POST',
      );
      await page.locator('.auth-container:has(#oauth_username) button.authorize').click();
      const response = await tokenResponse;
      assert.equal(response.status(), 200, await response.text());
      // Authorized: the password form gives way to a Logout button.
      await page.locator('.auth-container:has-text("oauth2Password") button:has-text("Logout")').waitFor();
      await browser.screenshot(page, 'swagger-ui-authorized');
      // persistAuthorization keeps the token in localStorage; it is the merchant's working token.
      const stored = await page.evaluate(() => (globalThis as any).localStorage.getItem('authorized') as string);
      const token = JSON.parse(stored).oauth2Password.token.access_token as string;
      const me = await app.client.get('/api/auth/me', { token });
      assert.equal(me.status, 200);
      assert.equal(me.body.id, 'm1');
    } catch (error) {
      await browser.screenshot(page, 'swagger-ui-authorize-failed').catch(() => {});
      throw error;
    } finally {
      await page.close();
    }
  });
});
