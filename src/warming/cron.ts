/** Which wall clock a cron expression reads: UTC, or the process's local time zone (`TZ`). */
export type CronTimezone = 'UTC' | 'local';

export interface CronOptions {
  /**
   * The wall clock the fields are read in. In `'local'`, a time that a daylight-saving change skips fires at
   * the first instant after the change (as Vixie cron does), and a time that occurs twice fires once, the first time.
   * @default 'local'
   */
  timezone?: CronTimezone;
}

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const MINUTE: FieldSpec = { name: 'minute', min: 0, max: 59 };
const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23 };
const DAY_OF_MONTH: FieldSpec = { name: 'day-of-month', min: 1, max: 31 };
// Names map to their index + min: JAN is 1.
const MONTH: FieldSpec = { name: 'month', min: 1, max: 12, names: MONTH_NAMES };
// 7 is accepted as a second Sunday and folded onto 0 after parsing.
const DAY_OF_WEEK: FieldSpec = { name: 'day-of-week', min: 0, max: 7, names: DAY_NAMES };

const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Longest month length, by month 0..11; February can hold a 29th. */
const MAX_MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/**
 * How far `nextAfter` looks. An expression that passed the parse-time check always fires well within it (the
 * longest real gap is a 29 February that must also be a given weekday: under 40 years); the bound only
 * guarantees that the search ends.
 */
const SEARCH_HORIZON_MS = 100 * 366 * DAY_MS;

function daysInMonth(year: number, month0: number): number {
  return new Date(Date.UTC(year, month0 + 1, 0)).getUTCDate();
}

/** First index >= `from` whose flag is set, or -1. */
function nextSet(flags: Uint8Array, from: number): number {
  for (let i = from; i < flags.length; i++) if (flags[i] === 1) return i;
  return -1;
}

/** Wall-clock time in the local zone, as a "naive" epoch-ms value read with the UTC getters. */
function localWall(instant: number): number {
  return instant - new Date(instant).getTimezoneOffset() * MINUTE_MS;
}

/** The instant a local wall-clock time (naive ms) denotes; a time inside a DST gap maps to the gap's end. */
function localInstant(wall: number): number {
  const w = new Date(wall);
  const candidate = new Date(w.getUTCFullYear(), w.getUTCMonth(), w.getUTCDate(), w.getUTCHours(), w.getUTCMinutes()).getTime();
  if (localWall(candidate) === wall) return candidate;
  // ECMAScript resolves a time inside a gap with the offset from before it, which lands after the gap by the
  // time's distance from the gap start; walking back to the gap's end makes every skipped time fire there, in order.
  let instant = candidate;
  while (localWall(instant - MINUTE_MS) > wall) instant -= MINUTE_MS;
  return instant;
}

/**
 * A parsed five-field cron expression (`minute hour day-of-month month day-of-week`).
 *
 * Each field takes `*`, numbers, ranges `1-5`, lists `1,15`, steps `*\/15`, `1-30/5` or `5/15` (from 5 to the
 * field's end), and for months and weekdays the names `JAN`..`DEC` and `SUN`..`SAT` (any case). In the
 * day-of-week field both 0 and 7 are Sunday. As in Vixie cron, when both day fields are restricted a day
 * matching either fires; a day field that starts with `*` (including `*\/2`) counts as unrestricted, and then
 * a day must match both. Macros: `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`,
 * `@annually`. Resolution is one minute.
 *
 * @example
 * const nightly = new CronExpression('0 2 * * *', { timezone: 'UTC' });
 * nightly.nextAfter(new Date('2026-01-01T03:00:00Z')); // 2026-01-02T02:00:00.000Z
 */
export class CronExpression {
  /** The expression as given. */
  readonly expression: string;
  readonly timezone: CronTimezone;
  readonly #minutes: Uint8Array;
  readonly #hours: Uint8Array;
  /** Indexed by day 1..31. */
  readonly #days: Uint8Array;
  /** Indexed by month 0..11, as `Date` numbers them. */
  readonly #months: Uint8Array;
  /** Indexed by weekday 0..6, Sunday first. */
  readonly #weekdays: Uint8Array;
  /** Both day fields restricted: a day matching either fires. Otherwise a day must match both. */
  readonly #eitherDay: boolean;

