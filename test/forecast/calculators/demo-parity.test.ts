import { beforeAll, describe, expect, it } from 'vitest';
import { defaultCodec } from '../../../src/codec/codec.js';
import { BURN_METHODS, BurnRateCalculator } from '../../../src/forecast/calculators/burn-rate.js';
import { CategoryAnalyzer } from '../../../src/forecast/calculators/category-totals.js';
import { GoalTracker } from '../../../src/forecast/calculators/goal-tracker.js';
import { PROJECTION_ALGORITHMS, ProjectionEngine } from '../../../src/forecast/calculators/projection-engine.js';
import { day } from '../../../src/forecast/data/calendar.js';
import { generateDemoData } from '../../../src/forecast/data/demo-data.js';
import type { FinanceStore } from '../../../src/forecast/data/store.js';
import { plain, storeKinds } from '../data/helpers.js';

const asOf = day(2024, 12, 31);

/** Every calculator, every algorithm, for every demo user: what a dashboard (and the cache warmer) asks for. */
function everything(store: FinanceStore): Record<string, unknown> {
  const projection = new ProjectionEngine(store);
  const burn = new BurnRateCalculator(store);
  const goals = new GoalTracker(store);
  const categories = new CategoryAnalyzer(store);
  const out: Record<string, unknown> = {};
  for (const { id } of store.listUsers()) {
    for (const algorithm of PROJECTION_ALGORITHMS) out[`${id}:balance:90d:${algorithm}`] = projection.projectBalance(id, { horizonDays: 90, algorithm, asOf });
    for (const method of BURN_METHODS) {
      out[`${id}:burn_rate:${method}`] = burn.burnRate(id, { method, months: 6, asOf });
      out[`${id}:runway:${method}`] = burn.runway(id, { method, months: 6, asOf });
    }
    out[`${id}:goals`] = goals.summary(id, { asOf });
    out[`${id}:expense_by_category`] = categories.categoryTotals(id, { type: 'expense', from: day(2024, 10, 1), to: asOf });
    out[`${id}:income`] = categories.categoryTotals(id, { type: 'income', from: day(2024, 10, 1), to: asOf });
  }
  return out;
}

describe('calculators over a year of demo data', () => {
  const results = new Map<string, Record<string, unknown>>();
  beforeAll(() => {
    for (const kind of storeKinds) {
      const store = kind.create();
      generateDemoData(store, { users: 5, months: 12, seed: 42, endDate: asOf });
      results.set(kind.name, everything(store));
      store.close();
    }
  });

  it('give identical results from every store', () => {
    const [first, ...rest] = [...results.values()].map(plain);
    expect(Object.keys(first as object)).toHaveLength(5 * (3 + 3 + 3 + 3));
    for (const other of rest) expect(other).toEqual(first);
  });

  it('give results the cache codec stores and returns unchanged', () => {
    const [result] = results.values();
    for (const [key, value] of Object.entries(result!)) {
      expect(defaultCodec.decode(defaultCodec.encode(value, key), key), key).toEqual(value);
    }
  });

  it('tell the demo profiles apart: the founder burns with a finite runway, the salaried saver does not', () => {
    const [result] = results.values();
    const founder = result!['user_2:runway:simple'] as { status: string; runwayMonths: { toNumber(): number } | null };
    expect(founder.status).toBe('burning');
    expect(founder.runwayMonths!.toNumber()).toBeGreaterThan(3);
    expect((result!['user_1:runway:simple'] as { status: string }).status).toBe('not_burning');
  });
});
