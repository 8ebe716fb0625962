import { Cron } from 'croner';

/**
 * The wall clock a cron expression reads: `'UTC'`, `'local'` (the process's time zone, `TZ`), or an IANA time
 * zone name such as `'Europe/Paris'`, whose daylight-saving changes the schedule follows.
 */
export type CronTimezone = 'UTC' | 'local' | (string & {});

export interface CronOptions {
  /**
   * The wall clock the fields are read in. Across a daylight-saving change: a fixed time (one minute and one
   * hour, `30 2 * * *`) that the change skips fires at the first instant after the gap, and a fixed time that
   * occurs twice fires once, the first time; a repeating expression (`0 * * * *`, `*\/15 2 * * *`) skips the
   * minutes that do not exist and fires on both occurrences of a repeated one.
   * @default 'local'
   */
  timezone?: CronTimezone;
}

/** Which part of a cron expression was wrong. */
export type CronField = 'expression' | 'minute' | 'hour' | 'day-of-month' | 'month' | 'day-of-week' | 'timezone';

const FIELDS = ['minute', 'hour', 'day-of-month', 'month', 'day-of-week'] as const;

/**
 * A cron expression or time zone that cannot be used. A `TypeError`, like every bad argument in tiercache;
 * `field` names the part at fault.
 */
export class CronExpressionError extends TypeError {
  override readonly name = 'CronExpressionError';
  readonly field: CronField;
  readonly expression: string;

  constructor(field: CronField, expression: string, message: string) {
    super(message);
    this.field = field;
    this.expression = expression;
  }
}

const MINUTE_MS = 60_000;

/**
 * Checks an IANA zone name with the runtime's own time zone data (croner reads zones through `Intl` as well,
 * but accepts an unknown name and fails only when it computes a date).
 */
function checkTimezone(timezone: unknown, expression: string): CronTimezone {
  if (timezone === 'UTC' || timezone === 'local') return timezone;
  if (typeof timezone !== 'string' || timezone.length === 0) {
    throw new CronExpressionError('timezone', expression, `timezone must be 'UTC', 'local' or an IANA time zone name, got ${JSON.stringify(timezone)}`);
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new CronExpressionError('timezone', expression, `timezone ${JSON.stringify(timezone)} is not a known IANA time zone (for example 'Europe/Paris', 'America/New_York', 'UTC')`);
  }
  return timezone;
}

function croner(pattern: string, timezone: CronTimezone, domAndDow: boolean): Cron {
  return new Cron(pattern, {
    mode: '5-part',
    // `5/15`: from 5 to the end of the field, as Vixie cron reads it.
    sloppyRanges: true,
    domAndDow,
    ...(timezone === 'local' ? {} : { timezone }),
  });
}

function withoutPrefix(message: string): string {
  return message.replace(/^CronPattern: /, '');
}

/**
 * Parses with croner, and on failure finds the field at fault by parsing each field alone (croner's own
 * messages name fields inconsistently: "entry 4", "dayOfWeek", none).
 */
function parse(expression: string, timezone: CronTimezone): Cron {
  const text = expression.trim();
  const parts = text.startsWith('@') ? [] : text.split(/\s+/);
  if (!text.startsWith('@') && (parts.length !== 5 || parts[0] === '')) {
    throw new CronExpressionError(
      'expression',
      expression,
      `cron expression ${JSON.stringify(expression)} must have 5 fields (minute hour day-of-month month day-of-week), got ${parts[0] === '' ? 0 : parts.length}`,
    );
  }
  // croner reads `?` as "the time the pattern was parsed": a schedule would then depend on when it was created.
  const question = parts.findIndex((part) => part.includes('?'));
  if (question !== -1) {
    throw new CronExpressionError(FIELDS[question] as CronField, expression, `cron expression ${JSON.stringify(expression)}: ${FIELDS[question]} field ${JSON.stringify(parts[question])} uses "?", which is not supported`);
  }
  // Vixie cron: a day field starting with `*` (also `*\/2`) counts as unrestricted, and a day must then match
  // both fields; only when both are restricted does a day matching either fire.
  const domAndDow = parts.length === 5 && ((parts[2] as string).startsWith('*') || (parts[4] as string).startsWith('*'));
  try {
    return croner(text, timezone, domAndDow);
  } catch (error) {
    const reason = withoutPrefix(error instanceof Error ? error.message : String(error));
    if (parts.length === 5) {
      for (let i = 0; i < 5; i++) {
        const alone = parts.map((part, j) => (j === i ? part : '*')).join(' ');
        try {
          croner(alone, 'UTC', false);
        } catch (fieldError) {
          const why = withoutPrefix(fieldError instanceof Error ? fieldError.message : String(fieldError));
          throw new CronExpressionError(FIELDS[i] as CronField, expression, `cron expression ${JSON.stringify(expression)}: ${FIELDS[i]} field ${JSON.stringify(parts[i])} is invalid (${why})`);
        }
      }
    }
    throw new CronExpressionError('expression', expression, `cron expression ${JSON.stringify(expression)} is invalid (${reason})`);
  }
}

