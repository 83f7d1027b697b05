import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BROWSER_SKIP_REASON,
  type BrowserSession,
  openBrowser,
  type PageServer,
  servePage,
} from './helpers/browser.ts';
import { testDialects } from './helpers/databases.ts';
import { openConversation, sendText } from './helpers/rest.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Issue 12 item 2: a browser app on an allowed origin can call every method
 * and send every header the API uses, with credentials, and read Retry-After
 * and X-Request-Id; a page on any other origin is blocked by the browser.
 * Checked in a real Chromium from a page on another origin (localhost:<port>
 * against the API on 127.0.0.1:<port>), and with a hand-made preflight.
 */

const PAGE = `<!doctype html><meta charset="utf-8"><title>CORS client</title>
<style>body{font:14px sans-serif;margin:16px} td,th{border:1px solid #999;padding:4px 8px;text-align:left}
.ok{background:#cfc}.blocked{background:#fcc}</style>
<h1 id="origin"></h1><table><thead><tr><th>request</th><th>outcome</th></tr></thead><tbody id="results"></tbody></table>
<script>document.getElementById('origin').textContent = 'page on ' + location.origin;</script>`;

/** What a page's fetch came to: the status and the response headers JavaScript could read, or blocked. */
interface Outcome {
  name: string;
  status: number | 'blocked';
  requestId: string | null;
  retryAfter: string | null;
}

interface Call {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Repeat until this status (a throttle), at most `repeat` times. */
  until?: number;
  repeat?: number;
}

/** The few DOM calls the page script makes (the project compiles without the DOM library). */
interface PageElement {
  className: string;
  textContent: string | null;
  append(...nodes: PageElement[]): void;
}
interface PageDocument {
  createElement(tag: string): PageElement;
  getElementById(id: string): PageElement | null;
}

/** Runs the calls from the page with fetch(credentials: 'include'), shows each outcome in the page, returns them. */
async function callFromPage(
  session: BrowserSession,
  page: PageServer,
  api: string,
  calls: Call[],
  screenshot: string,
): Promise<Outcome[]> {
  const tab = await session.newPage();
  try {
    await tab.goto(page.origin);
    const outcomes = await tab.evaluate(
      async ({ api, calls }) => {
        const document = (globalThis as unknown as { document: PageDocument }).document;
        const results: Outcome[] = [];
        for (const call of calls) {
          let outcome: Outcome = { name: call.name, status: 'blocked', requestId: null, retryAfter: null };
          for (let attempt = 0; attempt < (call.repeat ?? 1); attempt++) {
            try {
              const response = await fetch(api + call.path, {
                method: call.method,
                credentials: 'include',
                headers: call.headers ?? {},
                ...(call.body !== undefined ? { body: call.body } : {}),
              });
              await response.text();
              outcome = {
                name: call.name,
                status: response.status,
                requestId: response.headers.get('x-request-id'),
                retryAfter: response.headers.get('retry-after'),
              };
            } catch {
              outcome = { name: call.name, status: 'blocked', requestId: null, retryAfter: null };
            }
            if (call.until === undefined || outcome.status === call.until) break;
          }
          results.push(outcome);
          const row = document.createElement('tr');
          row.className = outcome.status === 'blocked' ? 'blocked' : 'ok';
          const cells = [
            `${call.method} ${call.path}`,
            outcome.status === 'blocked'
              ? 'blocked by the browser (TypeError: Failed to fetch)'
              : `${outcome.status}; x-request-id: ${outcome.requestId}; retry-after: ${outcome.retryAfter}`,
          ];
          for (const text of cells) {
            const cell = document.createElement('td');
            cell.textContent = text;
            row.append(cell);
          }
          document.getElementById('results')?.append(row);
        }
        return results;
      },
      { api, calls },
    );
    await session.screenshot(tab, screenshot);
    return outcomes;
  } finally {
    await tab.close();
  }
}

const outcomeOf = (outcomes: Outcome[], name: string): Outcome => {
  const found = outcomes.find((outcome) => outcome.name === name);
  assert.ok(found, name);
  return found;
};

