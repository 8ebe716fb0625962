import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CategoryAnalyzer } from '../../../src/forecast/calculators/category-totals.js';
import { day } from '../../../src/forecast/data/calendar.js';
import { RecordNotFoundError } from '../../../src/forecast/data/errors.js';
import type { FinanceStore } from '../../../src/forecast/data/store.js';
import type { TransactionType } from '../../../src/forecast/data/types.js';
import { d, storeKinds } from '../data/helpers.js';

describe.each(storeKinds)('CategoryAnalyzer on $name', ({ create }) => {
  let store: FinanceStore;
  let analyzer: CategoryAnalyzer;
  beforeEach(() => {
    store = create();
    analyzer = new CategoryAnalyzer(store);
    store.addUser({ id: 'u', name: 'Spender', openingBalance: d('0'), openingDate: day(2024, 1, 1) });
    const t = (dayOfMonth: number, amount: string, category: string, type: TransactionType = 'expense') => ({
      userId: 'u',
      date: day(2024, 3, dayOfMonth),
      amount: d(amount),
      type,
      category,
    });
    store.addTransactions([
      t(1, '1000.00', 'rent'),
      t(2, '0.10', 'snacks'),
      t(3, '0.20', 'snacks'),
      t(4, '120.00', 'groceries'),
      t(5, '79.70', 'groceries'),
      t(6, '200.00', 'books'),
      t(31, '50.00', 'late'),
      t(1, '3000.00', 'salary', 'income'),
      t(20, '45.50', 'refunds', 'income'),
    ]);
  });
  afterEach(() => store.close());

  it('totals expenses by category, largest first, with shares', () => {
    const r = analyzer.categoryTotals('u', { type: 'expense', from: day(2024, 3, 1), to: day(2024, 3, 30) });
    // 1000 + 0.30 + 199.70 + 200 = 1400.00 (the 31st is outside the range)
    expect(r.total.toFixed(2)).toBe('1400.00');
    expect(r.count).toBe(6);
    expect(r.categories.map((c) => [c.category, c.total.toFixed(2), c.count, c.share.toFixed(2)])).toEqual([
      ['rent', '1000.00', 1, '71.43'], // 1000 / 1400 = 71.428…
      ['books', '200.00', 1, '14.29'], // 200 / 1400 = 14.285…
      ['groceries', '199.70', 2, '14.26'], // 120 + 79.70; 199.70 / 1400 = 14.264…
      ['snacks', '0.30', 2, '0.02'], // 0.10 + 0.20 is exactly 0.30; 0.30 / 1400 = 0.0214…
    ]);
  });

  it('totals income the same way, and includes both ends of the range', () => {
    const r = analyzer.categoryTotals('u', { type: 'income', from: day(2024, 3, 1), to: day(2024, 3, 20) });
    expect(r.total.toFixed(2)).toBe('3045.50');
    expect(r.categories.map((c) => c.category)).toEqual(['salary', 'refunds']);
    expect(analyzer.categoryTotals('u', { from: day(2024, 3, 31), to: day(2024, 3, 31) }).total.toFixed(2)).toBe('50.00');
  });

  it('returns an empty breakdown for a quiet span', () => {
    const r = analyzer.categoryTotals('u', { from: day(2024, 4, 1), to: day(2024, 4, 30) });
    expect(r.total.toFixed(2)).toBe('0.00');
    expect(r.categories).toEqual([]);
  });

  it('refuses bad input, naming it', () => {
    expect(() => analyzer.categoryTotals('ghost', { from: day(2024, 3, 1), to: day(2024, 3, 2) })).toThrow(RecordNotFoundError);
    expect(() => analyzer.categoryTotals('u', { from: day(2024, 3, 2), to: day(2024, 3, 1) })).toThrow(/^to 2024-03-01 is before from 2024-03-02/);
    expect(() => analyzer.categoryTotals('u', { type: 'transfer' as never, from: day(2024, 3, 1) })).toThrow(/^type must be one of/);
    expect(() => analyzer.categoryTotals('u', {} as never)).toThrow(/^from must be a Date/);
  });
});
