import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { Cache, isCacheError } from '../../../src/index.js';
import { day } from '../../../src/forecast/data/calendar.js';
import { ForecastCache } from '../../../src/forecast/index.js';
import { createFakeClock } from '../../../src/testing/index.js';
import { deferred, drain } from '../../kit/index.js';
import { d, financeFixture, NOW } from './helpers.js';

const KEY = 'forecast:user_123:balance:30d:linear:abc';
const HOUR = 3_600_000;

describe('get / set / TTL (the seed’s unit tests)', () => {
  it('returns what was stored, Decimals exactly, and the default for a missing key', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    const value = { projected_balance: new Decimal('5000.00'), zero_date: day(2025, 12, 20), months: new Decimal('9.05') };
    expect(await forecasts.set(KEY, value)).toBe(true);
    const back = await forecasts.get<typeof value>(KEY);
    expect(back?.projected_balance.toFixed(2)).toBe('5000.00');
    expect(back?.zero_date).toEqual(day(2025, 12, 20));
    expect(await forecasts.get('forecast:nobody:balance:30d:linear:x', { none: true })).toEqual({ none: true });
    expect(await forecasts.get('forecast:nobody:balance:30d:linear:x')).toBeUndefined();
  });

  it('expires entries after their TTL and after the 24-hour default, on the injected clock', async () => {
    const clock = createFakeClock(NOW);
    const forecasts = new ForecastCache({ clock });
    await forecasts.set(KEY, { data: 'test' }, { ttl: 1000 });
    await forecasts.set('forecast:user_123:balance:90d:linear:abc', { data: 'day' });
    expect(await forecasts.get(KEY)).toEqual({ data: 'test' });
    clock.advance(1001);
    expect(await forecasts.get(KEY)).toBeUndefined();
    clock.advance(24 * HOUR - 1002);
    expect(await forecasts.get('forecast:user_123:balance:90d:linear:abc')).toEqual({ data: 'day' });
    clock.advance(2);
    expect(await forecasts.get('forecast:user_123:balance:90d:linear:abc')).toBeUndefined();
  });

  it('refuses a value the codec cannot hold, storing nothing', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    await expect(forecasts.set('forecast:user_123:custom:abc', { lock: () => undefined })).rejects.toMatchObject({ code: 'E_SERIALIZATION' });
    expect(await forecasts.get('forecast:user_123:custom:abc')).toBeUndefined();
  });
});

describe('getOrCalculate', () => {
  it('calculates once, then answers from the cache (the seed’s test)', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    let calls = 0;
    const calculate = () => {
      calls++;
      return { result: 'calculated' };
    };
    const first = await forecasts.getOrCalculate(KEY, calculate);
    const second = await forecasts.getOrCalculate(KEY, calculate);
    expect(calls).toBe(1);
    expect(second).toEqual(first);
  });

  it('runs one calculation for 100 concurrent callers, and shares it', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    let calls = 0;
    const gate = deferred();
    const pending = Promise.all(
      Array.from({ length: 100 }, () =>
        forecasts.getOrCalculate(KEY, async () => {
          calls++;
          await gate.promise;
          return { projected: new Decimal('12.34') };
        }),
      ),
    );
    await drain();
    gate.resolve();
    const results = await pending;
    expect(calls).toBe(1);
    expect(new Set(results).size).toBe(1);
    expect((await forecasts.getStats()).misses).toBe(100);
  });

  it('passes the other options to the calculation, as the seed’s **kwargs, and tags the result', async () => {
    const clock = createFakeClock(NOW);
    const forecasts = new ForecastCache({ clock });
    const seen: unknown[] = [];
    const key = 'forecast:store_electronics_01:inventory_need:90d:seasonal:holiday2025';
    const value = await forecasts.getOrCalculate(
      key,
      (args) => {
        seen.push(args);
        return { need: new Decimal('450000.00'), multiplier: args.days_ahead / 30 };
      },
      { ttl: '7d', tags: ['inventory', 'seasonal'], user_id: 'store_electronics_01', days_ahead: 90, season: 'holiday' },
    );
    expect(seen).toEqual([{ user_id: 'store_electronics_01', days_ahead: 90, season: 'holiday' }]);
    expect(value.multiplier).toBe(3);
    const info = await forecasts.getKeyInfo(key);
    expect(info.exists && info.ttlRemaining).toBe(7 * 24 * HOUR);
    expect(info.exists && info.tags).toEqual(expect.arrayContaining(['inventory', 'seasonal', 'user:store_electronics_01', 'metric:inventory_need', 'horizon:90d']));
    expect(await forecasts.invalidate({ tags: ['inventory'] })).toBe(1);
    expect(await forecasts.get(key)).toBeUndefined();
  });
});

