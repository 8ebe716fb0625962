import { resolve } from 'node:path';
import { parseDuration } from '../ttl.js';
import { parseDay } from '../forecast/data/calendar.js';
import { checkCronTimezone, parseCron, type CronTimezone } from '../warming/cron.js';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from './connection-guard.js';
import { isLogFormat, isLogLevel, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './logger.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The last day of the demo data when `FORECAST_DEMO_END` is not set. A constant, not "today": the same
 * database, and so the same forecasts, on every machine and every day, which README examples and tests rely on.
 */
export const DEFAULT_DEMO_END = '2025-12-31';

/** The seed of the demo data when `FORECAST_DEMO_SEED` is not set. */
export const DEFAULT_DEMO_SEED = 42;

/** What the forecast service runs with; {@link configFromEnv} builds it from the environment. */
export interface ServiceConfig {
  /**
   * `FORECAST_WARM_CRON`: when every user's forecasts are computed ahead of demand (cron, read in
   * `FORECAST_WARM_TZ`), or `off`. With Redis, one instance runs each firing.
   * @default '0 2 * * *' (nightly at 02:00)
   */
  readonly warmCron: string | undefined;
  /**
   * `FORECAST_WARM_TZ`: the time zone `FORECAST_WARM_CRON` is read in: `UTC`, `local` (the process's `TZ`) or an
   * IANA name such as `Europe/Paris`, whose daylight-saving changes the schedule follows.
   * @default 'UTC'
   */
  readonly warmTimezone: CronTimezone;
  /** `PORT`; 0 picks a free port (the listening line says which). @default 3000 */
  port: number;
  /** `HOST`. @default '127.0.0.1' (loopback only: the service has no authentication) */
  host: string;
  /** `FORECAST_DB`: the SQLite file of users, transactions and goals. @default '.data/finance.db' */
  financeDb: string;
  /** `CACHE_DB`: the SQLite file of the cache's second tier, when there is no Redis. @default '.data/cache.db' */
  cacheDb: string;
  /** `REDIS_URL`: when set, Redis is the shared tier and carries the bus between instances. */
  redisUrl: string | undefined;
  /**
   * `CACHE_PREFIX`: the Redis key prefix (and bus channel `<prefix>bus`), or the SQLite namespace, so several
   * deployments or test runs share one server without seeing each other's entries.
   * @default 'forecast-service:'
   */
  cachePrefix: string;
  /** Demo data written on a start that finds no users; undefined with `FORECAST_DEMO=off`. */
  demo: DemoConfig | undefined;
  /**
   * `FORECAST_AS_OF`: the day forecasts are computed as of, unless a request names one, or `'today'` for the
   * current UTC day. A fixed day keeps the demo meaningful: its data ends on a fixed day, and forecasts "as of
   * today" would see months without a transaction.
   * @default the demo's end day; 'today' with `FORECAST_DEMO=off`
   */
  asOf: Date | 'today';
  /** `LOG_LEVEL`. @default 'info' */
  logLevel: LogLevel;
  /**
   * `FORECAST_HTTP_CACHE`: how long forecast responses are cached whole at the HTTP layer (a duration such as
   * `30s` or `5m`, or milliseconds), on top of the ForecastCache; `off` for none. The service's writes drop their
   * user's responses at once, and so does any invalidation of the tag `user:<id>`; an invalidation of single
   * forecast keys, patterns or narrower tags made elsewhere (the dashboard, the CLI, another service) does not
   * reach them until their TTL ends. That would serve what the cache was told is stale, so it is off by default.
   * @default undefined (off)
   */
  httpCacheTtl: number | undefined;
  /** `LOG_FORMAT`: `text` (`time level message` lines) or `json` (pino's JSON lines, for a log shipper). @default 'text' */
  logFormat: LogFormat;
  /**
   * What one client may hold of the service, so that slow or stalled clients are dropped and the others
   * served. Durations in milliseconds:
   * - `HTTP_HEADERS_TIMEOUT_MS`: time to send a request's headers (408 and close past it). @default 10000
   * - `HTTP_BODY_TIMEOUT_MS`: time to send a body, on top of the headers' time: the whole request must arrive
   *   within both of its first byte (408 and close past it). @default 30000
   * - `HTTP_IDLE_TIMEOUT_MS`: time a keep-alive connection may wait for its next request. @default 5000
   * - `HTTP_MAX_CONNECTIONS`: open connections at most; more are closed as they are accepted. @default 1024
   * - `HTTP_MAX_BODY_BYTES`: largest request body (413 past it). @default 65536
   */
  http: HttpLimits;
}

/** How the demo data is generated (see `generateDemoData`). */
export interface DemoConfig {
  /** `FORECAST_DEMO_USERS`. @default 5 */
  users: number;
  /** `FORECAST_DEMO_MONTHS`. @default 12 */
  months: number;
  /** `FORECAST_DEMO_SEED`. @default {@link DEFAULT_DEMO_SEED} */
  seed: number;
  /** `FORECAST_DEMO_END`, `'YYYY-MM-DD'`. @default {@link DEFAULT_DEMO_END} */
  endDate: Date;
}

/** A variable of the environment holds something the service cannot use; the message names it. */
export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(`${variable} ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = text(env, name);
  if (value === undefined) return fallback;
  if (!/^-?\d+$/.test(value)) throw new ConfigError(name, `must be a whole number, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(name, `must be from ${min} to ${max}, got ${n}`);
  return n;
}

function day(env: Env, name: string, fallback: string): Date {
  const value = text(env, name) ?? fallback;
  try {
    return parseDay(value, name);
  } catch {
    throw new ConfigError(name, `must be a day written 'YYYY-MM-DD', got ${JSON.stringify(value)}`);
  }
}

/**
 * The service configuration from environment variables (see {@link ServiceConfig} for each one and its
 * default). Relative paths are resolved against `cwd`.
 *
 * @throws {ConfigError} naming the variable whose value cannot be used.
 * @example
 * const config = configFromEnv({ PORT: '0', FORECAST_DB: 'data/finance.db' });
 */
export function configFromEnv(env: Env = process.env, cwd: string = process.cwd()): ServiceConfig {
  const logLevel = text(env, 'LOG_LEVEL')?.toLowerCase() ?? 'info';
  if (!isLogLevel(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  const logFormat = text(env, 'LOG_FORMAT')?.toLowerCase() ?? 'text';
  if (!isLogFormat(logFormat)) throw new ConfigError('LOG_FORMAT', `must be one of ${LOG_FORMATS.join(', ')}, got ${JSON.stringify(logFormat)}`);

  const demoSwitch = text(env, 'FORECAST_DEMO')?.toLowerCase() ?? 'on';
  if (demoSwitch !== 'on' && demoSwitch !== 'off') throw new ConfigError('FORECAST_DEMO', `must be 'on' or 'off', got ${JSON.stringify(demoSwitch)}`);
  const endDate = day(env, 'FORECAST_DEMO_END', DEFAULT_DEMO_END);
  const demo: DemoConfig = {
    users: integer(env, 'FORECAST_DEMO_USERS', 5, 1, 1_000),
    months: integer(env, 'FORECAST_DEMO_MONTHS', 12, 1, 120),
    seed: integer(env, 'FORECAST_DEMO_SEED', DEFAULT_DEMO_SEED, -2_147_483_648, 2_147_483_647),
    endDate,
  };

  const asOfText = text(env, 'FORECAST_AS_OF');
  let asOf: Date | 'today';
  if (asOfText?.toLowerCase() === 'today') asOf = 'today';
  else if (asOfText !== undefined) asOf = day(env, 'FORECAST_AS_OF', asOfText);
  // Real data (no demo) is forecast from today; demo data from the day it ends.
  else asOf = demoSwitch === 'off' ? 'today' : endDate;

  const redisUrl = text(env, 'REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) throw new ConfigError('REDIS_URL', `must start with redis:// or rediss://, got ${JSON.stringify(redisUrl)}`);
  const cachePrefix = env.CACHE_PREFIX ?? 'forecast-service:';

  return {
    port: integer(env, 'PORT', 3000, 0, 65_535),
    host: text(env, 'HOST') ?? '127.0.0.1',
    financeDb: resolve(cwd, text(env, 'FORECAST_DB') ?? '.data/finance.db'),
    cacheDb: resolve(cwd, text(env, 'CACHE_DB') ?? '.data/cache.db'),
    redisUrl,
    cachePrefix,
    demo: demoSwitch === 'off' ? undefined : demo,
    asOf,
    logLevel,
    logFormat,
    httpCacheTtl: httpCacheTtl(env),
    ...warmSchedule(env),
    http: httpLimits(env),
  };
}

/** Longest timeout accepted: ten minutes. A longer one would let a client hold a socket as good as forever. */
const MAX_TIMEOUT_MS = 600_000;

function httpLimits(env: Env): HttpLimits {
  return {
    headersTimeoutMs: integer(env, 'HTTP_HEADERS_TIMEOUT_MS', DEFAULT_HTTP_LIMITS.headersTimeoutMs, 1, MAX_TIMEOUT_MS),
    bodyTimeoutMs: integer(env, 'HTTP_BODY_TIMEOUT_MS', DEFAULT_HTTP_LIMITS.bodyTimeoutMs, 1, MAX_TIMEOUT_MS),
    idleTimeoutMs: integer(env, 'HTTP_IDLE_TIMEOUT_MS', DEFAULT_HTTP_LIMITS.idleTimeoutMs, 1, MAX_TIMEOUT_MS),
    maxConnections: integer(env, 'HTTP_MAX_CONNECTIONS', DEFAULT_HTTP_LIMITS.maxConnections, 1, 1_000_000),
    // 64 MiB: the body is held in memory whole before it is parsed.
    maxBodyBytes: integer(env, 'HTTP_MAX_BODY_BYTES', DEFAULT_HTTP_LIMITS.maxBodyBytes, 1, 64 * 1024 * 1024),
  };
}

function httpCacheTtl(env: Env): number | undefined {
  const value = text(env, 'FORECAST_HTTP_CACHE') ?? 'off';
  if (value.toLowerCase() === 'off') return undefined;
  let ms: number;
  try {
    ms = parseDuration(/^\d+$/.test(value) ? Number(value) : value, 'FORECAST_HTTP_CACHE');
  } catch {
    throw new ConfigError('FORECAST_HTTP_CACHE', `must be a duration such as 30s or 5m, or off, got ${JSON.stringify(value)}`);
  }
  if (ms === 0) throw new ConfigError('FORECAST_HTTP_CACHE', 'must be longer than 0 (off turns the HTTP cache off)');
  return ms;
}

function warmSchedule(env: Env): { warmCron: string | undefined; warmTimezone: CronTimezone } {
  let warmTimezone: CronTimezone;
  try {
    warmTimezone = checkCronTimezone(text(env, 'FORECAST_WARM_TZ') ?? 'UTC');
  } catch (error) {
    throw new ConfigError('FORECAST_WARM_TZ', (error as Error).message);
  }
  const value = text(env, 'FORECAST_WARM_CRON') ?? '0 2 * * *';
  if (value.toLowerCase() === 'off') return { warmCron: undefined, warmTimezone };
  try {
    parseCron(value, { timezone: warmTimezone });
  } catch (error) {
    throw new ConfigError('FORECAST_WARM_CRON', (error as Error).message);
  }
  return { warmCron: value, warmTimezone };
}
