import type { Decimal } from 'decimal.js';
import type { Clock } from '../../clock.js';
import { fromEpochDay, toEpochDay } from '../data/calendar.js';
import { RecordNotFoundError } from '../data/errors.js';
import type { FinanceStore } from '../data/store.js';
import type { Goal } from '../data/types.js';
import { exact, Exact, money, rounded, ZERO } from './exact.js';
import { addFractionalMonths, checkOptions, defaultClock, monthsBetween, requireUser, resolveDay, type CalculatorOptions } from './shared.js';

/**
 * - `completed`: saved ≥ target.
 * - `on_track`: the projected completion is on or before the deadline.
 * - `behind`: it is after the deadline, or there is no pace to project from.
 * - `overdue`: the deadline has passed without completion.
 * - `open`: no deadline to be on track for.
 */
export type GoalStatus = 'completed' | 'on_track' | 'behind' | 'overdue' | 'open';

/** Every {@link GoalStatus}. */
export const GOAL_STATUSES: readonly GoalStatus[] = Object.freeze(['completed', 'on_track', 'behind', 'overdue', 'open']);

/** Options of {@link GoalTracker.progress} and {@link GoalTracker.summary}. */
export interface GoalProgressOptions {
  /** The day to measure from. The store keeps only the current `saved` amount, so this moves the clock, not the data. @default today (UTC) */
  asOf?: Date;
}

/** What {@link GoalTracker.progress} returns. Money in cents and ratios to two decimals, ROUND_HALF_EVEN. */
export interface GoalProgress {
  goalId: string;
  userId: string;
  name: string;
  asOf: Date;
  target: Decimal;
  saved: Decimal;
  /** target − saved, never below 0. */
  remaining: Decimal;
  /** saved / target × 100; above 100 when the goal was overshot. */
  percent: Decimal;
  createdAt: Date;
  deadline: Date | null;
  /** Saving per month: the goal's `monthlyContribution` when set, else saved ÷ months since `createdAt`; null when neither gives one. */
  pacePerMonth: Decimal | null;
  paceSource: 'monthly_contribution' | 'history' | null;
  /** remaining ÷ pace, two decimals; 0 when completed; null without a positive pace. */
  monthsToComplete: Decimal | null;
  /**
   * `asOf` plus `monthsToComplete` calendar months, the fraction counted in days of the following month and
   * rounded up (the cautious side). Null when completed, without a positive pace, or beyond 1,200 months.
   */
  projectedCompletion: Date | null;
  /** Months from `asOf` to the deadline, two decimals; null without a deadline or once it has passed. */
  monthsToDeadline: Decimal | null;
  /** remaining ÷ months to the deadline: what it takes to finish on time. Null when completed, without a deadline, or when it is not after `asOf`. */
  requiredPerMonth: Decimal | null;
  status: GoalStatus;
  /** True when completed or on track, false when behind or overdue, null without a deadline. */
  onTrack: boolean | null;
}

/** What {@link GoalTracker.summary} returns. */
export interface GoalsSummary {
  userId: string;
  asOf: Date;
  /** Each goal's progress, by goal id. */
  goals: GoalProgress[];
  count: number;
  totalTarget: Decimal;
  totalSaved: Decimal;
  /** Sum of each goal's remaining amount (an overshot goal does not offset another). */
  totalRemaining: Decimal;
  /** totalSaved / totalTarget × 100, two decimals; 0 without goals. */
  percent: Decimal;
  byStatus: Record<GoalStatus, number>;
  /** Sum of the monthly contributions the user committed to. */
  monthlyCommitment: Decimal;
  /** Sum of {@link GoalProgress.requiredPerMonth} over the goals that have one. */
  requiredPerMonth: Decimal;
}

const MAX_PROJECTED_MONTHS = 1_200;

/**
 * Progress of savings goals: how far along, at what pace, when they will be reached, and whether that is
 * before the deadline.
 *
 * @example
 * const goals = new GoalTracker(store);
 * goals.progress('user_1_g1', { asOf: day(2024, 12, 31) }).status; // 'on_track'
 * goals.summary('user_1').percent.toFixed(2);
 */
export class GoalTracker {
  readonly #store: FinanceStore;
  readonly #clock: Clock;

  constructor(store: FinanceStore, options?: CalculatorOptions) {
    this.#store = store;
    this.#clock = defaultClock(options);
  }

