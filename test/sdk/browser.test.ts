import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { stripTypeScriptTypes } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { MessageEvent } from '@cs-chat/contracts/ws/protocol';
import { RealtimeClient } from '@cs-chat/sdk/realtime';
import { BROWSER_SKIP_REASON, type BrowserSession, openBrowser } from '../helpers/browser.ts';
import { testDialects } from '../helpers/databases.ts';
import { until } from '../helpers/polling.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

/**
 * The SDK runs in a browser as it is (global WebSocket, fetch and crypto; no
 * Node API): Chromium loads its modules, type-stripped, through an import map
 * (as a bundler would resolve them), from a page on another origin, and chats
 * with a Node client of the same SDK. The browser part does not depend on the
 * database, so it runs on SQLite only.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>sdk</title><link rel="icon" href="data:,">
<script type="importmap">{"imports": {
  "@cs-chat/contracts/": "/contracts/",
  "openapi-fetch": "/vendor/openapi-fetch.js"
}}</script></head><body></body></html>`;

/** The page, the SDK's and the contracts' modules as JavaScript, and openapi-fetch's ESM build. */
async function serveSdk(): Promise<{ origin: string; close(): Promise<void> }> {
  const source = (path: string): string | undefined => {
    const [, home, rest] = /^\/(sdk|contracts)\/(.+)$/.exec(path) ?? [];
    if (!home || !rest) return undefined;
    const file = normalize(join(ROOT, 'packages', home, 'src', rest.endsWith('.ts') ? rest : `${rest}.ts`));
    if (!file.startsWith(join(ROOT, 'packages'))) return undefined;
    return stripTypeScriptTypes(readFileSync(file, 'utf8'));
  };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://page').pathname;
    try {
      if (path === '/') {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      } else if (path === '/vendor/openapi-fetch.js') {
        const file = join(ROOT, 'node_modules', 'openapi-fetch', 'dist', 'index.mjs');
        response.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
      } else {
        const code = source(path);
        if (code === undefined) response.writeHead(404).end();
        else response.writeHead(200, { 'content-type': 'text/javascript' }).end(code);
      }
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const sqlite = testDialects.find((dialect) => dialect.name === 'sqlite');

describe('the SDK in Chromium', { skip: BROWSER_SKIP_REASON }, () => {
  let app: TestApp;
  let page: Awaited<ReturnType<typeof serveSdk>>;
  let browser: BrowserSession;

  before(async () => {
    assert.ok(sqlite);
    page = await serveSdk();
    app = await startTestApp(sqlite, { env: { CORS_ORIGINS: page.origin } });
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await page?.close();
  });

  test('a browser buyer and a Node merchant chat both ways through the realtime client', async () => {
    const buyer = await app.addUser('b1', 'buyer');
    const merchant = await app.addUser('m1', 'merchant');
    const conversationId = await app.conversation(buyer, 'b1', 'm1');

    const node = new RealtimeClient({ baseUrl: app.server.url, userId: 'm1', token: merchant });
    const atNode: MessageEvent[] = [];
    node.on('message', (event) => atNode.push(event));
    node.watch(conversationId);
    node.connect();
    try {
      const tab = await browser.newPage();
      const browserErrors: string[] = [];
      tab.on('pageerror', (error) => browserErrors.push(String(error)));
      tab.on('console', (message) => {
        if (message.type() === 'error') browserErrors.push(message.text());
      });
      await tab.goto(page.origin);
      // In the page: the SDK's own modules, no Node anywhere.
      await tab.evaluate(
        async ({ baseUrl, token, conversationId }) => {
          const { RealtimeClient } = await import('/sdk/realtime.ts' as string);
          const client = new RealtimeClient({ baseUrl, userId: 'b1', token });
          const state = globalThis as unknown as { received: string[]; client: unknown };
          state.received = [];
          state.client = client;
          client.on('message', (event: { content: string }) => state.received.push(event.content));
          client.watch(conversationId);
          client.connect();
          await new Promise<void>((resolve) => {
            const off = client.on('state', (event: { state: string }) => {
              if (event.state === 'open') {
                off();
                resolve();
              }
            });
          });
          await client.send(conversationId, '你好，我想问一下发货时间');
        },
        { baseUrl: app.server.url, token: buyer, conversationId },
      );
      await until(
        () => atNode.map((m) => m.content),
        (contents) => contents.length === 1,
        'the browser’s message at the Node client',
      );
      assert.equal(atNode[0]?.content, '你好，我想问一下发货时间');
      assert.equal(atNode[0]?.sender_id, 'b1');

      await until(
        () => node.state,
        (state) => state === 'open',
        'the Node client open',
      );
      await node.send(conversationId, '今天下午发货');
      const received = await until(
        () => tab.evaluate(() => (globalThis as unknown as { received: string[] }).received),
        (contents) => contents.length === 1,
        'the Node client’s message in the browser',
      );
      assert.deepEqual(received, ['今天下午发货']);
      assert.deepEqual(browserErrors, []);
      await tab.close();
    } finally {
      node.close();
    }
  });
});
