// The shapes every route module shares, and the lookups that turn path and query text into records, metrics
// and horizons. Kept apart from the router so a route file needs nothing but this one to be read.
import { formatDay, utcDayOf } from '../../forecast/data/calendar.js';
import type { FinanceStore } from '../../forecast/data/store.js';
import type { User } from '../../forecast/data/types.js';
import type { ForecastCache } from '../../forecast/forecast-cache.js';
import { horizonDays, isHorizon } from '../../forecast/horizon.js';
import { invalid, notFound } from '../http.js';
import { day, type Body } from '../input.js';
import type { Logger } from '../logger.js';
import type { JsonSchema } from '../schemas.js';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** What a handler returns: a status (200 unless said) and a body serialized by `toJson`. */
export interface Reply {
  status?: number;
  body: unknown;
  /** Sends `body` (a string) as is with this content type, instead of as JSON. */
  contentType?: string;
  /** The users whose forecasts a write changed: their responses cached at the HTTP layer are invalidated. */
  users?: readonly string[];
}

export interface Context {
  readonly params: Readonly<Record<string, string>>;
  readonly query: ReadonlyMap<string, string>;
  /** The request line as the client sent it, for log lines. */
  readonly label: string;
  readonly body: () => Promise<unknown>;
}

export interface Route {
  readonly method: Method;
  readonly path: string;
  readonly summary: string;
  /**
   * Query parameters the route reads, with what each means (for the OpenAPI document); any other is refused
   * (a typo would otherwise be silently ignored).
   */
  readonly query?: Readonly<Record<string, string>>;
  /** The JSON schema of the body, for a route that reads one. */
  readonly body?: JsonSchema;
  /** A GET whose responses are cached at the HTTP layer (when the service runs one), tagged by the `:id` user. */
  readonly httpCache?: boolean;
  readonly handle: (context: Context) => Promise<Reply> | Reply;
}

export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Longest horizon served: five years. The calculators refuse some longer ones (a balance projection stops at
 * 3,650 days), and every distinct horizon is a distinct cache key, so an open-ended one would let a client
 * fill the cache with keys nobody reads again.
 */
const MAX_HORIZON_DAYS = 1_830;
const MAX_HORIZON_TEXT = '5y';

export function required(body: Body, field: string): unknown {
  const value = body[field];
  if (value === undefined || value === null) throw invalid(field, `${field} is required`);
  return value;
}

export function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export function formatMs(ms: number): string {
  return `${ms < 1 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** What every route module reads: the forecasts, the records, the log and the service's as-of day. */
export class Scope {
  constructor(
    readonly forecasts: ForecastCache,
    readonly finance: FinanceStore,
    readonly log: Logger,
    readonly asOf: Date | 'today',
  ) {}

  /** The as-of day as a date: the current UTC day for `'today'`. */
  asOfDay(): Date {
    return this.asOf === 'today' ? utcDayOf(new Date()) : this.asOf;
  }

  user(id: string | undefined): User {
    const user = id === undefined ? undefined : this.finance.getUser(id);
    if (user === undefined) throw notFound(`no user with id ${JSON.stringify(id)}`, 'id');
    return user;
  }

  /** The day a request's forecasts are as of, and the params that say so (none for "today"). */
  asOfOf(query: ReadonlyMap<string, string>, user: User): { day: Date; params: { asOf?: Date } } {
    const given = query.get('asOf');
    const asOf = given !== undefined ? day(given, 'asOf') : this.asOf;
    const today = asOf === 'today' ? utcDayOf(new Date()) : asOf;
    if (today.getTime() < user.openingDate.getTime()) {
      throw invalid('asOf', `asOf ${formatDay(today)} is before ${user.id}'s first day ${formatDay(user.openingDate)}: there is no balance to forecast from`);
    }
    return { day: today, params: asOf === 'today' ? {} : { asOf } };
  }

  metric(name: string | undefined): string {
    if (name === undefined || !this.forecasts.calculators.has(name)) {
      throw notFound(`no metric ${JSON.stringify(name)}; metrics: ${this.forecasts.calculators.metrics().join(', ')}`, 'metric');
    }
    return name;
  }

  knownMetric(value: unknown, field: string): string {
    if (typeof value !== 'string' || !this.forecasts.calculators.has(value)) {
      throw invalid(field, `${field} must be one of ${this.forecasts.calculators.metrics().join(', ')}, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  horizon(value: string, field: string, from: Date): string {
    if (!isHorizon(value)) throw invalid(field, `${field} must be a whole number of d, w, m or y such as 7d, 12w, 6m or 1y, got ${JSON.stringify(value)}`);
    if (horizonDays(value, from) > MAX_HORIZON_DAYS) throw invalid(field, `${field} must be at most ${MAX_HORIZON_TEXT}, got ${JSON.stringify(value)}`);
    return value;
  }

  algorithm(metric: string, value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const accepted = this.forecasts.calculators.get(metric)?.algorithms;
    if (accepted !== undefined && !accepted.includes(value)) {
      throw invalid('algorithm', `algorithm must be one of ${accepted.join(', ')} for ${metric}, got ${JSON.stringify(value)}`);
    }
    return value;
  }
}
