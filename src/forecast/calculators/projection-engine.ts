import type { Decimal } from 'decimal.js';
import type { Clock } from '../../clock.js';
import { fromEpochDay, partsOfEpochDay } from '../data/calendar.js';
import type { FinanceStore } from '../data/store.js';
import { exact, fitLine, money, ONE, statistic, ZERO } from './exact.js';
import { loadDailyHistory, type DailyHistory } from './history.js';
import { checkAfterOpening, checkChoice, checkInteger, checkOptions, defaultClock, requireUser, resolveDay, type CalculatorOptions } from './shared.js';

/** How {@link ProjectionEngine.projectBalance} extends the past into the future. */
export type ProjectionAlgorithm = 'linear' | 'trend_adjusted' | 'seasonal';

/** Every {@link ProjectionAlgorithm}, for validating outside input. */
export const PROJECTION_ALGORITHMS: readonly ProjectionAlgorithm[] = Object.freeze(['linear', 'trend_adjusted', 'seasonal']);

/** Options of {@link ProjectionEngine.projectBalance}. */
export interface ProjectBalanceOptions {
  /** Days to project past `asOf`, 1 to 3,650. */
  horizonDays: number;
  /** @default 'linear' */
  algorithm?: ProjectionAlgorithm;
  /** The last day of history; the projection starts from the balance at its end. @default today (UTC) */
  asOf?: Date;
  /** Days of history the model learns from, ending on `asOf` (fewer when the user opened later). 1 to 3,650. @default 365 */
  historyDays?: number;
  /** `trend_adjusted` only: the recent window whose trend is weighted more. 2 to 3,650. @default 90 */
  recentDays?: number;
  /** `trend_adjusted` only: weight of the recent trend, 0 to 1; the whole window's trend gets the rest. @default 0.7 */
  recentWeight?: number;
  /** Spacing of {@link BalanceProjection.points} in days; the last day of the horizon is always a point. @default 7 */
  pointEveryDays?: number;
}

/** One day of a projection. */
export interface BalancePoint {
  date: Date;
  /** Projected balance at the end of `date`, in cents. */
  balance: Decimal;
}

/** What {@link ProjectionEngine.projectBalance} returns. Money is rounded to cents (ROUND_HALF_EVEN) from exact values. */
export interface BalanceProjection {
  userId: string;
  algorithm: ProjectionAlgorithm;
  asOf: Date;
  horizonDays: number;
  /** `asOf` plus `horizonDays`. */
  endDate: Date;
  /** First day of the history the model learned from. */
  historyFrom: Date;
  /** Days of history used: `historyDays`, or fewer when the user opened later. */
  historyDays: number;
  /** Actual balance at the end of `asOf`. */
  startBalance: Decimal;
  /** Projected balance at the end of `endDate`. */
  projectedBalance: Decimal;
  /** Average projected change per day: (projected − start) / horizonDays. For `linear`, the fitted slope. */
  dailyNet: Decimal;
  /** `asOf` (the start balance), then every `pointEveryDays` days, then `endDate`. */
  points: BalancePoint[];
  /** First day of the horizon whose projected balance is below zero, or null. Checked day by day, not only at the points. */
  firstNegativeDate: Date | null;
  /**
   * How well the model fits the history, 0–1 (four decimals), or null with fewer than two days of history.
   * `linear` and `trend_adjusted`: R² of the least-squares line through the daily balances of the whole window.
   * `seasonal`: share of the variance of daily net flows explained by the day-of-month profile.
   */
  r2: number | null;
}

/**
 * Projects a user's balance.
 *
 * The history is the end-of-day balance of each of the last `historyDays` days through `asOf`. Every
 * algorithm starts from the actual balance at the end of `asOf` (not from a fitted value, which would make
 * day 0 disagree with the account) and adds a daily change:
 *
 * - `linear`: the slope of the least-squares line through the daily balances, b = Σ(x−x̄)(y−ȳ) / Σ(x−x̄)²;
 *   balance(asOf + h) = start + b·h.
 * - `trend_adjusted`: the same, with the slope blended towards the recent past:
 *   b = w·b_recent + (1−w)·b_all, where b_recent is the least-squares slope over the last `recentDays` days
 *   of the window and w = `recentWeight` (default 0.7 over the last 90 days), so a change of habits shows
 *   within weeks while one odd month cannot swing the projection alone.
 * - `seasonal`: a day-of-month profile. For each day of the month k = 1…31, p(k) is the mean net flow of the
 *   window's days that fell on the k-th (days of the month the window never saw use the window's mean daily
 *   net). balance(asOf + h) = start + Σ p(day of month of asOf + j) for j = 1…h, so the rent on the 1st and
 *   the salary on the 25th land on their days. A monthly flow on the 29th–31st is projected only in months
 *   that have that day.
 *
 * All arithmetic is exact decimal (34 significant digits); money is rounded to cents, ROUND_HALF_EVEN, only
 * in the result. Synchronous, because the store is.
 *
 * @example
 * const engine = new ProjectionEngine(store);
 * const p = engine.projectBalance('user_1', { horizonDays: 30, algorithm: 'seasonal', asOf: day(2024, 12, 31) });
 * p.projectedBalance.toFixed(2);
 */
export class ProjectionEngine {
  readonly #store: FinanceStore;
  readonly #clock: Clock;

  constructor(store: FinanceStore, options?: CalculatorOptions) {
    this.#store = store;
    this.#clock = defaultClock(options);
  }

