import type { Cache } from '../cache.js';
import { systemClock, timeSourceOf, type Clock, type TimeSource } from '../clock.js';
import { parseDuration } from '../ttl.js';
import type { WarmProgress } from '../warming/warmer.js';

/** What a warm started from the dashboard is given: a signal (the dashboard closing aborts it) and a progress callback. */
export interface DashboardWarmContext {
  readonly signal: AbortSignal;
  readonly onProgress: (progress: WarmProgress) => void;
}

/**
 * Something the dashboard can start: a `Warmer` (its registered tasks run), or a function that runs a warm
 * and resolves when it is done (a `ForecastCache#warm` call, say), reporting progress as it goes.
 */
export type DashboardWarmer = { run(options: { signal?: AbortSignal; onProgress?: (progress: WarmProgress) => void }): Promise<unknown> } | ((context: DashboardWarmContext) => Promise<unknown>);

/** Options of `createDashboard()`. */
export interface DashboardOptions {
  /** The cache shown, and the one the actions go through. */
  cache: Cache;
  /**
   * The admin token: a request carrying it (`Authorization: Bearer <token>`) may run actions and sees key
   * names. Without one the dashboard is read-only. An empty string counts as none.
   * @default process.env.TIERCACHE_ADMIN_TOKEN
   */
  token?: string;
  /**
   * Show key names (in the invalidation log, tags, patterns and key groups) to every request, token or not.
   * Off: only a request carrying the token sees them; the others see counts, kinds, reasons and origins.
   * @default false
   */
  showValues?: boolean;
  /**
   * The path the handler is mounted at, stripped from `req.url` when present (a framework that strips it
   * itself, as Express's `app.use(path, handler)` does, works either way).
   * @default ''
   */
  basePath?: string;
  /**
   * How often a snapshot is pushed to the open streams, and the width of one point of the hit-rate chart, in
   * ms or a duration string (at least 100 ms).
   * @default '2s'
   */
  interval?: number | string;
  /**
   * Points of history kept for the charts (while at least one stream is open; nothing is sampled otherwise).
   * @default 150
   */
  historyPoints?: number;
  /**
   * Streams open at once; the next one is answered 503.
   * @default 32
   */
  maxClients?: number;
  /**
   * Time between two heartbeat comments on an idle stream, in ms or a duration string.
   * @default '15s'
   */
  heartbeat?: number | string;
  /**
   * Warms the dashboard can start, by name.
   * @default none
   */
  warmers?: Readonly<Record<string, DashboardWarmer>>;
  /**
   * Recorded as `triggeredBy` of every action in the invalidation log.
   * @default 'dashboard'
   */
  origin?: string;
  /**
   * Time source of the snapshots and timers.
   * @default systemClock
   */
  clock?: Clock;
}

/** The options as the dashboard runs with them: checked once, durations in ms. */
export interface ResolvedDashboardOptions {
  readonly cache: Cache;
  readonly token: string | undefined;
  readonly showValues: boolean;
  readonly basePath: string;
  readonly intervalMs: number;
  readonly historyPoints: number;
  readonly maxClients: number;
  readonly heartbeatMs: number;
  readonly warmers: ReadonlyMap<string, DashboardWarmer>;
  readonly origin: string;
  readonly clock: TimeSource;
}

function positiveInteger(value: unknown, option: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new TypeError(`dashboard ${option} must be an integer from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}

function duration(value: number | string, option: string, min: number): number {
  const ms = parseDuration(value, option);
  if (ms < min) throw new TypeError(`dashboard ${option} must be at least ${min} ms, got ${String(value)}`);
  return ms;
}

/** Checks every option once; a bad one throws a `TypeError` that names it. */
export function resolveDashboardOptions(options: DashboardOptions): ResolvedDashboardOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('createDashboard needs an options object with a cache');
  const {
    cache,
    token = process.env.TIERCACHE_ADMIN_TOKEN,
    showValues = false,
    basePath = '',
    interval = '2s',
    historyPoints = 150,
    maxClients = 32,
    heartbeat = '15s',
    warmers = {},
    origin = 'dashboard',
    clock,
  } = options;
  if (typeof cache?.getMetrics !== 'function' || typeof cache.invalidateTags !== 'function') throw new TypeError('dashboard cache must be a Cache');
  if (token !== undefined && typeof token !== 'string') throw new TypeError('dashboard token must be a string');
  if (typeof showValues !== 'boolean') throw new TypeError('dashboard showValues must be a boolean');
  if (typeof basePath !== 'string' || (basePath !== '' && (!basePath.startsWith('/') || basePath.endsWith('/')))) {
    throw new TypeError(`dashboard basePath must be '' or a path that starts with / and does not end with one, got ${JSON.stringify(basePath)}`);
  }
  if (typeof origin !== 'string' || origin.length === 0 || origin.length > 200) throw new TypeError('dashboard origin must be a non-empty string of at most 200 characters');
  if (typeof warmers !== 'object' || warmers === null) throw new TypeError('dashboard warmers must be an object of warmers by name');
  const byName = new Map<string, DashboardWarmer>();
  for (const [name, warmer] of Object.entries(warmers)) {
    const runnable = typeof warmer === 'function' || (typeof warmer === 'object' && warmer !== null && typeof warmer.run === 'function');
    if (!runnable) throw new TypeError(`dashboard warmers.${name} must be a Warmer or a function`);
    byName.set(name, warmer);
  }
  return Object.freeze({
    cache,
    token: token === '' ? undefined : token,
    showValues,
    basePath,
    intervalMs: duration(interval, 'interval', 100),
    historyPoints: positiveInteger(historyPoints, 'historyPoints', 10_000),
    maxClients: positiveInteger(maxClients, 'maxClients', 10_000),
    heartbeatMs: duration(heartbeat, 'heartbeat', 100),
    warmers: byName,
    origin,
    clock: clock === undefined ? systemClock : timeSourceOf(clock, 'dashboard clock'),
  });
}
