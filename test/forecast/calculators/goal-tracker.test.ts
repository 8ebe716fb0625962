import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GoalTracker, goalProgress } from '../../../src/forecast/calculators/goal-tracker.js';
import { day } from '../../../src/forecast/data/calendar.js';
import { RecordNotFoundError } from '../../../src/forecast/data/errors.js';
import type { FinanceStore } from '../../../src/forecast/data/store.js';
import { d, storeKinds } from '../data/helpers.js';

const iso = (date: Date | null) => date?.toISOString().slice(0, 10) ?? null;
const asOf = day(2024, 7, 15);

describe.each(storeKinds)('GoalTracker on $name', ({ create }) => {
  let store: FinanceStore;
  let goals: GoalTracker;
  beforeEach(() => {
    store = create();
    goals = new GoalTracker(store);
    store.addUser({ id: 'u', name: 'Saver', openingBalance: d('0'), openingDate: day(2024, 1, 1) });
    const base = { userId: 'u', createdAt: day(2024, 1, 15) };
    store.addGoal({ ...base, id: 'g1', name: 'Car', target: d('10000'), saved: d('4000'), deadline: day(2025, 1, 15) });
    store.addGoal({ ...base, id: 'g2', name: 'Car, committed', target: d('10000'), saved: d('4000'), deadline: day(2025, 1, 15), monthlyContribution: d('1500') });
    store.addGoal({ ...base, id: 'g3', name: 'Bike', target: d('500'), saved: d('650'), deadline: day(2024, 12, 1) });
    store.addGoal({ userId: 'u', id: 'g4', name: 'Laptop', target: d('1200'), saved: d('300'), createdAt: day(2024, 4, 15) });
    store.addGoal({ ...base, id: 'g5', name: 'Festival', target: d('1000'), saved: d('200'), deadline: day(2024, 6, 30) });
    store.addGoal({ userId: 'u', id: 'g7', name: 'Sofa', target: d('3000'), saved: d('1000'), createdAt: day(2024, 6, 1) });
  });
  afterEach(() => store.close());

  it('behind: the pace so far finishes after the deadline', () => {
    const p = goals.progress('g1', { asOf });
    expect(p.percent.toFixed(2)).toBe('40.00'); // 4000 / 10000
    expect(p.remaining.toFixed(2)).toBe('6000.00');
    // 01-15 → 07-15 is exactly 6 months: 4000 / 6 = 666.666… → 666.67
    expect(p.paceSource).toBe('history');
    expect(p.pacePerMonth!.toFixed(2)).toBe('666.67');
    // 6000 / 666.666… = 9 months → 2025-04-15, after the 2025-01-15 deadline
    expect(p.monthsToComplete!.toFixed(2)).toBe('9.00');
    expect(iso(p.projectedCompletion)).toBe('2025-04-15');
    // 07-15 → 2025-01-15 is 6 months: 6000 / 6 = 1000 a month needed
    expect(p.monthsToDeadline!.toFixed(2)).toBe('6.00');
    expect(p.requiredPerMonth!.toFixed(2)).toBe('1000.00');
    expect(p.status).toBe('behind');
    expect(p.onTrack).toBe(false);
  });

  it('on track: a monthly contribution sets the pace', () => {
    const p = goals.progress('g2', { asOf });
    expect(p.paceSource).toBe('monthly_contribution');
    expect(p.pacePerMonth!.toFixed(2)).toBe('1500.00');
    // 6000 / 1500 = 4 months → 2024-11-15, before 2025-01-15
    expect(p.monthsToComplete!.toFixed(2)).toBe('4.00');
    expect(iso(p.projectedCompletion)).toBe('2024-11-15');
    expect(p.status).toBe('on_track');
    expect(p.onTrack).toBe(true);
  });

  it('completed, even overshot', () => {
    const p = goals.progress('g3', { asOf });
    // 650 / 500 = 130 %
    expect(p.percent.toFixed(2)).toBe('130.00');
    expect(p.remaining.toFixed(2)).toBe('0.00');
    expect(p).toMatchObject({ status: 'completed', onTrack: true, projectedCompletion: null, requiredPerMonth: null });
    expect(p.monthsToComplete!.toFixed(2)).toBe('0.00');
  });

  it('open: no deadline to be on track for', () => {
    const p = goals.progress('g4', { asOf });
    // 04-15 → 07-15 = 3 months: 300 / 3 = 100 a month; 900 / 100 = 9 months → 2025-04-15
    expect(p.pacePerMonth!.toFixed(2)).toBe('100.00');
    expect(iso(p.projectedCompletion)).toBe('2025-04-15');
    expect(p).toMatchObject({ status: 'open', onTrack: null, deadline: null, monthsToDeadline: null, requiredPerMonth: null });
  });

  it('overdue: the deadline passed before the goal was reached', () => {
    const p = goals.progress('g5', { asOf });
    expect(p).toMatchObject({ status: 'overdue', onTrack: false, monthsToDeadline: null, requiredPerMonth: null });
  });

  it('measures a fraction of a month in the days of the month it falls in', () => {
    const p = goals.progress('g7', { asOf });
    // 06-01 → 07-15 = 1 month + 14 of the 31 days from 07-01 to 08-01 = 45/31 months
    // pace 1000 / (45/31) = 31000/45 = 688.888… → 688.89
    expect(p.pacePerMonth!.toFixed(2)).toBe('688.89');
    // 2000 / (31000/45) = 2.903225… months → 2.90
    expect(p.monthsToComplete!.toFixed(2)).toBe('2.90');
    // 2 months → 09-15; 0.903225… × 30 days (09-15 → 10-15) = 27.1 → up to 28 → 10-13
    expect(iso(p.projectedCompletion)).toBe('2024-10-13');
  });

  it('has no pace for a goal created today without a contribution', () => {
    store.addGoal({ userId: 'u', id: 'g8', name: 'New', target: d('600'), createdAt: asOf, deadline: day(2024, 12, 15) });
    const p = goals.progress('g8', { asOf });
    expect(p).toMatchObject({ pacePerMonth: null, paceSource: null, monthsToComplete: null, projectedCompletion: null, status: 'behind' });
    // 600 / 5 months (07-15 → 12-15)
    expect(p.requiredPerMonth!.toFixed(2)).toBe('120.00');
  });

  it('sums up a user’s goals', () => {
    const s = goals.summary('u', { asOf });
    expect(s.goals.map((g) => g.goalId)).toEqual(['g1', 'g2', 'g3', 'g4', 'g5', 'g7']);
    expect(s.count).toBe(6);
    // 10000 + 10000 + 500 + 1200 + 1000 + 3000
    expect(s.totalTarget.toFixed(2)).toBe('25700.00');
    // 4000 + 4000 + 650 + 300 + 200 + 1000
    expect(s.totalSaved.toFixed(2)).toBe('10150.00');
    // 6000 + 6000 + 0 (overshoot does not count against others) + 900 + 800 + 2000
    expect(s.totalRemaining.toFixed(2)).toBe('15700.00');
    // 10150 / 25700 = 39.4941… %
    expect(s.percent.toFixed(2)).toBe('39.49');
    expect(s.byStatus).toEqual({ completed: 1, on_track: 1, behind: 1, overdue: 1, open: 2 });
    expect(s.monthlyCommitment.toFixed(2)).toBe('1500.00');
    // g1 and g2 each need 1000 a month; the others have no deadline ahead or are done
    expect(s.requiredPerMonth.toFixed(2)).toBe('2000.00');
  });

  it('refuses unknown goals and users', () => {
    expect(() => goals.progress('nope', { asOf })).toThrow(RecordNotFoundError);
    expect(() => goalProgress(store, 'nope')).toThrow(/^goalId: no goal with id "nope"/);
    expect(() => goals.summary('ghost', { asOf })).toThrow(RecordNotFoundError);
    expect(() => goals.progress('g1', { asOf: 'today' as never })).toThrow(/^asOf must be a Date/);
  });
});
