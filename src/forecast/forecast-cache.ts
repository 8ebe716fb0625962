import type { Bus } from '../bus/contract.js';
import { Cache, type CacheStats, type InvalidateSelection, type InvalidationEvent, type KeyInfo, type LoaderContext, type PatternOptions } from '../cache.js';
import { systemClock, type Clock } from '../clock.js';
import { compilePattern } from '../freshness/pattern.js';
import { CacheError, isCacheError } from '../errors.js';
import { escapeSegment, unescapeSegment } from '../keys/escape.js';
import type { EvictionPolicy } from '../memory/types.js';
import type { CacheOptions, MemoryOptions } from '../options.js';
import type { Store } from '../stores/contract.js';
import { BACKENDS, type Backend } from '../stores/from-backend.js';
import { deadlineOf, type Ttl } from '../ttl.js';
import { warm as runWarm, type WarmingTask, type WarmProgress } from '../warming/warmer.js';
import { HotKeys, Refresher } from '../warming/hot-keys.js';
import { storeLease, type Lease } from '../warming/lease.js';
import { Scheduler, type ScheduleStatus } from '../warming/scheduler.js';
import type { CronTimezone } from '../warming/cron.js';
import type { BalanceProjection } from './calculators/projection-engine.js';
import type { BurnRate, Runway } from './calculators/burn-rate.js';
import type { GoalProgress } from './calculators/goal-tracker.js';
import { parseDay } from './data/calendar.js';
import type { FinanceStore } from './data/store.js';
import { openForecastBackend } from './backend.js';
import { forecastKey, parseForecastKey, type ParsedForecastKey } from './keys.js';
import { horizonWindow, isHorizon, startOfDay, subtractHorizon } from './horizon.js';
import {
  CalculatorRegistry,
  checkHorizonFor,
  goalIdOf,
  lookbackOf,
  registerBuiltinCalculators,
  type Calculator,
  type MetricDefinition,
  type MetricOptions,
  type TagContext,
} from './registry.js';
import {
  categoryTag,
  dependencyTag,
  goalTag,
  horizonTag,
  InvalidationTrigger,
  metricTag,
  planInvalidation,
  userCategoryTag,
  userMetricTag,
  userTag,
  type GoalChange,
  type GoalRef,
  type InvalidationPlan,
  type ManualRefresh,
  type MetricDependency,
  type TransactionChange,
  type TransactionRef,
  type TriggerPayloads,
} from './triggers.js';

const MS_PER_DAY = 86_400_000;
const EVICTION_POLICIES: readonly EvictionPolicy[] = ['lru', 'lfu', 'ttl', 'tinylfu'];
/** Dependencies on dated records: only forecasts with one of them can be touched by a date range. */
const DATED: ReadonlySet<MetricDependency> = new Set<MetricDependency>(['transactions', 'expense', 'income']);
/** The seed's "common forecasts" (balance, burn rate, runway, goal progress), when `warm` is not told which. */
export const DEFAULT_WARM_METRICS: readonly string[] = Object.freeze(['balance', 'burn_rate', 'runway', 'goal_progress']);
/** The seed's default warming horizons. */
export const DEFAULT_WARM_HORIZONS: readonly string[] = Object.freeze(['7d', '30d', '90d']);
/** Inspected at once while a date range looks at keys this instance did not write. */
const INSPECT_BATCH = 32;

// ---- keys ---------------------------------------------------------------------------------------------------

/** User and metric of a looser `forecast:<user>:<metric>:…` key, such as the seed's `forecast:user_123:custom:abc`. */
function looseParts(key: string): { userId: string; metric: string | undefined } | undefined {
  if (!key.startsWith('forecast:')) return undefined;
  const parts = key.split(':');
  const user = parts[1];
  if (parts.length < 3 || user === undefined || user === '') return undefined;
  const metric = parts.length >= 4 && parts[2] !== '' ? parts[2] : undefined;
  return { userId: unescapeSegment(user), metric: metric === undefined ? undefined : unescapeSegment(metric) };
}

// ---- the per-user index ----------------------------------------------------------------------------------------

/** A span of epoch ms, both ends inclusive; `start` may be -Infinity (the whole history). */
interface Span {
  start: number;
  end: number;
}

interface Indexed {
  tags: readonly string[];
  /** The data the forecast covers; undefined when it reads no dated records (goal forecasts). */
  span: Span | undefined;
  expiresAt: number;
}

/**
 * The forecast keys this instance wrote, per user, with their tags and spans. The engine lists no keys
 * publicly, so this is how a date range finds a user's forecasts and how a trigger counts what it removed.
 *
 * Bounded: past `limit` entries, the oldest key of the least recently written user is forgotten and the user
 * marked incomplete; a date range then invalidates all of that user's forecasts instead (never too few).
 * Past `limit` incomplete users, every user counts as incomplete.
 */
class ForecastIndex {
  readonly #users = new Map<string, Map<string, Indexed>>();
  readonly #partial = new Set<string>();
  readonly #limit: number;
  #size = 0;
  #lossy = false;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#size;
  }

  add(userId: string, key: string, entry: Indexed): void {
    let keys = this.#users.get(userId);
    if (keys === undefined) keys = new Map();
    // Re-inserted, so the Map's order is least recently written first.
    else this.#users.delete(userId);
    this.#users.set(userId, keys);
    if (keys.has(key)) keys.delete(key);
    else this.#size++;
    keys.set(key, entry);
    while (this.#size > this.#limit) this.#evictOne();
  }

  #evictOne(): void {
    const [userId, keys] = this.#users.entries().next().value as [string, Map<string, Indexed>];
    const oldest = keys.keys().next().value as string;
    keys.delete(oldest);
    this.#size--;
    if (keys.size === 0) this.#users.delete(userId);
    this.#partial.add(userId);
    if (this.#partial.size > this.#limit) {
      this.#lossy = true;
      this.#partial.clear();
    }
  }

  /** The user's live entries (expired ones are dropped on the way). */
  forUser(userId: string, now: number): ReadonlyMap<string, Indexed> {
    const keys = this.#users.get(userId);
    if (keys === undefined) return new Map();
    for (const [key, entry] of keys) {
      if (entry.expiresAt <= now) {
        keys.delete(key);
        this.#size--;
      }
    }
    if (keys.size === 0) this.#users.delete(userId);
    return keys;
  }

  get(userId: string, key: string): Indexed | undefined {
    return this.#users.get(userId)?.get(key);
  }

  /** True when every forecast this instance wrote for the user is still listed. */
  complete(userId: string): boolean {
    return !this.#lossy && !this.#partial.has(userId);
  }

  /** Everything of the user is gone from the cache: nothing is missing from the index any more. */
  dropUser(userId: string): void {
    const keys = this.#users.get(userId);
    if (keys !== undefined) this.#size -= keys.size;
    this.#users.delete(userId);
    this.#partial.delete(userId);
  }

  dropKeys(userId: string, keys: Iterable<string>): void {
    const entries = this.#users.get(userId);
    if (entries === undefined) return;
    for (const key of keys) if (entries.delete(key)) this.#size--;
    if (entries.size === 0) this.#users.delete(userId);
  }

  /** Every indexed key for which `test` holds, across users. */
  *where(test: (key: string, entry: Indexed) => boolean): Generator<[string, string]> {
    for (const [userId, keys] of this.#users) for (const [key, entry] of keys) if (test(key, entry)) yield [userId, key];
  }

  clear(): void {
    this.#users.clear();
    this.#partial.clear();
    this.#size = 0;
    this.#lossy = false;
  }
}

// ---- public types -------------------------------------------------------------------------------------------------

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

// ---- helpers ---------------------------------------------------------------------------------------------------

function requireString(value: unknown, option: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${option} must be a non-empty string, got ${value === undefined ? 'undefined' : JSON.stringify(value)}`);
  return value;
}

function positiveInteger(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw new TypeError(`${option} must be a positive integer, got ${String(value)}`);
  return value;
}

function checkParams(value: unknown, option: string): Readonly<Record<string, unknown>> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${option} must be a plain object`);
  return value as Readonly<Record<string, unknown>>;
}

