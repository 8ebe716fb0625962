import { describe, expect, it } from 'vitest';
import { deadlineOf, parseDuration, TtlPolicy } from '../src/ttl.js';

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