describe('getKeyInfo', () => {
  it('describes a key (ttlRemaining in ms), its parts and the window a date range compares', async () => {
    const clock = createFakeClock(NOW);
    const forecasts = new ForecastCache({ clock });
    await forecasts.set('forecast:client_acme_corp:retainer_runway:6m:trend_adjusted:default', { months: new Decimal('5.00') }, { tags: ['retainer', 'runway', 'client_acme_corp'] });
    clock.advance(30_000);
    const info = await forecasts.getKeyInfo('forecast:client_acme_corp:retainer_runway:6m:trend_adjusted:default');
    expect(info).toMatchObject({
      key: 'forecast:client_acme_corp:retainer_runway:6m:trend_adjusted:default',
      exists: true,
      tier: 'memory',
      ttlRemaining: 24 * HOUR - 30_000,
      createdAt: new Date(NOW),
      parts: { userId: 'client_acme_corp', metric: 'retainer_runway', horizon: '6m', algorithm: 'trend_adjusted', paramsHash: 'default' },
      window: { from: null, to: new Date('2025-07-15T23:59:59.999Z') },
    });
    expect(info.exists && info.sizeBytes).toBeGreaterThan(100);
    expect(info.exists && info.tags).toEqual(expect.arrayContaining(['retainer', 'runway', 'client_acme_corp', 'user:client_acme_corp']));
    expect(await forecasts.getKeyInfo('forecast:nobody:balance:30d:linear:default')).toEqual({
      key: 'forecast:nobody:balance:30d:linear:default',
      exists: false,
      parts: { userId: 'nobody', metric: 'balance', horizon: '30d', algorithm: 'linear', paramsHash: 'default' },
    });
    await forecasts.set('report:weekly', 1);
    expect(await forecasts.getKeyInfo('report:weekly')).toMatchObject({ exists: true, parts: undefined, window: undefined });
  });
});

describe('getStats and clear', () => {
  it('counts hits and misses as the seed does, and resets on request', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    await forecasts.get(KEY);
    await forecasts.set(KEY, { data: 'test' });
    await forecasts.get(KEY);
    const stats = await forecasts.getStats({ reset: true });
    expect(stats).toMatchObject({ hits: 1, misses: 1, hitRate: 0.5, totalRequests: 2, keyCount: 1, evictions: 0, avgTtlRemaining: 24 * HOUR, indexedForecasts: 1 });
    expect(stats.memoryUsedBytes).toBeGreaterThan(0);
    expect(await forecasts.getStats()).toMatchObject({ hits: 0, misses: 0, hitRate: 0, totalRequests: 0, keyCount: 1 });
  });

  it('evicts under maxMemory with the chosen policy', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW), maxMemory: 64 * 1024, evictionPolicy: 'lru' });
    for (let i = 0; i < 200; i++) await forecasts.set(`forecast:user_${i}:balance:30d:linear:abc`, { large: 'data'.repeat(250) });
    const stats = await forecasts.getStats();
    expect(stats.memoryUsedBytes).toBeLessThanOrEqual(64 * 1024);
    expect(stats.evictions).toBeGreaterThan(0);
    expect(stats.keyCount + stats.evictions).toBe(200);
    // LRU: the newest stay.
    expect(await forecasts.get('forecast:user_199:balance:30d:linear:abc')).toBeDefined();
    expect(await forecasts.get('forecast:user_0:balance:30d:linear:abc')).toBeUndefined();
  });

  it('clear() refuses without confirm (E_NOT_CONFIRMED), then removes everything', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    await forecasts.set(KEY, 1);
    await forecasts.set('forecast:user_456:runway:1y:simple:default', 2);
    const refusal = await forecasts.clear().catch((error: unknown) => error);
    expect(isCacheError(refusal) && refusal.code).toBe('E_NOT_CONFIRMED');
    expect(await forecasts.get(KEY)).toBe(1);
    expect(await forecasts.clear({ confirm: true })).toBe(2);
    expect(await forecasts.get(KEY)).toBeUndefined();
    expect((await forecasts.getStats()).indexedForecasts).toBe(0);
  });

  it('over a cache passed in, clears only forecasts and leaves the cache open', async () => {
    const cache = new Cache({ clock: createFakeClock(NOW) });
    const forecasts = new ForecastCache({ cache, clock: createFakeClock(NOW) });
    await cache.set('session:1', 'keep');
    await forecasts.set(KEY, 1);
    expect(await forecasts.clear({ confirm: true })).toBe(1);
    await forecasts.close();
    expect(await cache.get('session:1')).toBe('keep');
    await cache.close();
  });
});

