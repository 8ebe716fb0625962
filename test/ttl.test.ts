import { describe, expect, it } from 'vitest';
import { createCache } from '../src/cache.js';
import { createFakeClock } from '../src/testing/fake-clock.js';
import { deadlineOf, MAX_DEADLINE_MS, parseDuration, TtlPolicy } from '../src/ttl.js';

describe('TTL parsing', () => {
  it('reads numbers as milliseconds and strings as durations', () => {
    expect(parseDuration(1500, 'ttl')).toBe(1500);
    expect(parseDuration('30s', 'ttl')).toBe(30_000);
    expect(parseDuration('5m', 'ttl')).toBe(300_000);
    expect(parseDuration('24h', 'ttl')).toBe(86_400_000);
    expect(parseDuration('7d', 'ttl')).toBe(604_800_000);
    expect(parseDuration('1h30m', 'ttl')).toBe(5_400_000);
    expect(parseDuration('1.5s', 'ttl')).toBe(1500);
    expect(parseDuration(' 2m 10s ', 'ttl')).toBe(130_000);
    expect(parseDuration('250ms', 'ttl')).toBe(250);
  });

  it('names the seed-004 policies', () => {
    expect(TtlPolicy).toEqual({
      ultraShort: 30_000,
      short: 300_000,
      medium: 1_800_000,
      long: 14_400_000,
      extended: 86_400_000,
      persistent: 604_800_000,
    });
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, '', '5', '5 minutes', 'm5', '-5m', '5mx', null, {}, true])(
    'refuses %s with a TypeError naming ttl and the value',
    (bad) => {
      expect(() => deadlineOf(bad, 0)).toThrow(TypeError);
      expect(() => deadlineOf(bad, 0)).toThrow(/^ttl /);
    },
  );

  it('turns a Date into an absolute deadline and refuses an invalid one', () => {
    expect(deadlineOf(new Date(5000), 1000)).toBe(5000);
    expect(deadlineOf(new Date(500), 1000)).toBe(500);
    expect(() => deadlineOf(new Date(Number.NaN), 0)).toThrow(/ttl must be a valid Date/);
  });
});

describe('the latest representable deadline', () => {
  const now = Date.UTC(2026, 0, 1);

  it('is the last instant a Date can hold', () => {
    expect(MAX_DEADLINE_MS).toBe(8.64e15);
    expect(new Date(MAX_DEADLINE_MS).toISOString()).toBe('+275760-09-13T00:00:00.000Z');
    expect(Number.isNaN(new Date(MAX_DEADLINE_MS + 1).getTime())).toBe(true);
  });

  it('refuses a duration longer than a Date spans, naming the option and the value', () => {
    expect(parseDuration(MAX_DEADLINE_MS, 'ttl')).toBe(MAX_DEADLINE_MS);
    expect(() => parseDuration(MAX_DEADLINE_MS + 1, 'ttl')).toThrow(TypeError);
    expect(() => parseDuration(1e308, 'ttl')).toThrow('ttl must be at most 8640000000000000 ms (the span of a Date), got 1e+308');
    expect(() => parseDuration(Number.MAX_SAFE_INTEGER, 'grace')).toThrow(/^grace must be at most .* got 9007199254740991$/);
  });

  it('refuses duration strings whose total overflows, and keeps the ones that fit', () => {
    expect(() => parseDuration('100000000000w', 'ttl')).toThrow('ttl must be at most 8640000000000000 ms (the span of a Date), got "100000000000w"');
    expect(() => parseDuration('14285715w', 'ttl')).toThrow(TypeError);
    expect(parseDuration('14285714w', 'ttl')).toBe(14_285_714 * 604_800_000);
    expect(() => parseDuration(`${'9'.repeat(400)}d`, 'ttl')).toThrow(/^ttl must be a duration/);
    expect(parseDuration('100000d', 'ttl')).toBe(8.64e12);
  });

  it('refuses a relative TTL whose deadline would land past it, naming the option and the value', () => {
    expect(deadlineOf(MAX_DEADLINE_MS - now, now)).toBe(MAX_DEADLINE_MS);
    expect(() => deadlineOf(MAX_DEADLINE_MS - now + 1, now)).toThrow(TypeError);
    expect(() => deadlineOf(MAX_DEADLINE_MS - now + 1, now)).toThrow(
      `ttl ${MAX_DEADLINE_MS - now + 1} puts the deadline past the latest date a Date can hold (8640000000000000 ms after the epoch)`,
    );
    expect(() => deadlineOf(1e308, now)).toThrow(/^ttl must be at most .* got 1e\+308$/);
    expect(() => deadlineOf(1e308, now, 'defaultTtl')).toThrow(/^defaultTtl /);
    expect(() => deadlineOf('14285714w', now, 'warming.ttl')).toThrow(/^warming\.ttl "14285714w" puts the deadline past/);
  });

  it('accepts the latest Date and refuses one past it, which is an invalid Date', () => {
    expect(deadlineOf(new Date(MAX_DEADLINE_MS), now)).toBe(MAX_DEADLINE_MS);
    expect(() => deadlineOf(new Date(MAX_DEADLINE_MS + 1), now)).toThrow('ttl must be a valid Date, got Date(invalid)');
    expect(() => deadlineOf(new Date('not a date'), now, 'expiresAt')).toThrow(/^expiresAt must be a valid Date/);
  });

  it('keeps a cache from storing an entry whose deadline no Date can show', async () => {
    const clock = createFakeClock(now);
    const cache = createCache({ clock });
    try {
      await expect(cache.set('k', 1, { ttl: 1e308 })).rejects.toThrow(/^ttl must be at most/);
      await expect(cache.set('k', 1, { ttl: MAX_DEADLINE_MS - now + 1 })).rejects.toThrow(/^ttl .* puts the deadline past/);
      expect(await cache.inspect('k')).toBeUndefined();
      await cache.set('k', 1, { ttl: MAX_DEADLINE_MS - now });
      const info = await cache.inspect('k');
      expect(info?.expiresAt.toISOString()).toBe('+275760-09-13T00:00:00.000Z');
    } finally {
      await cache.close();
    }
  });
});
