import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CONSOLE_DIST } from '../../src/app.ts';
import { seedDemoData } from '../../src/cli/seed.ts';
import { launchChromium, SCREENSHOT_DIR } from '../helpers/browser.ts';
import type { TestDialect } from '../helpers/databases.ts';
import { freePort } from '../helpers/polling.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

/**
 * The console's browser tests: a server with the demo data and DEBUG=True on
 * a fixed port (a restart takes the same one, so open pages reconnect to it),
 * Chromium with one context per person, and what a failure leaves behind
 * (a screenshot and the browser console of every page, in test-results/console/).
 */

export const ARTIFACTS = join(SCREENSHOT_DIR, 'console');

/** A person at a browser: their own context (cookies, storage) and page, and what the page logged. */
export interface Person {
  name: string;
  context: BrowserContext;
  page: Page;
  log: string[];
}

export interface ConsoleServer {
  app: TestApp;
  url: string;
  /** Stops the server (sockets get 1012) and starts another on the same port, database and media. */
  restart(during?: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

/**
 * One list request at a time per user (the default allows two): a page loads several lists at
 * once, so every view here also proves the console waits out a 429 and tries again.
 */
const CONSOLE_QUOTAS = { listConcurrencyPerUser: 1 };

/** The host platform's key in these tests (cards are the platform's to post and update). */
export const CONSOLE_PLATFORM_KEY = 'console-test-platform-key-0123456789';

export async function startConsoleServer(dialect: TestDialect): Promise<ConsoleServer> {
  assert.ok(
    existsSync(join(CONSOLE_DIST, 'index.html')),
    'the console is not built: run `npm run console:build` (npm run test:browser does)',
  );
  // Media outlives a restart (an image sent before it still shows after it).
  const mediaDir = mkdtempSync(join(tmpdir(), 'console-media-'));
  let env: Record<string, string> = {};
  let started: TestApp | undefined;
  // The port is fixed so that a restart takes it again; another process may take it between
  // freePort and listen (tests run in parallel on this machine): then another one is tried.
  for (let attempt = 1; !started; attempt++) {
    const port = await freePort();
    env = {
      PORT: String(port),
      BASE_URL: `http://127.0.0.1:${port}`,
      DEBUG: 'True',
      MEDIA_DIR: mediaDir,
      PLATFORM_API_KEY: CONSOLE_PLATFORM_KEY,
    };
    try {
      started = await startTestApp(dialect, { env, server: { quotas: CONSOLE_QUOTAS } });
    } catch (error) {
      if (attempt >= 3 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
  const first = started;
  const url = env.BASE_URL ?? '';
  await seedDemoData(first.server.database.db);
  let current = first;
  let second: TestApp | undefined;
  return {
    get app() {
      return current;
    },
    url,
    async restart(during) {
      await current.server.close();
      await during?.();
      second = await startTestApp(dialect, {
        env,
        server: { quotas: CONSOLE_QUOTAS },
        sharedDatabase: first.scratch.urlString,
      });
      current = second;
    },
    async close() {
      await second?.close();
      // The first one's database is the shared one: dropped last (its server may be closed already).
      if (second) await first.scratch.drop();
      else await first.close();
      rmSync(mediaDir, { recursive: true, force: true });
    },
  };
}

export interface Browsers {
  browser: Browser;
  people: Person[];
  open(name: string, url: string): Promise<Person>;
  /** Runs a step; when it throws, every page's screenshot and console go to ARTIFACTS first. */
  step(name: string, body: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export async function openBrowsers(): Promise<Browsers> {
  const browser = await launchChromium();
  const people: Person[] = [];
  return {
    browser,
    people,
    async open(name, url) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
      // Well under the test's own timeout, so a missing element fails the step with its screenshot.
      context.setDefaultTimeout(10_000);
      const page = await context.newPage();
      const log: string[] = [];
      page.on('console', (message) => log.push(`[${message.type()}] ${message.text()}`));
      page.on('pageerror', (error) => log.push(`[pageerror] ${error.stack ?? String(error)}`));
      await page.goto(`${url}/console/`);
      const person = { name, context, page, log };
      people.push(person);
      return person;
    },
    async step(name, body) {
      try {
        await body();
      } catch (error) {
        mkdirSync(ARTIFACTS, { recursive: true });
        const slug = name.replace(/[^\p{L}\p{N}]+/gu, '-');
        for (const person of people) {
          const base = join(ARTIFACTS, `${slug}--${person.name}`);
          await person.page.screenshot({ path: `${base}.png`, fullPage: true }).catch(() => undefined);
          writeFileSync(`${base}.console.log`, `${person.log.join('\n')}\n`);
        }
        throw error;
      }
    },
    async close() {
      await browser.close();
    },
  };
}

/** Signs in through the sign-in page's one-click demo list. */
export async function demoSignIn(person: Person, userId: string): Promise<void> {
  await person.page.locator(`button[data-user-id="${userId}"]`).click();
  await person.page.getByRole('button', { name: /退出登录|Sign out/ }).waitFor();
}

/** axe-core on the page as it is: no serious or critical violation of WCAG 2 A/AA. */
export async function assertAccessible(page: Page, what: string): Promise<void> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `axe on ${what}`,
  );
}

/** Where `npm run screenshots` writes the README's pictures (unset: none are written). */
const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS;

export async function documentScreenshot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}
