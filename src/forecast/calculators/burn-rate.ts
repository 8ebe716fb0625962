import type { Decimal } from 'decimal.js';
import type { Clock } from '../../clock.js';
import { epochDayOf, formatDay, fromEpochDay, partsOfEpochDay, toEpochDay } from '../data/calendar.js';
import type { FinanceStore } from '../data/store.js';
import { checkMoney } from '../data/validate.js';
import { exact, Exact, money, rounded, ZERO } from './exact.js';
import {
  addFractionalMonths,
  checkAfterOpening,
  checkChoice,
  checkInteger,
  checkOptions,
  defaultClock,
  requireUser,
  resolveDay,
  type CalculatorOptions,
} from './shared.js';

/** How the monthly values are averaged into one burn rate. */
export type BurnMethod = 'simple' | 'ema' | 'weighted';
/** Every {@link BurnMethod}, for validating outside input. */
export const BURN_METHODS: readonly BurnMethod[] = Object.freeze(['simple', 'ema', 'weighted']);

/** `net`: expenses minus income (what the balance loses); `gross`: expenses alone (what it costs to run). */
export type BurnBasis = 'net' | 'gross';
/** Every {@link BurnBasis}, for validating outside input. */
export const BURN_BASES: readonly BurnBasis[] = Object.freeze(['net', 'gross']);

/** Options of {@link BurnRateCalculator.burnRate}. */
export interface BurnRateOptions {
  /** @default 'simple' */
  method?: BurnMethod;
  /** How many full calendar months to average, 1 to 120. @default 3 */
  months?: number;
  /** Months are the full calendar months before this day (its own month too when it is the month's last day). @default today (UTC) */
  asOf?: Date;
  /** @default 'net' */
  basis?: BurnBasis;
}

/** Options of {@link BurnRateCalculator.runway}. */
export interface RunwayOptions extends BurnRateOptions {
  /** The balance to run down. @default the store's balance at the end of `asOf` */
  balance?: Decimal;
}

/** One calendar month of flows. */
export interface MonthlyFlow {
  /** `'YYYY-MM'`. */
  month: string;
  income: Decimal;
  expenses: Decimal;
  /** Expenses minus income for `net`, expenses for `gross`. Negative when a `net` month saved money. */
  burn: Decimal;
}

/** What {@link BurnRateCalculator.burnRate} returns. Money in cents, ROUND_HALF_EVEN. */
export interface BurnRate {
  userId: string;
  method: BurnMethod;
  basis: BurnBasis;
  asOf: Date;
  /** Months asked for. */
  months: number;
  /** Months averaged: fewer than asked when the user opened less than that many full months before `asOf`. */
  monthsUsed: number;
  /** First day of the oldest month used. */
  from: Date;
  /** Last day of the newest month used. */
  to: Date;
  /** The months used, oldest first. */
  monthly: MonthlyFlow[];
  /** The average burn per month; negative when the balance grows. */
  monthlyBurn: Decimal;
}

/** Where a runway stands. */
export type RunwayStatus = 'burning' | 'not_burning' | 'depleted';

/** What {@link BurnRateCalculator.runway} returns. */
export interface Runway {
  userId: string;
  method: BurnMethod;
  basis: BurnBasis;
  asOf: Date;
  monthlyBurn: Decimal;
  balance: Decimal;
  /**
   * balance / monthlyBurn, two decimals; 0 when the balance is already zero or below while burning; null when
   * not burning (monthlyBurn ≤ 0), where the money never runs out at this rate.
   */
  runwayMonths: Decimal | null;
  /**
   * `asOf` plus `runwayMonths` calendar months, the fraction counted in days of the month that follows and
   * rounded down (the cautious side). Null when not burning, or when the runway is longer than 1,200 months,
   * where a date would be noise.
   */
  zeroDate: Date | null;
  status: RunwayStatus;
  /** The burn rate the runway was computed from. */
  burnRate: BurnRate;
}