  /** @throws {RecordNotFoundError} for an unknown goal. */
  progress(goalId: string, options: GoalProgressOptions = {}): GoalProgress {
    return goalProgress(this.#store, goalId, options, this.#clock);
  }

  /** @throws {RecordNotFoundError} for an unknown user. */
  summary(userId: string, options: GoalProgressOptions = {}): GoalsSummary {
    return goalsSummary(this.#store, userId, options, this.#clock);
  }
}

/** {@link GoalTracker.progress} as a function. */
export function goalProgress(store: FinanceStore, goalId: string, options: GoalProgressOptions = {}, clock?: Clock): GoalProgress {
  checkOptions(options, 'goalProgress');
  if (typeof goalId !== 'string') throw new TypeError(`goalId must be a string, got ${typeof goalId}`);
  const goal = store.getGoal(goalId);
  if (goal === undefined) throw new RecordNotFoundError('goal', goalId, 'goalId');
  return progressOf(goal, resolveDay(options.asOf, clock ?? defaultClock(undefined), 'asOf'));
}

/** {@link GoalTracker.summary} as a function. */
export function goalsSummary(store: FinanceStore, userId: string, options: GoalProgressOptions = {}, clock?: Clock): GoalsSummary {
  checkOptions(options, 'goalsSummary');
  const user = requireUser(store, userId);
  const asOfDay = resolveDay(options.asOf, clock ?? defaultClock(undefined), 'asOf');
  const goals = store.listGoals(user.id).map((goal) => progressOf(goal, asOfDay));

  let target = ZERO;
  let saved = ZERO;
  let remaining = ZERO;
  let committed = ZERO;
  let required = ZERO;
  const byStatus = Object.fromEntries(GOAL_STATUSES.map((s) => [s, 0])) as Record<GoalStatus, number>;
  for (const g of goals) {
    target = target.plus(g.target);
    saved = saved.plus(g.saved);
    remaining = remaining.plus(g.remaining);
    if (g.paceSource === 'monthly_contribution' && g.pacePerMonth !== null) committed = committed.plus(g.pacePerMonth);
    if (g.requiredPerMonth !== null) required = required.plus(g.requiredPerMonth);
    byStatus[g.status]++;
  }
  return {
    userId: user.id,
    asOf: fromEpochDay(asOfDay),
    goals,
    count: goals.length,
    totalTarget: money(target),
    totalSaved: money(saved),
    totalRemaining: money(remaining),
    percent: target.isZero() ? rounded(ZERO, 2) : rounded(saved.div(target).times(100), 2),
    byStatus,
    monthlyCommitment: money(committed),
    requiredPerMonth: money(required),
  };
}

function progressOf(goal: Goal, asOfDay: number): GoalProgress {
  const target = exact(goal.target);
  const saved = exact(goal.saved);
  const remaining = Exact.max(ZERO, target.minus(saved));
  const createdDay = toEpochDay(goal.createdAt);
  const deadlineDay = goal.deadline === undefined ? undefined : toEpochDay(goal.deadline);
  const completed = remaining.isZero();

  let pace: Decimal | null = null;
  let paceSource: GoalProgress['paceSource'] = null;
  if (goal.monthlyContribution !== undefined) {
    pace = exact(goal.monthlyContribution);
    paceSource = 'monthly_contribution';
  } else if (asOfDay > createdDay) {
    pace = saved.div(monthsBetween(createdDay, asOfDay));
    paceSource = 'history';
  }

  let monthsToComplete: Decimal | null = null;
  let completionDay: number | null = null;
  if (completed) monthsToComplete = ZERO;
  else if (pace !== null && pace.gt(0)) {
    monthsToComplete = remaining.div(pace);
    if (monthsToComplete.lte(MAX_PROJECTED_MONTHS)) completionDay = addFractionalMonths(asOfDay, monthsToComplete, 'ceil');
  }

  const deadlineAhead = deadlineDay !== undefined && deadlineDay > asOfDay;
  const monthsToDeadline = deadlineDay !== undefined && deadlineDay >= asOfDay ? monthsBetween(asOfDay, deadlineDay) : null;
  const requiredPerMonth = !completed && deadlineAhead ? remaining.div(monthsToDeadline!) : null;

  let status: GoalStatus;
  if (completed) status = 'completed';
  else if (deadlineDay === undefined) status = 'open';
  else if (deadlineDay < asOfDay) status = 'overdue';
  // A completion too far off to date is past any deadline a Date can hold.
  else if (monthsToComplete !== null && (completionDay ?? Infinity) <= deadlineDay) status = 'on_track';
  else status = 'behind';

  return {
    goalId: goal.id,
    userId: goal.userId,
    name: goal.name,
    asOf: fromEpochDay(asOfDay),
    target: money(target),
    saved: money(saved),
    remaining: money(remaining),
    percent: rounded(saved.div(target).times(100), 2),
    createdAt: fromEpochDay(createdDay),
    deadline: deadlineDay === undefined ? null : fromEpochDay(deadlineDay),
    pacePerMonth: pace === null ? null : money(pace),
    paceSource,
    monthsToComplete: monthsToComplete === null ? null : rounded(monthsToComplete, 2),
    projectedCompletion: completionDay === null ? null : fromEpochDay(completionDay),
    monthsToDeadline: monthsToDeadline === null ? null : rounded(monthsToDeadline, 2),
    requiredPerMonth: requiredPerMonth === null ? null : money(requiredPerMonth),
    status,
    onTrack: status === 'open' ? null : status === 'completed' || status === 'on_track',
  };
}
