import type { Decimal } from 'decimal.js';
import { systemClock, type Clock } from '../../clock.js';
import { addMonths, formatDay, fromEpochDay, toEpochDay, utcDayOf } from '../data/calendar.js';
import { RecordNotFoundError } from '../data/errors.js';
import type { FinanceStore } from '../data/store.js';
import type { User } from '../data/types.js';
import { Exact } from './exact.js';

/** What every calculator class takes besides its store. */
export interface CalculatorOptions {
  /** Supplies "today" when a call gives no `asOf`. @default systemClock */
  clock?: Clock;
}

/**
 * The day a calculation is "as of", as an epoch day: the UTC calendar day containing `asOf`, so
 * `new Date()` works as well as a midnight date; today (UTC) by `clock` when absent.
 */
export function resolveDay(value: Date | undefined, clock: Clock, name: string): number {
  return toEpochDay(utcDayOf(value ?? new Date(clock.now()), name));
}

export function defaultClock(options: CalculatorOptions | undefined): Clock {
  const clock = options?.clock ?? systemClock;
  if (typeof clock?.now !== 'function') throw new TypeError('clock must have a now() method');
  return clock;
}

export function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${name} must be an integer, got ${String(value)}`);
  if (value < min || value > max) throw new RangeError(`${name} must be from ${min} to ${max}, got ${value}`);
  return value;
}

export function checkChoice<T extends string>(value: unknown, name: string, choices: readonly T[]): T {
  if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
  const list = choices.map((c) => `'${c}'`).join(', ');
  if (typeof value !== 'string') throw new TypeError(`${name} must be one of ${list}, got ${typeof value}`);
  throw new RangeError(`${name} must be one of ${list}, got ${JSON.stringify(value)}`);
}

export function checkOptions(value: unknown, what: string): void {
  if (value !== undefined && (typeof value !== 'object' || value === null)) throw new TypeError(`${what} options must be an object`);
}

/** The user, or {@link RecordNotFoundError} naming `userId`. */
export function requireUser(store: FinanceStore, userId: string): User {
  if (typeof userId !== 'string') throw new TypeError(`userId must be a string, got ${typeof userId}`);
  const user = store.getUser(userId);
  if (user === undefined) throw new RecordNotFoundError('user', userId, 'userId');
  return user;
}

/** Refuses a calculation as of a day the store has no balance for. */
export function checkAfterOpening(asOfDay: number, user: User): void {
  const opening = toEpochDay(user.openingDate);
  if (asOfDay < opening) {
    throw new RangeError(`asOf ${formatDay(fromEpochDay(asOfDay))} is before the opening date ${formatDay(user.openingDate)} of user ${JSON.stringify(user.id)}`);
  }
}

/**
 * `start` plus a fractional number of calendar months, as an epoch day: the whole months by the calendar
 * (clamped at month ends, see {@link addMonths}), the fraction as that share of the days in the month that
 * follows. `round` says which way a fractional day goes.
 */
export function addFractionalMonths(startDay: number, months: Decimal, round: 'floor' | 'ceil'): number {
  const start = fromEpochDay(startDay);
  const whole = months.floor().toNumber();
  // Both anchors come from `start`, not from each other, so Jan 31 + 2 months is Mar 31, not Mar 29.
  const anchor = toEpochDay(addMonths(start, whole));
  const next = toEpochDay(addMonths(start, whole + 1));
  const days = new Exact(months).minus(whole).times(next - anchor);
  return anchor + (round === 'floor' ? days.floor() : days.ceil()).toNumber();
}

/** Calendar months from `startDay` to `endDay` (≥ startDay), with the fraction measured as {@link addFractionalMonths} does. */
export function monthsBetween(startDay: number, endDay: number): Decimal {
  const start = fromEpochDay(startDay);
  const end = fromEpochDay(endDay);
  let whole = (end.getUTCFullYear() - start.getUTCFullYear()) * 12 + (end.getUTCMonth() - start.getUTCMonth());
  // Month arithmetic can overshoot by one when the end's day of month is earlier than the start's.
  while (whole > 0 && toEpochDay(addMonths(start, whole)) > endDay) whole--;
  const anchor = toEpochDay(addMonths(start, whole));
  const next = toEpochDay(addMonths(start, whole + 1));
  return new Exact(whole).plus(new Exact(endDay - anchor).div(next - anchor));
}
