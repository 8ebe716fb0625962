import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BurnRateCalculator, burnRate } from '../../../src/forecast/calculators/burn-rate.js';
import { day } from '../../../src/forecast/data/calendar.js';
import { RecordNotFoundError } from '../../../src/forecast/data/errors.js';
import type { FinanceStore } from '../../../src/forecast/data/store.js';
import { d, storeKinds } from '../data/helpers.js';

const iso = (date: Date | null) => date?.toISOString().slice(0, 10) ?? null;
const expense = (date: Date, amount: string) => ({ userId: 'u', date, amount: d(amount), type: 'expense' as const, category: 'costs' });
const income = (date: Date, amount: string) => ({ userId: 'u', date, amount: d(amount), type: 'income' as const, category: 'pay' });

describe.each(storeKinds)('BurnRateCalculator on $name', ({ create }) => {
  let store: FinanceStore;
  let burn: BurnRateCalculator;
  beforeEach(() => {
    store = create();
    burn = new BurnRateCalculator(store);
  });
  afterEach(() => store.close());

  describe('expenses of 1000, 2000 and 3000 in January, February and March 2024, opening balance 10000', () => {
    beforeEach(() => {
      store.addUser({ id: 'u', name: 'Burner', openingBalance: d('10000.00'), openingDate: day(2024, 1, 1) });
      store.addTransactions([
        expense(day(2024, 1, 10), '600.00'),
        expense(day(2024, 1, 20), '400.00'),
        expense(day(2024, 2, 5), '2000.00'),
        expense(day(2024, 3, 31), '3000.00'),
      ]);
    });
    const asOf = day(2024, 4, 10);

    it('simple: the mean of the last three full months', () => {
      const rate = burn.burnRate('u', { method: 'simple', months: 3, asOf });
      // (1000 + 2000 + 3000) / 3
      expect(rate.monthlyBurn.toFixed(2)).toBe('2000.00');
      expect(rate.monthsUsed).toBe(3);
      expect(iso(rate.from)).toBe('2024-01-01');
      expect(iso(rate.to)).toBe('2024-03-31');
      expect(rate.monthly.map((m) => [m.month, m.expenses.toFixed(2), m.income.toFixed(2), m.burn.toFixed(2)])).toEqual([
        ['2024-01', '1000.00', '0.00', '1000.00'],
        ['2024-02', '2000.00', '0.00', '2000.00'],
        ['2024-03', '3000.00', '0.00', '3000.00'],
      ]);
    });

    it('weighted: newest month weighs 3, oldest 1', () => {
      // (1 × 1000 + 2 × 2000 + 3 × 3000) / (1 + 2 + 3) = 14000 / 6 = 2333.333… → 2333.33
      expect(burn.burnRate('u', { method: 'weighted', months: 3, asOf }).monthlyBurn.toFixed(2)).toBe('2333.33');
    });

    it('ema: α = 2 / (3 + 1) = 0.5, seeded with the oldest month', () => {
      // e1 = 1000; e2 = 0.5 × 2000 + 0.5 × 1000 = 1500; e3 = 0.5 × 3000 + 0.5 × 1500 = 2250
      expect(burn.burnRate('u', { method: 'ema', months: 3, asOf }).monthlyBurn.toFixed(2)).toBe('2250.00');
    });

    it('leaves out the partial month of asOf, unless asOf is its last day', () => {
      store.addTransaction(expense(day(2024, 4, 5), '9999.00'));
      expect(burn.burnRate('u', { months: 3, asOf }).monthlyBurn.toFixed(2)).toBe('2000.00');
      // as of 03-31, March is complete: the same three months
      expect(burn.burnRate('u', { months: 3, asOf: day(2024, 3, 31) }).monthlyBurn.toFixed(2)).toBe('2000.00');
      // as of 03-30 only January and February are complete: (1000 + 2000) / 2
      const early = burn.burnRate('u', { months: 3, asOf: day(2024, 3, 30) });
      expect(early.monthsUsed).toBe(2);
      expect(early.monthlyBurn.toFixed(2)).toBe('1500.00');
    });

    it('runway: balance / burn, and the day the money runs out', () => {
      // balance 10000 − 6000 = 4000; 4000 / 2000 = 2 months from 04-10
      const simple = burn.runway('u', { method: 'simple', months: 3, asOf });
      expect(simple.balance.toFixed(2)).toBe('4000.00');
      expect(simple.runwayMonths!.toFixed(2)).toBe('2.00');
      expect(iso(simple.zeroDate)).toBe('2024-06-10');
      expect(simple.status).toBe('burning');

      // 4000 / (14000 / 6) = 1.714285…: one month to 05-10, then 0.714285… × 31 days (05-10 → 06-10) = 22.14 → 22 days
      const weighted = burn.runway('u', { method: 'weighted', months: 3, asOf });
      expect(weighted.runwayMonths!.toFixed(2)).toBe('1.71');
      expect(iso(weighted.zeroDate)).toBe('2024-06-01');

      // 4000 / 2250 = 1.777…: 05-10, then 0.777… × 31 = 24.11 → 24 days
      const ema = burn.runway('u', { method: 'ema', months: 3, asOf });
      expect(ema.runwayMonths!.toFixed(2)).toBe('1.78');
      expect(iso(ema.zeroDate)).toBe('2024-06-03');
    });

    it('runway from a given balance, and a depleted one', () => {
      // 8000 / 2000 = 4 months from 04-10
      const given = burn.runway('u', { months: 3, asOf, balance: d('8000') });
      expect(given.runwayMonths!.toFixed(2)).toBe('4.00');
      expect(iso(given.zeroDate)).toBe('2024-08-10');
      const depleted = burn.runway('u', { months: 3, asOf, balance: d('-100') });
      expect(depleted.status).toBe('depleted');
      expect(depleted.runwayMonths!.toFixed(2)).toBe('0.00');
      expect(iso(depleted.zeroDate)).toBe('2024-04-10');
      expect(() => burn.runway('u', { asOf, balance: 8000 as never })).toThrow(/^balance must be a Decimal/);
    });

    it('net counts income against expenses; gross does not', () => {
      store.addTransaction(income(day(2024, 2, 15), '500.00'));
      // net: 1000, 1500, 3000 → 5500 / 3 = 1833.333… → 1833.33
      expect(burn.burnRate('u', { months: 3, asOf }).monthlyBurn.toFixed(2)).toBe('1833.33');
      // gross: 1000, 2000, 3000 → 2000
      expect(burn.burnRate('u', { months: 3, asOf, basis: 'gross' }).monthlyBurn.toFixed(2)).toBe('2000.00');
    });
  });

  it('clamps the zero date to the end of a shorter month', () => {
    store.addUser({ id: 'u', name: 'Leap', openingBalance: d('3000'), openingDate: day(2024, 1, 1) });
    store.addTransaction(expense(day(2024, 1, 15), '1500'));
    // balance 1500, burn 1500 → 1 month after 01-31 is 02-29 (2024 is a leap year)
    expect(iso(burn.runway('u', { months: 1, asOf: day(2024, 1, 31) }).zeroDate)).toBe('2024-02-29');
  });

  it('reports no runway while the balance grows', () => {
    store.addUser({ id: 'u', name: 'Saver', openingBalance: d('100'), openingDate: day(2024, 1, 1) });
    store.addTransactions([income(day(2024, 1, 25), '3000'), expense(day(2024, 1, 1), '1200'), income(day(2024, 2, 25), '3000'), expense(day(2024, 2, 1), '1200')]);
    const r = burn.runway('u', { months: 2, asOf: day(2024, 3, 5) });
    // net burn (1200 − 3000) = −1800 each month
    expect(r.monthlyBurn.toFixed(2)).toBe('-1800.00');
    expect(r).toMatchObject({ runwayMonths: null, zeroDate: null, status: 'not_burning' });
  });

  it('gives no zero date for a runway beyond 1,200 months', () => {
    store.addUser({ id: 'u', name: 'Slow', openingBalance: d('10001'), openingDate: day(2024, 1, 1) });
    store.addTransaction(expense(day(2024, 1, 2), '1'));
    const r = burn.runway('u', { months: 1, asOf: day(2024, 2, 1) });
    // 10000 / 1 = 10000 months
    expect(r.runwayMonths!.toFixed(2)).toBe('10000.00');
    expect(r.zeroDate).toBeNull();
  });

  it('skips a month that began before the opening date', () => {
    store.addUser({ id: 'u', name: 'Mid', openingBalance: d('5000'), openingDate: day(2024, 1, 15) });
    store.addTransactions([expense(day(2024, 1, 20), '900'), expense(day(2024, 2, 3), '300'), expense(day(2024, 3, 3), '500')]);
    const rate = burn.burnRate('u', { months: 3, asOf: day(2024, 4, 10) });
    // January is partial: (300 + 500) / 2
    expect(rate.monthsUsed).toBe(2);
    expect(rate.monthlyBurn.toFixed(2)).toBe('400.00');
    expect(() => burn.burnRate('u', { asOf: day(2024, 2, 10) })).toThrow(/has no full calendar month of history/);
  });

  it('refuses bad input, naming it', () => {
    store.addUser({ id: 'u', name: 'X', openingBalance: d('0'), openingDate: day(2024, 1, 1) });
    const asOf = day(2024, 6, 1);
    expect(() => burn.burnRate('ghost', { asOf })).toThrow(RecordNotFoundError);
    expect(() => burn.burnRate('u', { asOf, months: 0 })).toThrow(/^months must be from 1 to 120/);
    expect(() => burn.burnRate('u', { asOf, method: 'median' as never })).toThrow(/^method must be one of 'simple', 'ema', 'weighted'/);
    expect(() => burn.burnRate('u', { asOf, basis: 3 as never })).toThrow(TypeError);
    expect(() => burnRate(store, 'u', { asOf: day(2023, 6, 1) })).toThrow(/^asOf 2023-06-01 is before the opening date/);
  });
});
