// Takes docs/dashboard.png for the README: the forecast service with its dashboard, some reads, a write's
// invalidation and a warm, seen by Chromium at 1280 px with the admin token. Run: npx tsx scripts/dashboard-screenshot.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { configFromEnv } from '../src/service/config.js';
import { createLogger } from '../src/service/logger.js';
import { openService } from '../src/service/service.js';

const TOKEN = 'screenshot-token';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const dir = mkdtempSync(join(tmpdir(), 'tiercache-screenshot-'));
const profile = mkdtempSync(join(tmpdir(), 'tiercache-chromium-'));
process.env.TIERCACHE_ADMIN_TOKEN = TOKEN;
const config = configFromEnv({ PORT: '0', FORECAST_DB: join(dir, 'finance.db'), CACHE_DB: join(dir, 'cache.db'), FORECAST_DEMO_USERS: '5', FORECAST_WARM_CRON: 'off' }, dir);
const service = await openService(config, createLogger({ level: 'silent', write: () => undefined }));
const { url } = await service.app.listen(0, '127.0.0.1');
const context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', args: FLAGS, headless: true, viewport: { width: 1280, height: 900 } });
try {
  const page = await context.newPage();
  await page.goto(`${url}/dashboard/`);
  await page.locator('#token').fill(TOKEN);
  await page.getByTestId('token-form').locator('button').click();
  await page.getByTestId('access').filter({ hasText: 'token accepted' }).waitFor();
  const metrics = ['balance', 'burn_rate', 'runway'];
  for (let round = 0; round < 6; round++) {
    for (let user = 1; user <= 5; user++) {
      for (const metric of metrics) await fetch(`${url}/users/user_${user}/forecasts/${metric}?horizon=${round % 2 === 0 ? '30d' : '90d'}`);
    }
    if (round === 2) {
      await fetch(`${url}/users/user_2/transactions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ date: '2025-12-31', amount: '42.00', type: 'expense', category: 'groceries' }) });
    }
    await new Promise((resolve) => setTimeout(resolve, 2_100));
  }
  await page.getByTestId('warm-forecasts').click();
  await page.getByTestId('warming').locator('.run-done').first().waitFor({ timeout: 60_000 });
  await new Promise((resolve) => setTimeout(resolve, 2_100));
  await page.screenshot({ path: 'docs/dashboard.png', fullPage: true });
  console.log('wrote docs/dashboard.png');
} finally {
  await context.close();
  await service.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