const MAX_DATED_RUNWAY_MONTHS = 1_200;

/**
 * Monthly burn rate and runway.
 *
 * The monthly values m₁…m_N (oldest first) are the last N full calendar months before `asOf`; the month of
 * `asOf` is partial and left out unless `asOf` is its last day, and so is any month that began before the
 * user's opening date. They are averaged by `method`:
 *
 * - `simple`: the mean, Σmᵢ / N.
 * - `weighted`: linear weights, the newest month weighing N and the oldest 1: Σ i·mᵢ / Σ i.
 * - `ema`: exponential moving average with α = 2 / (N + 1), seeded with the oldest month:
 *   e₁ = m₁, eᵢ = α·mᵢ + (1 − α)·eᵢ₋₁; the burn is e_N.
 *
 * With the default `net` basis the burn is what the balance loses per month (expenses minus income), which
 * is what a runway needs; `gross` counts expenses alone.
 *
 * @example
 * const burn = new BurnRateCalculator(store);
 * burn.burnRate('user_2', { method: 'ema', months: 6, asOf: day(2024, 12, 31) }).monthlyBurn.toFixed(2);
 * burn.runway('user_2', { asOf: day(2024, 12, 31) }).zeroDate;
 */
export class BurnRateCalculator {
  readonly #store: FinanceStore;
  readonly #clock: Clock;

  constructor(store: FinanceStore, options?: CalculatorOptions) {
    this.#store = store;
    this.#clock = defaultClock(options);
  }