function toDay(value: Date | string, field: string): Date {
  if (typeof value === 'string') return parseDay(value, field);
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new TypeError(`${field} must be a valid Date or a 'YYYY-MM-DD' string`);
  return startOfDay(value);
}

// Checks without narrowing: `Array.isArray` would turn a typed readonly array into `any[]`.
function requireArray(value: unknown, message: string): void {
  if (!Array.isArray(value)) throw new TypeError(message);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function publicWindow(span: Span | undefined): ForecastWindow | undefined {
  if (span === undefined) return undefined;
  return { from: span.start === Number.NEGATIVE_INFINITY ? null : new Date(span.start), to: new Date(span.end) };
}

/** What ForecastCache makes of a key it is handed. */
interface KeyDescription {
  userId: string | undefined;
  tags: readonly string[];
  definition: MetricDefinition;
  /** Undefined when the params behind the key's hash are unknown. */
  spanContext: TagContext | undefined;
  horizon: string;
}

/** What a loader needs to index the forecast it computes. */
interface LoadPlan {
  key: string;
  userId: string | undefined;
  tags: readonly string[];
  definition: MetricDefinition;
  context: TagContext | undefined;
  horizon: string;
  /** From `params.asOf`; else the instant the load starts. */
  fixedAsOf: Date | undefined;
  ttl: Ttl;
}

interface CalculatorPlan extends LoadPlan {
  userId: string;
  context: TagContext;
  definition: MetricDefinition & { calculate: Calculator };
}

/**
 * A cache of forecasts (seed 000): structured keys, tags that let data-change triggers invalidate exactly the
 * forecasts a change affects, date-range invalidation, batch warming through a calculator registry, and the
 * seed's statistics, over any of tiercache's backends.
 *
 * Every forecast it writes (`set` on a structured key, `getOrCalculate`, `getForecast`, `warm`,
 * `getDashboard`) carries these tags, on every tier and instance:
 * - `user:<userId>`, `metric:<metric>`, `<metric>` (the seed's `invalidate(tags=["burn_rate"])`),
 *   `horizon:<horizon>` (when the segment is a horizon), `category:<name>` (with `params.category`);
 * - scoped tags the triggers use: `forecast:<user>:metric:<metric>`, `forecast:<user>:dep:<dependency>`
 *   (one per {@link MetricDependency} of the metric), `forecast:<user>:goal:<goalId>`,
 *   `forecast:<user>:category:<name>` (user and values escaped).
 * So a trigger costs one write per tag whatever the number of forecasts, and catches forecasts other
 * instances wrote. Money in values stays `Decimal`: the codec keeps every digit on every tier.
 *
 * @example
 * const forecasts = new ForecastCache({ backend: 'redis', url: 'redis://127.0.0.1:6379', finance: store });
 * const p = await forecasts.getForecast({ userId: 'user_123', metric: 'balance', horizon: '30d', algorithm: 'linear' });
 * store.addTransaction(tx);
 * await forecasts.onTransactionAdded(tx); // balance, burn_rate, runway, expenses (or income), category:<name>
 */
export class ForecastCache {
  readonly #clock: Clock;
  readonly #defaultTtl: Ttl;
  readonly #registry = new CalculatorRegistry();
  readonly #finance: FinanceStore | undefined;
  readonly #index: ForecastIndex;
  readonly #triggeredBy: string;
  readonly #owned: boolean;
  readonly #opening: Promise<Cache>;
  #cache: Cache | undefined;
  /** The store ForecastCache built, when it is shared: scheduled warms take their fleet-wide lease there. */
  #shared: Store | undefined;
  /** The request behind each forecast key read here (bounded), so a hot key can be recomputed. */
  readonly #requests = new Map<string, ForecastRequest>();
  readonly #maxRequests: number;
  #scheduler: Scheduler | undefined;
  #refresher: { refresher: Refresher; hotKeys: HotKeys } | undefined;
  #lister: ((pattern: string) => AsyncIterable<string>) | undefined;
  /** False once the cache refused a pattern (a store that cannot list keys, such as Memcached). */
  #patterns = true;

  constructor(options: ForecastCacheOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('ForecastCache options must be an object');
    const clock = options.clock ?? systemClock;
    if (typeof clock.now !== 'function') throw new TypeError('clock must have a now() method returning epoch milliseconds');
    this.#clock = clock;
    this.#defaultTtl = options.defaultTtl ?? '24h';
    if (deadlineOf(this.#defaultTtl, 0, 'defaultTtl') <= 0 || this.#defaultTtl instanceof Date) throw new TypeError('defaultTtl must be a duration greater than 0');
    this.#maxRequests = options.maxIndexedKeys === undefined ? 100_000 : positiveInteger(options.maxIndexedKeys, 'maxIndexedKeys');
    this.#index = new ForecastIndex(this.#maxRequests);
    this.#triggeredBy = options.triggeredBy === undefined ? 'forecast-cache' : requireString(options.triggeredBy, 'triggeredBy');
    if (options.listKeys !== undefined && typeof options.listKeys !== 'function') throw new TypeError('listKeys must be a function');
    this.#lister = options.listKeys;
    this.#finance = options.finance;
    if (options.finance !== undefined) {
      if (typeof options.finance.listUsers !== 'function') throw new TypeError('finance must be a FinanceStore');
      registerBuiltinCalculators(this.#registry, options.finance, { clock });
    }

    if (options.cache !== undefined) {
      if (!(options.cache instanceof Cache)) throw new TypeError('cache must be a Cache');
      const conflicting = (['backend', 'url', 'prefix', 'bus', 'store', 'maxMemory', 'maxEntries', 'evictionPolicy'] as const).filter((name) => options[name] !== undefined);
      if (conflicting.length > 0) throw new TypeError(`cache cannot be combined with ${conflicting.join(', ')}: those configure the cache ForecastCache would otherwise build`);
      this.#owned = false;
      this.#cache = options.cache;
      this.#opening = Promise.resolve(options.cache);
      return;
    }

    const backend = options.backend ?? 'memory';
    if (!(BACKENDS as readonly string[]).includes(backend)) throw new TypeError(`backend must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(backend)}`);
    if (options.url !== undefined) requireString(options.url, 'url');
    if (options.prefix !== undefined && typeof options.prefix !== 'string') throw new TypeError('prefix must be a string');
    if ((backend === 'memory' || options.store !== undefined) && (options.url !== undefined || options.prefix !== undefined)) {
      throw new TypeError(`${options.url === undefined ? 'prefix' : 'url'} configures a backend ForecastCache builds; it has no use ${options.store === undefined ? "with backend 'memory'" : 'with a store passed in'}`);
    }
    if (options.bus !== undefined && typeof options.bus !== 'boolean' && (typeof options.bus !== 'object' || options.bus === null)) {
      throw new TypeError('bus must be a boolean or a Bus');
    }
    if (options.bus === true && (backend !== 'redis' || options.store !== undefined)) {
      throw new TypeError("bus: true builds a Redis bus from backend 'redis' and its url; with another backend or a store, pass a Bus");
    }
    const policy = options.evictionPolicy ?? 'lru';
    if (!EVICTION_POLICIES.includes(policy)) throw new TypeError(`evictionPolicy must be one of ${EVICTION_POLICIES.join(', ')}, got ${JSON.stringify(policy)}`);
    const memory: MemoryOptions = { policy };
    if (options.maxMemory !== undefined) memory.maxBytes = positiveInteger(options.maxMemory, 'maxMemory');
    if (options.maxEntries !== undefined) memory.maxEntries = positiveInteger(options.maxEntries, 'maxEntries');
    const base: CacheOptions = { defaultTtl: this.#defaultTtl, clock, memory };
    this.#owned = true;

    if (options.store !== undefined || backend === 'memory') {
      const store = options.store;
      const cacheOptions: CacheOptions = { ...base };
      if (store !== undefined) cacheOptions.stores = [store];
      if (typeof options.bus === 'object') cacheOptions.bus = options.bus;
      const cache = new Cache(cacheOptions);
      if (store?.capabilities.shared === true) this.#shared = store;
      this.#lister ??= store?.keys === undefined ? undefined : (pattern) => (store.keys as (p: string) => AsyncIterable<string>).call(store, pattern);
      this.#cache = cache;
      this.#opening = Promise.resolve(cache);
      return;
    }

    // The store modules import their client libraries (optional peers), so they are loaded on first use.
    this.#opening = openForecastBackend(options, clock).then(({ store, bus }) => {
      let cache: Cache;
      try {
        cache = new Cache({ ...base, stores: [store], ...(bus === undefined ? {} : { bus }) });
      } catch (error) {
        return Promise.allSettled([store.close(), bus?.close()]).then(() => Promise.reject(error as Error));
      }
      this.#lister ??= store.keys === undefined ? undefined : (pattern) => (store.keys as (p: string) => AsyncIterable<string>).call(store, pattern);
      if (store.capabilities.shared) this.#shared = store;
      this.#cache = cache;
      return cache;
    });
    // Deliberately handled here too: a backend that fails to open is reported by the next call, not as an
    // unhandled rejection of a promise nobody awaited yet.
    this.#opening.catch(() => undefined);
  }

  /**
   * A ForecastCache whose backend is open (and, with a bus, subscribed).
   *
   * @example
   * const forecasts = await ForecastCache.create({ backend: 'redis', finance: store });
   */
  static async create(options: ForecastCacheOptions = {}): Promise<ForecastCache> {
    const forecasts = new ForecastCache(options);
    try {
      await forecasts.ready();
    } catch (error) {
      await forecasts.close().catch(() => undefined);
      throw error;
    }
    return forecasts;
  }

  /**
   * Resolves once the backend is open and the bus subscribed; rejects with the reason it could not be.
   *
   * @example
   * const forecasts = new ForecastCache({ backend: 'redis', url, finance });
   * await forecasts.ready(); // or use ForecastCache.create(), which waits for it
   */
  async ready(): Promise<void> {
    await (await this.#opening).ready();
  }

  /**
   * The underlying cache, for what ForecastCache does not wrap (events, `getInvalidationEvents`, namespaces).
   *
   * @example
   * (await forecasts.cache()).on('recover', ({ reason }) => log.warn({ reason }, 'forecast cache emptied'));
   */
  cache(): Promise<Cache> {
    return this.#cache === undefined ? this.#opening : Promise.resolve(this.#cache);
  }

  /** The calculators and metric descriptions (`registerCalculator` adds to it). */
  get calculators(): CalculatorRegistry {
    return this.#registry;
  }

  // ---- keys ----------------------------------------------------------------------------------------------------

  /**
   * The structured key `forecast:{userId}:{metric}:{horizon}:{algorithm}:{paramsHash}`. Segments are escaped
   * (`a:b` → `a%3Ab`, `a*` → `a%2A`) so an id can neither forge a key nor widen a pattern; the hash is the
   * MD5 of the canonical params (order-independent), `default` without (or with empty) params. The horizon is checked for the
   * metric, and the algorithm when the metric lists its algorithms.
   *
   * @example
   * forecasts.key({ userId: 'user_123', metric: 'balance', horizon: '30d', algorithm: 'linear', params: { window_months: 3 } })
   * // 'forecast:user_123:balance:30d:linear:<8 hex>'
   */
  key(request: ForecastRequest): string {
    return this.#keyParts(request, this.#registry.describe(requireString(request?.metric, 'metric'))).key;
  }

  /**
   * The parts of a structured key, or `undefined` (see {@link parseForecastKey}).
   *
   * @example
   * forecasts.parseKey('forecast:user_123:balance:30d:linear:default'); // { userId: 'user_123', metric: 'balance', ... }
   */
  parseKey(key: string): ParsedForecastKey | undefined {
    return parseForecastKey(key);
  }

  #keyParts(request: ForecastRequest, definition: MetricDefinition): { key: string; context: TagContext } {
    if (typeof request !== 'object' || request === null) throw new TypeError('a forecast request must be an object');
    const userId = requireString(request.userId, 'userId');
    const metric = requireString(request.metric, 'metric');
    const horizon = checkHorizonFor(definition, request.horizon);
    const algorithm = this.#registry.algorithmFor(definition, request.algorithm);
    const params = checkParams(request.params, 'params');
    // No parameters and `{}` are the same forecast: both get the `default` segment, as the seeds' keys have.
    const hashed = Object.values(params).some((value) => value !== undefined);
    const key = forecastKey({ userId, metric, horizon, algorithm, ...(hashed ? { params } : {}) });
    return { key, context: { userId, metric, horizon, algorithm, params } };
  }

  // ---- tags, spans, the loaders that index -------------------------------------------------------------------

  #tagsFor(context: TagContext, definition: MetricDefinition): readonly string[] {
    const { userId, metric, horizon, params } = context;
    const tags = [userTag(userId), metricTag(metric), metric, userMetricTag(userId, metric)];
    if (isHorizon(horizon)) tags.push(horizonTag(horizon));
    for (const dependency of definition.dependsOn) tags.push(dependency === 'goal' ? goalTag(userId, goalIdOf(context)) : dependencyTag(userId, dependency));
    const category = params.category;
    if (typeof category === 'string' && category.length > 0) tags.push(categoryTag(category), userCategoryTag(userId, category));
    const extra = definition.tags;
    if (extra !== undefined) tags.push(...(typeof extra === 'function' ? extra(context) : extra));
    return Object.freeze([...new Set(tags)]);
  }

  /**
   * Tags and context of any key ForecastCache is handed (set, getOrCalculate): structured, loose, or neither.
   * `spanContext` is the context only when the params are known (the `default` segment: none), since a
   * lookback may depend on them.
   */
  #describeKey(key: string, extra: readonly string[] | undefined): KeyDescription {
    const parsed = parseForecastKey(key);
    let described: KeyDescription;
    if (parsed !== undefined) {
      const definition = this.#registry.describe(parsed.metric);
      const paramsKnown = parsed.paramsHash === 'default';
      const context: TagContext = { userId: parsed.userId, metric: parsed.metric, horizon: parsed.horizon, algorithm: parsed.algorithm, params: {} };
      let tags = this.#tagsFor(context, definition);
      // Behind a hash, `params.goalId` may name another goal than the horizon: any goal change then invalidates it.
      if (!paramsKnown && definition.dependsOn.includes('goal')) tags = [...tags, dependencyTag(parsed.userId, 'goals')];
      described = { userId: parsed.userId, tags, definition, spanContext: paramsKnown ? context : undefined, horizon: parsed.horizon };
    } else {
      const loose = looseParts(key);
      const definition = this.#registry.describe(loose?.metric ?? '');
      const tags: string[] = [];
      if (loose !== undefined) {
        tags.push(userTag(loose.userId), ...definition.dependsOn.map((d) => dependencyTag(loose.userId, d === 'goal' ? 'goals' : d)));
        if (loose.metric !== undefined) tags.push(metricTag(loose.metric), loose.metric, userMetricTag(loose.userId, loose.metric));
      }
      described = { userId: loose?.userId, tags, definition, spanContext: undefined, horizon: '' };
    }
    if (extra !== undefined) {
      requireArray(extra, 'tags must be an array of strings');
      described.tags = [...new Set([...described.tags, ...extra])];
    }
    return described;
  }

  /**
   * The data a forecast as of `asOf` covers: `[asOf − lookback, asOf + horizon]`, whole days. Undefined when
   * the metric reads no dated records.
   */
  #spanOf(definition: MetricDefinition, context: TagContext | undefined, horizon: string, asOf: Date): Span | undefined {
    if (!definition.dependsOn.some((dependency) => DATED.has(dependency))) return undefined;
    const day = startOfDay(asOf);
    const lookback = lookbackOf(definition, context);
    let start: number;
    if (lookback === 'all') start = Number.NEGATIVE_INFINITY;
    else if (lookback === 'horizon') start = isHorizon(horizon) ? subtractHorizon(day, horizon).getTime() : day.getTime();
    else start = subtractHorizon(day, lookback).getTime();
    const end = isHorizon(horizon) ? horizonWindow(asOf, horizon).end.getTime() : day.getTime() + MS_PER_DAY - 1;
    return { start, end };
  }

  /**
   * Wraps a loader so that, as it starts (before it reads any data), the key is in the index: a date range or
   * trigger arriving while it runs then finds the key and fences the load.
   */
  #indexed<T>(plan: LoadPlan, run: (context: LoaderContext<T>, asOf: Date) => T | Promise<T>): (context: LoaderContext<T>) => T | Promise<T> {
    return (context) => {
      const now = this.#clock.now();
      const asOf = plan.fixedAsOf ?? new Date(now);
      const entry: Indexed = { tags: plan.tags, span: this.#spanOf(plan.definition, plan.context, plan.horizon, asOf), expiresAt: deadlineOf(plan.ttl, now) };
      const userId = plan.userId;
      if (userId !== undefined) this.#index.add(userId, plan.key, entry);
      const wrapped: LoaderContext<T> = {
        key: context.key,
        staleValue: context.staleValue,
        signal: context.signal,
        setTtl: (ttl) => {
          context.setTtl(ttl);
          entry.expiresAt = deadlineOf(ttl, this.#clock.now());
        },
        setTags: (tags) => {
          context.setTags(tags);
          entry.tags = Object.freeze([...tags]);
        },
        skipCache: () => context.skipCache(),
      };
      return run(wrapped, asOf);
    };
  }

  #calculatorPlan(request: ForecastRequest, ttl: Ttl | undefined): CalculatorPlan {
    if (typeof request !== 'object' || request === null) throw new TypeError('a forecast request must be an object');
    const definition = this.#registry.require(requireString(request.metric, 'metric'));
    const { key, context } = this.#keyParts(request, definition);
    const asOf = context.params.asOf;
    if (asOf !== undefined && (!(asOf instanceof Date) || Number.isNaN(asOf.getTime()))) throw new TypeError('params.asOf must be a valid Date');
    return {
      key,
      userId: context.userId,
      tags: this.#tagsFor(context, definition),
      definition,
      context,
      horizon: context.horizon,
      fixedAsOf: asOf,
      ttl: ttl ?? definition.ttl ?? this.#defaultTtl,
    };
  }

  #calculatorLoader<T>(plan: CalculatorPlan): (context: LoaderContext<T>) => T | Promise<T> {
    const { userId, metric, horizon, algorithm, params } = plan.context;
    return this.#indexed<T>(plan, (context, asOf) => plan.definition.calculate({ userId, metric, horizon, algorithm, params, asOf, signal: context.signal }) as T | Promise<T>);
  }

  // ---- reads and writes ------------------------------------------------------------------------------------------

  /**
   * The cached forecast, or `fallback` (else `undefined`) when the key is missing or expired.
   * @throws {DecodeError} when stored bytes cannot be decoded (the seed's CacheError on deserialization).
   * @example
   * const projection = await forecasts.get('forecast:user_123:balance:30d:linear:default');
   */
  get<T = unknown>(key: string, fallback?: T): Promise<T | undefined> {
    const cache = this.#cache;
    if (cache !== undefined) return fallback === undefined ? cache.get<T>(key) : cache.get<T>(key, { default: fallback });
    return this.#opening.then((c) => (fallback === undefined ? c.get<T>(key) : c.get<T>(key, { default: fallback })));
  }

  /**
   * Stores a forecast; resolves to true when a tier took it (false for a TTL of 0). A structured key gets the
   * tags of its user, metric, horizon and dependencies, so the triggers find it; `options.tags` add to them.
   * The forecast's as-of instant is `value.asOf` when that is a Date, else now.
   *
   * @throws {SerializationError} for a value the codec cannot hold (nothing is stored).
   * @example
   * await forecasts.set('forecast:user_123:balance:30d:linear:abc', { projected: new Decimal('5000.00') }, { ttl: '1h', tags: ['q4'] });
   */
  async set(key: string, value: unknown, options: ForecastSetOptions = {}): Promise<boolean> {
    const cache = this.#cache ?? (await this.#opening);
    const { userId, tags, definition, spanContext, horizon } = this.#describeKey(key, options.tags);
    const ttl = options.ttl ?? this.#defaultTtl;
    const now = this.#clock.now();
    const given = (value as { asOf?: unknown } | null)?.asOf;
    const asOf = given instanceof Date && !Number.isNaN(given.getTime()) ? given : new Date(now);
    // Indexed before the write, so a date range running meanwhile finds it.
    if (userId !== undefined) this.#index.add(userId, key, { tags, span: this.#spanOf(definition, spanContext, horizon, asOf), expiresAt: deadlineOf(ttl, now) });
    try {
      return await cache.set(key, value, { ttl, ...(tags.length === 0 ? {} : { tags }) });
    } catch (error) {
      if (userId !== undefined) this.#index.dropKeys(userId, [key]);
      throw error;
    }
  }

  /**
   * The cached value of `key`, or `calculate(args)`'s, cached (seed 000 `get_or_calculate`). Everything in
   * `options` besides `ttl`, `tags` and `forceRefresh` is passed to `calculate` as its first argument (the
   * seed's `**kwargs`); the second is the loader context (`signal`, `setTtl`…).
   *
   * Single-flight (concurrent callers share one calculation) and fenced (a result whose key or tags were
   * invalidated while it was computed is returned but not cached), through `Cache.getOrSet`.
   *
   * @example
   * const p = await forecasts.getOrCalculate(key, ({ userId, days }) => engine.projectBalance(userId, { horizonDays: days }), { userId: 'u1', days: 30, ttl: '1h' });
   */
  async getOrCalculate<T, A extends object = object>(
    key: string,
    calculate: (args: Omit<A, keyof GetOrCalculateOptions>, context: LoaderContext<T>) => T | Promise<T>,
    options?: GetOrCalculateOptions & A,
  ): Promise<T> {
    if (typeof calculate !== 'function') throw new TypeError('getOrCalculate needs a calculation function');
    const cache = this.#cache ?? (await this.#opening);
    const { ttl: given, tags: extra, forceRefresh, ...rest } = options ?? ({} as GetOrCalculateOptions & A);
    const args = rest as Omit<A, keyof GetOrCalculateOptions>;
    const { userId, tags, definition, spanContext, horizon } = this.#describeKey(key, extra);
    const ttl = given ?? this.#defaultTtl;
    const plan: LoadPlan = { key, userId, tags, definition, context: spanContext, horizon, fixedAsOf: undefined, ttl };
    return cache.getOrSet<T>(key, this.#indexed<T>(plan, (loaderContext) => calculate(args, loaderContext)), {
      ttl,
      ...(tags.length === 0 ? {} : { tags }),
      ...(forceRefresh === true ? { forceRefresh: true } : {}),
    });
  }

  /**
   * One forecast through the calculator registry: cached, or computed, cached and tagged.
   *
   * @throws {TypeError} for an unknown metric, a bad horizon or an algorithm the metric does not have.
   * @example
   * const burn = await forecasts.getForecast<BurnRate>({ userId: 'user_2', metric: 'burn_rate', horizon: '90d', algorithm: 'ema' });
   */
  async getForecast<T = unknown>(request: ForecastRequest, options: ForecastReadOptions = {}): Promise<T> {
    const plan = this.#calculatorPlan(request, options.ttl);
    if (this.#refresher !== undefined) this.#remember(plan.key, request);
    const cache = this.#cache ?? (await this.#opening);
    return cache.getOrSet<T>(plan.key, this.#calculatorLoader<T>(plan), { ttl: plan.ttl, tags: plan.tags, ...(options.forceRefresh === true ? { forceRefresh: true } : {}) });
  }

  /**
   * `getForecast`, also telling where the value came from: `'memory'`, a store's name, or `'computed'` (the
   * calculator ran for it, or the read waited for a run another request started: `joined`), and how long the read
   * took. Throws what `getForecast` throws. No event listener is involved, so reads that do not ask cost nothing.
   *
   * @example
   * const { value, source, ms } = await forecasts.getForecastResult({ userId: 'user_1', metric: 'balance', horizon: '30d' });
   */
  async getForecastResult<T = unknown>(request: ForecastRequest, options: ForecastReadOptions = {}): Promise<ForecastResult<T>> {
    const plan = this.#calculatorPlan(request, options.ttl);
    if (this.#refresher !== undefined) this.#remember(plan.key, request);
    const cache = this.#cache ?? (await this.#opening);
    const result = await cache.getOrSetResult<T>(plan.key, this.#calculatorLoader<T>(plan), {
      ttl: plan.ttl,
      tags: plan.tags,
      ...(options.forceRefresh === true ? { forceRefresh: true } : {}),
    });
    if (!result.ok) throw result.error;
    return { key: plan.key, value: result.value as T, source: result.source === 'loader' ? 'computed' : (result.source as string), joined: result.joined, ms: result.durationMs };
  }

  /**
   * The seed's dashboard for a user: balance projection (30d, linear), burn rate (90d, simple), runway (1y,
   * simple) and the progress of each of the user's goals (seven forecasts in the seed's example), computed
   * concurrently, each cached and tagged as `getForecast` does it.
   *
   * Each forecast is its own `getOrSet`: `getOrSetMany` takes one tag list for the whole batch, and these
   * forecasts must carry different tags for the triggers to invalidate only what a change affects.
   *
   * @throws {TypeError} without a `finance` store (the goals are listed from it).
   * @example
   * const { balance, burnRate, runway, goals } = await forecasts.getDashboard('user_1');
   */
  async getDashboard(userId: string, options: DashboardOptions = {}): Promise<Dashboard> {
    requireString(userId, 'userId');
    const finance = this.#finance;
    if (finance === undefined) throw new TypeError('getDashboard needs the finance option (the goals are listed from it)');
    const horizons = options.horizons ?? {};
    const goals = finance.listGoals(userId);
    const [balance, burnRate, runway, ...progress] = await Promise.all([
      this.getForecast<BalanceProjection>({ userId, metric: 'balance', horizon: horizons.balance ?? '30d', algorithm: 'linear' }),
      this.getForecast<BurnRate>({ userId, metric: 'burn_rate', horizon: horizons.burn_rate ?? '90d', algorithm: 'simple' }),
      this.getForecast<Runway>({ userId, metric: 'runway', horizon: horizons.runway ?? '1y', algorithm: 'simple' }),
      ...goals.map((goal) => this.getForecast<GoalProgress>({ userId, metric: 'goal_progress', horizon: goal.id, algorithm: 'standard' })),
    ]);
    return { userId, balance, burnRate, runway, goals: progress };
  }

  /**
   * Registers (or replaces) the calculator of a metric, used by `getForecast`, `warm` and `getDashboard`.
   *
   * @example
   * forecasts.registerCalculator('grant_runway', ({ userId, asOf }) => grants.runway(userId, asOf), { algorithms: ['trend_adjusted'], dependsOn: ['transactions'] });
   */
  registerCalculator<T>(metric: string, calculate: Calculator<T>, options: MetricOptions = {}): this {
    this.#registry.register(metric, calculate, options);
    return this;
  }

  /**
   * Describes a metric whose forecasts other code writes (dependencies, lookback), so triggers and date ranges treat it right.
   *
   * @example
   * forecasts.defineMetric('tax_estimate', { dependsOn: ['transactions'] });
   */
  defineMetric(metric: string, options: MetricOptions): this {
    this.#registry.define(metric, options);
    return this;
  }

  // ---- invalidation ------------------------------------------------------------------------------------------

  /**
   * Runs one `Cache.invalidate` (one event in the log) for the union of: the entries carrying one of `tags`
   * (the indexed ones of `users`, or of everyone when no user is named, are also deleted by key, which is
   * what makes them counted); every forecast of `wholeUser`, by pattern, or where the stores cannot list keys
   * (Memcached) by its `user:` tag and the keys this instance knows; and `pattern`'s keys.
   */
  async #execute(request: { tags: readonly string[]; users: readonly string[]; wholeUser: string | undefined; pattern: string | undefined }, options: PatternOptions): Promise<number> {
    const cache = this.#cache ?? (await this.#opening);
    const now = this.#clock.now();
    const wanted = new Set(request.tags);
    const tagged = new Map<string, string[]>();
    if (wanted.size > 0) {
      const carries = (entry: Indexed) => entry.expiresAt > now && entry.tags.some((tag) => wanted.has(tag));
      if (request.users.length > 0) {
        for (const userId of request.users) {
          const list: string[] = [];
          for (const [key, entry] of this.#index.forUser(userId, now)) if (carries(entry)) list.push(key);
          tagged.set(userId, list);
        }
      } else {
        for (const [userId, key] of this.#index.where((_, entry) => carries(entry))) tagged.set(userId, [...(tagged.get(userId) ?? []), key]);
      }
    }
    const keys = new Set([...tagged.values()].flat());
    const { wholeUser, pattern } = request;
    const selection: InvalidateSelection = {};
    const tags = wholeUser === undefined ? wanted : new Set([...wanted, userTag(wholeUser)]);
    if (tags.size > 0) selection.tags = [...tags];
    if (pattern !== undefined) selection.pattern = pattern;
    let count: number | undefined;
    if (wholeUser !== undefined && this.#patterns) {
      try {
        // Every forecast of this user, with the id escaped so the pattern matches this user only.
        const userPattern = `forecast:${escapeSegment(wholeUser)}:*`;
        count = await cache.invalidate({ ...selection, ...(keys.size === 0 ? {} : { keys: [...keys] }), patterns: [userPattern] }, options);
      } catch (error) {
        // Refused before anything was removed: the stores cannot list keys, so no pattern can run there.
        if (!isCacheError(error) || error.code !== 'E_UNSUPPORTED' || pattern !== undefined) throw error;
        this.#patterns = false;
      }
    }
    if (count === undefined) {
      if (wholeUser !== undefined) for (const key of this.#index.forUser(wholeUser, now).keys()) keys.add(key);
      if (keys.size > 0 || (selection.tags === undefined && selection.pattern === undefined)) selection.keys = [...keys];
      count = await cache.invalidate(selection, options);
    }
    for (const [userId, list] of tagged) this.#index.dropKeys(userId, list);
    if (wholeUser !== undefined) this.#index.dropUser(wholeUser);
    if (pattern !== undefined) this.#dropMatching(pattern);
    return count;
  }

  #options(reason: string, triggeredBy: string | undefined): PatternOptions {
    return { reason, triggeredBy: triggeredBy ?? this.#triggeredBy };
  }

  /**
   * Invalidates forecasts (seed 000 `invalidate`): the union of what `pattern`, `tags` and `userId` select.
   * Resolves to the number of entries removed: exact for patterns and `userId`; for tags, the tagged entries
   * this instance wrote (entries other instances wrote are invalidated too, through the tag, but not counted).
   *
   * @throws {CacheError} `E_UNSUPPORTED` for a pattern over a store that cannot list keys (Memcached).
   * @example
   * await forecasts.invalidate({ pattern: 'forecast:user_123:*' });
   * await forecasts.invalidate({ tags: ['burn_rate'] });
   * await forecasts.invalidate({ userId: 'user_123', reason: 'account closed' });
   */
  async invalidate(selection: ForecastInvalidateOptions): Promise<number> {
    if (typeof selection !== 'object' || selection === null) throw new TypeError('invalidate expects { pattern?, tags?, userId? }');
    const { pattern, tags, userId } = selection;
    if (pattern === undefined && tags === undefined && userId === undefined) throw new TypeError('invalidate needs at least one of pattern, tags or userId');
    if (tags !== undefined) {
      requireArray(tags, 'tags must be a non-empty array of strings');
      if (tags.length === 0) throw new TypeError('tags must be a non-empty array of strings');
    }
    if (userId !== undefined) requireString(userId, 'userId');
    return this.#execute(
      { tags: [...new Set(tags ?? [])], users: [], wholeUser: userId, pattern },
      this.#options(selection.reason ?? 'invalidate', selection.triggeredBy),
    );
  }

  #dropMatching(pattern: string): void {
    const match = compilePattern(pattern);
    const doomed = new Map<string, string[]>();
    for (const [owner, key] of this.#index.where((key) => match.test(key))) doomed.set(owner, [...(doomed.get(owner) ?? []), key]);
    for (const [owner, keys] of doomed) this.#index.dropKeys(owner, keys);
  }

  /** Executes a trigger's plan (one `Cache.invalidate`, one event). */
  #run(plan: InvalidationPlan, triggeredBy: string | undefined): Promise<number> {
    if (plan.wholeUsers.length > 1 || plan.patterns.length > 1) throw new Error('internal: a trigger plan selects at most one whole user and one pattern');
    return this.#execute({ tags: plan.tags, users: plan.users, wholeUser: plan.wholeUsers[0], pattern: plan.patterns[0] }, this.#options(plan.reason, triggeredBy));
  }

  /**
   * Runs the handler of a trigger (see `planInvalidation` for what each invalidates) and resolves to the number
   * of entries removed. The invalidation event records `reason` = the trigger value.
   *
   * @example
   * await forecasts.trigger(InvalidationTrigger.GOAL_UPDATED, { userId: 'user_123', id: 'goal_abc' });
   */
  trigger<K extends InvalidationTrigger>(trigger: K, payload: TriggerPayloads[K], options: TriggerOptions = {}): Promise<number> {
    try {
      return this.#run(planInvalidation(trigger, payload), options.triggeredBy);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * A transaction was added: the user's balance, burn-rate and runway forecasts (also `*runway` metrics), its
   * expense or income forecasts by type (both when the type is unknown), and its category's forecasts. Goal
   * forecasts and the other type stay.
   *
   * @example
   * await forecasts.onTransactionAdded({ userId: 'user_123', type: 'expense', category: 'groceries', date: new Date() });
   */
  onTransactionAdded(transaction: TransactionRef, options?: TriggerOptions): Promise<number> {
    return this.trigger(InvalidationTrigger.TRANSACTION_ADDED, transaction, options);
  }

  /**
   * A transaction changed: as {@link onTransactionAdded} for the new version and for `before` (old type, category, user).
   *
   * @example
   * await forecasts.onTransactionUpdated({ userId: 'user_123', type: 'expense', category: 'travel' }, { userId: 'user_123', type: 'expense', category: 'groceries' });
   */
  onTransactionUpdated(transaction: TransactionRef, before?: TransactionRef, options?: TriggerOptions): Promise<number> {
    return this.trigger(InvalidationTrigger.TRANSACTION_UPDATED, before === undefined ? { after: transaction } : { after: transaction, before }, options);
  }

  /**
   * A transaction was deleted: as {@link onTransactionAdded}.
   *
   * @example
   * await forecasts.onTransactionDeleted({ userId: 'user_123', type: 'income' });
   */
  onTransactionDeleted(transaction: TransactionRef, options?: TriggerOptions): Promise<number> {
    return this.trigger(InvalidationTrigger.TRANSACTION_DELETED, transaction, options);
  }

  /**
   * A goal was created: that goal's forecasts and the user's goals summary.
   *
   * @example
   * await forecasts.onGoalCreated({ userId: 'user_123', id: 'goal_1' });
   */
  onGoalCreated(goal: GoalRef, options?: TriggerOptions): Promise<number> {
    return this.trigger(InvalidationTrigger.GOAL_CREATED, goal, options);
  }

  /**
   * A goal changed: that goal's progress and the user's goals summary; other goals stay.
   *
   * @example
   * await forecasts.onGoalUpdated({ userId: 'user_123', id: 'goal_1' });
   */
  onGoalUpdated(goal: GoalRef, options?: TriggerOptions): Promise<number> {
    return this.trigger(InvalidationTrigger.GOAL_UPDATED, goal, options);
  }

  /**
   * A goal was deleted: that goal's forecasts and the user's goals summary.
   *
   * @example
   * await forecasts.onGoalDeleted({ userId: 'user_123', id: 'goal_1' });
   */
  onGoalDeleted(goal: GoalRef, options?: TriggerOptions): Promise<number> {
    return this.trigger(InvalidationTrigger.GOAL_DELETED, goal, options);
  }

  /**
   * The balance was set without a transaction (an opening balance, a reconciliation): balance and runway forecasts.
   *
   * @example
   * await forecasts.onAccountBalanceChanged('user_123', { triggeredBy: 'reconciliation' });
   */
  onAccountBalanceChanged(userId: string, options?: TriggerOptions): Promise<number> {
    return this.trigger(InvalidationTrigger.ACCOUNT_BALANCE_CHANGED, { userId }, options);
  }

  /**
   * Past data was corrected: every forecast of the user (the seed's "nuclear option"; see `invalidateByDateRange` for the surgical one).
   *
   * @example
   * await forecasts.onHistoricalDataCorrected('user_123');
   */
  onHistoricalDataCorrected(userId: string, options?: TriggerOptions): Promise<number> {
    return this.trigger(InvalidationTrigger.HISTORICAL_DATA_CORRECTED, { userId }, options);
  }

  /**
   * The user's settings changed (currency, fiscal calendar, defaults…), which may shape any forecast: all of them.
   *
   * @example
   * await forecasts.onUserSettingsChanged('user_123');
   */
  onUserSettingsChanged(userId: string, options?: TriggerOptions): Promise<number> {
    return this.trigger(InvalidationTrigger.USER_SETTINGS_CHANGED, { userId }, options);
  }

  /**
   * Refreshes on request: a user's forecasts, one metric's (of a user, or of everyone), or a pattern's keys.
   * @example
   * await forecasts.manualRefresh({ userId: 'user_123', metric: 'runway' });
   */
  manualRefresh(selection: ManualRefresh, options?: TriggerOptions): Promise<number> {
    return this.trigger(InvalidationTrigger.MANUAL_REFRESH, selection, options);
  }

  /**
   * A data-layer write as the `FinanceStore` returns it, dispatched to the matching transaction handler.
   * @example
   * await forecasts.onTransactionChange(store.updateTransaction(id, { category: 'Travel' }));
   */
  onTransactionChange(change: TransactionChange, options?: TriggerOptions): Promise<number> {
    switch (change?.kind) {
      case 'added':
        return this.onTransactionAdded(change.after, options);
      case 'updated':
        return this.onTransactionUpdated(change.after, change.before, options);
      case 'deleted':
        return this.onTransactionDeleted(change.before, options);
      default:
        return Promise.reject(new TypeError("a transaction change must have kind 'added', 'updated' or 'deleted'"));
    }
  }

  /**
   * A goal write as the `FinanceStore` returns it, dispatched to the matching goal handler.
   *
   * @example
   * await forecasts.onGoalChange(store.updateGoal(id, { target: new Decimal('9000.00') }));
   */
  onGoalChange(change: GoalChange, options?: TriggerOptions): Promise<number> {
    switch (change?.kind) {
      case 'added':
        return this.onGoalCreated(change.after, options);
      case 'updated':
        return this.onGoalUpdated(change.after, options);
      case 'deleted':
        return this.onGoalDeleted(change.before, options);
      default:
        return Promise.reject(new TypeError("a goal change must have kind 'added', 'updated' or 'deleted'"));
    }
  }

  /**
   * Invalidates the user's forecasts that a change to data dated within `[start, end]` (whole days, both
   * inclusive) can affect, and keeps the others. A forecast as of day A with horizon H covers
   * `[A − L, A + H]`: what it projects (`[A, A + H]`, the seed's horizon window) and the history it reads (L, the
   * metric's lookback: the whole history for balance and runway, whose figures are cumulative; the averaged
   * months plus the current one for burn_rate; one horizon for expenses and income). It goes when that span
   * overlaps the range. Goal forecasts read no dated records and stay.
   *
   * Keys come from the per-user index of what this instance wrote, plus the shared store's key listing (keys
   * other instances wrote; their as-of is their creation time). Where neither can vouch for every key (a
   * store that cannot list, or the index dropped some of the user's keys), all of the user's forecasts go:
   * too many, never too few. Resolves to the number of entries removed.
   *
   * @example
   * await forecasts.invalidateByDateRange('user_123', new Date('2025-03-01'), new Date('2025-03-31'));
   */
  async invalidateByDateRange(userId: string, start: Date | string, end: Date | string, options: DateRangeOptions = {}): Promise<number> {
    requireString(userId, 'userId');
    const from = toDay(start, 'start').getTime();
    const to = toDay(end, 'end').getTime() + MS_PER_DAY - 1;
    if (to < from) throw new RangeError('end must not be before start');
    const cache = this.#cache ?? (await this.#opening);
    const reason = options.reason ?? InvalidationTrigger.HISTORICAL_DATA_CORRECTED;
    const shared = Object.keys(cache.getStats().stores).length > 0;
    const lister = this.#lister;
    if ((shared && lister === undefined) || (!shared && !this.#index.complete(userId))) {
      return this.invalidate({ userId, reason, ...(options.triggeredBy === undefined ? {} : { triggeredBy: options.triggeredBy }) });
    }
    const overlaps = (span: Span | undefined) => span !== undefined && span.start <= to && from <= span.end;
    const selected = new Set<string>();
    const known = this.#index.forUser(userId, this.#clock.now());
    for (const [key, entry] of known) if (overlaps(entry.span)) selected.add(key);
    if (lister !== undefined) {
      const unknown: string[] = [];
      for await (const key of lister(`forecast:${escapeSegment(userId)}:*`)) if (!known.has(key)) unknown.push(key);
      for (let i = 0; i < unknown.length; i += INSPECT_BATCH) {
        const batch = unknown.slice(i, i + INSPECT_BATCH);
        const infos = await Promise.all(batch.map((key) => cache.inspect(key)));
        batch.forEach((key, j) => {
          const info = infos[j];
          if (info === undefined) return;
          const { definition, spanContext, horizon } = this.#describeKey(key, undefined);
          if (overlaps(this.#spanOf(definition, spanContext, horizon, info.createdAt))) selected.add(key);
        });
      }
    }
    const keys = [...selected];
    const count = await cache.invalidate({ keys }, this.#options(reason, options.triggeredBy));
    this.#index.dropKeys(userId, keys);
    return count;
  }

  // ---- warming -------------------------------------------------------------------------------------------------

  /**
   * Computes and caches forecasts ahead of demand (seed 000's batch warming): every user × metric × horizon ×
   * algorithm, in that order, through the registry, at most `concurrency` at a time, skipping those already
   * cached unless `force`. A failing forecast is reported in `errors` and never stops the run. Writes are
   * fenced: a forecast whose user or data is invalidated while it is computed is not cached.
   *
   * @throws {TypeError} for an unknown metric, a bad horizon, an algorithm no metric has, or no users to warm.
   * @example
   * const report = await forecasts.warm({ userIds: ['lab_neuro_r01'], metrics: ['burn_rate', 'runway'], horizons: ['30d', '90d', '1y'] });
   * // { forecastsGenerated: 6, cacheHitsSkipped: 0, errors: [], durationSeconds: 0.4, aborted: false }
   */
  async warm(options: ForecastWarmOptions = {}): Promise<ForecastWarmReport> {
    if (typeof options !== 'object' || options === null) throw new TypeError('warm options must be an object');
    const cache = this.#cache ?? (await this.#opening);
    const started = this.#clock.now();
    const userIds = options.userIds ?? this.#finance?.listUsers().map((user) => user.id);
    if (userIds === undefined) throw new TypeError('warm needs userIds (there is no finance store to list users from)');
    requireArray(userIds, 'userIds must be an array of strings');
    userIds.forEach((id, i) => requireString(id, `userIds[${i}]`));
    const metrics = options.metrics ?? DEFAULT_WARM_METRICS.filter((metric) => this.#registry.has(metric));
    requireArray(metrics, 'metrics must be an array of strings');
    if (metrics.length === 0) throw new TypeError('warm needs metrics with a calculator (pass finance, or registerCalculator)');
    const horizons = options.horizons ?? DEFAULT_WARM_HORIZONS;
    requireArray(horizons, 'horizons must be a non-empty array');
    if (horizons.length === 0) throw new TypeError('horizons must be a non-empty array');
    const params = options.params;
    checkParams(params, 'params');

    // Everything is checked before anything runs: a typo fails the call instead of filling `errors`.
    const wantedAlgorithms = options.algorithms;
    if (wantedAlgorithms !== undefined) requireArray(wantedAlgorithms, 'algorithms must be an array of strings');
    const plans = metrics.map((metric) => {
      const definition = this.#registry.require(metric);
      // A metric accepting none of the algorithms asked for (goal_progress among balance algorithms) keeps its default.
      const accepted = wantedAlgorithms?.filter((a) => definition.algorithms === undefined || definition.algorithms.includes(a)) ?? [];
      const algorithms = accepted.length > 0 ? accepted : [definition.defaultAlgorithm];
      if (definition.horizon === 'duration') for (const h of horizons) checkHorizonFor(definition, h);
      else if (definition.subjects === undefined) throw new TypeError(`metric ${JSON.stringify(metric)} is about subjects but has no subjects() to list them for warming`);
      return { metric, definition, algorithms };
    });
    for (const algorithm of wantedAlgorithms ?? []) {
      if (!plans.some(({ definition }) => definition.algorithms === undefined || definition.algorithms.includes(algorithm))) {
        throw new TypeError(`no metric of ${metrics.join(', ')} has algorithm ${JSON.stringify(algorithm)}`);
      }
    }

    const errors: ForecastWarmError[] = [];
    const tasks: WarmingTask[] = [];
    const meta = new Map<string, { userId: string; metric: string; horizon: string; algorithm: string }>();
    for (const userId of userIds) {
      for (const { metric, definition, algorithms } of plans) {
        let subjects: readonly string[] = horizons;
        if (definition.horizon === 'subject') {
          try {
            subjects = await (definition.subjects as (userId: string) => readonly string[] | Promise<readonly string[]>)(userId);
          } catch (error) {
            errors.push({ key: undefined, userId, metric, horizon: undefined, algorithm: undefined, message: messageOf(error), error });
            continue;
          }
        }
        for (const horizon of subjects) {
          for (const algorithm of algorithms) {
            try {
              const plan = this.#calculatorPlan({ userId, metric, horizon, algorithm, ...(params === undefined ? {} : { params }) }, undefined);
              if (meta.has(plan.key)) continue;
              meta.set(plan.key, { userId, metric, horizon, algorithm });
              tasks.push({ id: plan.key, key: plan.key, loader: this.#calculatorLoader(plan), ttl: plan.ttl, tags: plan.tags });
            } catch (error) {
              errors.push({ key: undefined, userId, metric, horizon, algorithm, message: messageOf(error), error });
            }
          }
        }
      }
    }

    const report = await runWarm(cache, tasks, {
      force: options.force === true,
      clock: this.#clock,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    for (const failure of report.errors) {
      const info = meta.get(failure.key);
      errors.push({
        key: failure.key,
        userId: info?.userId ?? '',
        metric: info?.metric ?? '',
        horizon: info?.horizon,
        algorithm: info?.algorithm,
        message: messageOf(failure.error),
        error: failure.error,
      });
    }
    return {
      forecastsGenerated: report.generated,
      cacheHitsSkipped: report.skipped,
      errors,
      durationSeconds: Math.max(0, this.#clock.now() - started) / 1000,
      aborted: report.aborted,
    };
  }

  // ---- inspection ----------------------------------------------------------------------------------------------

  /**
   * The seed's statistics (`hits`, `misses`, `hitRate` 0–1, `totalRequests`, `evictions`, `memoryUsedBytes`,
   * `keyCount` and `avgTtlRemaining` of the memory tier, in ms), per tier and store, and the index size.
   * With `reset`, the counters restart after being read. With a `cache` shared with other code, the figures
   * cover all of its keys.
   *
   * @example
   * const { hitRate, keyCount, memoryUsedBytes } = await forecasts.getStats();
   */
  async getStats(options: { reset?: boolean } = {}): Promise<ForecastCacheStats> {
    const cache = this.#cache ?? (await this.#opening);
    return { ...cache.getStats(options.reset === true ? { reset: true } : undefined), indexedForecasts: this.#index.size };
  }

  /**
   * What is known about a key (the seed's `get_key_info`): whether it exists, `ttlRemaining` (milliseconds, as
   * every duration in tiercache; divide by 1000 for the seed's seconds), `sizeBytes`, `createdAt`, `tags`, the
   * tier holding it, its parsed parts and the window a date range compares. Does not count as a read.
   *
   * @example
   * const info = await forecasts.getKeyInfo('forecast:client_acme_corp:retainer_runway:6m:trend_adjusted:default');
   * if (info.exists) console.log(info.ttlRemaining / 1000, info.tags);
   */
  async getKeyInfo(key: string): Promise<ForecastKeyInfo> {
    const cache = this.#cache ?? (await this.#opening);
    const parts = parseForecastKey(key);
    const info = await cache.inspect(key);
    if (info === undefined) return { key, exists: false, parts };
    const { userId, definition, spanContext, horizon } = this.#describeKey(key, undefined);
    // A key of no user is never part of a date range.
    const indexed = userId === undefined ? undefined : this.#index.get(userId, key);
    const span = userId === undefined ? undefined : indexed !== undefined ? indexed.span : this.#spanOf(definition, spanContext, horizon, info.createdAt);
    return { ...info, key, exists: true, parts, window: publicWindow(span) };
  }

  /**
   * The most recent invalidations (reason = trigger value, triggeredBy), oldest first (see `Cache.getInvalidationEvents`).
   *
   * @example
   * const recent = await forecasts.getInvalidationEvents({ limit: 20 }); // reason: 'transaction_added', ...
   */
  async getInvalidationEvents(options: { since?: Date; limit?: number } = {}): Promise<InvalidationEvent[]> {
    const cache = this.#cache ?? (await this.#opening);
    return cache.getInvalidationEvents(options);
  }

  /**
   * Removes every cached forecast and resolves to the number the memory tier held (stores cannot count
   * cheaply). Refuses unless called as `clear({ confirm: true })`. With a `cache` passed in, removes only the
   * `forecast:*` keys (counted exactly), not the rest of that cache.
   *
   * @throws {CacheError} `E_NOT_CONFIRMED` without `confirm: true` (the seed's ValueError).
   * @example
   * await forecasts.clear({ confirm: true });
   */
  async clear(options: { confirm?: boolean } = {}): Promise<number> {
    if (options?.confirm !== true) throw new CacheError('E_NOT_CONFIRMED', 'clear() removes every cached forecast: call clear({ confirm: true }) to do it');
    const cache = this.#cache ?? (await this.#opening);
    const count = this.#owned ? await cache.clear({ confirm: true }) : await cache.invalidatePattern('forecast:*', this.#options('clear', undefined));
    this.#index.clear();
    return count;
  }

  /** Closes the cache ForecastCache built (a `cache` passed in stays open; the finance store always does). Idempotent. */
  /** Keeps the request of a key read here, so `refreshHotForecasts` can recompute it (bounded, oldest first out). */
  /** Notes a read for hot-forecast learning: counted here, not from the cache's events, so hits cost nothing. */
  #remember(key: string, request: ForecastRequest): void {
    this.#refresher?.hotKeys.record(key);
    this.#requests.delete(key);
    this.#requests.set(key, request);
    if (this.#requests.size > this.#maxRequests) this.#requests.delete(this.#requests.keys().next().value as string);
  }

  /**
   * Runs `warm(options)` on a cron schedule (`'0 2 * * *'` nightly at 02:00, `'0 1 * * SUN'` Sundays at 01:00).
   * Timers never keep the process alive, a run still going when the next firing comes skips that firing, and
   * with several instances only one runs each firing: the lease is taken in the shared store ForecastCache
   * built (Redis, Memcached, PostgreSQL), or in `lease` when given. Returns a function that removes it.
   *
   * @example
   * forecasts.scheduleWarm('0 2 * * *', { metrics: ['balance', 'burn_rate'], horizons: ['30d', '90d'] });
   */
  scheduleWarm(cron: string, options: ForecastWarmOptions = {}, schedule: { name?: string; lease?: Lease; timezone?: CronTimezone; onReport?: (report: ForecastWarmReport) => void } = {}): () => void {
    const name = schedule.name ?? `forecast-warm:${cron}`;
    if (this.#scheduler === undefined) {
      const shared = this.#shared;
      const lease = schedule.lease ?? (shared?.capabilities.atomicAdd === true ? storeLease(shared, { clock: this.#clock }) : undefined);
      this.#scheduler = new Scheduler({ clock: this.#clock, ...(lease === undefined ? {} : { lease }), ...(schedule.timezone === undefined ? {} : { timezone: schedule.timezone }) });
    }
    const scheduler = this.#scheduler;
    scheduler.add({
      name,
      cron,
      run: async () => {
        const report = await this.warm(options);
        schedule.onReport?.(report);
      },
    });
    return () => void scheduler.remove(name);
  }

  /**
   * The scheduled warms: next firing, runs, skips, errors.
   *
   * @example
   * for (const { name, nextRunAt, runs } of forecasts.scheduledWarms()) log.info({ name, nextRunAt, runs }, 'warm');
   */
  scheduledWarms(): ScheduleStatus[] {
    return this.#scheduler?.status() ?? [];
  }

  /**
   * Hot-forecast learning (seed 001): counts reads per forecast as `getForecast` takes them (time-decayed,
   * bounded; no cache event listener, so a memory-tier hit costs what it costs without learning) and, every `interval`,
   * recomputes the forecasts read often whose TTL is running out, so their readers never meet a miss. Only
   * forecasts read through `getForecast` (or `getDashboard`) on this instance can be recomputed: their request
   * is kept. Returns a function that stops it; `close()` stops it too.
   *
   * @example
   * forecasts.refreshHotForecasts({ hotScore: 5, refreshAhead: 0.2, interval: '10s' });
   */
  async refreshHotForecasts(options: { halfLife?: number | string; hotScore?: number; capacity?: number; interval?: number | string; refreshAhead?: number; concurrency?: number } = {}): Promise<() => Promise<void>> {
    if (this.#refresher !== undefined) throw new CacheError('E_UNSUPPORTED', 'refreshHotForecasts is already running: stop it first');
    const cache = this.#cache ?? (await this.#opening);
    const hotKeys = new HotKeys({
      clock: this.#clock,
      ...(options.halfLife === undefined ? {} : { halfLife: options.halfLife }),
      ...(options.hotScore === undefined ? {} : { hotScore: options.hotScore }),
      ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
    });
    const refresher = new Refresher(cache, {
      hotKeys,
      tasks: {
        taskForKey: (key) => {
          const request = this.#requests.get(key);
          if (request === undefined) return undefined;
          const plan = this.#calculatorPlan(request, undefined);
          return { loader: this.#calculatorLoader<unknown>(plan), ttl: plan.ttl, tags: plan.tags };
        },
      },
      ...(options.interval === undefined ? {} : { interval: options.interval }),
      ...(options.refreshAhead === undefined ? {} : { refreshAhead: options.refreshAhead }),
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    }).start();
    const running = { refresher, hotKeys };
    this.#refresher = running;
    return async () => {
      if (this.#refresher !== running) return;
      this.#refresher = undefined;
      await refresher.stop();
    };
  }

  /**
   * @example
   * process.on('SIGTERM', () => void forecasts.close());
   */
  async close(): Promise<void> {
    if (this.#refresher !== undefined) {
      const { refresher } = this.#refresher;
      this.#refresher = undefined;
      await refresher.stop();
    }
    await this.#scheduler?.stop();
    this.#index.clear();
    if (!this.#owned) return;
    let cache: Cache;
    try {
      cache = await this.#opening;
    } catch {
      // It never opened: nothing to close.
      return;
    }
    await cache.close();
  }
}
