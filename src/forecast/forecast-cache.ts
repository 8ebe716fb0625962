// ForecastCache, the public API of `tiercache/forecast`: each method checks its call and hands it to the part
// that does the work: key planning (plan.ts), the per-user index (key-index.ts), invalidation and the
// triggers (invalidation.ts), warming, schedules and hot forecasts (warming.ts), the cache it keeps forecasts
// in (open.ts). The option and result types live in types.ts; index.ts exports them.
import type { Cache, InvalidationEvent, LoaderContext } from '../cache.js';
import { systemClock, type Clock } from '../clock.js';
import { CacheError } from '../errors.js';
import { deadlineOf, type Ttl } from '../ttl.js';
import type { Lease } from '../warming/lease.js';
import type { ScheduleStatus } from '../warming/scheduler.js';
import type { CronTimezone } from '../warming/cron.js';
import type { BalanceProjection } from './calculators/projection-engine.js';
import type { BurnRate, Runway } from './calculators/burn-rate.js';
import type { GoalProgress } from './calculators/goal-tracker.js';
import type { FinanceStore } from './data/store.js';
import { positiveInteger, requireString } from './check.js';
import { Invalidator } from './invalidation.js';
import { ForecastIndex, publicWindow } from './key-index.js';
import { parseForecastKey, type ParsedForecastKey } from './keys.js';
import { CacheHandle } from './open.js';
import { Planner, type LoadPlan } from './plan.js';
import { CalculatorRegistry, registerBuiltinCalculators, type Calculator, type MetricOptions } from './registry.js';
import { InvalidationTrigger, type GoalChange, type GoalRef, type ManualRefresh, type TransactionChange, type TransactionRef, type TriggerPayloads } from './triggers.js';
import type {
  Dashboard, DashboardOptions, DateRangeOptions, ForecastCacheOptions, ForecastCacheStats, ForecastInvalidateOptions, ForecastKeyInfo, ForecastReadOptions,
  ForecastRequest, ForecastResult, ForecastSetOptions, ForecastWarmOptions, ForecastWarmReport, GetOrCalculateOptions, TriggerOptions,
} from './types.js';
import { Warming } from './warming.js';

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
  readonly #handle: CacheHandle;
  readonly #planner: Planner;
  readonly #invalidator: Invalidator;
  readonly #warming: Warming;

  constructor(options: ForecastCacheOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('ForecastCache options must be an object');
    const clock = options.clock ?? systemClock;
    if (typeof clock.now !== 'function') throw new TypeError('clock must have a now() method returning epoch milliseconds');
    this.#clock = clock;
    this.#defaultTtl = options.defaultTtl ?? '24h';
    if (deadlineOf(this.#defaultTtl, 0, 'defaultTtl') <= 0 || this.#defaultTtl instanceof Date) throw new TypeError('defaultTtl must be a duration greater than 0');
    const maxIndexed = options.maxIndexedKeys === undefined ? 100_000 : positiveInteger(options.maxIndexedKeys, 'maxIndexedKeys');
    this.#index = new ForecastIndex(maxIndexed);
    const triggeredBy = options.triggeredBy === undefined ? 'forecast-cache' : requireString(options.triggeredBy, 'triggeredBy');
    if (options.listKeys !== undefined && typeof options.listKeys !== 'function') throw new TypeError('listKeys must be a function');
    this.#finance = options.finance;
    if (options.finance !== undefined) {
      if (typeof options.finance.listUsers !== 'function') throw new TypeError('finance must be a FinanceStore');
      registerBuiltinCalculators(this.#registry, options.finance, { clock });
    }
    this.#handle = new CacheHandle(options, clock, this.#defaultTtl, options.listKeys);
    this.#planner = new Planner(this.#registry, clock, this.#defaultTtl, this.#index);
    this.#invalidator = new Invalidator(this.#handle, clock, this.#index, this.#planner, triggeredBy);
    this.#warming = new Warming(this.#handle, clock, this.#finance, this.#registry, this.#planner, maxIndexed);
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
    await (await this.#handle.opening).ready();
  }

  /**
   * The underlying cache, for what ForecastCache does not wrap (events, `getInvalidationEvents`, namespaces).
   *
   * @example
   * (await forecasts.cache()).on('recover', ({ reason }) => log.warn({ reason }, 'forecast cache emptied'));
   */
  cache(): Promise<Cache> {
    const cache = this.#handle.current;
    return cache === undefined ? this.#handle.opening : Promise.resolve(cache);
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
    return this.#planner.keyParts(request, this.#registry.describe(requireString(request?.metric, 'metric'))).key;
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

  // ---- reads and writes ------------------------------------------------------------------------------------------

  /**
   * The cached forecast, or `fallback` (else `undefined`) when the key is missing or expired.
   * @throws {DecodeError} when stored bytes cannot be decoded (the seed's CacheError on deserialization).
   * @example
   * const projection = await forecasts.get('forecast:user_123:balance:30d:linear:default');
   */
  get<T = unknown>(key: string, fallback?: T): Promise<T | undefined> {
    const cache = this.#handle.current;
    if (cache !== undefined) return fallback === undefined ? cache.get<T>(key) : cache.get<T>(key, { default: fallback });
    return this.#handle.opening.then((c) => (fallback === undefined ? c.get<T>(key) : c.get<T>(key, { default: fallback })));
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
    const cache = this.#handle.current ?? (await this.#handle.opening);
    const { userId, tags, definition, spanContext, horizon } = this.#planner.describeKey(key, options.tags);
    const ttl = options.ttl ?? this.#defaultTtl;
    const now = this.#clock.now();
    const given = (value as { asOf?: unknown } | null)?.asOf;
    const asOf = given instanceof Date && !Number.isNaN(given.getTime()) ? given : new Date(now);
    // Indexed before the write, so a date range running meanwhile finds it.
    if (userId !== undefined) this.#index.add(userId, key, { tags, span: this.#planner.spanOf(definition, spanContext, horizon, asOf), expiresAt: deadlineOf(ttl, now) });
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
    const cache = this.#handle.current ?? (await this.#handle.opening);
    const { ttl: given, tags: extra, forceRefresh, ...rest } = options ?? ({} as GetOrCalculateOptions & A);
    const args = rest as Omit<A, keyof GetOrCalculateOptions>;
    const { userId, tags, definition, spanContext, horizon } = this.#planner.describeKey(key, extra);
    const ttl = given ?? this.#defaultTtl;
    const plan: LoadPlan = { key, userId, tags, definition, context: spanContext, horizon, fixedAsOf: undefined, ttl };
    return cache.getOrSet<T>(key, this.#planner.indexed<T>(plan, (loaderContext) => calculate(args, loaderContext)), {
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
    const plan = this.#planner.calculatorPlan(request, options.ttl);
    if (this.#warming.learning) this.#warming.remember(plan.key, request);
    const cache = this.#handle.current ?? (await this.#handle.opening);
    return cache.getOrSet<T>(plan.key, this.#planner.calculatorLoader<T>(plan), { ttl: plan.ttl, tags: plan.tags, ...(options.forceRefresh === true ? { forceRefresh: true } : {}) });
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
    const plan = this.#planner.calculatorPlan(request, options.ttl);
    if (this.#warming.learning) this.#warming.remember(plan.key, request);
    const cache = this.#handle.current ?? (await this.#handle.opening);
    const result = await cache.getOrSetResult<T>(plan.key, this.#planner.calculatorLoader<T>(plan), {
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
  invalidate(selection: ForecastInvalidateOptions): Promise<number> {
    return this.#invalidator.invalidate(selection);
  }

  /**
   * Runs the handler of a trigger (see `planInvalidation` for what each invalidates) and resolves to the number
   * of entries removed. The invalidation event records `reason` = the trigger value.
   *
   * @example
   * await forecasts.trigger(InvalidationTrigger.GOAL_UPDATED, { userId: 'user_123', id: 'goal_abc' });
   */
  trigger<K extends InvalidationTrigger>(trigger: K, payload: TriggerPayloads[K], options: TriggerOptions = {}): Promise<number> {
    return this.#invalidator.trigger(trigger, payload, options);
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
  invalidateByDateRange(userId: string, start: Date | string, end: Date | string, options: DateRangeOptions = {}): Promise<number> {
    return this.#invalidator.invalidateByDateRange(userId, start, end, options);
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
  warm(options: ForecastWarmOptions = {}): Promise<ForecastWarmReport> {
    return this.#warming.warm(options);
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
    const cache = this.#handle.current ?? (await this.#handle.opening);
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
    const cache = this.#handle.current ?? (await this.#handle.opening);
    const parts = parseForecastKey(key);
    const info = await cache.inspect(key);
    if (info === undefined) return { key, exists: false, parts };
    const { userId, definition, spanContext, horizon } = this.#planner.describeKey(key, undefined);
    // A key of no user is never part of a date range.
    const indexed = userId === undefined ? undefined : this.#index.get(userId, key);
    const span = userId === undefined ? undefined : indexed !== undefined ? indexed.span : this.#planner.spanOf(definition, spanContext, horizon, info.createdAt);
    return { ...info, key, exists: true, parts, window: publicWindow(span) };
  }

  /**
   * The most recent invalidations (reason = trigger value, triggeredBy), oldest first (see `Cache.getInvalidationEvents`).
   *
   * @example
   * const recent = await forecasts.getInvalidationEvents({ limit: 20 }); // reason: 'transaction_added', ...
   */
  async getInvalidationEvents(options: { since?: Date; limit?: number } = {}): Promise<InvalidationEvent[]> {
    const cache = this.#handle.current ?? (await this.#handle.opening);
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
    const cache = this.#handle.current ?? (await this.#handle.opening);
    const count = this.#handle.owned ? await cache.clear({ confirm: true }) : await cache.invalidatePattern('forecast:*', this.#invalidator.options('clear', undefined));
    this.#index.clear();
    return count;
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
    return this.#warming.scheduleWarm(cron, options, schedule);
  }

  /**
   * The scheduled warms: next firing, runs, skips, errors.
   *
   * @example
   * for (const { name, nextRunAt, runs } of forecasts.scheduledWarms()) log.info({ name, nextRunAt, runs }, 'warm');
   */
  scheduledWarms(): ScheduleStatus[] {
    return this.#warming.scheduledWarms();
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
  refreshHotForecasts(options: { halfLife?: number | string; hotScore?: number; capacity?: number; interval?: number | string; refreshAhead?: number; concurrency?: number } = {}): Promise<() => Promise<void>> {
    return this.#warming.refreshHotForecasts(options);
  }

  /**
   * Closes the cache ForecastCache built (a `cache` passed in stays open; the finance store always does). Idempotent.
   *
   * @example
   * process.on('SIGTERM', () => void forecasts.close());
   */
  async close(): Promise<void> {
    await this.#warming.stop();
    this.#index.clear();
    if (!this.#handle.owned) return;
    let cache: Cache;
    try {
      cache = await this.#handle.opening;
    } catch {
      // It never opened: nothing to close.
      return;
    }
    await cache.close();
  }
}