  /**
   * @throws {RecordNotFoundError} for an unknown user; {@link RangeError} when there is no full month of
   * history before `asOf`; `TypeError`/`RangeError` naming the option for a bad option.
   */
  burnRate(userId: string, options: BurnRateOptions = {}): BurnRate {
    return burnRate(this.#store, userId, options, this.#clock);
  }

  /** @throws as {@link burnRate}, and a `TypeError` when `balance` is not a Decimal. */
  runway(userId: string, options: RunwayOptions = {}): Runway {
    return runway(this.#store, userId, options, this.#clock);
  }
}

/** {@link BurnRateCalculator.burnRate} as a function. */
export function burnRate(store: FinanceStore, userId: string, options: BurnRateOptions = {}, clock?: Clock): BurnRate {
  return computeBurnRate(store, userId, options, clock).rate;
}

/**
 * Also returns the burn before rounding: the runway divides by it, and dividing by a burn rounded to cents
 * would move the zero date of a long runway.
 */
function computeBurnRate(store: FinanceStore, userId: string, options: BurnRateOptions, clock: Clock | undefined): { rate: BurnRate; burn: Decimal } {
  checkOptions(options, 'burnRate');
  const { method = 'simple', months = 3, asOf, basis = 'net' } = options;
  checkChoice(method, 'method', BURN_METHODS);
  checkInteger(months, 'months', 1, 120);
  checkChoice(basis, 'basis', BURN_BASES);
  const user = requireUser(store, userId);
  const asOfDay = resolveDay(asOf, clock ?? defaultClock(undefined), 'asOf');
  checkAfterOpening(asOfDay, user);

  // Month indexes count months since year 0 (year·12 + month − 1), so stepping back never needs a Date.
  const at = partsOfEpochDay(asOfDay);
  const asOfMonthEnds = partsOfEpochDay(asOfDay + 1).dayOfMonth === 1;
  const newest = at.year * 12 + at.month - 1 - (asOfMonthEnds ? 0 : 1);
  const opening = partsOfEpochDay(toEpochDay(user.openingDate));
  const firstFull = opening.year * 12 + opening.month - 1 + (opening.dayOfMonth === 1 ? 0 : 1);
  const oldest = Math.max(newest - months + 1, firstFull);
  if (oldest > newest) {
    throw new RangeError(
      `asOf ${formatDay(fromEpochDay(asOfDay))}: user ${JSON.stringify(user.id)} has no full calendar month of history before it (opened ${formatDay(user.openingDate)})`,
    );
  }

  const fromDay = monthStart(oldest);
  const toDay = monthStart(newest + 1) - 1;
  const count = newest - oldest + 1;
  const income: Decimal[] = new Array<Decimal>(count).fill(ZERO);
  const expenses: Decimal[] = new Array<Decimal>(count).fill(ZERO);
  for (const t of store.listTransactions(user.id, { from: fromEpochDay(fromDay), to: fromEpochDay(toDay) })) {
    const { year, month } = partsOfEpochDay(toEpochDay(t.date));
    const i = year * 12 + month - 1 - oldest;
    if (t.type === 'income') income[i] = income[i]!.plus(t.amount);
    else expenses[i] = expenses[i]!.plus(t.amount);
  }
  const burns = expenses.map((spent, i) => (basis === 'net' ? spent.minus(income[i]!) : spent));

  const burn = average(burns, method);
  const rate: BurnRate = {
    userId: user.id,
    method,
    basis,
    asOf: fromEpochDay(asOfDay),
    months,
    monthsUsed: count,
    from: fromEpochDay(fromDay),
    to: fromEpochDay(toDay),
    monthly: burns.map((monthBurn, i) => ({
      month: formatDay(fromEpochDay(monthStart(oldest + i))).slice(0, 7),
      income: money(income[i]!),
      expenses: money(expenses[i]!),
      burn: money(monthBurn),
    })),
    monthlyBurn: money(burn),
  };
  return { rate, burn };
}

/**
 * {@link BurnRateCalculator.runway} as a function. runwayMonths = balance / monthlyBurn, computed from the
 * unrounded burn; see {@link Runway} for the edge cases.
 */
export function runway(store: FinanceStore, userId: string, options: RunwayOptions = {}, clock?: Clock): Runway {
  checkOptions(options, 'runway');
  const { balance: given, ...rest } = options;
  const { rate, burn } = computeBurnRate(store, userId, rest, clock);
  const asOfDay = toEpochDay(rate.asOf);
  const balance = exact(given === undefined ? store.balanceAsOf(userId, rate.asOf) : checkMoney(given, 'balance', 'any'));

  let runwayMonths: Decimal | null = null;
  let zeroDay: number | null = null;
  let status: RunwayStatus = 'not_burning';
  if (burn.gt(0)) {
    if (balance.lte(0)) {
      status = 'depleted';
      runwayMonths = ZERO;
      zeroDay = asOfDay;
    } else {
      status = 'burning';
      runwayMonths = balance.div(burn);
      if (runwayMonths.lte(MAX_DATED_RUNWAY_MONTHS)) zeroDay = addFractionalMonths(asOfDay, runwayMonths, 'floor');
    }
  }
  return {
    userId: rate.userId,
    method: rate.method,
    basis: rate.basis,
    asOf: rate.asOf,
    monthlyBurn: rate.monthlyBurn,
    balance: money(balance),
    runwayMonths: runwayMonths === null ? null : rounded(runwayMonths, 2),
    zeroDate: zeroDay === null ? null : fromEpochDay(zeroDay),
    status,
    burnRate: rate,
  };
}

function monthStart(monthIndex: number): number {
  const year = Math.floor(monthIndex / 12);
  return epochDayOf(year, monthIndex - year * 12 + 1, 1);
}

function average(values: readonly Decimal[], method: BurnMethod): Decimal {
  const n = values.length;
  switch (method) {
    case 'simple':
      return values.reduce((sum, v) => sum.plus(v), ZERO).div(n);
    case 'weighted': {
      let sum = ZERO;
      values.forEach((v, i) => (sum = sum.plus(v.times(i + 1))));
      return sum.div((n * (n + 1)) / 2);
    }
    case 'ema': {
      const alpha = new Exact(2).div(n + 1);
      let ema = values[0]!;
      for (let i = 1; i < n; i++) ema = alpha.times(values[i]!).plus(Exact.sub(1, alpha).times(ema));
      return ema;
    }
  }
}
