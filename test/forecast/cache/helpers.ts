import { Decimal } from 'decimal.js';
import { day } from '../../../src/forecast/data/calendar.js';
import { MemoryFinanceStore } from '../../../src/forecast/data/memory-store.js';
import type { ForecastCache, ForecastRequest } from '../../../src/forecast/index.js';

export const d = (value: string): Decimal => new Decimal(value);

/** "Now" of every test: 2025-01-15, 09:30 UTC, so forecasts are as of 2025-01-15. */
export const NOW = Date.UTC(2025, 0, 15, 9, 30);
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let sequence = 0;
/** A key prefix no other test or run uses (letters, digits and dashes: every store accepts it). */
export function uniquePrefix(tag: string): string {
  sequence++;
  return `tc-fc-${tag}-${process.pid}-${Date.now().toString(36)}-${sequence}-`;
}

/**
 * Two users with a year of salary, rent and groceries (net burn 300.50 a month) and two goals each; `alice`
 * also gets two more goals when `goals` is 4 (the seed's dashboard has four).
 */
export function financeFixture(options: { goals?: 2 | 4 } = {}): MemoryFinanceStore {
  const store = new MemoryFinanceStore();
  for (const id of ['alice', 'bob']) {
    store.addUser({ id, name: id, openingBalance: d('1000.00'), openingDate: day(2024, 1, 1) });
    for (let month = 1; month <= 12; month++) {
      store.addTransaction({ userId: id, date: day(2024, month, 1), amount: d('3000.00'), type: 'income', category: 'Salary' });
      store.addTransaction({ userId: id, date: day(2024, month, 3), amount: d('1200.00'), type: 'expense', category: 'Rent' });
      store.addTransaction({ userId: id, date: day(2024, month, 10), amount: d('2100.50'), type: 'expense', category: 'Groceries' });
    }
    store.addTransaction({ userId: id, date: day(2025, 1, 2), amount: d('3000.00'), type: 'income', category: 'Salary' });
    store.addTransaction({ userId: id, date: day(2025, 1, 10), amount: d('180.25'), type: 'expense', category: 'Groceries' });
    store.addGoal({ id: `${id}_g1`, userId: id, name: 'Emergency fund', target: d('5000.00'), saved: d('1000.00'), createdAt: day(2024, 1, 1), monthlyContribution: d('200.00') });
    store.addGoal({ id: `${id}_g2`, userId: id, name: 'Vacation', target: d('2000.00'), saved: d('500.00'), createdAt: day(2024, 6, 1), deadline: day(2025, 6, 30) });
  }
  if (options.goals === 4) {
    store.addGoal({ id: 'alice_g3', userId: 'alice', name: 'Laptop', target: d('1500.00'), saved: d('1500.00'), createdAt: day(2024, 3, 1) });
    store.addGoal({ id: 'alice_g4', userId: 'alice', name: 'House', target: d('40000.00'), saved: d('2500.00'), createdAt: day(2024, 2, 1), deadline: day(2028, 1, 1) });
  }
  return store;
}

/** The forecasts the trigger tests compute for a user, by a short name. */
export function forecastSet(userId: string): Record<string, ForecastRequest> {
  return {
    balance30: { userId, metric: 'balance', horizon: '30d', algorithm: 'linear' },
    balance90: { userId, metric: 'balance', horizon: '90d', algorithm: 'trend_adjusted' },
    burn: { userId, metric: 'burn_rate', horizon: '90d', algorithm: 'ema' },
    runway: { userId, metric: 'runway', horizon: '1y', algorithm: 'simple' },
    expenses: { userId, metric: 'expenses', horizon: '30d' },
    income: { userId, metric: 'income', horizon: '30d' },
    groceries: { userId, metric: 'expenses', horizon: '90d', params: { category: 'Groceries' } },
    goal1: { userId, metric: 'goal_progress', horizon: `${userId}_g1` },
    goal2: { userId, metric: 'goal_progress', horizon: `${userId}_g2` },
    goals: { userId, metric: 'goals_summary', horizon: 'all' },
  };
}

/** Computes every forecast of the set; returns name → key. */
export async function computeAll(forecasts: ForecastCache, set: Record<string, ForecastRequest>): Promise<Record<string, string>> {
  const keys: Record<string, string> = {};
  await Promise.all(
    Object.entries(set).map(async ([name, request]) => {
      await forecasts.getForecast(request);
      keys[name] = forecasts.key(request);
    }),
  );
  return keys;
}

/** The names whose key no longer exists in the cache, sorted. */
export async function gone(forecasts: ForecastCache, keys: Record<string, string>): Promise<string[]> {
  const out: string[] = [];
  for (const [name, key] of Object.entries(keys)) if (!(await forecasts.getKeyInfo(key)).exists) out.push(name);
  return out.sort();
}
