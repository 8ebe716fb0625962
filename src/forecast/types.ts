// The public option, request and report shapes of ForecastCache (`tiercache/forecast` exports them through
// forecast-cache.ts), apart from the class so the class file reads as the API.
import type { Bus } from '../bus/contract.js';
import type { Cache, CacheStats, KeyInfo } from '../cache.js';
import type { Clock } from '../clock.js';
import type { EvictionPolicy } from '../memory/types.js';
import type { Store } from '../stores/contract.js';
import type { Backend } from '../stores/from-backend.js';
import type { Ttl } from '../ttl.js';
import type { WarmProgress } from '../warming/warmer.js';
import type { BalanceProjection } from './calculators/projection-engine.js';
import type { BurnRate, Runway } from './calculators/burn-rate.js';
import type { GoalProgress } from './calculators/goal-tracker.js';
import type { FinanceStore } from './data/store.js';
import type { ParsedForecastKey } from './keys.js';

/** Options of {@link ForecastCache}. */
export interface ForecastCacheOptions {
  /**
   * The shared tier behind the memory tier (the project's stores; their client libraries are optional peers,
   * loaded when the backend is first used). Ignored with `store`.
   * @default 'memory' (the memory tier alone)
   */
  backend?: Backend;
  /**
   * Where the backend is: a Redis URL (`redis`), `host:port[,host:port…]` (`memcached`), a connection string
   * (`postgres`), a database file (`sqlite`), a directory (`file`).
   * @default the backend's entry in `DEFAULT_BACKEND_URLS` (`redis://127.0.0.1:6379`, `127.0.0.1:11211`, …)
   */
  url?: string;
  /**
   * Namespace of this cache in the shared backend (Redis and Memcached key prefix, SQL and file namespace), so
   * several applications or test runs share one server. With Redis, also the bus channel (`<prefix>bus`).
   * @default the store's own default
   */
  prefix?: string;
  /**
   * Keeps the memory tiers of instances sharing the backend coherent. `true` builds a Redis bus on `url`.
   * @default true with backend 'redis', else false
   */
  bus?: boolean | Bus;
  /** A store to use as the shared tier instead of building one from `backend`. */
  store?: Store;
  /**
   * An existing cache to keep forecasts in, instead of building one. It stays open on `close()`. Cannot be
   * combined with the options that configure a cache (backend, url, prefix, bus, store, maxMemory,
   * maxEntries, evictionPolicy).
   */
  cache?: Cache;
  /**
   * Lists the keys of the shared tier matching a glob (full keys, as the cache sees them). Only needed with
   * `cache` when that cache has shared stores: it lets `invalidateByDateRange` find forecasts other
   * instances wrote; without it, a date range there invalidates all of the user's forecasts.
   * @default the store's `keys`, when ForecastCache built the store
   */
  listKeys?: (pattern: string) => AsyncIterable<string>;
  /**
   * TTL of every forecast written without one. A bare number is milliseconds.
   * @default '24h'
   */
  defaultTtl?: Ttl;
  /**
   * Most bytes the memory tier holds (the seed's `max_memory`).
   * @default 64 MiB and 10,000 entries, the engine's bounds, when neither this nor `maxEntries` is given
   */
  maxMemory?: number;
  /** Most entries the memory tier holds. */
  maxEntries?: number;
  /**
   * Which entry leaves the memory tier first when it is full: `'lru'`, `'lfu'`, `'ttl'` (soonest expiry) or
   * `'tinylfu'` (the engine's adaptive default, usually the best hit ratio).
   * @default 'lru' (the seed's default)
   */
  evictionPolicy?: EvictionPolicy;
  /** Data source of the built-in calculators; without it, register calculators with `registerCalculator`. */
  finance?: FinanceStore;
  /** Source of "now" for deadlines and as-of days; inject a fake one in tests. @default Date.now */
  clock?: Clock;
  /**
   * Most forecast keys the per-user index remembers (see `invalidateByDateRange`).
   * @default 100000
   */
  maxIndexedKeys?: number;
  /**
   * `triggeredBy` of the invalidation events the handlers record, unless a call names another.
   * @default 'forecast-cache'
   */
  triggeredBy?: string;
}

/** Options of `set`. */
export interface ForecastSetOptions {
  /** @default the `defaultTtl` */
  ttl?: Ttl;
  /** Added to the tags a structured key gets anyway (see {@link ForecastCache}). */
  tags?: readonly string[];
}

/** Options of `getOrCalculate`, besides the arguments passed to the calculation. */
export interface GetOrCalculateOptions {
  /** @default the `defaultTtl` */
  ttl?: Ttl;
  /** Added to the tags a structured key gets anyway. */
  tags?: readonly string[];
  /** Run the calculation even when a value is cached, and cache its result. @default false */
  forceRefresh?: boolean;
}

/** What `invalidate` removes: the union of what each part selects. */
export interface ForecastInvalidateOptions {
  /** A key glob: `*` any run, `?` one character (`forecast:user_123:*`, `forecast:*:burn_rate:*`). */
  pattern?: string;
  /** Tags: the ones ForecastCache adds (`user:…`, `metric:…`, `burn_rate`, `horizon:…`, `category:…`) or your own. */
  tags?: readonly string[];
  /** Every forecast of this user (its id is escaped: `a*` never touches `ab`). */
  userId?: string;
  /** Recorded in the invalidation log. @default 'invalidate' */
  reason?: string;
  /** Recorded in the invalidation log. @default the `triggeredBy` option */
  triggeredBy?: string;
}

