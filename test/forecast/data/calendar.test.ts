import { describe, expect, it } from 'vitest';
import {
  addDays,
  addMonths,
  assertDay,
  day,
  daysInMonth,
  epochDayOf,
  formatDay,
  fromEpochDay,
  parseDay,
  partsOfEpochDay,
  toEpochDay,
  utcDayOf,
} from '../../../src/forecast/data/calendar.js';

describe('calendar days', () => {
  it('builds and formats UTC-midnight days', () => {
    expect(day(2024, 2, 29).toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(formatDay(day(9, 1, 2))).toBe('0009-01-02');
    expect(parseDay('2024-03-31').getTime()).toBe(Date.UTC(2024, 2, 31));
  });

  it('refuses days that do not exist, naming the field', () => {
    expect(() => day(2023, 2, 29)).toThrow(RangeError);
    expect(() => day(2024, 13, 1)).toThrow(/month/);
    expect(() => parseDay('2023-02-29', 'deadline')).toThrow(/^deadline '2023-02-29' is not a calendar day/);
    expect(() => parseDay('2024-1-5', 'from')).toThrow(TypeError);
    expect(() => parseDay(20240105 as unknown as string, 'from')).toThrow(/^from must be a 'YYYY-MM-DD' string, got number 20240105/);
  });

  it('refuses a time of day instead of truncating it', () => {
    // Local midnight east of Greenwich is the previous day in UTC; truncating would move the record.
    expect(() => assertDay(new Date('2024-01-15T22:00:00Z'), 'date')).toThrow(/^date must be a calendar day at UTC midnight/);
    expect(() => assertDay(new Date(NaN), 'date')).toThrow(/^date is an invalid Date/);
    expect(() => assertDay('2024-01-15', 'date')).toThrow(TypeError);
    expect(() => assertDay(new Date(Date.UTC(10000, 0, 1)), 'date')).toThrow(/years 1–9999/);
  });

  it('takes the UTC day of an instant for as-of dates', () => {
    expect(utcDayOf(new Date('2024-05-06T23:59:59.999Z')).toISOString()).toBe('2024-05-06T00:00:00.000Z');
    expect(utcDayOf(new Date('1969-12-31T12:00:00Z')).toISOString()).toBe('1969-12-31T00:00:00.000Z');
  });

  it('adds months clamped to the end of shorter months', () => {
    expect(formatDay(addMonths(day(2024, 1, 31), 1))).toBe('2024-02-29');
    expect(formatDay(addMonths(day(2023, 1, 31), 1))).toBe('2023-02-28');
    expect(formatDay(addMonths(day(2024, 3, 31), -1))).toBe('2024-02-29');
    expect(formatDay(addMonths(day(2024, 11, 15), 3))).toBe('2025-02-15');
    expect(formatDay(addMonths(day(2024, 1, 15), -13))).toBe('2022-12-15');
    expect(formatDay(addDays(day(2024, 2, 28), 2))).toBe('2024-03-01');
  });

  it('converts epoch days both ways, agreeing with Date for four centuries', () => {
    const wrong: number[] = [];
    for (let n = toEpochDay(day(1900, 1, 1)); n <= toEpochDay(day(2300, 12, 31)); n++) {
      const date = fromEpochDay(n);
      const { year, month, dayOfMonth } = partsOfEpochDay(n);
      const agrees = year === date.getUTCFullYear() && month === date.getUTCMonth() + 1 && dayOfMonth === date.getUTCDate();
      if (!agrees || epochDayOf(year, month, dayOfMonth) !== n) wrong.push(n);
    }
    expect(wrong).toEqual([]);
  });

  it('knows month lengths and leap years', () => {
    expect([2023, 2024, 1900, 2000].map((y) => daysInMonth(y, 2))).toEqual([28, 29, 28, 29]);
    expect(daysInMonth(2024, 4)).toBe(30);
    expect(daysInMonth(2024, 12)).toBe(31);
  });
});
