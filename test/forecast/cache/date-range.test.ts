import { describe, expect, it } from 'vitest';
import { day } from '../../../src/forecast/data/calendar.js';
import { ForecastCache } from '../../../src/forecast/index.js';
import { createFakeClock } from '../../../src/testing/index.js';
import { deferred } from '../../kit/index.js';
import { computeAll, financeFixture, forecastSet, gone, NOW } from './helpers.js';

// As of 2025-01-15 the forecasts of `forecastSet` cover (lookback … horizon end):
//   balance30   whole history … 2025-02-14      balance90 whole history … 2025-04-15
//   burn (90d)  2024-09-15 … 2025-04-15         runway    whole history … 2026-01-15
//   expenses    2024-12-16 … 2025-02-14         income    2024-12-16 … 2025-02-14
//   groceries   2024-10-17 … 2025-04-15 (90d)   goal1, goal2, goals: no dated records
async function setUp(options: { maxIndexedKeys?: number } = {}) {
  const forecasts = new ForecastCache({ finance: financeFixture(), clock: createFakeClock(NOW), ...options });
  const keys = await computeAll(forecasts, forecastSet('alice'));
  const bob = await computeAll(forecasts, forecastSet('bob'));
  return { forecasts, keys, bob };
}

describe('invalidateByDateRange', () => {
  it('a range ahead (a scheduled transaction) reaches only the forecasts whose horizon covers it', async () => {
    const { forecasts, keys, bob } = await setUp();
    expect(await forecasts.invalidateByDateRange('alice', day(2025, 3, 1), day(2025, 3, 31))).toBe(4);
    expect(await gone(forecasts, keys)).toEqual(['balance90', 'burn', 'groceries', 'runway']);
    expect(await gone(forecasts, bob)).toEqual([]);
  });

  it('a range in the past reaches cumulative forecasts and those whose lookback covers it', async () => {
    const { forecasts, keys } = await setUp();
    expect(await forecasts.invalidateByDateRange('alice', '2024-06-01', '2024-06-30')).toBe(3);
    expect(await gone(forecasts, keys)).toEqual(['balance30', 'balance90', 'runway']);
    await computeAll(forecasts, forecastSet('alice'));
    expect(await forecasts.invalidateByDateRange('alice', day(2024, 12, 20), day(2024, 12, 20))).toBe(7);
    expect(await gone(forecasts, keys)).toEqual(['balance30', 'balance90', 'burn', 'expenses', 'groceries', 'income', 'runway']);
  });

  it('a horizon ends on its last day, inclusive', async () => {
    const { forecasts, keys } = await setUp();
    await forecasts.invalidateByDateRange('alice', day(2025, 2, 15), day(2025, 2, 20));
    expect(await gone(forecasts, keys)).toEqual(['balance90', 'burn', 'groceries', 'runway']);
    await computeAll(forecasts, forecastSet('alice'));
    await forecasts.invalidateByDateRange('alice', day(2025, 2, 14), day(2025, 2, 14));
    expect(await gone(forecasts, keys)).toEqual(['balance30', 'balance90', 'burn', 'expenses', 'groceries', 'income', 'runway']);
  });

  it('a forecast as of another day (params.asOf, or a value’s asOf) is placed at that day', async () => {
    const forecasts = new ForecastCache({ finance: financeFixture(), clock: createFakeClock(NOW) });
    const june = { userId: 'alice', metric: 'expenses', horizon: '30d', params: { asOf: day(2024, 6, 30) } };
    const projection = await forecasts.getForecast<{ to: Date }>(june);
    expect(projection.to).toEqual(day(2024, 6, 30));
    await forecasts.set('forecast:alice:balance:7d:linear:manual', { asOf: day(2024, 3, 1), projected: 1 }, { tags: ['manual'] });
    // The expenses cover 2024-05-31 … 07-30; the manual balance is cumulative but ends on 2024-03-08.
    expect(await forecasts.invalidateByDateRange('alice', day(2024, 9, 1), day(2024, 9, 30))).toBe(0);
    expect(await forecasts.invalidateByDateRange('alice', day(2024, 2, 1), day(2024, 2, 1))).toBe(1);
    expect(await forecasts.get('forecast:alice:balance:7d:linear:manual')).toBeUndefined();
    expect((await forecasts.getKeyInfo(forecasts.key(june))).exists).toBe(true);
    expect(await forecasts.invalidateByDateRange('alice', day(2024, 7, 30), day(2024, 8, 1))).toBe(1);
    expect((await forecasts.getKeyInfo(forecasts.key(june))).exists).toBe(false);
  });

  it('falls back to every forecast of the user when the index dropped some of them', async () => {
    const { forecasts, keys } = await setUp({ maxIndexedKeys: 12 });
    // 20 forecasts were computed; alice's, written first, lost eight entries to the bound.
    expect((await forecasts.getStats()).indexedForecasts).toBe(12);
    expect(await forecasts.invalidateByDateRange('alice', day(2030, 1, 1), day(2030, 1, 1))).toBe(10);
    expect(await gone(forecasts, keys)).toEqual(Object.keys(keys).sort());
  });

  it('fences a forecast computing while the range is invalidated: its old value is not cached', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    const gate = deferred<number>();
    const started = deferred();
    forecasts.registerCalculator('balance', () => {
      started.resolve();
      return gate.promise;
    }, { algorithms: ['linear'] });
    const request = { userId: 'alice', metric: 'balance', horizon: '30d' };
    const running = forecasts.getForecast(request);
    await started.promise;
    expect(await forecasts.invalidateByDateRange('alice', day(2025, 1, 1), day(2025, 1, 1))).toBe(0);
    gate.resolve(41);
    expect(await running).toBe(41);
    expect(await forecasts.get(forecasts.key(request))).toBeUndefined();
  });

  it('logs the correction and checks its input', async () => {
    const { forecasts } = await setUp();
    await forecasts.invalidateByDateRange('alice', day(2024, 6, 1), day(2024, 6, 2), { triggeredBy: 'import-job' });
    expect((await forecasts.getInvalidationEvents({ limit: 1 }))[0]).toMatchObject({ reason: 'historical_data_corrected', triggeredBy: 'import-job', count: 3 });
    await expect(forecasts.invalidateByDateRange('alice', day(2024, 6, 2), day(2024, 6, 1))).rejects.toThrow(RangeError);
    await expect(forecasts.invalidateByDateRange('alice', '2024-13-01', '2024-12-01')).rejects.toThrow(/start '2024-13-01' is not a calendar day/);
    await expect(forecasts.invalidateByDateRange('', day(2024, 6, 1), day(2024, 6, 1))).rejects.toThrow('userId');
  });
});
