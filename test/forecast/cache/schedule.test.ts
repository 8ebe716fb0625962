import { afterEach, describe, expect, it, vi } from 'vitest';
import { ForecastCache, type ForecastWarmReport } from '../../../src/forecast/index.js';
import { createFakeClock } from '../../../src/testing/index.js';
import { financeFixture } from './helpers.js';

const open: ForecastCache[] = [];
// Timers are faked, `Date` is not (faked dates are a subclass the codec refuses): the cache clock and the timers
// are moved together.
let clock = createFakeClock();
function fakeTime(start: number): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  clock = createFakeClock(start);
}
async function advance(ms: number): Promise<void> {
  for (let done = 0; done < ms; done += 1_000) {
    const step = Math.min(1_000, ms - done);
    clock.advance(step);
    await vi.advanceTimersByTimeAsync(step);
  }
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((f) => f.close()));
  vi.useRealTimers();
});

describe('scheduled warms', () => {
  it('runs warm() at the cron firing (nightly at 02:00 UTC) and reports it', async () => {
    fakeTime(Date.UTC(2025, 0, 15, 1, 58));
    const forecasts = new ForecastCache({ finance: financeFixture(), clock });
    open.push(forecasts);
    const reports: ForecastWarmReport[] = [];
    forecasts.scheduleWarm('0 2 * * *', { userIds: ['alice', 'bob'], metrics: ['balance'], horizons: ['30d'], algorithms: ['linear'] }, { timezone: 'UTC', onReport: (r) => reports.push(r) });
    expect(forecasts.scheduledWarms()[0]?.nextRunAt?.toISOString()).toBe('2025-01-15T02:00:00.000Z');
    await advance(60_000);
    expect(reports).toHaveLength(0);
    await advance(61_000);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ forecastsGenerated: 2, cacheHitsSkipped: 0 });
    expect(await forecasts.get(forecasts.key({ userId: 'alice', metric: 'balance', horizon: '30d', algorithm: 'linear' }))).toBeDefined();
    expect(forecasts.scheduledWarms()[0]?.nextRunAt?.toISOString()).toBe('2025-01-16T02:00:00.000Z');
  });

  it('a removed schedule never fires', async () => {
    fakeTime(Date.UTC(2025, 0, 15, 1, 58));
    const forecasts = new ForecastCache({ finance: financeFixture(), clock });
    open.push(forecasts);
    const reports: ForecastWarmReport[] = [];
    const remove = forecasts.scheduleWarm('0 2 * * *', { userIds: ['alice'] }, { timezone: 'UTC', onReport: (r) => reports.push(r) });
    remove();
    await advance(5 * 60_000);
    expect(reports).toHaveLength(0);
  });
});

describe('hot-forecast refresh', () => {
  it('recomputes a forecast read often before it expires, and leaves one read once to expire', async () => {
    fakeTime(Date.UTC(2025, 0, 15, 9, 30));
    const finance = financeFixture();
    const forecasts = new ForecastCache({ finance, defaultTtl: '10m', clock });
    open.push(forecasts);
    let computed = 0;
    forecasts.registerCalculator('visits', () => ++computed, { algorithms: ['count'] });
    const stop = await forecasts.refreshHotForecasts({ hotScore: 3, halfLife: '10m', interval: '30s', refreshAhead: 0.2 });
    const hot = { userId: 'alice', metric: 'visits', horizon: '30d', algorithm: 'count' } as const;
    const cold = { userId: 'bob', metric: 'visits', horizon: '30d', algorithm: 'count' } as const;
    for (let i = 0; i < 6; i++) expect(await forecasts.getForecast(hot)).toBe(1);
    expect(await forecasts.getForecast(cold)).toBe(2);
    // Past 80% of the TTL, the refresher's next pass recomputes the hot forecast only.
    await advance(8.5 * 60_000);
    expect(computed).toBe(3);
    await advance(2 * 60_000);
    expect(await forecasts.get(forecasts.key(hot))).toBe(3);
    expect(await forecasts.get(forecasts.key(cold))).toBeUndefined();
    await stop();
  });
});
