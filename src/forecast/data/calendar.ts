/**
 * Calendar days as `Date`s at UTC midnight. Everything in the forecast data layer is a whole day: a
 * transaction has a booking date, not a timestamp, so time zones never move one from a day to the next.
 */

const MS_PER_DAY = 86_400_000;
const DAY_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/;
// ISO 'YYYY-MM-DD' text sorts in date order only for four-digit years; SQLite compares dates as that text.
const MIN_YEAR = 1;
const MAX_YEAR = 9999;

/**
 * The calendar day `year-month-dayOfMonth` (month 1–12) at UTC midnight.
 *
 * @throws {RangeError} when the parts do not name a real day (`day(2023, 2, 29)`).
 * @example
 * day(2024, 2, 29).toISOString() // '2024-02-29T00:00:00.000Z'
 */
export function day(year: number, month: number, dayOfMonth: number): Date {
  if (!Number.isInteger(year) || year < MIN_YEAR || year > MAX_YEAR) {
    throw new RangeError(`year must be an integer from ${MIN_YEAR} to ${MAX_YEAR}, got ${year}`);
  }
  if (!Number.isInteger(month) || month < 1 || month > 12) throw new RangeError(`month must be an integer from 1 to 12, got ${month}`);
  const length = daysInMonth(year, month);
  if (!Number.isInteger(dayOfMonth) || dayOfMonth < 1 || dayOfMonth > length) {
    throw new RangeError(`day must be an integer from 1 to ${length} in ${year}-${pad2(month)}, got ${dayOfMonth}`);
  }
  return fromEpochDay(epochDayOf(year, month, dayOfMonth));
}

/**
 * Parses `'YYYY-MM-DD'` into its calendar day.
 *
 * @param field Named in the error, so a caller parsing request input can say which field was wrong.
 * @throws {TypeError} for anything but a string of that shape; {@link RangeError} for a day that does not exist.
 * @example
 * parseDay('2024-03-31') // Date 2024-03-31T00:00:00.000Z
 */
export function parseDay(text: string, field = 'date'): Date {
  const match = typeof text === 'string' ? DAY_TEXT.exec(text) : null;
  if (match === null) throw new TypeError(`${field} must be a 'YYYY-MM-DD' string, got ${describeValue(text)}`);
  const [, y, m, d] = match;
  try {
    return day(Number(y), Number(m), Number(d));
  } catch (error) {
    throw new RangeError(`${field} '${text}' is not a calendar day`, { cause: error });
  }
}

/** The calendar day of `date` as `'YYYY-MM-DD'`; `date` must be a calendar day (see {@link assertDay}). */
export function formatDay(date: Date, field = 'date'): string {
  assertDay(date, field);
  return date.toISOString().slice(0, 10);
}

/**
 * Checks that `value` is a valid `Date` at UTC midnight within years 1–9999.
 *
 * A time of day is refused rather than truncated: `new Date(2024, 0, 15)` is local midnight, which is the
 * 14th in UTC east of Greenwich, and truncating would file the record under the wrong day without a word.
 */
export function assertDay(value: unknown, field: string): asserts value is Date {
  if (!(value instanceof Date)) throw new TypeError(`${field} must be a Date, got ${describeValue(value)}`);
  const ms = value.getTime();
  if (Number.isNaN(ms)) throw new RangeError(`${field} is an invalid Date`);
  if (ms % MS_PER_DAY !== 0) {
    throw new RangeError(`${field} must be a calendar day at UTC midnight, got ${value.toISOString()}`);
  }
  const year = value.getUTCFullYear();
  if (year < MIN_YEAR || year > MAX_YEAR) throw new RangeError(`${field} must fall in years ${MIN_YEAR}–${MAX_YEAR}, got ${year}`);
}

/** The UTC calendar day containing the instant `date`: how a timestamp such as `new Date()` becomes an `asOf` day. */
export function utcDayOf(date: Date, field = 'date'): Date {
  if (!(date instanceof Date)) throw new TypeError(`${field} must be a Date, got ${describeValue(date)}`);
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new RangeError(`${field} is an invalid Date`);
  const result = fromEpochDay(Math.floor(ms / MS_PER_DAY));
  assertDay(result, field);
  return result;
}

/** Days since 1970-01-01 of a calendar day: the integer form the calculators index by. */
export function toEpochDay(date: Date): number {
  return Math.floor(date.getTime() / MS_PER_DAY);
}

/** The calendar day `epochDay` days after 1970-01-01. */
export function fromEpochDay(epochDay: number): Date {
  return new Date(epochDay * MS_PER_DAY);
}

/** `date` moved by `days` whole days (negative moves back). */
export function addDays(date: Date, days: number): Date {
  return fromEpochDay(toEpochDay(date) + days);
}

/**
 * `date` moved by `months` calendar months, clamped to the end of a shorter month, as banks do:
 * Jan 31 + 1 month is Feb 29 in a leap year.
 *
 * @example
 * addMonths(day(2024, 1, 31), 1) // 2024-02-29
 */
export function addMonths(date: Date, months: number): Date {
  const { year, month, dayOfMonth } = partsOfEpochDay(toEpochDay(date));
  const index = year * 12 + (month - 1) + months;
  const y = Math.floor(index / 12);
  const m = index - y * 12 + 1;
  return fromEpochDay(epochDayOf(y, m, Math.min(dayOfMonth, daysInMonth(y, m))));
}

/** Number of days in `month` (1–12) of `year`, leap years included. */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Year, month (1–12) and day of month of an epoch day, without allocating a Date. */
export function partsOfEpochDay(epochDay: number): { year: number; month: number; dayOfMonth: number } {
  // Howard Hinnant's civil_from_days: exact for the proleptic Gregorian calendar.
  const z = epochDay + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const dayOfMonth = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return { year, month, dayOfMonth };
}

/** Epoch day of a calendar date given by its parts (month 1–12); the parts are not validated. */
export function epochDayOf(year: number, month: number, dayOfMonth: number): number {
  // Howard Hinnant's days_from_civil, the inverse of partsOfEpochDay.
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = month > 2 ? month - 3 : month + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + dayOfMonth - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** A short description of a bad value for an error message, without dumping the whole value. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : value.toISOString();
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') {
    const ctor: unknown = (value as { constructor?: unknown }).constructor;
    return `an object (${typeof ctor === 'function' ? ctor.name : 'no prototype'})`;
  }
  switch (typeof value) {
    case 'number':
    case 'bigint':
    case 'boolean':
      return `${typeof value} ${value}`;
    default:
      return typeof value;
  }
}
