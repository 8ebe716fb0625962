// Warming: batch warms through the calculator registry, their cron schedules, and hot-forecast refresh (the
// requests behind recently read keys are kept, so a hot key can be recomputed before it expires).
import type { Clock } from '../clock.js';
import { CacheError } from '../errors.js';
import type { CronTimezone } from '../warming/cron.js';
import { HotKeys, Refresher } from '../warming/hot-keys.js';
import { storeLease, type Lease } from '../warming/lease.js';
import { Scheduler, type ScheduleStatus } from '../warming/scheduler.js';
import { warm as runWarm, type WarmingTask } from '../warming/warmer.js';
import { checkParams, messageOf, requireArray, requireString } from './check.js';
import type { FinanceStore } from './data/store.js';
import type { CacheHandle } from './open.js';
import type { Planner } from './plan.js';
import { checkHorizonFor, type CalculatorRegistry } from './registry.js';
import type { ForecastRequest, ForecastWarmError, ForecastWarmOptions, ForecastWarmReport } from './types.js';

/** The seed's "common forecasts" (balance, burn rate, runway, goal progress), when `warm` is not told which. */
export const DEFAULT_WARM_METRICS: readonly string[] = Object.freeze(['balance', 'burn_rate', 'runway', 'goal_progress']);
/** The seed's default warming horizons. */
export const DEFAULT_WARM_HORIZONS: readonly string[] = Object.freeze(['7d', '30d', '90d']);

export class Warming {
  readonly #handle: CacheHandle;
  readonly #clock: Clock;
  readonly #finance: FinanceStore | undefined;
  readonly #registry: CalculatorRegistry;
  readonly #planner: Planner;
  /** The request behind each forecast key read here (bounded), so a hot key can be recomputed. */
  readonly #requests = new Map<string, ForecastRequest>();
  readonly #maxRequests: number;
  #scheduler: Scheduler | undefined;
  #refresher: { refresher: Refresher; hotKeys: HotKeys } | undefined;

  constructor(handle: CacheHandle, clock: Clock, finance: FinanceStore | undefined, registry: CalculatorRegistry, planner: Planner, maxRequests: number) {
    this.#handle = handle;
    this.#clock = clock;
    this.#finance = finance;
    this.#registry = registry;
    this.#planner = planner;
    this.#maxRequests = maxRequests;
  }

  /** True while hot-forecast refresh runs: reads are then remembered. */
  get learning(): boolean {
    return this.#refresher !== undefined;
  }

  /** See `ForecastCache.warm`. */
  async warm(options: ForecastWarmOptions = {}): Promise<ForecastWarmReport> {
    if (typeof options !== 'object' || options === null) throw new TypeError('warm options must be an object');
    const cache = this.#handle.current ?? (await this.#handle.opening);
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
              const plan = this.#planner.calculatorPlan({ userId, metric, horizon, algorithm, ...(params === undefined ? {} : { params }) }, undefined);
              if (meta.has(plan.key)) continue;
              meta.set(plan.key, { userId, metric, horizon, algorithm });
              tasks.push({ id: plan.key, key: plan.key, loader: this.#planner.calculatorLoader(plan), ttl: plan.ttl, tags: plan.tags });
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

  /** Notes a read for hot-forecast learning: counted here, not from the cache's events, so hits cost nothing. */
  remember(key: string, request: ForecastRequest): void {
    this.#refresher?.hotKeys.record(key);
    this.#requests.delete(key);
    this.#requests.set(key, request);
    if (this.#requests.size > this.#maxRequests) this.#requests.delete(this.#requests.keys().next().value as string);
  }

  /** See `ForecastCache.scheduleWarm`. */
  scheduleWarm(cron: string, options: ForecastWarmOptions = {}, schedule: { name?: string; lease?: Lease; timezone?: CronTimezone; onReport?: (report: ForecastWarmReport) => void } = {}): () => void {
    const name = schedule.name ?? `forecast-warm:${cron}`;
    if (this.#scheduler === undefined) {
      const shared = this.#handle.shared;
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

  /** See `ForecastCache.scheduledWarms`. */
  scheduledWarms(): ScheduleStatus[] {
    return this.#scheduler?.status() ?? [];
  }

  /** See `ForecastCache.refreshHotForecasts`. */
  async refreshHotForecasts(options: { halfLife?: number | string; hotScore?: number; capacity?: number; interval?: number | string; refreshAhead?: number; concurrency?: number } = {}): Promise<() => Promise<void>> {
    if (this.#refresher !== undefined) throw new CacheError('E_UNSUPPORTED', 'refreshHotForecasts is already running: stop it first');
    const cache = this.#handle.current ?? (await this.#handle.opening);
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
          const plan = this.#planner.calculatorPlan(request, undefined);
          return { loader: this.#planner.calculatorLoader<unknown>(plan), ttl: plan.ttl, tags: plan.tags };
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

  /** Stops hot-forecast refresh and the schedules. */
  async stop(): Promise<void> {
    if (this.#refresher !== undefined) {
      const { refresher } = this.#refresher;
      this.#refresher = undefined;
      await refresher.stop();
    }
    await this.#scheduler?.stop();
  }
}