  /**
   * Parses `expression`. Throws a `TypeError` naming the field and its bad text, or explaining why the
   * expression can never fire (`0 0 30 2 *`: there is no 30 February).
   */
  constructor(expression: string, options: CronOptions = {}) {
    if (typeof expression !== 'string') throw new TypeError(`a cron expression must be a string, got ${typeof expression}`);
    const timezone = options.timezone ?? 'local';
    if (timezone !== 'UTC' && timezone !== 'local') {
      throw new TypeError(`timezone must be 'UTC' or 'local', got ${JSON.stringify(timezone)}`);
    }
    this.expression = expression;
    this.timezone = timezone;

    const trimmed = expression.trim();
    let text = trimmed;
    if (trimmed.startsWith('@')) {
      const macro = MACROS[trimmed.toLowerCase()];
      if (macro === undefined) {
        throw new TypeError(`cron expression ${JSON.stringify(expression)}: unknown macro ${JSON.stringify(trimmed)} (known: ${Object.keys(MACROS).join(', ')})`);
      }
      text = macro;
    }
    const parts = text.split(/\s+/);
    if (parts.length !== 5 || parts[0] === '') {
      throw new TypeError(
        `cron expression ${JSON.stringify(expression)} must have 5 fields (minute hour day-of-month month day-of-week), got ${parts[0] === '' ? 0 : parts.length}`,
      );
    }
    const [minute, hour, dayOfMonth, month, dayOfWeek] = parts as [string, string, string, string, string];
    this.#minutes = parseField(minute, MINUTE, expression);
    this.#hours = parseField(hour, HOUR, expression);
    const days = parseField(dayOfMonth, DAY_OF_MONTH, expression);
    const months = parseField(month, MONTH, expression);
    const weekdays = parseField(dayOfWeek, DAY_OF_WEEK, expression);
    this.#days = days;
    this.#months = months.subarray(1);
    if (weekdays[7] === 1) weekdays[0] = 1;
    this.#weekdays = weekdays.subarray(0, 7);
    this.#eitherDay = !dayOfMonth.startsWith('*') && !dayOfWeek.startsWith('*');

    if (!this.#eitherDay && !this.#months.some((on, m) => on === 1 && nextSet(days, 1) <= (MAX_MONTH_DAYS[m] as number))) {
      throw new TypeError(
        `cron expression ${JSON.stringify(expression)} never fires: day-of-month ${JSON.stringify(dayOfMonth)} does not occur in month ${JSON.stringify(month)}`,
      );
    }
  }

  /**
   * The first firing strictly after `after` (whole minutes), or `undefined` when nothing fires within 100
   * years of it. The search jumps over whole months, days and hours that cannot match, so even a
   * 29 February expression costs a few dozen steps per year searched.
   *
   * @example
   * new CronExpression('@daily', { timezone: 'UTC' }).nextAfter(Date.UTC(2026, 0, 1, 12)); // 2026-01-02T00:00:00.000Z
   */
  nextAfter(after: Date | number): Date | undefined {
    const afterMs = typeof after === 'number' ? after : after instanceof Date ? after.getTime() : Number.NaN;
    if (!Number.isFinite(afterMs)) throw new TypeError(`nextAfter needs a valid Date or epoch milliseconds, got ${String(after)}`);
    if (this.timezone === 'UTC') {
      const next = this.#nextWall(afterMs);
      return next === undefined ? undefined : new Date(next);
    }
    let from = localWall(afterMs);
    for (;;) {
      const wall = this.#nextWall(from);
      if (wall === undefined) return undefined;
      const instant = localInstant(wall);
      // In a repeated hour (DST ends) a wall time after `from` may denote an instant before `after`.
      if (instant > afterMs) return new Date(instant);
      from = wall;
    }
  }

  /**
   * True when `date` falls in a minute this expression fires in.
   *
   * @example
   * new CronExpression('0,30 9 * * *').matches(new Date(2026, 0, 1, 9, 30)); // true
   */
  matches(date: Date | number): boolean {
    const ms = typeof date === 'number' ? date : date.getTime();
    if (!Number.isFinite(ms)) throw new TypeError(`matches needs a valid Date or epoch milliseconds, got ${String(date)}`);
    const d = new Date(this.timezone === 'UTC' ? ms : localWall(ms));
    return (
      this.#months[d.getUTCMonth()] === 1 &&
      this.#dayMatches(d.getUTCDate(), d.getUTCDay()) &&
      this.#hours[d.getUTCHours()] === 1 &&
      this.#minutes[d.getUTCMinutes()] === 1
    );
  }

  /**
   * The expression as given.
   *
   * @example
   * String(parseCron('0 2 * * *')); // '0 2 * * *'
   */
  toString(): string {
    return this.expression;
  }

