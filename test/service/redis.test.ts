import { join } from 'node:path';
import { Decimal } from 'decimal.js';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { call, startChild, stopChildren, tempDir, type BalanceJson, type ForecastBody, type TransactionJson, type WriteBody } from './helpers.js';
import { until } from '../kit/index.js';
import { cli } from '../cli/run.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// Unique per run, so parallel runs and other suites sharing the server never see these keys.
const PREFIX = `tc-test:service:${process.pid}:${Date.now().toString(36)}:`;
const temp = tempDir('redis');

afterEach(stopChildren);
afterAll(async () => {
  temp.cleanup();
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
});

const BALANCE = '/users/user_1/forecasts/balance?horizon=30d&algorithm=linear';

describe('two service instances over Redis and one finance database', () => {
  it('a transaction added through A reaches B’s next forecast within bus delivery', { timeout: 60_000 }, async () => {
    const shared = { FORECAST_DB: join(temp.dir, 'finance.db'), REDIS_URL, CACHE_PREFIX: PREFIX };
    // A first: it writes the demo data, which B then finds.
    const a = await startChild({ ...shared, CACHE_DB: join(temp.dir, 'a-cache.db') });
    const b = await startChild({ ...shared, CACHE_DB: join(temp.dir, 'b-cache.db') });
    expect(a.lines.some((l) => l.includes(`cache: memory → redis`) && l.includes(`+ bus "${PREFIX}bus"`))).toBe(true);
    expect(b.lines.some((l) => l.includes('demo data written'))).toBe(false);

    const computedByB = await call<ForecastBody<BalanceJson>>(b.url, 'GET', BALANCE);
    expect(computedByB.body.cache.source).toBe('computed');
    expect((await call<ForecastBody<BalanceJson>>(b.url, 'GET', BALANCE)).body.cache.source).toBe('memory');
    // A never computed it: the shared tier answers.
    const seenByA = await call<ForecastBody<BalanceJson>>(a.url, 'GET', BALANCE);
    expect(seenByA.body.cache.source).toBe('redis');
    expect(seenByA.body.value).toEqual(computedByB.body.value);

    const added = await call<WriteBody<TransactionJson>>(a.url, 'POST', '/users/user_1/transactions', {
      body: { date: '2025-12-31', amount: '500.00', type: 'expense', category: 'travel' },
    });
    expect(added.status).toBe(201);
    const fresh = await call<ForecastBody<BalanceJson>>(a.url, 'GET', BALANCE);
    expect(fresh.body.cache.source).toBe('computed');
    expect(fresh.body.value.startBalance).not.toBe(computedByB.body.value.startBalance);

    // B held the old forecast in memory; the bus tells it to drop it. Only the delivery time is waited for.
    const started = Date.now();
    let seen: ForecastBody<BalanceJson> | undefined;
    await until(async () => {
      seen = (await call<ForecastBody<BalanceJson>>(b.url, 'GET', BALANCE)).body;
      return seen.value.startBalance !== computedByB.body.value.startBalance;
    }, 'instance B to serve the new balance', 3_000, 20);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(seen?.value).toEqual(fresh.body.value);
    expect(seen?.cache.source).not.toBe('memory');
    // And it stays new.
    for (let i = 0; i < 3; i++) expect((await call<ForecastBody<BalanceJson>>(b.url, 'GET', BALANCE)).body.value).toEqual(fresh.body.value);
    await b.waitForLine(/bus: .* invalidated by instance /, 3_000);

    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });

  it('a write through A drops the response B cached at the HTTP layer', { timeout: 60_000 }, async () => {
    const prefix = `${PREFIX}http:`;
    const shared = { FORECAST_DB: join(temp.dir, 'finance-http.db'), REDIS_URL, CACHE_PREFIX: prefix, FORECAST_HTTP_CACHE: '10m', FORECAST_WARM_CRON: 'off' };
    const a = await startChild({ ...shared, CACHE_DB: join(temp.dir, 'a-http-cache.db') });
    const b = await startChild({ ...shared, CACHE_DB: join(temp.dir, 'b-http-cache.db') });
    const first = await call<ForecastBody<BalanceJson>>(b.url, 'GET', BALANCE);
    expect(first.headers.get('x-cache')).toBe('miss');
    expect((await call(b.url, 'GET', BALANCE)).headers.get('x-cache')).toBe('hit');
    // The responses live in the shared cache: A answers B's from Redis.
    expect((await call(a.url, 'GET', BALANCE)).headers.get('x-cache')).toBe('hit');

    const added = await call(a.url, 'POST', '/users/user_1/transactions', { body: { date: '2025-12-31', amount: '75.00', type: 'expense', category: 'books' } });
    expect(added.status).toBe(201);
    let seen: { state: string | null; body: ForecastBody<BalanceJson> } | undefined;
    await until(async () => {
      const reply = await call<ForecastBody<BalanceJson>>(b.url, 'GET', BALANCE);
      seen = { state: reply.headers.get('x-cache'), body: reply.body };
      return seen.body.value.startBalance !== first.body.value.startBalance;
    }, 'instance B to drop its cached response', 3_000, 20);
    expect(seen?.body.value.startBalance).toBe(new Decimal(first.body.value.startBalance).minus('75.00').toFixed());
    expect((await call(b.url, 'GET', BALANCE)).headers.get('x-cache')).toBe('hit');
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });

  it('`tiercache warm` against the fleet: one of the two instances computes the forecasts, the other then reads them from Redis', { timeout: 90_000 }, async () => {
    const shared = { FORECAST_DB: join(temp.dir, 'finance-warm.db'), REDIS_URL, CACHE_PREFIX: `${PREFIX}warm:` };
    const a = await startChild({ ...shared, CACHE_DB: join(temp.dir, 'a-warm-cache.db') });
    const b = await startChild({ ...shared, CACHE_DB: join(temp.dir, 'b-warm-cache.db') });
    const run = await cli(['warm', '--json', '--store-prefix', `${PREFIX}warm:`, '--channel', `${PREFIX}warm:bus`, '--timeout', '30s']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { total: number; generated: number; failed: number; instance: { pid: number } };
    expect(report.failed).toBe(0);
    expect(report.generated).toBeGreaterThan(0);
    expect(report.generated).toBe(report.total);
    // Whichever instance ran it, the other finds the forecast in the shared tier: computed once for the fleet.
    const sources = await Promise.all([a, b].map(async (s) => (await call<ForecastBody<BalanceJson>>(s.url, 'GET', BALANCE)).body.cache.source));
    expect(sources.sort()).toEqual(expect.arrayContaining([expect.stringMatching(/^(memory|redis)$/)]));
    expect(sources).not.toContain('computed');
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });
});
