// The dashboard page in a real Chromium, against the forecast service that mounts it at /dashboard: what an
// operator sees after reads, a write's invalidation, an action refused without the token and run with it, and a
// phone-sized screen. Skips only when no Chromium is installed.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenedService } from '../../src/service/service.js';
import { call, startInProcess, tempDir, until, type ForecastBody } from '../service/helpers.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const TOKEN = 'browser-test-token-4f1c';
const hasChromium = existsSync(CHROMIUM);

/** A fresh Chromium profile, removed by `close`. */
export async function launch(viewport: { width: number; height: number }): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'tiercache-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true, viewport });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Console errors and uncaught exceptions of a page, for the "no console error" assertion. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}

(hasChromium ? describe : describe.skip)('dashboard in a browser', () => {
  let service: OpenedService;
  let url: string;
  let cleanup: () => void;
  let browser: { context: BrowserContext; close(): Promise<void> };
  const previousToken = process.env.TIERCACHE_ADMIN_TOKEN;

  beforeAll(async () => {
    const dir = tempDir('dashboard');
    cleanup = dir.cleanup;
    // The service's dashboard reads its token from the environment, as a deployment sets it.
    process.env.TIERCACHE_ADMIN_TOKEN = TOKEN;
    ({ service, url } = await startInProcess(dir.dir, { FORECAST_WARM_CRON: 'off' }));
    browser = await launch({ width: 1280, height: 900 });
  }, 60_000);

  afterAll(async () => {
    if (previousToken === undefined) delete process.env.TIERCACHE_ADMIN_TOKEN;
    else process.env.TIERCACHE_ADMIN_TOKEN = previousToken;
    await browser?.close();
    await service?.close();
    cleanup?.();
  });

  async function openDashboard(): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${url}/dashboard`);
    await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor();
    return { page, errors };
  }

  it('loads with no console error, live, with every card', async () => {
    const { page, errors } = await openDashboard();
    expect(page.url()).toBe(`${url}/dashboard/`);
    for (const card of ['overview', 'hit-rate-chart', 'tiers', 'memory', 'events', 'key-groups', 'alerts', 'warming', 'fleet', 'actions']) {
      await expect(page.getByTestId(card).isVisible()).resolves.toBe(true);
    }
    await expect(page.getByTestId('access').textContent()).resolves.toContain('enter the token');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows a memory-tier hit after a forecast is read twice', async () => {
    const { page, errors } = await openDashboard();
    const hits = async (): Promise<number> => Number((await page.getByTestId('memory-hits').textContent())?.replace(/,/g, ''));
    const before = await hits();
    const path = '/users/user_1/forecasts/burn_rate?horizon=90d';
    expect((await call<ForecastBody>(url, 'GET', path)).body.cache.source).toBe('computed');
    expect((await call<ForecastBody>(url, 'GET', path)).body.cache.source).toBe('memory');
    await until(async () => (await hits()) > before, 'the page to show the hit', 10_000, 100);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows the invalidation a posted transaction causes, with reason transaction_added and its origin', async () => {
    const { page } = await openDashboard();
    const added = await call<{ invalidated: number }>(url, 'POST', '/users/user_2/transactions', { body: { date: '2025-12-31', amount: '12.00', type: 'expense', category: 'groceries' } });
    expect(added.status).toBe(201);
    const row = page.getByTestId('events-table').locator('tbody tr', { hasText: 'transaction_added' }).first();
    await row.waitFor({ timeout: 10_000 });
    await expect(row.textContent()).resolves.toMatch(/forecast-service@/);
    // Without the token, which forecasts went is not shown.
    await expect(row.textContent()).resolves.toContain('hidden without the token');
    await page.close();
  });

  it('refuses an action without the token, and performs it with the token: the cache really drops the key', async () => {
    const read = await call<ForecastBody>(url, 'GET', '/users/user_3/forecasts/balance?horizon=30d');
    const key = read.body.key;
    const cache = await service.forecasts.cache();
    expect(await cache.inspect(key)).toBeDefined();

    const { page, errors } = await openDashboard();
    const form = page.getByTestId('invalidate-key');
    await form.locator('input').fill(key);
    await form.locator('button').click();
    await page.getByTestId('action-result').filter({ hasText: 'refused' }).waitFor();
    await expect(page.getByTestId('action-result').textContent()).resolves.toContain('Authorization: Bearer');
    expect(await cache.inspect(key)).toBeDefined();

    await page.locator('#token').fill(TOKEN);
    await page.getByTestId('token-form').locator('button').click();
    await page.getByTestId('access').filter({ hasText: 'token accepted' }).waitFor();
    await form.locator('button').click();
    await page.getByTestId('action-result').filter({ hasText: 'invalidate: done, 1 removed' }).waitFor();
    expect(await cache.inspect(key)).toBeUndefined();
    // With the token the log names the key, and the dashboard as the origin.
    const row = page.getByTestId('events-table').locator('tbody tr', { hasText: key }).first();
    await row.waitFor({ timeout: 10_000 });
    await expect(row.textContent()).resolves.toContain('dashboard');
    // The 401 of the refused action is the only console error (Chromium logs failed fetches).
    expect(errors.filter((e) => !/401/.test(e))).toEqual([]);
    await page.close();
  });

  it('renders on a 375 px phone screen without horizontal scrolling', async () => {
    const phone = await launch({ width: 375, height: 812 });
    try {
      const page = await phone.context.newPage();
      const errors = watchErrors(page);
      await page.goto(`${url}/dashboard/`);
      await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor();
      await page.getByTestId('tiers-table').waitFor();
      const widths = await page.evaluate<{ page: number; view: number }>('({ page: document.documentElement.scrollWidth, view: window.innerWidth })');
      expect(widths.view).toBe(375);
      expect(widths.page).toBeLessThanOrEqual(375);
      expect(errors).toEqual([]);
    } finally {
      await phone.close();
    }
  });
});
