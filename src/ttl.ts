/**
 * The seed-004 TTL policies, in milliseconds.
 *
 * @example
 * await cache.set('fx:usd', rate, { ttl: TtlPolicy.short });
 */
export const TtlPolicy = Object.freeze({
  /** 30 seconds: real-time data. */
  ultraShort: 30_000,
  /** 5 minutes: frequently changing data. */
  short: 300_000,
  /** 30 minutes: semi-static data. */
  medium: 1_800_000,
  /** 4 hours: stable data. */
  long: 14_400_000,
  /** 24 hours: daily aggregates. */
  extended: 86_400_000,
  /** 7 days: configuration data. */
  persistent: 604_800_000,
});

/**
 * How long an entry lives: a number of milliseconds, a duration string (`'30s'`, `'5m'`, `'1h30m'`, `'7d'`),
 * or a `Date` at which it expires. `0` and past dates mean "already expired": nothing is stored.
 */
export type Ttl = number | string | Date;

/**
 * The latest instant a `Date` can hold, in epoch ms (+275760-09-13). A deadline past it could not be reported
 * (`inspect()` would show `Invalid Date`) nor encoded, so it is refused rather than clamped: a TTL that large is
 * a bug (seconds taken for milliseconds twice over, an overflowed computation), not a wish for "forever".
 */
export const MAX_DEADLINE_MS = 8.64e15;

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION_PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/gy;

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Date) return `Date(${Number.isNaN(value.getTime()) ? 'invalid' : value.toISOString()})`;
  return String(value);
}

function tooLong(option: string, value: unknown): TypeError {
  return new TypeError(`${option} must be at most ${MAX_DEADLINE_MS} ms (the span of a Date), got ${describe(value)}`);
}

/**
 * Parses a relative duration (number of ms or a duration string) into milliseconds, at most
 * {@link MAX_DEADLINE_MS}. Throws a `TypeError` naming `option` and the bad value.
 */
export function parseDuration(value: unknown, option: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new TypeError(`${option} must be a finite number of milliseconds >= 0, got ${describe(value)}`);
    }
    if (value > MAX_DEADLINE_MS) throw tooLong(option, value);
    return value;
  }
  if (typeof value === 'string') {
    const known = parsedDurations.get(value);
    if (known !== undefined) return known;
    const total = parseDurationText(value, option);
    // Options objects are often literals built per call ({ ttl: '1m' }): remember what the few strings in use mean.
    if (parsedDurations.size >= MAX_PARSED_DURATIONS) parsedDurations.clear();
    parsedDurations.set(value, total);
    return total;
  }
  throw new TypeError(`${option} must be a number of milliseconds or a duration string, got ${describe(value)}`);
}

const MAX_PARSED_DURATIONS = 256;
const parsedDurations = new Map<string, number>();

/** A duration string's milliseconds; throws a `TypeError` naming `option` when it is not one. */
function parseDurationText(value: string, option: string): number {
  const text = value.trim();
  let total = 0;
  let matched = 0;
  DURATION_PART.lastIndex = 0;
  for (let m = DURATION_PART.exec(text); m !== null; m = DURATION_PART.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    matched = DURATION_PART.lastIndex;
    while (text.charCodeAt(matched) === 32) matched++;
    DURATION_PART.lastIndex = matched;
  }
  if (text.length === 0 || matched !== text.length || !Number.isFinite(total)) {
    throw new TypeError(
      `${option} must be a duration such as '500ms', '30s', '5m', '24h', '7d' or '1h30m', got ${describe(value)}`,
    );
  }
  if (total > MAX_DEADLINE_MS) throw tooLong(option, value);
  return total;
}

/**
 * Turns a TTL into an absolute deadline (epoch ms). A result `<= now` means "already expired".
 * Throws a `TypeError` naming `option` and the value for negative, non-finite or malformed input, an invalid
 * `Date`, and a deadline later than {@link MAX_DEADLINE_MS}.
 */
export function deadlineOf(ttl: unknown, now: number, option = 'ttl'): number {
  if (ttl instanceof Date) {
    const at = ttl.getTime();
    // A valid Date is always within the bound, so NaN is the only way out of it.
    if (Number.isNaN(at)) throw new TypeError(`${option} must be a valid Date, got ${describe(ttl)}`);
    return at;
  }
  const at = now + parseDuration(ttl, option);
  if (at > MAX_DEADLINE_MS) {
    throw new TypeError(
      `${option} ${describe(ttl)} puts the deadline past the latest date a Date can hold (${MAX_DEADLINE_MS} ms after the epoch)`,
    );
  }
  return at;
}