/** One forecast to read or compute through the registry. */
export interface ForecastRequest {
  userId: string;
  metric: string;
  /** A horizon (`'30d'`), or for a subject metric its subject (goal_progress: the goal id). */
  horizon: string;
  /** @default the metric's default algorithm */
  algorithm?: string;
  /** Hashed into the key and passed to the calculator; `asOf` (a Date) sets the as-of day. */
  params?: Readonly<Record<string, unknown>>;
}

/** Options of `getForecast`. */
/** A forecast read with where its value came from (`getForecastResult`). */
export interface ForecastResult<T> {
  key: string;
  value: T;
  /** `'memory'`, a store's name (`'sqlite'`, `'redis'`), or `'computed'`. */
  source: string;
  /** The read waited for a computation another request had started, instead of starting one. */
  joined: boolean;
  /** Wall-clock milliseconds the read took. */
  ms: number;
}

export interface ForecastReadOptions {
  /** @default the metric's `ttl`, else the `defaultTtl` */
  ttl?: Ttl;
  /** Recompute even when cached. @default false */
  forceRefresh?: boolean;
}

/** Options of the trigger handlers. */
export interface TriggerOptions {
  /** Recorded in the invalidation log. @default the `triggeredBy` option */
  triggeredBy?: string;
}

/** Options of `invalidateByDateRange`. */
export interface DateRangeOptions {
  /** @default 'historical_data_corrected' */
  reason?: string;
  /** @default the `triggeredBy` option */
  triggeredBy?: string;
}

/** Options of `warm` (seed 000's batch warming). */
export interface ForecastWarmOptions {
  /** @default every user of the `finance` store */
  userIds?: readonly string[];
  /** @default {@link DEFAULT_WARM_METRICS} that have a calculator */
  metrics?: readonly string[];
  /** Ignored by subject metrics (goal_progress warms each of the user's goals). @default ['7d', '30d', '90d'] */
  horizons?: readonly string[];
  /**
   * Algorithms to warm: each metric gets those of the list it accepts, or its default when it accepts none of
   * them. An algorithm no metric accepts is an error (a typo).
   * @default each metric's default algorithm
   */
  algorithms?: readonly string[];
  /** Hashed into every key and passed to the calculators. @default none (`default` segment) */
  params?: Readonly<Record<string, unknown>>;
  /** Recompute forecasts that are already cached. @default false */
  force?: boolean;
  /** Calculations running at once. @default 4 */
  concurrency?: number;
  /** Called after each forecast; an exception it throws is ignored. */
  onProgress?: (progress: WarmProgress) => void;
  /** Stops starting new calculations once aborted. */
  signal?: AbortSignal;
}

/** One forecast `warm` could not compute. */
export interface ForecastWarmError {
  /** Undefined when the failure came before a key existed (listing a user's goals). */
  key: string | undefined;
  userId: string;
  metric: string;
  horizon: string | undefined;
  algorithm: string | undefined;
  /** The error's message (the seed's `error: str(e)`). */
  message: string;
  error: unknown;
}

/** The seed's warming stats. */
export interface ForecastWarmReport {
  /** Forecasts computed (one computed but kept out of the cache by an invalidation during its run counts too). */
  forecastsGenerated: number;
  /** Forecasts already cached, left alone (never with `force`). */
  cacheHitsSkipped: number;
  errors: ForecastWarmError[];
  durationSeconds: number;
  /** The signal stopped the run before every forecast had started. */
  aborted: boolean;
}

/** `getStats`: the cache's statistics (durations in ms) and the size of the forecast index. */
export interface ForecastCacheStats extends CacheStats {
  /** Forecast keys this instance remembers for date ranges and trigger counts. */
  indexedForecasts: number;
}

/** The data a forecast covers: from `from` (null: the whole history) to `to`, both inclusive. */
export interface ForecastWindow {
  from: Date | null;
  to: Date;
}

interface KeyInfoBase {
  key: string;
  /** The structured key's parts; undefined for a key of another shape. */
  parts: ParsedForecastKey | undefined;
}

/** `getKeyInfo` (the seed's `get_key_info`). `ttlRemaining` is in milliseconds, as everywhere in tiercache. */
export type ForecastKeyInfo =
  | (KeyInfoBase & Omit<KeyInfo, 'key' | 'exists'> & {
      exists: true;
      /** What `invalidateByDateRange` compares; undefined when it reads no dated records (goal forecasts). */
      window: ForecastWindow | undefined;
    })
  | (KeyInfoBase & { exists: false });

/** Options of `getDashboard`. */
export interface DashboardOptions {
  /** @default { balance: '30d', burn_rate: '90d', runway: '1y' } (the seed's dashboard) */
  horizons?: { balance?: string; burn_rate?: string; runway?: string };
}

/** The seed's dashboard: three forecasts and the progress of every goal of the user (with the built-in calculators). */
export interface Dashboard {
  userId: string;
  balance: BalanceProjection;
  burnRate: BurnRate;
  runway: Runway;
  /** One per goal of the user, by goal id. */
  goals: GoalProgress[];
}
