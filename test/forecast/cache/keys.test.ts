import { describe, expect, it } from 'vitest';
import { ForecastCache, forecastKey, parseForecastKey } from '../../../src/forecast/index.js';
import { paramsHash } from '../../../src/keys/index.js';
import { createFakeClock } from '../../../src/testing/index.js';
import { NOW } from './helpers.js';

describe('forecast keys', () => {
  const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });

  it('builds the seed’s structure, with a params hash that ignores parameter order', () => {
    expect(forecasts.key({ userId: 'user_123', metric: 'balance', horizon: '30d', algorithm: 'linear' })).toBe('forecast:user_123:balance:30d:linear:default');
    const a = forecasts.key({ userId: 'u', metric: 'balance', horizon: '30d', params: { window_months: 3, trend_sensitivity: 0.1, include_weekends: false } });
    const b = forecasts.key({ userId: 'u', metric: 'balance', horizon: '30d', params: { include_weekends: false, trend_sensitivity: 0.1, window_months: 3 } });
    expect(a).toBe(b);
    expect(a).toBe(`forecast:u:balance:30d:linear:${paramsHash({ window_months: 3 , trend_sensitivity: 0.1, include_weekends: false })}`);
    // The goal id sits in the horizon's place, as in the seed's goal keys.
    expect(forecasts.key({ userId: 'user_123', metric: 'goal_progress', horizon: 'goal_abc' })).toBe('forecast:user_123:goal_progress:goal_abc:standard:default');
  });

  it('uses the metric’s default algorithm and refuses one it does not have, or a bad horizon, naming them', () => {
    expect(forecasts.key({ userId: 'u', metric: 'burn_rate', horizon: '90d' })).toBe('forecast:u:burn_rate:90d:simple:default');
    expect(() => forecasts.key({ userId: 'u', metric: 'burn_rate', horizon: '90d', algorithm: 'linear' })).toThrow(/burn_rate.*no algorithm "linear"; it accepts simple, ema, weighted/);
    expect(() => forecasts.key({ userId: 'u', metric: 'balance', horizon: '30D' })).toThrow(/horizon "30D" is not a horizon/);
    expect(() => forecasts.key({ userId: '', metric: 'balance', horizon: '30d' })).toThrow('userId must be a non-empty string');
  });

  it.each(['a:b', 'a*', 'x?y', '50%', 'back\\slash', '[x]', 'dept radiology', 'ünï'])('escapes user id %j into one segment and parses it back', (userId) => {
    const key = forecasts.key({ userId, metric: 'runway', horizon: '1y', algorithm: 'ema', params: { months: 6 } });
    expect(key.split(':')).toHaveLength(6);
    expect(key).not.toMatch(/[*?[\]\\]/);
    expect(forecasts.parseKey(key)).toEqual({ userId, metric: 'runway', horizon: '1y', algorithm: 'ema', paramsHash: paramsHash({ months: 6 }) });
  });

  it('parses seed keys and refuses other shapes', () => {
    expect(parseForecastKey('forecast:startup_456:burn_rate:90d:ema:e5f6g7h8')).toEqual({
      userId: 'startup_456',
      metric: 'burn_rate',
      horizon: '90d',
      algorithm: 'ema',
      paramsHash: 'e5f6g7h8',
    });
    for (const key of ['forecast:user_123:custom:abc', 'forecast:a:b:balance:30d:linear:x', 'forecasts:u:m:30d:a:x', 'forecast:u::30d:a:x']) {
      expect(parseForecastKey(key)).toBeUndefined();
    }
  });
});

describe('invalidation by user id never reaches another user', () => {
  it('invalidate({ userId: "a*" }) leaves `ab` and `a` alone; `a` leaves `a:b` alone', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    const ids = ['a*', 'ab', 'a', 'a:b', 'a?'];
    const keys = ids.map((userId) => forecasts.key({ userId, metric: 'balance', horizon: '30d' }));
    for (const key of keys) await forecasts.set(key, 1);
    expect(await forecasts.invalidate({ userId: 'a*' })).toBe(1);
    expect(await forecasts.invalidate({ userId: 'a' })).toBe(1);
    const left = await Promise.all(keys.map((key) => forecasts.get(key)));
    expect(left).toEqual([undefined, 1, undefined, 1, 1]);
    await forecasts.close();
  });

  it('the seed’s pattern and tag invalidations count what they remove', async () => {
    const forecasts = new ForecastCache({ clock: createFakeClock(NOW) });
    await forecasts.set('forecast:user_123:balance:30d:linear:abc', { a: 1 });
    await forecasts.set('forecast:user_123:balance:90d:linear:def', { b: 2 });
    await forecasts.set('forecast:user_456:balance:30d:linear:ghi', { c: 3 });
    await forecasts.set('forecast:user_456:burn_rate:90d:ema:default', { d: 4 });
    expect(await forecasts.invalidate({ pattern: 'forecast:user_123:*' })).toBe(2);
    expect(await forecasts.get('forecast:user_123:balance:30d:linear:abc')).toBeUndefined();
    expect(await forecasts.get('forecast:user_456:balance:30d:linear:ghi')).toEqual({ c: 3 });
    expect(await forecasts.invalidate({ tags: ['burn_rate'], reason: 'rates revised', triggeredBy: 'ops' })).toBe(1);
    expect(await forecasts.get('forecast:user_456:burn_rate:90d:ema:default')).toBeUndefined();
    expect(await forecasts.invalidate({ tags: ['metric:balance', 'horizon:30d'] })).toBe(1);
    const [event] = (await forecasts.getInvalidationEvents({ limit: 2 })).slice(0, 1);
    expect(event).toMatchObject({ reason: 'rates revised', triggeredBy: 'ops' });
    await expect(forecasts.invalidate({})).rejects.toThrow(TypeError);
    await expect(forecasts.invalidate({ pattern: '*' })).rejects.toMatchObject({ code: 'E_NOT_CONFIRMED' });
    await forecasts.close();
  });
});

describe('forecastKey', () => {
  it('builds the seed key structure', () => {
    const params = { window_months: 3, trend_sensitivity: 0.1, include_weekends: false };
    expect(forecastKey({ userId: 'user_123', metric: 'balance', horizon: '30d', algorithm: 'linear', params })).toBe(
      'forecast:user_123:balance:30d:linear:a2d36ec3',
    );
    expect(forecastKey({ userId: 'user_456', metric: 'burn_rate', horizon: '90d', algorithm: 'ema' })).toBe(
      'forecast:user_456:burn_rate:90d:ema:default',
    );
  });

  it('keeps a hostile user id inside its own segment', () => {
    const key = forecastKey({ userId: 'evil:*', metric: 'balance', horizon: '30d', algorithm: 'linear' });
    expect(key).toBe('forecast:evil%3A%2A:balance:30d:linear:default');
    expect(key.split(':')).toHaveLength(6);
  });

  it('refuses empty segments, naming them', () => {
    expect(() => forecastKey({ userId: '', metric: 'balance', horizon: '30d', algorithm: 'linear' })).toThrow(/userId/);
  });
});