for (const dialect of testDialects) {
  describe(`CORS for browser apps (${dialect.name})`, () => {
    let app: TestApp;
    let allowedPage: PageServer;
    let otherPage: PageServer;
    let admin: string;
    let buyer: string;
    let merchant: string;

    before(async () => {
      allowedPage = await servePage(PAGE);
      otherPage = await servePage(PAGE);
      app = await startTestApp(dialect, { env: { CORS_ORIGINS: `http://localhost:5173,${allowedPage.origin}` } });
      [admin, buyer, merchant] = await Promise.all([
        app.addUser('a1', 'admin'),
        app.addUser('b1', 'buyer', { username: 'browser-buyer', password: 'right-password' }),
        app.addUser('m1', 'merchant'),
        app.addUser('m2', 'merchant'),
      ]);
    });
    after(async () => {
      await app?.close();
      await allowedPage?.close();
      await otherPage?.close();
    });

    const quickReply = async (content: string): Promise<string> => {
      const response = await app.client.post('/api/quick-replies/', { token: merchant, body: { content } });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body.id;
    };

    const quickReplyIds = async (): Promise<string[]> => {
      const response = await app.client.get('/api/quick-replies/user/m1', { token: merchant });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return (response.body as { id: string }[]).map((item) => item.id);
    };

    test('preflight for an allowed origin grants every method and header, with credentials', async () => {
      const response = await fetch(`${app.client.baseUrl}/api/quick-replies/x`, {
        method: 'OPTIONS',
        headers: {
          origin: allowedPage.origin,
          'access-control-request-method': 'DELETE',
          'access-control-request-headers': 'authorization,content-type,x-connection-id,x-request-id,x-api-key',
        },
      });
      assert.equal(response.status, 204);
      assert.equal(response.headers.get('access-control-allow-origin'), allowedPage.origin);
      assert.equal(response.headers.get('access-control-allow-credentials'), 'true');
      const list = (name: string) => (response.headers.get(name) ?? '').toLowerCase().split(/\s*,\s*/);
      const methods = list('access-control-allow-methods');
      for (const method of ['get', 'head', 'post', 'put', 'patch', 'delete', 'options']) {
        assert.ok(methods.includes(method), `${method} in ${methods}`);
      }
      const headers = list('access-control-allow-headers');
      for (const header of ['authorization', 'content-type', 'x-connection-id', 'x-request-id', 'x-api-key']) {
        assert.ok(headers.includes(header), `${header} in ${headers}`);
      }

      const simple = await fetch(`${app.client.baseUrl}/api/health`, { headers: { origin: allowedPage.origin } });
      const exposed = (simple.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/\s*,\s*/);
      assert.ok(exposed.includes('retry-after') && exposed.includes('x-request-id'), String(exposed));
    });

    test('preflight from a disallowed origin gets no CORS grant', async () => {
      const response = await fetch(`${app.client.baseUrl}/api/quick-replies/x`, {
        method: 'OPTIONS',
        headers: {
          origin: otherPage.origin,
          'access-control-request-method': 'DELETE',
          'access-control-request-headers': 'authorization',
        },
      });
      for (const header of ['origin', 'credentials', 'methods', 'headers']) {
        assert.equal(response.headers.get(`access-control-allow-${header}`), null, header);
      }
    });

    describe('in Chromium', { skip: BROWSER_SKIP_REASON }, () => {
      let session: BrowserSession;
      before(async () => {
        session = await openBrowser();
      });
      after(() => session?.close());

      test('a page on an allowed origin calls PUT, PATCH, DELETE with credentials and reads the exposed headers', async () => {
        const conversation = await openConversation(app, buyer, 'b1', 'm1');
        await sendText(app, buyer, conversation, 'hello from the buyer');
        const reply = await quickReply('to delete from the browser');
        const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
        const outcomes = await callFromPage(
          session,
          allowedPage,
          app.client.baseUrl,
          [
            {
              name: 'read-all',
              method: 'PUT',
              path: `/api/conversations/${conversation}/messages/read-all`,
              headers: bearer(merchant),
            },
            {
              name: 'profile',
              method: 'PUT',
              path: '/api/users/b1',
              headers: {
                ...bearer(buyer),
                'content-type': 'application/json',
                'x-request-id': 'browser-trace-1',
                'x-connection-id': 'browser-connection-1',
              },
              body: JSON.stringify({ description: 'edited in a browser' }),
            },
            { name: 'moderate', method: 'PATCH', path: '/api/users/m2/status?status=inactive', headers: bearer(admin) },
            { name: 'delete', method: 'DELETE', path: `/api/quick-replies/${reply}`, headers: bearer(merchant) },
            {
              name: 'api-key',
              method: 'POST',
              path: '/api/auth/token',
              headers: { 'x-api-key': 'not-the-platform-key', 'content-type': 'application/json' },
              body: JSON.stringify({ user_id: 'b9', role: 'buyer' }),
            },
            {
              name: 'throttled',
              method: 'POST',
              path: '/api/auth/login',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ username: 'browser-buyer', password: 'wrong-password' }),
              until: 429,
              repeat: 100,
            },
          ],
          `cors-allowed-${dialect.name}`,
        );

        for (const name of ['read-all', 'profile', 'moderate', 'delete']) {
          const outcome = outcomeOf(outcomes, name);
          assert.equal(outcome.status, 200, JSON.stringify(outcome));
          assert.ok(outcome.requestId, `${name}: x-request-id readable`);
        }
        assert.equal(outcomeOf(outcomes, 'profile').requestId, 'browser-trace-1');
        assert.notEqual(outcomeOf(outcomes, 'api-key').status, 'blocked');
        const throttled = outcomeOf(outcomes, 'throttled');
        assert.equal(throttled.status, 429, JSON.stringify(throttled));
        assert.match(throttled.retryAfter ?? '', /^\d+$/);

        // The calls really happened.
        const user = await app.client.get('/api/users/b1', { token: buyer });
        assert.equal(user.body.description, 'edited in a browser');
        assert.ok(!(await quickReplyIds()).includes(reply));
      });

      test('a page on another origin is blocked, and its preflighted DELETE never reaches the API', async () => {
        const reply = await quickReply('must survive');
        const outcomes = await callFromPage(
          session,
          otherPage,
          app.client.baseUrl,
          [
            {
              name: 'delete',
              method: 'DELETE',
              path: `/api/quick-replies/${reply}`,
              headers: { authorization: `Bearer ${merchant}` },
            },
            { name: 'read', method: 'GET', path: '/api/health' },
          ],
          `cors-disallowed-${dialect.name}`,
        );
        assert.equal(outcomeOf(outcomes, 'delete').status, 'blocked');
        assert.equal(outcomeOf(outcomes, 'read').status, 'blocked');
        assert.ok((await quickReplyIds()).includes(reply));
      });
    });
  });
}
