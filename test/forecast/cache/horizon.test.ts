import { describe, expect, it } from 'vitest';
import {
  addHorizon,
  horizonDays,
  horizonMonths,
  horizonWindow,
  isHorizon,
  parseHorizon,
  subtractHorizon,
  windowsOverlap,
} from '../../../src/forecast/index.js';

const utc = (text: string) => new Date(`${text}T00:00:00.000Z`);

describe('parseHorizon', () => {
  it.each([
    ['7d', 7, 'd'],
    ['30d', 30, 'd'],
    ['90d', 90, 'd'],
    ['365d', 365, 'd'],
    ['12w', 12, 'w'],
    ['6m', 6, 'm'],
    ['1y', 1, 'y'],
  ])('reads %s', (text, amount, unit) => {
    expect(parseHorizon(text)).toEqual({ text, amount, unit });
    expect(isHorizon(text)).toBe(true);
  });

  it.each(['', '0d', '07d', '30', 'd', '30D', '1.5m', '-7d', ' 7d', '7 d', '30min', '1h', '101y', 'goal_abc'])('refuses %j with a TypeError naming it', (text) => {
    expect(() => parseHorizon(text)).toThrow(TypeError);
    expect(() => parseHorizon(text)).toThrow(JSON.stringify(text));
    expect(isHorizon(text)).toBe(false);
  });

  it('refuses what is not a string', () => {
    expect(() => parseHorizon(30 as unknown as string)).toThrow('horizon number is not a horizon');
  });
});

describe('horizon arithmetic', () => {
  it('counts days and weeks exactly and months by the calendar, clamped at month ends', () => {
    expect(addHorizon(utc('2025-01-15'), '30d')).toEqual(utc('2025-02-14'));
    expect(addHorizon(utc('2025-01-15'), '2w')).toEqual(utc('2025-01-29'));
    expect(addHorizon(utc('2024-01-31'), '1m')).toEqual(utc('2024-02-29'));
    expect(addHorizon(utc('2023-01-31'), '1m')).toEqual(utc('2023-02-28'));
    expect(addHorizon(utc('2024-02-29'), '1y')).toEqual(utc('2025-02-28'));
    expect(addHorizon(utc('2024-08-31'), '6m')).toEqual(utc('2025-02-28'));
    expect(subtractHorizon(utc('2025-03-31'), '1m')).toEqual(utc('2025-02-28'));
    expect(subtractHorizon(utc('2025-01-15'), '4m')).toEqual(utc('2024-09-15'));
  });

  it('keeps the time of day', () => {
    expect(addHorizon(new Date('2025-01-31T09:30:00.000Z'), '1m').toISOString()).toBe('2025-02-28T09:30:00.000Z');
  });

  it('gives whole days and whole months', () => {
    expect(horizonDays('1m', utc('2024-02-01'))).toBe(29);
    expect(horizonDays('1y', utc('2024-03-01'))).toBe(365);
    expect(horizonDays('1y', utc('2024-01-01'))).toBe(366);
    expect(horizonDays('30d', new Date('2025-01-15T23:59:00Z'))).toBe(30);
    expect([horizonMonths('30d'), horizonMonths('90d'), horizonMonths('365d'), horizonMonths('6m'), horizonMonths('1y'), horizonMonths('7d'), horizonMonths('12w')]).toEqual([1, 3, 12, 6, 12, 1, 3]);
  });

  it('makes inclusive whole-day windows', () => {
    const window = horizonWindow(new Date('2025-01-10T09:00:00Z'), '7d');
    expect(window.start.toISOString()).toBe('2025-01-10T00:00:00.000Z');
    expect(window.end.toISOString()).toBe('2025-01-17T23:59:59.999Z');
    expect(windowsOverlap(window, { start: utc('2025-01-17'), end: utc('2025-01-20') })).toBe(true);
    expect(windowsOverlap(window, { start: utc('2025-01-18'), end: utc('2025-01-20') })).toBe(false);
  });
});
