import { describe, expect, it } from 'vitest';
import { CalculatorRegistry, ForecastCache } from '../../../src/forecast/index.js';
import { createFakeClock } from '../../../src/testing/index.js';
import { NOW } from './helpers.js';

describe('CalculatorRegistry', () => {
  it('knows the built-in metrics by name even without calculators, and *runway names as runways', () => {
    const registry = new CalculatorRegistry();
    expect(registry.metrics()).toEqual([]);
    expect(registry.describe('balance')).toMatchObject({ defaultAlgorithm: 'linear', dependsOn: ['transactions', 'account_balance'], lookback: 'all', horizon: 'duration' });
    expect(registry.describe('goal_progress')).toMatchObject({ defaultAlgorithm: 'standard', dependsOn: ['goal'], horizon: 'subject' });
    expect(registry.describe('grant_runway')).toMatchObject({ dependsOn: ['transactions', 'account_balance'], algorithms: undefined });
    expect(registry.describe('inventory_need')).toMatchObject({ dependsOn: ['transactions', 'account_balance', 'goals'], defaultAlgorithm: 'default' });
  });

  it('a re-registration keeps what it does not override', () => {
    const registry = new CalculatorRegistry();
    registry.register('balance', () => 1);
    expect(registry.describe('balance')).toMatchObject({ algorithms: ['linear', 'trend_adjusted', 'seasonal'], dependsOn: ['transactions', 'account_balance'] });
    registry.register('balance', () => 2, { algorithms: ['monte_carlo'], lookback: '1y' });
    expect(registry.describe('balance')).toMatchObject({ algorithms: ['monte_carlo'], defaultAlgorithm: 'monte_carlo', dependsOn: ['transactions', 'account_balance'], lookback: '1y' });
    registry.define('balance', { dependsOn: ['transactions'] });
    expect(registry.has('balance')).toBe(true);
    expect(registry.unregister('balance')).toBe(true);
    expect(registry.has('balance')).toBe(false);
  });

  it('names the option that is wrong', () => {
    const registry = new CalculatorRegistry();
    expect(() => registry.register('', () => 1)).toThrow('metric must be a non-empty string');
    expect(() => registry.register('m', 'nope' as never)).toThrow('must be a function');
    expect(() => registry.register('m', () => 1, { algorithms: [] })).toThrow('metric "m": algorithms must be a non-empty array');
    expect(() => registry.register('m', () => 1, { algorithms: ['a'], defaultAlgorithm: 'b' })).toThrow('defaultAlgorithm "b" is not one of its algorithms');
    expect(() => registry.register('m', () => 1, { dependsOn: ['weather' as never] })).toThrow('dependsOn must be an array of transactions, expense');
    expect(() => registry.register('m', () => 1, { lookback: 'forever' })).toThrow("lookback must be 'all', 'horizon', a horizon");
    expect(() => registry.register('m', () => 1, { ttl: '5 parsecs' })).toThrow('metric "m": ttl');
  });

  it('a metric’s ttl and tags apply to its forecasts; empty params key as none', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    forecasts.registerCalculator('fx', ({ params }) => params, { ttl: '5m', tags: ['rates'], algorithms: ['spot'] });
    const request = { userId: 'u', metric: 'fx', horizon: '7d', params: {} };
    expect(forecasts.key(request)).toBe('forecast:u:fx:7d:spot:default');
    await forecasts.getForecast(request);
    const info = await forecasts.getKeyInfo(forecasts.key(request));
    expect(info.exists && info.ttlRemaining).toBe(300_000);
    expect(info.exists && info.tags).toContain('rates');
  });
});
