import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { day } from '../../../src/forecast/data/calendar.js';
import type { MemoryFinanceStore } from '../../../src/forecast/data/memory-store.js';
import { InvalidationTrigger, type ForecastCache } from '../../../src/forecast/index.js';
import { createFakeClock, type FakeClock } from '../../../src/testing/index.js';
import { computeAll, d, financeFixture, forecastSet, gone, NOW } from './helpers.js';

const ALL = Object.keys(forecastSet('x')).sort();
const without = (...names: string[]) => ALL.filter((n) => !names.includes(n));

/**
 * Every trigger handler: which forecasts go, which stay, what is counted and logged. Runs against any backend:
 * `open` builds a ForecastCache over the finance store and clock it is given; the suite clears and closes it.
 */
export function handlerSuite(label: string, open: (finance: MemoryFinanceStore, clock: FakeClock) => Promise<ForecastCache>): void {
  describe(`trigger handlers (${label})`, () => {
    let finance: MemoryFinanceStore;
    let forecasts: ForecastCache;
    let alice: Record<string, string>;
    let bob: Record<string, string>;

    beforeEach(async () => {
      finance = financeFixture();
      forecasts = await open(finance, createFakeClock(NOW));
      alice = await computeAll(forecasts, forecastSet('alice'));
      bob = await computeAll(forecasts, forecastSet('bob'));
      expect(await gone(forecasts, alice)).toEqual([]);
    });

    afterEach(async () => {
      await forecasts.clear({ confirm: true });
      await forecasts.close();
    });

    it('an expense: balance, burn rate, runway, expense forecasts (a category one too) go; income and goals stay', async () => {
      const count = await forecasts.onTransactionAdded({ userId: 'alice', type: 'expense', category: 'Groceries', date: day(2025, 1, 14) });
      expect(await gone(forecasts, alice)).toEqual(['balance30', 'balance90', 'burn', 'expenses', 'groceries', 'runway']);
      expect(count).toBe(6);
      expect(await gone(forecasts, bob)).toEqual([]);
    });

    it('an income: income goes, the expense forecasts stay (no category of theirs was touched)', async () => {
      const count = await forecasts.onTransactionAdded({ userId: 'alice', type: 'income', category: 'Salary' });
      expect(await gone(forecasts, alice)).toEqual(['balance30', 'balance90', 'burn', 'income', 'runway']);
      expect(count).toBe(5);
    });

    it('the category tag reaches a category forecast whatever the type', async () => {
      await forecasts.onTransactionAdded({ userId: 'alice', type: 'income', category: 'Groceries' });
      expect(await gone(forecasts, alice)).toEqual(['balance30', 'balance90', 'burn', 'groceries', 'income', 'runway']);
    });

    it('a transaction of unknown type (the seed’s { user_id, amount }) counts as both types', async () => {
      await forecasts.onTransactionAdded({ userId: 'alice' });
      expect(await gone(forecasts, alice)).toEqual(without('goal1', 'goal2', 'goals'));
    });

    it('an update invalidates for the old and the new version: type, category and user', async () => {
      const count = await forecasts.onTransactionUpdated({ userId: 'alice', type: 'income', category: 'Salary' }, { userId: 'bob', type: 'expense', category: 'Groceries' });
      expect(await gone(forecasts, alice)).toEqual(['balance30', 'balance90', 'burn', 'income', 'runway']);
      expect(await gone(forecasts, bob)).toEqual(['balance30', 'balance90', 'burn', 'expenses', 'groceries', 'runway']);
      expect(count).toBe(11);
    });

    it('a deletion behaves as an addition', async () => {
      await forecasts.onTransactionDeleted({ userId: 'bob', type: 'expense', category: 'Rent' });
      expect(await gone(forecasts, bob)).toEqual(['balance30', 'balance90', 'burn', 'expenses', 'groceries', 'runway']);
      expect(await gone(forecasts, alice)).toEqual([]);
    });

    it('a goal update: that goal’s progress and the summary go; the other goal and the money forecasts stay', async () => {
      const count = await forecasts.onGoalUpdated({ userId: 'alice', id: 'alice_g1' });
      expect(await gone(forecasts, alice)).toEqual(['goal1', 'goals']);
      expect(count).toBe(2);
      expect(await gone(forecasts, bob)).toEqual([]);
    });

    it('goal creation and deletion do the same', async () => {
      await forecasts.onGoalCreated({ userId: 'alice', id: 'alice_g2' });
      expect(await gone(forecasts, alice)).toEqual(['goal2', 'goals']);
      await forecasts.onGoalDeleted({ userId: 'bob', id: 'bob_g1' });
      expect(await gone(forecasts, bob)).toEqual(['goal1', 'goals']);
    });

    it('an account balance change: balance and runway, not the burn rate', async () => {
      expect(await forecasts.onAccountBalanceChanged('alice')).toBe(3);
      expect(await gone(forecasts, alice)).toEqual(['balance30', 'balance90', 'runway']);
    });

    it('a historical correction and a settings change take everything of the user, nothing of others', async () => {
      expect(await forecasts.onHistoricalDataCorrected('alice')).toBe(ALL.length);
      expect(await gone(forecasts, alice)).toEqual(ALL);
      expect(await gone(forecasts, bob)).toEqual([]);
      expect(await forecasts.onUserSettingsChanged('bob')).toBe(ALL.length);
      expect(await gone(forecasts, bob)).toEqual(ALL);
    });

    it('manual refresh: a user’s metric, a metric of everyone, a pattern; never everything by accident', async () => {
      expect(await forecasts.manualRefresh({ userId: 'alice', metric: 'balance' })).toBe(2);
      expect(await gone(forecasts, alice)).toEqual(['balance30', 'balance90']);
      expect(await forecasts.manualRefresh({ metric: 'runway' })).toBe(2);
      expect(await gone(forecasts, bob)).toEqual(['runway']);
      expect(await forecasts.manualRefresh({ pattern: 'forecast:bob:goal_progress:*' })).toBe(2);
      expect(await gone(forecasts, bob)).toEqual(['goal1', 'goal2', 'runway']);
      await expect(forecasts.manualRefresh({})).rejects.toThrow(TypeError);
    });

    it('records the trigger as the reason of the invalidation event, with who triggered it', async () => {
      await forecasts.onTransactionAdded({ userId: 'alice', type: 'expense' }, { triggeredBy: 'ledger-service' });
      await forecasts.onGoalUpdated({ userId: 'alice', id: 'alice_g1' });
      const events = await forecasts.getInvalidationEvents({ limit: 2 });
      expect(events.map((e) => [e.reason, e.triggeredBy])).toEqual([
        ['transaction_added', 'ledger-service'],
        ['goal_updated', 'forecast-cache'],
      ]);
      expect(events[0]?.count).toBe(6);
    });

    it('trigger() dispatches each of the ten values', async () => {
      expect(await forecasts.trigger(InvalidationTrigger.GOAL_DELETED, { userId: 'alice', id: 'alice_g2' })).toBe(2);
      expect(await forecasts.trigger(InvalidationTrigger.TRANSACTION_UPDATED, { after: { userId: 'alice', type: 'income' } })).toBe(5);
      expect(await forecasts.trigger(InvalidationTrigger.MANUAL_REFRESH, { userId: 'bob' })).toBe(ALL.length);
      await expect(forecasts.trigger('nonsense' as InvalidationTrigger, { userId: 'alice' })).rejects.toThrow(/unknown invalidation trigger "nonsense"/);
      await expect(forecasts.onTransactionAdded({ userId: '' })).rejects.toThrow(/transaction.userId must be a non-empty string/);
    });

    it('accepts the data layer’s RecordChange as the store’s writes return it', async () => {
      const added = finance.addTransaction({ userId: 'alice', date: day(2025, 1, 14), amount: d('12.00'), type: 'expense', category: 'Coffee' });
      expect(await forecasts.onTransactionChange(added)).toBe(6);
      await computeAll(forecasts, forecastSet('alice'));
      const moved = finance.updateTransaction(added.after.id, { type: 'income', category: 'Groceries' });
      await forecasts.onTransactionChange(moved);
      expect(await gone(forecasts, alice)).toEqual(without('goal1', 'goal2', 'goals'));
      await computeAll(forecasts, forecastSet('alice'));
      expect(await forecasts.onGoalChange(finance.updateGoal('alice_g2', { saved: d('600.00') }))).toBe(2);
      expect(await gone(forecasts, alice)).toEqual(['goal2', 'goals']);
    });

    it('recomputes from the new data after a trigger', async () => {
      const before = await forecasts.getForecast<{ startBalance: { toFixed(n: number): string } }>({ userId: 'alice', metric: 'balance', horizon: '30d', algorithm: 'linear' });
      const change = finance.addTransaction({ userId: 'alice', date: day(2025, 1, 15), amount: d('500.00'), type: 'expense', category: 'Repairs' });
      await forecasts.onTransactionChange(change);
      const after = await forecasts.getForecast<{ startBalance: { toFixed(n: number): string } }>({ userId: 'alice', metric: 'balance', horizon: '30d', algorithm: 'linear' });
      expect(Number(before.startBalance.toFixed(2)) - Number(after.startBalance.toFixed(2))).toBe(500);
    });
  });
}
