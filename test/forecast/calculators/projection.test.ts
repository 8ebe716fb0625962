import { Decimal } from 'decimal.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProjectionEngine, projectBalance } from '../../../src/forecast/calculators/projection-engine.js';
import { addDays, day } from '../../../src/forecast/data/calendar.js';
import { RecordNotFoundError } from '../../../src/forecast/data/errors.js';
import type { FinanceStore } from '../../../src/forecast/data/store.js';
import type { NewTransaction } from '../../../src/forecast/data/types.js';
import { d, storeKinds } from '../data/helpers.js';

const iso = (date: Date | null) => date?.toISOString().slice(0, 10) ?? null;

function daily(userId: string, from: Date, to: Date, make: (date: Date) => Omit<NewTransaction, 'userId' | 'date'>[]): NewTransaction[] {
  const out: NewTransaction[] = [];
  for (let date = from; date <= to; date = addDays(date, 1)) for (const t of make(date)) out.push({ userId, date, ...t });
  return out;
}

describe.each(storeKinds)('ProjectionEngine on $name', ({ create }) => {
  let store: FinanceStore;
  let engine: ProjectionEngine;
  beforeEach(() => {
    store = create();
    engine = new ProjectionEngine(store);
  });
  afterEach(() => store.close());

  describe('a constant daily net of +12.50 (income 40.10, expense 27.60) from 2024-01-01 to 2024-03-31', () => {
    beforeEach(() => {
      store.addUser({ id: 'u', name: 'Const', openingBalance: d('1000.00'), openingDate: day(2024, 1, 1) });
      store.addTransactions(
        daily('u', day(2024, 1, 1), day(2024, 3, 31), () => [
          { amount: d('40.10'), type: 'income', category: 'pay' },
          { amount: d('27.60'), type: 'expense', category: 'food' },
        ]),
      );
    });

    it('linear: the fitted slope is exactly 12.50 a day and the fit is perfect', () => {
      const p = engine.projectBalance('u', { horizonDays: 30, algorithm: 'linear', asOf: day(2024, 3, 31) });
      // 91 days of +12.50 on 1000.00: 1000 + 91 × 12.50 = 2137.50
      expect(p.startBalance.toFixed(2)).toBe('2137.50');
      // 2137.50 + 30 × 12.50 = 2512.50
      expect(p.projectedBalance.toFixed(2)).toBe('2512.50');
      expect(p.dailyNet.toFixed(2)).toBe('12.50');
      expect(p.r2).toBe(1);
      expect(iso(p.endDate)).toBe('2024-04-30');
      expect(iso(p.historyFrom)).toBe('2024-01-01');
      expect(p.historyDays).toBe(91);
      expect(p.firstNegativeDate).toBeNull();
      // asOf, then days 7, 14, 21, 28 (2137.50 + 7k × 12.50), then day 30
      expect(p.points.map((pt) => [iso(pt.date), pt.balance.toFixed(2)])).toEqual([
        ['2024-03-31', '2137.50'],
        ['2024-04-07', '2225.00'],
        ['2024-04-14', '2312.50'],
        ['2024-04-21', '2400.00'],
        ['2024-04-28', '2487.50'],
        ['2024-04-30', '2512.50'],
      ]);
    });

    it.each(['trend_adjusted', 'seasonal'] as const)('%s agrees with linear when every day is the same', (algorithm) => {
      const p = engine.projectBalance('u', { horizonDays: 30, algorithm, asOf: day(2024, 3, 31) });
      // Every slope and every day-of-month mean is 12.50: 2137.50 + 30 × 12.50
      expect(p.projectedBalance.toFixed(2)).toBe('2512.50');
      expect(p.r2).toBe(1);
    });

    it('learns from only the last historyDays days', () => {
      store.addTransaction({ userId: 'u', date: day(2024, 3, 1), amount: d('5000'), type: 'income', category: 'gift' });
      // The window 03-02…03-31 misses the gift, so its slope is still 12.50; the start balance includes it.
      const p = engine.projectBalance('u', { horizonDays: 10, asOf: day(2024, 3, 31), historyDays: 30 });
      expect(iso(p.historyFrom)).toBe('2024-03-02');
      expect(p.historyDays).toBe(30);
      // 2137.50 + 5000 = 7137.50, then + 10 × 12.50
      expect(p.projectedBalance.toFixed(2)).toBe('7262.50');
    });
  });

  describe('balances 0, 0, 0, 10, 20 over five days (income 10 on days 4 and 5)', () => {
    beforeEach(() => {
      store.addUser({ id: 'u', name: 'Turn', openingBalance: d('0'), openingDate: day(2024, 1, 1) });
      store.addTransactions([
        { userId: 'u', date: day(2024, 1, 4), amount: d('10'), type: 'income', category: 'pay' },
        { userId: 'u', date: day(2024, 1, 5), amount: d('10'), type: 'income', category: 'pay' },
      ]);
    });
    const asOf = day(2024, 1, 5);

    it('linear: slope 5, R² 0.7812', () => {
      const p = engine.projectBalance('u', { horizonDays: 10, asOf });
      // x̄ = 2, ȳ = 6; Σ(x−x̄)(y−ȳ) = (−2)(−6) + (−1)(−6) + 0 + (1)(4) + (2)(14) = 50; Σ(x−x̄)² = 10 → slope 5
      // 20 + 10 × 5 = 70
      expect(p.projectedBalance.toFixed(2)).toBe('70.00');
      expect(p.dailyNet.toFixed(2)).toBe('5.00');
      // fitted −4, 1, 6, 11, 16 → residuals 4, −1, −6, −1, 4 → SSres 70; SStot 36+36+36+16+196 = 320
      // R² = 1 − 70/320 = 0.78125, which rounds half-even to 0.7812
      expect(p.r2).toBe(0.7812);
    });

    it('trend_adjusted: 0.7 × recent slope + 0.3 × whole-window slope', () => {
      const p = engine.projectBalance('u', { horizonDays: 10, asOf, algorithm: 'trend_adjusted', recentDays: 3 });
      // recent window 0, 10, 20 → slope 10; whole window slope 5; 0.7 × 10 + 0.3 × 5 = 8.5 a day
      // 20 + 10 × 8.5 = 105
      expect(p.projectedBalance.toFixed(2)).toBe('105.00');
      expect(p.dailyNet.toFixed(2)).toBe('8.50');
      // recentWeight 1 uses the recent slope alone: 20 + 10 × 10 = 120
      expect(engine.projectBalance('u', { horizonDays: 10, asOf, algorithm: 'trend_adjusted', recentDays: 3, recentWeight: 1 }).projectedBalance.toFixed(2)).toBe('120.00');
      // recentWeight 0 is plain linear: 70
      expect(engine.projectBalance('u', { horizonDays: 10, asOf, algorithm: 'trend_adjusted', recentDays: 3, recentWeight: 0 }).projectedBalance.toFixed(2)).toBe('70.00');
    });
  });

  describe('a clear monthly pattern: salary 3000 on the 1st, rent 1000 on the 15th, coffee 5 every day, January to June 2024', () => {
    beforeEach(() => {
      store.addUser({ id: 'u', name: 'Monthly', openingBalance: d('1000.00'), openingDate: day(2024, 1, 1) });
      store.addTransactions(
        daily('u', day(2024, 1, 1), day(2024, 6, 30), (date) => [
          { amount: d('5.00'), type: 'expense', category: 'coffee' },
          ...(date.getUTCDate() === 1 ? [{ amount: d('3000.00'), type: 'income' as const, category: 'salary' }] : []),
          ...(date.getUTCDate() === 15 ? [{ amount: d('1000.00'), type: 'expense' as const, category: 'rent' }] : []),
        ]),
      );
    });
    const asOf = day(2024, 6, 30);

    it('seasonal: each day of the month gets its own mean net, so paydays land on their days', () => {
      const p = engine.projectBalance('u', { horizonDays: 30, algorithm: 'seasonal', asOf });
      // 1000 + 6 × 3000 − 6 × 1000 − 182 days × 5 = 12090
      expect(p.startBalance.toFixed(2)).toBe('12090.00');
      // profile: the 1st 3000 − 5 = 2995, the 15th −1000 − 5 = −1005, every other day −5
      // July 1–30: 2995 − 1005 − 28 × 5 = 1850 → 12090 + 1850 = 13940
      expect(p.projectedBalance.toFixed(2)).toBe('13940.00');
      expect(p.points.map((pt) => [iso(pt.date), pt.balance.toFixed(2)])).toEqual([
        ['2024-06-30', '12090.00'],
        ['2024-07-07', '15055.00'], // 12090 + 2995 − 6 × 5
        ['2024-07-14', '15020.00'], // − 7 × 5
        ['2024-07-21', '13985.00'], // − 1005 − 6 × 5
        ['2024-07-28', '13950.00'], // − 7 × 5
        ['2024-07-30', '13940.00'], // − 2 × 5
      ]);
      // The profile explains every day exactly.
      expect(p.r2).toBe(1);
    });

    it('linear smooths the same history into a straight line, missing the payday', () => {
      const seasonal = engine.projectBalance('u', { horizonDays: 7, algorithm: 'seasonal', asOf });
      const linear = engine.projectBalance('u', { horizonDays: 7, algorithm: 'linear', asOf });
      // Seasonal: 12090 + 2995 − 6 × 5 = 15055; a line gains only its average of about 60 a day.
      expect(seasonal.projectedBalance.toFixed(2)).toBe('15055.00');
      expect(linear.projectedBalance.lt(12_700)).toBe(true);
      expect(linear.r2).toBeLessThan(1);
    });
  });

  it('finds the first day the projection goes below zero, day by day', () => {
    store.addUser({ id: 'u', name: 'Spend', openingBalance: d('2000.00'), openingDate: day(2024, 1, 1) });
    store.addTransactions(daily('u', day(2024, 1, 1), day(2024, 1, 31), () => [{ amount: d('20.00'), type: 'expense', category: 'x' }]));
    const p = engine.projectBalance('u', { horizonDays: 100, asOf: day(2024, 1, 31), pointEveryDays: 50 });
    // 2000 − 31 × 20 = 1380; 1380 − 20h = 0 at h = 69, so day 70 is the first below zero: 2024-01-31 + 70 = 2024-04-10
    expect(p.startBalance.toFixed(2)).toBe('1380.00');
    expect(iso(p.firstNegativeDate)).toBe('2024-04-10');
    // 1380 − 100 × 20
    expect(p.projectedBalance.toFixed(2)).toBe('-620.00');
    expect(p.points.map((pt) => iso(pt.date))).toEqual(['2024-01-31', '2024-03-21', '2024-05-10']);
  });

  it('with a single day of history projects a flat balance and reports no fit', () => {
    store.addUser({ id: 'u', name: 'New', openingBalance: d('42.42'), openingDate: day(2024, 1, 1) });
    const p = engine.projectBalance('u', { horizonDays: 5, asOf: day(2024, 1, 1) });
    expect(p.projectedBalance.toFixed(2)).toBe('42.42');
    expect(p.r2).toBeNull();
  });

  it('takes asOf as its UTC day and defaults it to the clock’s today', () => {
    store.addUser({ id: 'u', name: 'Clock', openingBalance: d('10'), openingDate: day(2024, 1, 1) });
    const clocked = new ProjectionEngine(store, { clock: { now: () => Date.UTC(2024, 1, 10, 15, 30) } });
    expect(iso(clocked.projectBalance('u', { horizonDays: 1 }).asOf)).toBe('2024-02-10');
    expect(iso(engine.projectBalance('u', { horizonDays: 1, asOf: new Date('2024-02-11T23:59:00Z') }).asOf)).toBe('2024-02-11');
    expect(iso(projectBalance(store, 'u', { horizonDays: 1 }, { now: () => Date.UTC(2024, 2, 1) }).asOf)).toBe('2024-03-01');
  });

  it('returns Decimals of the application’s decimal.js, rounded to cents', () => {
    store.addUser({ id: 'u', name: 'Thirds', openingBalance: d('0'), openingDate: day(2024, 1, 1) });
    store.addTransaction({ userId: 'u', date: day(2024, 1, 3), amount: d('1'), type: 'income', category: 'x' });
    const p = engine.projectBalance('u', { horizonDays: 1, asOf: day(2024, 1, 3) });
    // balances 0, 0, 1: slope 0.5 → 1.5; dailyNet 0.50
    expect(p.projectedBalance.toFixed()).toBe('1.5');
    for (const value of [p.startBalance, p.projectedBalance, p.dailyNet, ...p.points.map((pt) => pt.balance)]) {
      expect(value.constructor).toBe(Decimal);
    }
  });

  it('refuses bad input, naming it', () => {
    store.addUser({ id: 'u', name: 'X', openingBalance: d('0'), openingDate: day(2024, 1, 1) });
    const asOf = day(2024, 1, 5);
    expect(() => engine.projectBalance('ghost', { horizonDays: 7, asOf })).toThrow(RecordNotFoundError);
    expect(() => engine.projectBalance('u', { horizonDays: 7, asOf: day(2023, 12, 31) })).toThrow(/^asOf 2023-12-31 is before the opening date/);
    expect(() => engine.projectBalance('u', { horizonDays: 0, asOf })).toThrow(/^horizonDays must be from 1 to 3650/);
    expect(() => engine.projectBalance('u', { horizonDays: 1.5, asOf })).toThrow(TypeError);
    expect(() => engine.projectBalance('u', { horizonDays: 7, asOf, algorithm: 'magic' as never })).toThrow(/^algorithm must be one of/);
    expect(() => engine.projectBalance('u', { horizonDays: 7, asOf, recentWeight: 1.5 })).toThrow(/^recentWeight must be from 0 to 1/);
    expect(() => engine.projectBalance('u', { horizonDays: 7, asOf: new Date('x') })).toThrow(/^asOf is an invalid Date/);
    expect(() => engine.projectBalance('u', undefined as never)).toThrow(TypeError);
  });
});
