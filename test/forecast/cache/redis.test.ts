import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { day } from '../../../src/forecast/data/calendar.js';
import { ForecastCache } from '../../../src/forecast/index.js';
import { createFakeClock } from '../../../src/testing/index.js';
import { until } from '../../kit/index.js';
import { handlerSuite } from './handler-suite.js';
import { computeAll, financeFixture, forecastSet, gone, NOW, REDIS_URL, uniquePrefix } from './helpers.js';

const prefixes: string[] = [];
function prefix(tag: string): string {
  const p = uniquePrefix(tag);
  prefixes.push(p);
  return p;
}

// Belt and braces: every test clears its own prefix, but a failing one may not get there.
afterAll(async () => {
  const redis = new Redis(REDIS_URL);
  for (const p of prefixes) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${p}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  }
  await redis.quit();
});

handlerSuite('redis', (finance, clock) => ForecastCache.create({ backend: 'redis', url: REDIS_URL, prefix: prefix('h'), finance, clock }));

describe('ForecastCache over Redis, two instances', () => {
  it('instance B stops serving a forecast once instance A’s trigger ran, and recomputes it', async () => {
    const p = prefix('bus');
    const finance = financeFixture();
    const clock = createFakeClock(NOW);
    const a = await ForecastCache.create({ backend: 'redis', url: REDIS_URL, prefix: p, finance, clock });
    const b = await ForecastCache.create({ backend: 'redis', url: REDIS_URL, prefix: p, finance, clock });
    let computedByB = 0;
    b.registerCalculator('runway', ({ userId }) => ({ userId, run: ++computedByB }), { algorithms: ['simple'] });
    const request = { userId: 'alice', metric: 'runway', horizon: '1y' };
    const key = b.key(request);
    try {
      expect(await b.getForecast(request)).toEqual({ userId: 'alice', run: 1 });
      // B now answers from its memory tier; A sees the same entry through Redis.
      expect(await b.getForecast(request)).toEqual({ userId: 'alice', run: 1 });
      expect(await a.get(key)).toEqual({ userId: 'alice', run: 1 });

      // A did not compute this forecast (its index does not know it): the tag still reaches it.
      expect(await a.onTransactionAdded({ userId: 'alice', type: 'expense', category: 'Rent' })).toBe(0);
      await until(async () => (await b.get(key)) === undefined, 'B to drop the invalidated forecast');
      expect((await b.getKeyInfo(key)).exists).toBe(false);
      expect(await b.getForecast(request)).toEqual({ userId: 'alice', run: 2 });
      expect((await a.getInvalidationEvents({ limit: 1 }))[0]?.reason).toBe('transaction_added');
    } finally {
      await a.clear({ confirm: true });
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a date range finds forecasts another instance wrote, through the store’s key listing', async () => {
    const p = prefix('range');
    const finance = financeFixture();
    const clock = createFakeClock(NOW);
    const a = await ForecastCache.create({ backend: 'redis', url: REDIS_URL, prefix: p, finance, clock });
    const b = await ForecastCache.create({ backend: 'redis', url: REDIS_URL, prefix: p, finance, clock });
    try {
      const keys = await computeAll(b, forecastSet('alice'));
      // March 2025 lies ahead of every 30-day window but inside the 90-day and one-year ones.
      const count = await a.invalidateByDateRange('alice', day(2025, 3, 1), day(2025, 3, 31));
      expect(count).toBe(4);
      expect(await gone(a, keys)).toEqual(['balance90', 'burn', 'groceries', 'runway']);
      // B's memory tier follows over the bus.
      await until(async () => (await gone(b, keys)).length === 4, 'B to drop the forecasts of the range');
      expect(await gone(b, keys)).toEqual(['balance90', 'burn', 'groceries', 'runway']);
    } finally {
      await a.clear({ confirm: true });
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('clear() removes only this prefix', async () => {
    const mine = await ForecastCache.create({ backend: 'redis', url: REDIS_URL, prefix: prefix('mine'), clock: createFakeClock(NOW) });
    const other = await ForecastCache.create({ backend: 'redis', url: REDIS_URL, prefix: prefix('other'), clock: createFakeClock(NOW) });
    try {
      await mine.set('forecast:u:balance:30d:linear:default', 1);
      await other.set('forecast:u:balance:30d:linear:default', 2);
      await mine.clear({ confirm: true });
      expect(await other.get('forecast:u:balance:30d:linear:default')).toBe(2);
      expect(await mine.get('forecast:u:balance:30d:linear:default')).toBeUndefined();
    } finally {
      await other.clear({ confirm: true });
      await Promise.all([mine.close(), other.close()]);
    }
  });
});