  /**
   * @throws {RecordNotFoundError} for an unknown user; {@link RangeError} when `asOf` precedes the user's
   * opening date; `TypeError`/`RangeError` naming the option for a bad option.
   */
  projectBalance(userId: string, options: ProjectBalanceOptions): BalanceProjection {
    return projectBalance(this.#store, userId, options, this.#clock);
  }
}

/** {@link ProjectionEngine.projectBalance} as a function. */
export function projectBalance(store: FinanceStore, userId: string, options: ProjectBalanceOptions, clock?: Clock): BalanceProjection {
  checkOptions(options, 'projectBalance');
  if (options === undefined) throw new TypeError('projectBalance needs options with horizonDays');
  const {
    horizonDays,
    algorithm = 'linear',
    asOf,
    historyDays = 365,
    recentDays = 90,
    recentWeight = 0.7,
    pointEveryDays = 7,
  } = options;
  checkInteger(horizonDays, 'horizonDays', 1, 3_650);
  checkChoice(algorithm, 'algorithm', PROJECTION_ALGORITHMS);
  checkInteger(historyDays, 'historyDays', 1, 3_650);
  checkInteger(recentDays, 'recentDays', 2, 3_650);
  if (typeof recentWeight !== 'number' || !Number.isFinite(recentWeight)) throw new TypeError(`recentWeight must be a finite number, got ${String(recentWeight)}`);
  if (recentWeight < 0 || recentWeight > 1) throw new RangeError(`recentWeight must be from 0 to 1, got ${recentWeight}`);
  checkInteger(pointEveryDays, 'pointEveryDays', 1, 3_650);

  const user = requireUser(store, userId);
  const asOfDay = resolveDay(asOf, clock ?? defaultClock(undefined), 'asOf');
  checkAfterOpening(asOfDay, user);
  const history = loadDailyHistory(store, user, asOfDay, historyDays);
  const start = history.balances[history.balances.length - 1]!;

  let path: Decimal[];
  let r2: Decimal | null;
  switch (algorithm) {
    case 'linear': {
      const fit = fitLine(history.balances);
      path = straightPath(start, fit.slope, horizonDays);
      r2 = fit.r2;
      break;
    }
    case 'trend_adjusted': {
      const all = fitLine(history.balances);
      const recent = fitLine(history.balances.slice(-recentDays));
      const w = exact(recentWeight);
      const slope = w.times(recent.slope).plus(ONE.minus(w).times(all.slope));
      path = straightPath(start, slope, horizonDays);
      r2 = all.r2;
      break;
    }
    case 'seasonal': {
      const profile = dayOfMonthProfile(history);
      path = new Array<Decimal>(horizonDays);
      let balance = start;
      for (let j = 1; j <= horizonDays; j++) {
        balance = balance.plus(profile.mean[partsOfEpochDay(asOfDay + j).dayOfMonth]!);
        path[j - 1] = balance;
      }
      r2 = profile.r2;
      break;
    }
  }

  const projected = path[horizonDays - 1]!;
  const points: BalancePoint[] = [{ date: fromEpochDay(asOfDay), balance: money(start) }];
  for (let j = pointEveryDays; j < horizonDays; j += pointEveryDays) {
    points.push({ date: fromEpochDay(asOfDay + j), balance: money(path[j - 1]!) });
  }
  points.push({ date: fromEpochDay(asOfDay + horizonDays), balance: money(projected) });
  const negative = path.findIndex((balance) => balance.lt(0));

  return {
    userId: user.id,
    algorithm,
    asOf: fromEpochDay(asOfDay),
    horizonDays,
    endDate: fromEpochDay(asOfDay + horizonDays),
    historyFrom: fromEpochDay(history.firstDay),
    historyDays: history.balances.length,
    startBalance: money(start),
    projectedBalance: money(projected),
    dailyNet: money(projected.minus(start).div(horizonDays)),
    points,
    firstNegativeDate: negative === -1 ? null : fromEpochDay(asOfDay + negative + 1),
    r2: r2 === null ? null : statistic(r2),
  };
}

function straightPath(start: Decimal, slope: Decimal, days: number): Decimal[] {
  const path = new Array<Decimal>(days);
  for (let j = 1; j <= days; j++) path[j - 1] = start.plus(slope.times(j));
  return path;
}

interface Profile {
  /** Indexed by day of month, 1–31; index 0 unused. */
  mean: Decimal[];
  r2: Decimal | null;
}

function dayOfMonthProfile(history: DailyHistory): Profile {
  const sums: Decimal[] = new Array<Decimal>(32).fill(ZERO);
  const counts = new Array<number>(32).fill(0);
  const doms = history.nets.map((_, i) => partsOfEpochDay(history.firstDay + i).dayOfMonth);
  let total = ZERO;
  history.nets.forEach((net, i) => {
    const k = doms[i]!;
    sums[k] = sums[k]!.plus(net);
    counts[k]!++;
    total = total.plus(net);
  });
  const overall = total.div(history.nets.length);
  const mean = sums.map((sum, k) => (counts[k] === 0 ? overall : sum.div(counts[k]!)));

  if (history.nets.length < 2) return { mean, r2: null };
  let ssTot = ZERO;
  let ssRes = ZERO;
  history.nets.forEach((net, i) => {
    const spread = net.minus(overall);
    const residual = net.minus(mean[doms[i]!]!);
    ssTot = ssTot.plus(spread.times(spread));
    ssRes = ssRes.plus(residual.times(residual));
  });
  const r2 = ssRes.isZero() ? ONE : ONE.minus(ssRes.div(ssTot));
  return { mean, r2 };
}