describe('getForecast and the dashboard', () => {
  it('serves the seed’s dashboard: 3 forecasts + 4 goals, 7 misses then 7 hits', async () => {
    const finance = financeFixture({ goals: 4 });
    const forecasts = new ForecastCache({ finance, clock: createFakeClock(NOW) });
    const first = await forecasts.getDashboard('alice');
    expect(first.goals.map((g) => g.goalId)).toEqual(['alice_g1', 'alice_g2', 'alice_g3', 'alice_g4']);
    expect(first.balance.horizonDays).toBe(30);
    expect(first.burnRate.monthsUsed).toBe(3);
    expect(first.burnRate.monthlyBurn.toFixed(2)).toBe('300.50');
    expect(first.runway.status).toBe('burning');
    expect(await forecasts.getStats()).toMatchObject({ hits: 0, misses: 7, hitRate: 0 });
    const second = await forecasts.getDashboard('alice');
    expect(await forecasts.getStats()).toMatchObject({ hits: 7, misses: 7, hitRate: 0.5 });
    expect(second.runway).toBe(first.runway);

    finance.addTransaction({ userId: 'alice', date: day(2025, 1, 15), amount: d('150.00'), type: 'expense', category: 'Dining' });
    expect(await forecasts.onTransactionAdded({ userId: 'alice', type: 'expense', category: 'Dining' })).toBe(3);
    const third = await forecasts.getDashboard('alice');
    expect(third.balance.startBalance.minus(first.balance.startBalance).toFixed(2)).toBe('-150.00');
    expect(third.goals[0]).toBe(first.goals[0]);
  });

  it('refuses unknown metrics and algorithms, and needs a finance store for the dashboard', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    await expect(forecasts.getForecast({ userId: 'u', metric: 'balance', horizon: '30d' })).rejects.toThrow(/no calculator is registered for metric "balance"; registered: none/);
    await expect(forecasts.getDashboard('u')).rejects.toThrow(/needs the finance option/);
    const withData = new ForecastCache({ finance: financeFixture(), clock: createFakeClock(NOW) });
    await expect(withData.getForecast({ userId: 'alice', metric: 'runway', horizon: '1y', algorithm: 'basic' })).rejects.toThrow(/no algorithm "basic"/);
    await expect(withData.getForecast({ userId: 'alice', metric: 'goal_progress', horizon: 'bob_g1' })).rejects.toThrow(/no goal with id "bob_g1"/);
  });

  it('passes params to the built-in calculators and keys by them', async () => {
    const forecasts = new ForecastCache({ finance: financeFixture(), clock: createFakeClock(NOW) });
    const rent = await forecasts.getForecast<{ total: Decimal; categories: { category: string }[] }>({ userId: 'alice', metric: 'expenses', horizon: '1y', params: { category: 'Rent' } });
    expect(rent.categories.map((c) => c.category)).toEqual(['Rent']);
    expect(rent.total.toFixed(2)).toBe('13200.00');
    const gross = await forecasts.getForecast<{ monthlyBurn: Decimal }>({ userId: 'alice', metric: 'burn_rate', horizon: '90d', params: { basis: 'gross' } });
    expect(gross.monthlyBurn.toFixed(2)).toBe('3300.50');
    await expect(forecasts.getForecast({ userId: 'alice', metric: 'burn_rate', horizon: '90d', params: { basis: 'sideways' } })).rejects.toThrow(/basis must be one of/);
  });
});

describe('construction', () => {
  it('names the option that is wrong', () => {
    expect(() => new ForecastCache({ evictionPolicy: 'fifo' as never })).toThrow(/evictionPolicy must be one of lru, lfu, ttl, tinylfu, got "fifo"/);
    expect(() => new ForecastCache({ maxMemory: -1 })).toThrow(/maxMemory must be a positive integer/);
    expect(() => new ForecastCache({ backend: 'mongo' as never })).toThrow(/backend must be one of memory, redis/);
    expect(() => new ForecastCache({ cache: new Cache(), backend: 'redis' })).toThrow(/cache cannot be combined with backend/);
    expect(() => new ForecastCache({ bus: true })).toThrow(/bus: true builds a Redis bus/);
    expect(() => new ForecastCache({ defaultTtl: 0 })).toThrow(/defaultTtl/);
  });

  it('reports a backend that cannot open on ready(), and through the next call', async () => {
    const forecasts = new ForecastCache({ backend: 'file', url: '/tmp', prefix: 'not/a/namespace' });
    const failure = await forecasts.ready().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    await expect(forecasts.get(KEY)).rejects.toBe(failure);
    await forecasts.close();
  });
});
