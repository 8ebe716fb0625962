// Key planning: what a request or a key handed in becomes (its key, tags and the span of data it covers) and
// the loaders that put a forecast in the per-user index as they start.
import type { LoaderContext } from '../cache.js';
import type { Clock } from '../clock.js';
import { unescapeSegment } from '../keys/escape.js';
import { deadlineOf, type Ttl } from '../ttl.js';
import { checkParams, requireArray, requireString } from './check.js';
import { horizonWindow, isHorizon, startOfDay, subtractHorizon } from './horizon.js';
import type { ForecastIndex, Indexed, Span } from './key-index.js';
import { forecastKey, parseForecastKey } from './keys.js';
import { checkHorizonFor, goalIdOf, lookbackOf, type Calculator, type CalculatorRegistry, type MetricDefinition, type TagContext } from './registry.js';
import { categoryTag, dependencyTag, goalTag, horizonTag, metricTag, userCategoryTag, userMetricTag, userTag, type MetricDependency } from './triggers.js';
import type { ForecastRequest } from './types.js';

export const MS_PER_DAY = 86_400_000;
/** Dependencies on dated records: only forecasts with one of them can be touched by a date range. */
const DATED: ReadonlySet<MetricDependency> = new Set<MetricDependency>(['transactions', 'expense', 'income']);

/** User and metric of a looser `forecast:<user>:<metric>:…` key, such as the seed's `forecast:user_123:custom:abc`. */
function looseParts(key: string): { userId: string; metric: string | undefined } | undefined {
  if (!key.startsWith('forecast:')) return undefined;
  const parts = key.split(':');
  const user = parts[1];
  if (parts.length < 3 || user === undefined || user === '') return undefined;
  const metric = parts.length >= 4 && parts[2] !== '' ? parts[2] : undefined;
  return { userId: unescapeSegment(user), metric: metric === undefined ? undefined : unescapeSegment(metric) };
}

/** What ForecastCache makes of a key it is handed. */
export interface KeyDescription {
  userId: string | undefined;
  tags: readonly string[];
  definition: MetricDefinition;
  /** Undefined when the params behind the key's hash are unknown. */
  spanContext: TagContext | undefined;
  horizon: string;
}

/** What a loader needs to index the forecast it computes. */
export interface LoadPlan {
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

export interface CalculatorPlan extends LoadPlan {
  userId: string;
  context: TagContext;
  definition: MetricDefinition & { calculate: Calculator };
}

/** Turns requests and keys into plans; shares the index with the rest of ForecastCache but holds no state of its own. */
export class Planner {
  readonly #registry: CalculatorRegistry;
  readonly #clock: Clock;
  readonly #defaultTtl: Ttl;
  readonly #index: ForecastIndex;

  constructor(registry: CalculatorRegistry, clock: Clock, defaultTtl: Ttl, index: ForecastIndex) {
    this.#registry = registry;
    this.#clock = clock;
    this.#defaultTtl = defaultTtl;
    this.#index = index;
  }

  keyParts(request: ForecastRequest, definition: MetricDefinition): { key: string; context: TagContext } {
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

  tagsFor(context: TagContext, definition: MetricDefinition): readonly string[] {
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
  describeKey(key: string, extra: readonly string[] | undefined): KeyDescription {
    const parsed = parseForecastKey(key);
    let described: KeyDescription;
    if (parsed !== undefined) {
      const definition = this.#registry.describe(parsed.metric);
      const paramsKnown = parsed.paramsHash === 'default';
      const context: TagContext = { userId: parsed.userId, metric: parsed.metric, horizon: parsed.horizon, algorithm: parsed.algorithm, params: {} };
      let tags = this.tagsFor(context, definition);
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
  spanOf(definition: MetricDefinition, context: TagContext | undefined, horizon: string, asOf: Date): Span | undefined {
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
  indexed<T>(plan: LoadPlan, run: (context: LoaderContext<T>, asOf: Date) => T | Promise<T>): (context: LoaderContext<T>) => T | Promise<T> {
    return (context) => {
      const now = this.#clock.now();
      const asOf = plan.fixedAsOf ?? new Date(now);
      const entry: Indexed = { tags: plan.tags, span: this.spanOf(plan.definition, plan.context, plan.horizon, asOf), expiresAt: deadlineOf(plan.ttl, now) };
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

  calculatorPlan(request: ForecastRequest, ttl: Ttl | undefined): CalculatorPlan {
    if (typeof request !== 'object' || request === null) throw new TypeError('a forecast request must be an object');
    const definition = this.#registry.require(requireString(request.metric, 'metric'));
    const { key, context } = this.keyParts(request, definition);
    const asOf = context.params.asOf;
    if (asOf !== undefined && (!(asOf instanceof Date) || Number.isNaN(asOf.getTime()))) throw new TypeError('params.asOf must be a valid Date');
    return {
      key,
      userId: context.userId,
      tags: this.tagsFor(context, definition),
      definition,
      context,
      horizon: context.horizon,
      fixedAsOf: asOf,
      ttl: ttl ?? definition.ttl ?? this.#defaultTtl,
    };
  }

  calculatorLoader<T>(plan: CalculatorPlan): (context: LoaderContext<T>) => T | Promise<T> {
    const { userId, metric, horizon, algorithm, params } = plan.context;
    return this.indexed<T>(plan, (context, asOf) => plan.definition.calculate({ userId, metric, horizon, algorithm, params, asOf, signal: context.signal }) as T | Promise<T>);
  }
}
