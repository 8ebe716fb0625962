import { describe, expect, it } from 'vitest';
import { ForecastCache, type CalculatorContext } from '../../../src/forecast/index.js';
import { createFakeClock } from '../../../src/testing/index.js';
import { deferred } from '../../kit/index.js';
import { financeFixture, NOW } from './helpers.js';

function recording() {
  const calls: string[] = [];
  const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
  const calculator = ({ userId, metric, horizon, algorithm }: CalculatorContext) => {
    calls.push(`${userId}/${metric}/${horizon}/${algorithm}`);
    return { userId, metric, horizon, algorithm };
  };
  forecasts.registerCalculator('burn_rate', calculator, { algorithms: ['simple', 'ema'] });
  forecasts.registerCalculator('runway', calculator, { algorithms: ['simple', 'ema'] });
  return { forecasts, calls };
}

describe('ForecastCache.warm', () => {
  it('computes users × metrics × horizons × algorithms in that order, then skips what is cached unless forced', async () => {
    const { forecasts, calls } = recording();
    const options = { userIds: ['u1', 'u2'], metrics: ['burn_rate', 'runway'], horizons: ['30d', '1y'], algorithms: ['simple', 'ema'], concurrency: 1 };
    const first = await forecasts.warm(options);
    expect(first).toMatchObject({ forecastsGenerated: 16, cacheHitsSkipped: 0, errors: [], aborted: false });
    expect(calls.slice(0, 5)).toEqual(['u1/burn_rate/30d/simple', 'u1/burn_rate/30d/ema', 'u1/burn_rate/1y/simple', 'u1/burn_rate/1y/ema', 'u1/runway/30d/simple']);
    expect(calls[8]).toBe('u2/burn_rate/30d/simple');
    expect(await forecasts.get(forecasts.key({ userId: 'u2', metric: 'runway', horizon: '1y', algorithm: 'ema' }))).toEqual({ userId: 'u2', metric: 'runway', horizon: '1y', algorithm: 'ema' });

    expect(await forecasts.warm(options)).toMatchObject({ forecastsGenerated: 0, cacheHitsSkipped: 16 });
    expect(calls).toHaveLength(16);
    expect(await forecasts.warm({ ...options, force: true })).toMatchObject({ forecastsGenerated: 16, cacheHitsSkipped: 0 });
    expect(calls).toHaveLength(32);
  });

  it('gives the seed’s figures: 3 grants × 2 metrics × 3 horizons = 18, each metric with its default algorithm', async () => {
    const { forecasts, calls } = recording();
    const report = await forecasts.warm({ userIds: ['lab_neuro_r01', 'lab_cancer_r21', 'lab_genetics_p01'], metrics: ['burn_rate', 'runway'], horizons: ['30d', '90d', '1y'] });
    expect(report.forecastsGenerated).toBe(18);
    expect(report.durationSeconds).toBeGreaterThanOrEqual(0);
    expect(new Set(calls.map((c) => c.split('/')[3]))).toEqual(new Set(['simple']));
  });

  it('with a finance store, warms every user’s common forecasts and each goal', async () => {
    const forecasts = new ForecastCache({ finance: financeFixture(), clock: createFakeClock(NOW) });
    const report = await forecasts.warm();
    // (balance, burn_rate, runway) × (7d, 30d, 90d) + 2 goals, for alice and bob.
    expect(report).toMatchObject({ forecastsGenerated: 22, cacheHitsSkipped: 0, errors: [] });
    expect((await forecasts.getKeyInfo('forecast:bob:goal_progress:bob_g2:standard:default')).exists).toBe(true);
    expect((await forecasts.getKeyInfo('forecast:alice:balance:90d:linear:default')).exists).toBe(true);
    // Each metric takes the algorithms it has; goal_progress, none of these, keeps its own.
    const more = await forecasts.warm({ userIds: ['alice'], horizons: ['30d'], algorithms: ['linear', 'seasonal', 'ema'] });
    expect(more).toMatchObject({ forecastsGenerated: 3, cacheHitsSkipped: 3, errors: [] });
    expect((await forecasts.getKeyInfo('forecast:alice:runway:30d:ema:default')).exists).toBe(true);
  });

  it('collects errors per forecast and never stops the run', async () => {
    const forecasts = new ForecastCache({ finance: financeFixture(), clock: createFakeClock(NOW) });
    forecasts.registerCalculator('flaky', ({ userId, horizon }) => {
      if (userId === 'bob' && horizon === '30d') throw new Error('ledger unavailable');
      return 1;
    });
    const report = await forecasts.warm({ userIds: ['alice', 'bob', 'nobody'], metrics: ['flaky', 'goal_progress'], horizons: ['7d', '30d'] });
    expect(report.forecastsGenerated).toBe(2 + 2 + 1 + 2 + 2);
    expect(report.errors.map((e) => [e.userId, e.metric, e.horizon, e.message])).toEqual([
      ['nobody', 'goal_progress', undefined, 'userId: no user with id "nobody"'],
      ['bob', 'flaky', '30d', 'ledger unavailable'],
    ]);
    expect(report.errors[1]?.key).toBe('forecast:bob:flaky:30d:default:default');
  });

  it('checks its input before computing anything', async () => {
    const { forecasts, calls } = recording();
    await expect(forecasts.warm({ userIds: ['u'], metrics: ['nope'] })).rejects.toThrow(/no calculator is registered for metric "nope"/);
    await expect(forecasts.warm({ userIds: ['u'], metrics: ['runway'], horizons: ['soon'] })).rejects.toThrow(/horizon "soon"/);
    await expect(forecasts.warm({ userIds: ['u'], metrics: ['runway', 'burn_rate'], algorithms: ['ema', 'lineer'] })).rejects.toThrow(/no metric of runway, burn_rate has algorithm "lineer"/);
    await expect(forecasts.warm({ metrics: ['runway'] })).rejects.toThrow(/needs userIds/);
    expect(calls).toEqual([]);
  });

  it('keeps to its concurrency and reports progress', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    let running = 0;
    let most = 0;
    forecasts.registerCalculator('slow', async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      return 1;
    });
    const seen: number[] = [];
    const report = await forecasts.warm({ userIds: ['a', 'b', 'c', 'd'], metrics: ['slow'], horizons: ['7d', '30d'], concurrency: 3, onProgress: (p) => seen.push(p.done) });
    expect(report.forecastsGenerated).toBe(8);
    expect(most).toBe(3);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('never caches a forecast whose user was invalidated while it was computed', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    const gate = deferred<string>();
    const started = deferred();
    forecasts.registerCalculator('balance', ({ horizon }) => {
      if (horizon === '7d') return 'quick';
      started.resolve();
      return gate.promise;
    });
    const warming = forecasts.warm({ userIds: ['alice'], metrics: ['balance'], horizons: ['7d', '30d'] });
    await started.promise;
    // The 7-day forecast is already cached; the 30-day one is computing from data read before the change.
    expect(await forecasts.invalidate({ userId: 'alice', reason: 'transaction_added' })).toBe(1);
    gate.resolve('computed from the old data');
    const report = await warming;
    expect(report.forecastsGenerated).toBe(2);
    expect(await forecasts.get(forecasts.key({ userId: 'alice', metric: 'balance', horizon: '30d' }))).toBeUndefined();
    expect(await forecasts.get(forecasts.key({ userId: 'alice', metric: 'balance', horizon: '7d' }))).toBeUndefined();
  });

  it('never caches a forecast a trigger invalidated while it was computed', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    const gate = deferred<string>();
    const started = deferred();
    forecasts.registerCalculator('balance', () => {
      started.resolve();
      return gate.promise;
    });
    forecasts.registerCalculator('income', () => 'untouched', { dependsOn: ['income'] });
    const warming = forecasts.warm({ userIds: ['alice'], metrics: ['balance', 'income'], horizons: ['30d'], concurrency: 2 });
    await started.promise;
    await forecasts.onTransactionAdded({ userId: 'alice', type: 'expense', category: 'Rent' });
    gate.resolve('stale');
    await warming;
    expect(await forecasts.get(forecasts.key({ userId: 'alice', metric: 'balance', horizon: '30d' }))).toBeUndefined();
    expect(await forecasts.get(forecasts.key({ userId: 'alice', metric: 'income', horizon: '30d' }))).toBe('untouched');
  });
});
