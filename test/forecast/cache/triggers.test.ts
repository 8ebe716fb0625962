import { describe, expect, it } from 'vitest';
import {
  ForecastCache,
  INVALIDATION_TRIGGERS,
  InvalidationTrigger,
  isInvalidationTrigger,
  planInvalidation,
} from '../../../src/forecast/index.js';
import { createFakeClock } from '../../../src/testing/index.js';
import { handlerSuite } from './handler-suite.js';
import { financeFixture, NOW } from './helpers.js';

handlerSuite('memory', (finance, clock) => Promise.resolve(new ForecastCache({ finance, clock })));

describe('InvalidationTrigger', () => {
  it('has the seed’s ten values', () => {
    expect(INVALIDATION_TRIGGERS).toEqual([
      'transaction_added',
      'transaction_updated',
      'transaction_deleted',
      'goal_created',
      'goal_updated',
      'goal_deleted',
      'account_balance_changed',
      'historical_data_corrected',
      'user_settings_changed',
      'manual_refresh',
    ]);
    expect(InvalidationTrigger.HISTORICAL_DATA_CORRECTED).toBe('historical_data_corrected');
    expect(isInvalidationTrigger('goal_updated')).toBe(true);
    expect(isInvalidationTrigger('GOAL_UPDATED')).toBe(false);
  });

  it('plans are explicit about what they select, with ids escaped in scoped tags', () => {
    expect(planInvalidation('transaction_added', { userId: 'a:b', type: 'expense', category: 'Food & Drink' })).toEqual({
      reason: 'transaction_added',
      wholeUsers: [],
      tags: ['forecast:a%3Ab:dep:transactions', 'forecast:a%3Ab:dep:expense', 'forecast:a%3Ab:category:Food & Drink'],
      patterns: [],
      users: ['a:b'],
    });
    expect(planInvalidation('user_settings_changed', { userId: 'u' })).toMatchObject({ wholeUsers: ['u'], tags: [] });
    expect(() => planInvalidation('goal_updated', { userId: 'u' } as never)).toThrow('goal.id must be a non-empty string');
    expect(() => planInvalidation('transaction_added', { userId: 'u', category: 7 } as never)).toThrow('transaction.category');
  });
});

describe('triggers and metrics nobody registered', () => {
  it('forecasts written with set() on seed-style keys are tagged from their key and found by the triggers', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    await forecasts.set('forecast:user_123:balance:30d:linear:a1b2c3d4', { projected: 1 });
    await forecasts.set('forecast:user_123:goal_progress:goal_abc:standard:m3n4o5p6', { percent: 50 });
    await forecasts.set('forecast:user_123:income:30d:trailing:default', { total: 1 });
    await forecasts.set('forecast:user_123:custom:abc', { anything: true });
    expect(await forecasts.onTransactionAdded({ userId: 'user_123', type: 'expense' })).toBe(2);
    expect(await forecasts.get('forecast:user_123:balance:30d:linear:a1b2c3d4')).toBeUndefined();
    // An unknown metric depends on everything: fresh by default.
    expect(await forecasts.get('forecast:user_123:custom:abc')).toBeUndefined();
    expect(await forecasts.get('forecast:user_123:income:30d:trailing:default')).toEqual({ total: 1 });
    expect(await forecasts.onGoalUpdated({ userId: 'user_123', id: 'goal_abc' })).toBe(1);
    expect(await forecasts.get('forecast:user_123:goal_progress:goal_abc:standard:m3n4o5p6')).toBeUndefined();
    await forecasts.close();
  });

  it('a *runway metric (grant_runway) follows the runway’s triggers; an explicit dependsOn overrides', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    forecasts.registerCalculator('grant_runway', ({ userId }) => ({ userId, months: 9 }), { algorithms: ['trend_adjusted'] });
    forecasts.registerCalculator('headcount', () => 12, { dependsOn: ['goals'] });
    const grant = { userId: 'lab_789', metric: 'grant_runway', horizon: '1y' };
    const heads = { userId: 'lab_789', metric: 'headcount', horizon: '30d' };
    await forecasts.getForecast(grant);
    await forecasts.getForecast(heads);
    expect(await forecasts.onGoalUpdated({ userId: 'lab_789', id: 'g' })).toBe(1);
    expect((await forecasts.getKeyInfo(forecasts.key(heads))).exists).toBe(false);
    expect(await forecasts.onAccountBalanceChanged('lab_789')).toBe(1);
    expect((await forecasts.getKeyInfo(forecasts.key(grant))).exists).toBe(false);
    await forecasts.close();
  });

  it('a user id holding * or : stays its own user: triggers for `a*` never touch `ab`', async () => {
    const forecasts = new ForecastCache({ finance: financeFixture(), clock: createFakeClock(NOW) });
    const ids = ['a*', 'ab', 'a', 'a:b'];
    forecasts.registerCalculator('score', ({ userId }) => userId, { dependsOn: ['transactions'] });
    const keys = await Promise.all(ids.map(async (userId) => {
      const request = { userId, metric: 'score', horizon: '7d' };
      await forecasts.getForecast(request);
      return forecasts.key(request);
    }));
    expect(await forecasts.onTransactionAdded({ userId: 'a*' })).toBe(1);
    expect(await forecasts.onHistoricalDataCorrected('a')).toBe(1);
    const left = await Promise.all(keys.map(async (key) => (await forecasts.getKeyInfo(key)).exists));
    expect(left).toEqual([false, true, false, true]);
    await forecasts.close();
  });
});
