import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Decimal } from 'decimal.js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { call, ROOT, startChild, stopChildren, tempDir, type BalanceJson, type EventJson, type ForecastBody, type TransactionJson, type WriteBody } from './helpers.js';

const temp = tempDir('e2e');
afterEach(stopChildren);
afterAll(() => temp.cleanup());

const BALANCE = '/users/user_1/forecasts/balance?horizon=30d&algorithm=linear';

describe('the service as `npm start` runs it, over real HTTP', () => {
  it('computes, caches, invalidates on writes, logs it all, and stops cleanly on SIGTERM', { timeout: 60_000 }, async () => {
    const env = { FORECAST_DB: join(temp.dir, 'finance.db'), CACHE_DB: join(temp.dir, 'cache.db') };
    const service = await startChild(env);
    const { url } = service;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(service.lines.some((l) => l.includes('demo data written: 5 users'))).toBe(true);
    expect(service.lines.some((l) => l.includes('cache: memory → sqlite'))).toBe(true);

    const first = await call<ForecastBody<BalanceJson>>(url, 'GET', BALANCE);
    expect(first.status).toBe(200);
    expect(first.body.cache.source).toBe('computed');
    const second = await call<ForecastBody<BalanceJson>>(url, 'GET', BALANCE);
    expect(second.body.cache.source).toBe('memory');
    expect(second.body.value).toEqual(first.body.value);
    await service.waitForLine(/GET \/users\/user_1\/forecasts\/balance\?horizon=30d&algorithm=linear -> miss, computed in \d+(\.\d+)? ms/);
    await service.waitForLine(/GET \/users\/user_1\/forecasts\/balance\?horizon=30d&algorithm=linear -> hit \(memory\) \d+\.\d+ ms/);

    const added = await call<WriteBody<TransactionJson>>(url, 'POST', '/users/user_1/transactions', {
      body: { date: '2025-12-31', amount: '1234.56', type: 'expense', category: 'electronics', description: 'New laptop' },
    });
    expect(added.status).toBe(201);
    expect(added.body.invalidated).toBe(1);
    await service.waitForLine(/transaction added for user_1: 1 forecast invalidated \(transaction_added\)/);

    const changed = await call<ForecastBody<BalanceJson>>(url, 'GET', BALANCE);
    expect(changed.body.cache.source).toBe('computed');
    expect(changed.body.value.startBalance).not.toBe(first.body.value.startBalance);
    expect(new Decimal(first.body.value.startBalance).minus(changed.body.value.startBalance).toFixed(2)).toBe('1234.56');

    const deleted = await call<WriteBody<TransactionJson>>(url, 'DELETE', `/transactions/${encodeURIComponent(added.body.record.id)}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.invalidated).toBe(1);
    const restored = await call<ForecastBody<BalanceJson>>(url, 'GET', BALANCE);
    expect(restored.body.value.startBalance).toBe(first.body.value.startBalance);

    const events = await call<{ events: EventJson[] }>(url, 'GET', '/events?limit=10');
    const reasons = events.body.events.map((e) => e.reason);
    expect(reasons).toEqual(['transaction_added', 'transaction_deleted']);
    expect(events.body.events[0]?.keys).toEqual([first.body.key]);

    const badAmount = await call(url, 'POST', '/users/user_1/transactions', { body: { date: '2025-12-31', amount: 12.5, type: 'expense', category: 'x' } });
    expect(badAmount.status).toBe(400);
    expect(badAmount.body.error.field).toBe('amount');
    const badHorizon = await call(url, 'GET', '/users/user_1/forecasts/balance?horizon=soon');
    expect(badHorizon.status).toBe(400);
    expect(badHorizon.body.error.field).toBe('horizon');

    expect(await service.stop()).toBe(0);
    expect(service.lines.some((l) => l.includes('SIGTERM: stopping'))).toBe(true);
    expect(service.lines.some((l) => /info\s+stopped$/.test(l))).toBe(true);
  });

  it('keeps its data and its SQLite cache across a restart', { timeout: 60_000 }, async () => {
    const dir = join(temp.dir, 'restart');
    const env = { FORECAST_DB: join(dir, 'finance.db'), CACHE_DB: join(dir, 'cache.db') };
    const before = await startChild(env);
    const computed = await call<ForecastBody<BalanceJson>>(before.url, 'GET', BALANCE);
    expect(computed.body.cache.source).toBe('computed');
    expect(await before.stop()).toBe(0);

    const after = await startChild(env);
    expect(after.lines.some((l) => l.includes('demo data written'))).toBe(false);
    expect(after.lines.some((l) => l.includes('(5 users)'))).toBe(true);
    const reread = await call<ForecastBody<BalanceJson>>(after.url, 'GET', BALANCE);
    expect(reread.body.cache.source).toBe('sqlite');
    expect(reread.body.value).toEqual(computed.body.value);
    await after.waitForLine(/-> hit \(sqlite\) \d+(\.\d+)? ms/);
  });

  it('refuses a bad environment variable by name, before opening anything', { timeout: 30_000 }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/service/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: 'eighty', FORECAST_DB: join(temp.dir, 'never', 'finance.db') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 20_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    expect(code).toBe(2);
    expect(stderr).toContain('PORT must be a whole number, got "eighty"');
  });
});