  #dayMatches(day: number, weekday: number): boolean {
    const byDay = this.#days[day] === 1;
    const byWeekday = this.#weekdays[weekday] === 1;
    return this.#eitherDay ? byDay || byWeekday : byDay && byWeekday;
  }

  /** Next matching wall-clock minute strictly after `from`, in naive ms read with UTC getters. */
  #nextWall(from: number): number | undefined {
    const horizon = from + SEARCH_HORIZON_MS;
    let t = Math.floor(from / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    // `!(t <= horizon)` also ends the search when t leaves the range of Date and becomes NaN.
    while (t <= horizon) {
      const d = new Date(t);
      const year = d.getUTCFullYear();
      const month = d.getUTCMonth();
      const day = d.getUTCDate();
      const hour = d.getUTCHours();
      const minute = d.getUTCMinutes();
      if (this.#months[month] !== 1) {
        const next = nextSet(this.#months, month + 1);
        t = next === -1 ? Date.UTC(year + 1, nextSet(this.#months, 0), 1) : Date.UTC(year, next, 1);
        continue;
      }
      if (!this.#dayMatches(day, d.getUTCDay())) {
        t = Date.UTC(year, month, this.#nextCandidateDay(year, month, day, d.getUTCDay()));
        continue;
      }
      if (this.#hours[hour] !== 1) {
        const next = nextSet(this.#hours, hour + 1);
        t = next === -1 ? Date.UTC(year, month, day + 1) : Date.UTC(year, month, day, next);
        continue;
      }
      if (this.#minutes[minute] !== 1) {
        const next = nextSet(this.#minutes, minute + 1);
        t = next === -1 ? Date.UTC(year, month, day, hour + 1) : Date.UTC(year, month, day, hour, next);
        continue;
      }
      return t;
    }
    return undefined;
  }

  /**
   * A day after `day` that no matching day comes before (`Date.UTC` carries a day past the month's end into
   * the next month). Exact for either-day matching; for both-day matching, a lower bound the loop re-checks.
   */
  #nextCandidateDay(year: number, month: number, day: number, weekday: number): number {
    const length = daysInMonth(year, month);
    let byDay = nextSet(this.#days, day + 1);
    if (byDay === -1 || byDay > length) byDay = length + 1;
    let ahead = 1;
    while (ahead < 7 && this.#weekdays[(weekday + ahead) % 7] !== 1) ahead++;
    const byWeekday = day + ahead;
    return this.#eitherDay ? Math.min(byDay, byWeekday) : Math.max(byDay, byWeekday);
  }
}

/**
 * Parses a cron expression; same as `new CronExpression(expression, options)`.
 *
 * @example
 * parseCron('*\/15 9-17 * * MON-FRI', { timezone: 'UTC' }).nextAfter(Date.now());
 */
export function parseCron(expression: string, options: CronOptions = {}): CronExpression {
  return new CronExpression(expression, options);
}

function fieldError(spec: FieldSpec, text: string, expression: string, why: string): TypeError {
  return new TypeError(`cron expression ${JSON.stringify(expression)}: ${spec.name} field ${JSON.stringify(text)} ${why}`);
}

/** A field as flags indexed by value (0..max), after checking every part of it. */
function parseField(text: string, spec: FieldSpec, expression: string): Uint8Array {
  const flags = new Uint8Array(spec.max + 1);
  for (const part of text.split(',')) {
    const slash = part.indexOf('/');
    const range = slash === -1 ? part : part.slice(0, slash);
    let step = 1;
    if (slash !== -1) {
      const stepText = part.slice(slash + 1);
      step = /^\d+$/.test(stepText) ? Number(stepText) : Number.NaN;
      if (!(step >= 1 && step <= spec.max - spec.min + 1)) {
        throw fieldError(spec, text, expression, `has a bad step ${JSON.stringify(stepText)} (expected 1-${spec.max - spec.min + 1})`);
      }
    }
    let low: number;
    let high: number;
    if (range === '*') {
      low = spec.min;
      // Stepping `*` over the weekday field must not reach 7, a second Sunday.
      high = spec === DAY_OF_WEEK ? 6 : spec.max;
    } else {
      const dash = range.indexOf('-');
      low = parseValue(dash === -1 ? range : range.slice(0, dash), spec, text, expression);
      high = dash === -1 ? (slash === -1 ? low : spec.max) : parseValue(range.slice(dash + 1), spec, text, expression);
      if (high < low) throw fieldError(spec, text, expression, `has a range that runs backwards: ${JSON.stringify(range)}`);
    }
    for (let v = low; v <= high; v += step) flags[v] = 1;
  }
  return flags;
}

function parseValue(token: string, spec: FieldSpec, text: string, expression: string): number {
  let value: number;
  if (/^\d+$/.test(token)) {
    value = Number(token);
  } else {
    const index = spec.names?.indexOf(token.toUpperCase()) ?? -1;
    if (index === -1) {
      const known = spec.names === undefined ? 'a number' : `a number or one of ${spec.names.join(' ')}`;
      throw fieldError(spec, text, expression, `has ${JSON.stringify(token)} where ${known} was expected`);
    }
    value = index + spec.min;
  }
  if (value < spec.min || value > spec.max) {
    throw fieldError(spec, text, expression, `has ${token}, outside ${spec.min}-${spec.max}`);
  }
  return value;
}
