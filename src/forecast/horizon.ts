/**
 * Forecast horizons: the `30d` / `6m` / `1y` segment of a forecast key, read as calendar time.
 *
 * Not the cache's TTL durations: in a horizon `m` is a calendar month (in a TTL it is a minute), and months and
 * years move by the calendar (Jan 31 + 1m = Feb 28 or 29), because a six-month projection ends on the same day
 * of the month six months later, whatever the lengths of the months in between.
 */

const MS_PER_DAY = 86_400_000;
const HORIZON_TEXT = /^([1-9]\d{0,5})([dwmy])$/;

/** `d` days, `w` weeks (7 days), `m` calendar months, `y` calendar years (12 months). */
export type HorizonUnit = 'd' | 'w' | 'm' | 'y';

/** A parsed horizon. */
export interface Horizon {
  /** The horizon as written in keys, e.g. `'30d'`. */
  readonly text: string;
  readonly amount: number;
  readonly unit: HorizonUnit;
}

// A century either way: far beyond any forecast, and small enough that calendar arithmetic stays within
// the years a Date and the data layer's calendar days (years 1–9999) can hold.
const LIMITS: Readonly<Record<HorizonUnit, number>> = { d: 36_500, w: 5_200, m: 1_200, y: 100 };

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : value === null ? 'null' : typeof value;
}

/**
 * Parses a horizon: a whole number followed by `d`, `w`, `m` or `y` (`'7d'`, `'12w'`, `'6m'`, `'1y'`,
 * `'365d'`). Lower case only and no leading zeros or spaces, so one horizon has exactly one spelling and
 * therefore one cache key.
 *
 * @throws {TypeError} naming the horizon when it is not one.
 * @example
 * parseHorizon('6m') // { text: '6m', amount: 6, unit: 'm' }
 */
export function parseHorizon(horizon: string | Horizon): Horizon {
  if (typeof horizon === 'object' && horizon !== null) return horizon;
  const text: unknown = horizon;
  const match = typeof text === 'string' ? HORIZON_TEXT.exec(text) : null;
  if (match === null) {
    throw new TypeError(`horizon ${describe(horizon)} is not a horizon: write a whole number of d, w, m or y, such as '7d', '12w', '6m' or '1y'`);
  }
  const amount = Number(match[1]);
  const unit = match[2] as HorizonUnit;
  if (amount > LIMITS[unit]) throw new TypeError(`horizon ${describe(horizon)} is too long: at most ${LIMITS[unit]}${unit}`);
  return Object.freeze({ text: match[0], amount, unit });
}

/** True when `value` is a horizon {@link parseHorizon} accepts. */
export function isHorizon(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const match = HORIZON_TEXT.exec(value);
  return match !== null && Number(match[1]) <= LIMITS[match[2] as HorizonUnit];
}

function daysInMonth(year: number, monthIndex: number): number {
  return new Date(Date.UTC(year, monthIndex + 1, 0)).getUTCDate();
}

/** `date` moved by whole calendar months, clamped to the end of a shorter month; the time of day is kept. */
function shiftMonths(date: Date, months: number): Date {
  const index = date.getUTCFullYear() * 12 + date.getUTCMonth() + months;
  const year = Math.floor(index / 12);
  const month = index - year * 12;
  const shifted = new Date(date.getTime());
  // setUTCFullYear with all three parts, so a year below 100 is not read as 19xx and no day overflows first.
  shifted.setUTCFullYear(year, month, Math.min(date.getUTCDate(), daysInMonth(year, month)));
  return shifted;
}

function shift(date: Date, horizon: Horizon, sign: 1 | -1): Date {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new TypeError(`date must be a valid Date, got ${describe(date)}`);
  switch (horizon.unit) {
    case 'd':
      return new Date(date.getTime() + sign * horizon.amount * MS_PER_DAY);
    case 'w':
      return new Date(date.getTime() + sign * horizon.amount * 7 * MS_PER_DAY);
    case 'm':
      return shiftMonths(date, sign * horizon.amount);
    case 'y':
      return shiftMonths(date, sign * horizon.amount * 12);
  }
}

/**
 * `date` plus the horizon, by the calendar for months and years (clamped at month ends, UTC).
 *
 * @example
 * addHorizon(new Date('2024-01-31T00:00:00Z'), '1m') // 2024-02-29
 */
export function addHorizon(date: Date, horizon: string | Horizon): Date {
  return shift(date, parseHorizon(horizon), 1);
}

/** `date` minus the horizon, as {@link addHorizon} counts it. */
export function subtractHorizon(date: Date, horizon: string | Horizon): Date {
  return shift(date, parseHorizon(horizon), -1);
}

/** The UTC calendar day (midnight) containing `date`. */
export function startOfDay(date: Date): Date {
  return new Date(Math.floor(date.getTime() / MS_PER_DAY) * MS_PER_DAY);
}

/**
 * Whole days from the UTC day of `from` to the same day moved by the horizon: `'1m'` from Feb 1, 2024 is 29.
 *
 * @example
 * horizonDays('1y', new Date('2024-03-01T00:00:00Z')) // 365
 */
export function horizonDays(horizon: string | Horizon, from: Date): number {
  const start = startOfDay(from);
  return Math.round((addHorizon(start, horizon).getTime() - start.getTime()) / MS_PER_DAY);
}

/**
 * The horizon as whole calendar months, at least 1: exact for `m` and `y`, the nearest whole number of average
 * months (30.436875 days) for `d` and `w`, so `'30d'` is 1, `'90d'` is 3 and `'365d'` is 12.
 */
export function horizonMonths(horizon: string | Horizon): number {
  const h = parseHorizon(horizon);
  switch (h.unit) {
    case 'm':
      return h.amount;
    case 'y':
      return h.amount * 12;
    case 'd':
      return Math.max(1, Math.round(h.amount / 30.436875));
    case 'w':
      return Math.max(1, Math.round((h.amount * 7) / 30.436875));
  }
}

/** A span of time, both ends inclusive. */
export interface DateWindow {
  readonly start: Date;
  readonly end: Date;
}

/**
 * The window a forecast as of `asOf` projects: from the start of its as-of day to the end of the day the
 * horizon reaches.
 *
 * @example
 * horizonWindow(new Date('2025-01-10T09:00:00Z'), '7d') // 2025-01-10T00:00:00.000Z … 2025-01-17T23:59:59.999Z
 */
export function horizonWindow(asOf: Date, horizon: string | Horizon): DateWindow {
  const start = startOfDay(asOf);
  return { start, end: new Date(addHorizon(start, horizon).getTime() + MS_PER_DAY - 1) };
}

/** True when two inclusive windows share at least one instant. */
export function windowsOverlap(a: DateWindow, b: DateWindow): boolean {
  return a.start.getTime() <= b.end.getTime() && b.start.getTime() <= a.end.getTime();
}