function epochMs(value: Date | number, method: string): number {
  const ms = typeof value === 'number' ? value : value instanceof Date ? value.getTime() : Number.NaN;
  if (!Number.isFinite(ms)) throw new TypeError(`${method} needs a valid Date or epoch milliseconds, got ${String(value)}`);
  return ms;
}

/**
 * A parsed five-field cron expression (`minute hour day-of-month month day-of-week`), read in UTC, local time
 * or an IANA time zone. Parsing and date arithmetic are croner's; this class never starts a timer (the
 * {@link Scheduler} arms its own, from its injectable clock).
 *
 * Each field takes `*`, numbers, ranges `1-5`, lists `1,15`, steps `*\/15`, `1-30/5` or `5/15` (from 5 to the
 * field's end), and for months and weekdays the names `JAN`..`DEC` and `SUN`..`SAT` (any case); croner's
 * extensions `L` (last day of the month, `5L` last Friday), `W` (nearest weekday) and `#` (`FRI#2`, second
 * Friday) work too. In the day-of-week field both 0 and 7 are Sunday. As in Vixie cron, when both day fields
 * are restricted a day matching either fires; a day field that starts with `*` (including `*\/2`) counts as
 * unrestricted, and then a day must match both. Macros: `@hourly`, `@daily`, `@midnight`, `@weekly`,
 * `@monthly`, `@yearly`, `@annually`. Resolution is one minute.
 *
 * @example
 * const nightly = new CronExpression('0 2 * * *', { timezone: 'Europe/Paris' });
 * nightly.nextAfter(new Date('2026-01-01T03:00:00Z')); // 2026-01-02T01:00:00.000Z (02:00 in Paris)
 */
export class CronExpression {
  /** The expression as given. */
  readonly expression: string;
  readonly timezone: CronTimezone;
  readonly #cron: Cron;

  /**
   * Parses `expression`. Throws a {@link CronExpressionError} (a `TypeError`) whose `field` names the part at
   * fault, for a bad field, an unknown time zone, or an expression that can never fire (`0 0 30 2 *`).
   */
  constructor(expression: string, options: CronOptions = {}) {
    if (typeof expression !== 'string') throw new CronExpressionError('expression', String(expression), `a cron expression must be a string, got ${typeof expression}`);
    this.expression = expression;
    this.timezone = checkTimezone(options.timezone ?? 'local', expression);
    this.#cron = parse(expression, this.timezone);
    // Every real expression fires within 28 years of any day (the calendar's cycle); one that does not from
    // 2000 never will.
    if (this.#cron.nextRun(new Date(Date.UTC(2000, 0, 1))) === null) {
      const parts = expression.trim().split(/\s+/);
      throw new CronExpressionError(
        'day-of-month',
        expression,
        `cron expression ${JSON.stringify(expression)} never fires: day-of-month ${JSON.stringify(parts[2])} does not occur in month ${JSON.stringify(parts[3])}`,
      );
    }
  }

  /**
   * The first firing strictly after `after` (whole minutes), or `undefined` when there is none.
   *
   * @example
   * new CronExpression('@daily', { timezone: 'UTC' }).nextAfter(Date.UTC(2026, 0, 1, 12)); // 2026-01-02T00:00:00.000Z
   */
  nextAfter(after: Date | number): Date | undefined {
    const ms = epochMs(after, 'nextAfter');
    return this.#cron.nextRun(new Date(ms)) ?? undefined;
  }

  /**
   * True when `date` falls in a minute this expression fires in.
   *
   * @example
   * new CronExpression('0,30 9 * * *').matches(new Date(2026, 0, 1, 9, 30)); // true
   */
  matches(date: Date | number): boolean {
    const ms = epochMs(date, 'matches');
    return this.#cron.match(new Date(Math.floor(ms / MINUTE_MS) * MINUTE_MS));
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
}

/**
 * Parses a cron expression; same as `new CronExpression(expression, options)`.
 *
 * @example
 * parseCron('*\/15 9-17 * * MON-FRI', { timezone: 'America/New_York' }).nextAfter(Date.now());
 */
export function parseCron(expression: string, options: CronOptions = {}): CronExpression {
  return new CronExpression(expression, options);
}

/**
 * Checks a time zone option: `'UTC'`, `'local'` or a known IANA name. Throws a {@link CronExpressionError}
 * with `field: 'timezone'` otherwise.
 *
 * @example
 * checkCronTimezone('Europe/Paris'); // 'Europe/Paris'
 */
export function checkCronTimezone(timezone: unknown): CronTimezone {
  return checkTimezone(timezone, '');
}
