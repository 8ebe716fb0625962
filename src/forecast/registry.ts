import { Decimal } from 'decimal.js';
import { systemClock, type Clock } from '../clock.js';
import { deadlineOf, type Ttl } from '../ttl.js';
import { BURN_METHODS, BurnRateCalculator, type BurnMethod, type RunwayOptions } from './calculators/burn-rate.js';
import { CategoryAnalyzer, type CategoryTotals } from './calculators/category-totals.js';
import { GoalTracker } from './calculators/goal-tracker.js';
import { PROJECTION_ALGORITHMS, ProjectionEngine, type ProjectBalanceOptions, type ProjectionAlgorithm } from './calculators/projection-engine.js';
import { RecordNotFoundError } from './data/errors.js';
import type { FinanceStore } from './data/store.js';
import { horizonDays, horizonMonths, isHorizon, parseHorizon, startOfDay, subtractHorizon } from './horizon.js';
import { METRIC_DEPENDENCIES, type MetricDependency } from './triggers.js';

/** What a calculator is asked to compute. */
export interface CalculatorContext {
  readonly userId: string;
  readonly metric: string;
  /** The key's horizon segment: a horizon such as `'30d'`, or the subject of a subject metric (a goal id). */
  readonly horizon: string;
  readonly algorithm: string;
  /** The parameters hashed into the key (`{}` when none). */
  readonly params: Readonly<Record<string, unknown>>;
  /** The instant the forecast is as of: `params.asOf` when it is a Date, else now by the cache's clock. */
  readonly asOf: Date;
  /** Aborted when the load passes its hard timeout or the cache closes. */
  readonly signal: AbortSignal;
}

/** Computes one forecast. Its value is cached as it is returned (Decimal, Date, Map… survive every tier). */
export type Calculator<T = unknown> = (context: CalculatorContext) => T | Promise<T>;

/** What tag functions see: the forecast being computed, before it is computed. */
export interface TagContext {
  readonly userId: string;
  readonly metric: string;
  readonly horizon: string;
  readonly algorithm: string;
  readonly params: Readonly<Record<string, unknown>>;
}

/**
 * How far back before its as-of day a forecast reads dated records (transactions), for
 * `invalidateByDateRange`: `'all'` (cumulative figures such as a balance), `'horizon'` (a trailing period as
 * long as the horizon), a horizon text such as `'4m'`, or a function of the forecast giving one of those.
 */
export type Lookback = string | ((context: TagContext) => string);

/** Options of `registerCalculator` / `defineMetric`. Unset fields default to the built-in metric of that name, if any. */
export interface MetricOptions {
  /**
   * The algorithms the metric accepts; the first is the default. Absent: any algorithm, default `'default'`.
   */
  algorithms?: readonly string[];
  /** @default the first of `algorithms` */
  defaultAlgorithm?: string;
  /**
   * What the metric is computed from: which triggers invalidate it (see {@link MetricDependency}).
   * @default ['transactions', 'account_balance', 'goals'] for a metric tiercache does not know: fresh by default
   */
  dependsOn?: readonly MetricDependency[];
  /** @default 'all' */
  lookback?: Lookback;
  /**
   * `'duration'`: the horizon segment is a horizon (`'30d'`), checked with `parseHorizon`. `'subject'`: it names
   * what the forecast is about (a goal id), as in the seed's `forecast:u:goal_progress:goal_abc:standard:…`.
   * @default 'duration'
   */
  horizon?: 'duration' | 'subject';
  /** For a subject metric: the subjects `warm` computes for a user (the user's goal ids), instead of `horizons`. */
  subjects?: (userId: string) => readonly string[] | Promise<readonly string[]>;
  /** Extra tags for every forecast of the metric, fixed or from the forecast. */
  tags?: readonly string[] | ((context: TagContext) => readonly string[]);
  /** TTL of the metric's forecasts. @default the ForecastCache's `defaultTtl` */
  ttl?: Ttl;
}

/** A metric as the registry holds it. */
export interface MetricDefinition {
  readonly metric: string;
  /** Undefined for a metric that is only described (`defineMetric`), with nothing to compute it. */
  readonly calculate: Calculator | undefined;
  /** Undefined: any algorithm. */
  readonly algorithms: readonly string[] | undefined;
  readonly defaultAlgorithm: string;
  readonly dependsOn: readonly MetricDependency[];
  readonly lookback: Lookback;
  readonly horizon: 'duration' | 'subject';
  readonly subjects: ((userId: string) => readonly string[] | Promise<readonly string[]>) | undefined;
  readonly tags: readonly string[] | ((context: TagContext) => readonly string[]) | undefined;
  readonly ttl: Ttl | undefined;
}

/** The metric names tiercache knows and computes from a `FinanceStore`. */
export const BUILTIN_METRICS = Object.freeze(['balance', 'burn_rate', 'runway', 'expenses', 'income', 'goal_progress', 'goals_summary'] as const);
export type BuiltinMetric = (typeof BUILTIN_METRICS)[number];

/** What a metric nobody described depends on: everything a trigger can name, so nothing stale survives one. */
const UNKNOWN_DEPENDENCIES: readonly MetricDependency[] = Object.freeze(['transactions', 'account_balance', 'goals']);
const TRAILING = ['trailing'] as const;
const STANDARD = ['standard'] as const;

/** Burn rates average whole calendar months before the as-of day, and the as-of day's own month is partial. */
function burnLookback(context: TagContext): string {
  return isHorizon(context.horizon) ? `${horizonMonths(context.horizon) + 1}m` : 'all';
}

type Described = Omit<MetricDefinition, 'metric' | 'calculate'>;

function described(options: Partial<Described> & Pick<Described, 'dependsOn'>): Described {
  const algorithms = options.algorithms;
  return {
    algorithms,
    defaultAlgorithm: options.defaultAlgorithm ?? algorithms?.[0] ?? 'default',
    dependsOn: options.dependsOn,
    lookback: options.lookback ?? 'all',
    horizon: options.horizon ?? 'duration',
    subjects: options.subjects,
    tags: options.tags,
    ttl: options.ttl,
  };
}

// What the built-in metrics are computed from, known even where no calculator is registered (a key written by
// `set`, or by another service): the triggers then still find them.
const BUILTIN_DESCRIPTIONS: Readonly<Record<BuiltinMetric, Described>> = {
  balance: described({ algorithms: PROJECTION_ALGORITHMS, dependsOn: ['transactions', 'account_balance'] }),
  burn_rate: described({ algorithms: BURN_METHODS, dependsOn: ['transactions'], lookback: burnLookback }),
  runway: described({ algorithms: BURN_METHODS, dependsOn: ['transactions', 'account_balance'] }),
  expenses: described({ algorithms: TRAILING, dependsOn: ['expense'], lookback: 'horizon' }),
  income: described({ algorithms: TRAILING, dependsOn: ['income'], lookback: 'horizon' }),
  goal_progress: described({ algorithms: STANDARD, dependsOn: ['goal'], horizon: 'subject' }),
  goals_summary: described({ algorithms: STANDARD, dependsOn: ['goals'], horizon: 'subject' }),
};

function isBuiltin(metric: string): metric is BuiltinMetric {
  return Object.hasOwn(BUILTIN_DESCRIPTIONS, metric);
}

function checkMetric(metric: unknown): string {
  if (typeof metric !== 'string' || metric.length === 0) throw new TypeError(`metric must be a non-empty string, got ${JSON.stringify(metric)}`);
  // eslint-disable-next-line no-control-regex -- control characters can be in neither keys nor tags
  if (/[\u0000-\u001f\u007f]/.test(metric)) throw new TypeError(`metric ${JSON.stringify(metric)} contains a control character`);
  return metric;
}

function checkStrings(value: unknown, option: string): readonly string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((item) => typeof item === 'string' && item.length > 0)) {
    throw new TypeError(`${option} must be a non-empty array of non-empty strings`);
  }
  return Object.freeze([...(value as string[])]);
}

function checkLookback(value: unknown, option: string): Lookback {
  if (typeof value === 'function') return value as Lookback;
  if (value === 'all' || value === 'horizon') return value;
  if (typeof value === 'string' && isHorizon(value)) return value;
  throw new TypeError(`${option} must be 'all', 'horizon', a horizon such as '3m', or a function, got ${JSON.stringify(value)}`);
}

/**
 * The metrics a `ForecastCache` can compute, and what each depends on.
 *
 * @example
 * const registry = new CalculatorRegistry();
 * registry.register('grant_runway', ({ userId, asOf }) => grants.runway(userId, asOf), { algorithms: ['trend_adjusted'], dependsOn: ['transactions'] });
 */
export class CalculatorRegistry {
  readonly #metrics = new Map<string, MetricDefinition>();

  /**
   * Registers (or replaces) the calculator of `metric`. Options left out come from the built-in metric of the
   * same name, else from the defaults of {@link MetricOptions}.
   *
   * @throws {TypeError} naming the option that is malformed.
   */
  register<T>(metric: string, calculate: Calculator<T>, options: MetricOptions = {}): this {
    if (typeof calculate !== 'function') throw new TypeError(`the calculator of ${JSON.stringify(metric)} must be a function`);
    this.#metrics.set(checkMetric(metric), { metric, calculate, ...this.#resolve(metric, options) });
    return this;
  }

  /** Describes a metric without a calculator (keys written with `set` by other code), so triggers and date ranges treat it right. */
  define(metric: string, options: MetricOptions): this {
    this.#metrics.set(checkMetric(metric), { metric, calculate: this.#metrics.get(metric)?.calculate, ...this.#resolve(metric, options) });
    return this;
  }

  /** Removes a metric; false when it was not registered. Built-in descriptions stay known. */
  unregister(metric: string): boolean {
    return this.#metrics.delete(metric);
  }

  /** True when `metric` has a calculator. */
  has(metric: string): boolean {
    return this.#metrics.get(metric)?.calculate !== undefined;
  }

  /** The registered definition of `metric`, if any. */
  get(metric: string): MetricDefinition | undefined {
    return this.#metrics.get(metric);
  }

  /** The metrics with a calculator, in registration order. */
  metrics(): string[] {
    return [...this.#metrics.values()].filter((d) => d.calculate !== undefined).map((d) => d.metric);
  }

  /**
   * What is known of `metric`: its registration; else the built-in description of that name; else, for a
   * name ending in `runway` (`grant_runway`, `retainer_runway`: the seed's `*runway` pattern), the runway's;
   * else an unknown metric that depends on everything.
   */
  describe(metric: string): MetricDefinition {
    const registered = this.#metrics.get(metric);
    if (registered !== undefined) return registered;
    return { metric, calculate: undefined, ...this.#defaults(metric) };
  }

  /** The definition with a calculator, or a TypeError naming the metric. */
  require(metric: string): MetricDefinition & { calculate: Calculator } {
    const definition = this.#metrics.get(metric);
    if (definition?.calculate === undefined) {
      const known = this.metrics();
      throw new TypeError(
        `no calculator is registered for metric ${JSON.stringify(metric)}; registered: ${known.length === 0 ? 'none (pass `finance` for the built-in ones)' : known.join(', ')}`,
      );
    }
    return definition as MetricDefinition & { calculate: Calculator };
  }

  /**
   * `algorithm` checked against the metric (its default when undefined).
   * @throws {TypeError} naming the metric and the algorithms it accepts.
   */
  algorithmFor(definition: MetricDefinition, algorithm: string | undefined): string {
    if (algorithm === undefined) return definition.defaultAlgorithm;
    if (typeof algorithm !== 'string' || algorithm.length === 0) throw new TypeError(`algorithm must be a non-empty string, got ${JSON.stringify(algorithm)}`);
    if (definition.algorithms !== undefined && !definition.algorithms.includes(algorithm)) {
      throw new TypeError(`metric ${JSON.stringify(definition.metric)} has no algorithm ${JSON.stringify(algorithm)}; it accepts ${definition.algorithms.join(', ')}`);
    }
    return algorithm;
  }

  #defaults(metric: string): Described {
    if (isBuiltin(metric)) return BUILTIN_DESCRIPTIONS[metric];
    if (metric.endsWith('runway')) return { ...BUILTIN_DESCRIPTIONS.runway, algorithms: undefined, defaultAlgorithm: 'default' };
    return described({ dependsOn: UNKNOWN_DEPENDENCIES });
  }

  #resolve(metric: string, options: MetricOptions): Described {
    if (typeof options !== 'object' || options === null) throw new TypeError(`options of metric ${JSON.stringify(metric)} must be an object`);
    const base = this.#metrics.get(metric) ?? { ...this.#defaults(metric) };
    const at = (name: string) => `metric ${JSON.stringify(metric)}: ${name}`;
    const algorithms = options.algorithms === undefined ? base.algorithms : checkStrings(options.algorithms, at('algorithms'));
    const defaultAlgorithm =
      options.defaultAlgorithm ?? (options.algorithms === undefined ? base.defaultAlgorithm : (algorithms?.[0] ?? 'default'));
    if (algorithms !== undefined && !algorithms.includes(defaultAlgorithm)) {
      throw new TypeError(`${at('defaultAlgorithm')} ${JSON.stringify(defaultAlgorithm)} is not one of its algorithms (${algorithms.join(', ')})`);
    }
    let dependsOn = base.dependsOn;
    if (options.dependsOn !== undefined) {
      const given: unknown = options.dependsOn;
      if (!Array.isArray(given) || !given.every((d) => (METRIC_DEPENDENCIES as readonly unknown[]).includes(d))) {
        throw new TypeError(`${at('dependsOn')} must be an array of ${METRIC_DEPENDENCIES.join(', ')}`);
      }
      dependsOn = Object.freeze([...new Set(options.dependsOn)]);
    }
    const horizon = options.horizon ?? base.horizon;
    if (horizon !== 'duration' && horizon !== 'subject') throw new TypeError(`${at('horizon')} must be 'duration' or 'subject'`);
    if (options.subjects !== undefined && typeof options.subjects !== 'function') throw new TypeError(`${at('subjects')} must be a function`);
    const tags = options.tags;
    if (tags !== undefined && typeof tags !== 'function') checkStrings(tags, at('tags'));
    if (options.ttl !== undefined) deadlineOf(options.ttl, 0, at('ttl'));
    return {
      algorithms,
      defaultAlgorithm,
      dependsOn,
      lookback: options.lookback === undefined ? base.lookback : checkLookback(options.lookback, at('lookback')),
      horizon,
      subjects: options.subjects ?? base.subjects,
      tags: tags === undefined ? base.tags : typeof tags === 'function' ? tags : Object.freeze([...tags]),
      ttl: options.ttl ?? base.ttl,
    };
  }
}

// ---- the built-in calculators ----------------------------------------------------------------------------------

/**
 * `target` with the named params copied in, where given. They go to the calculator as they are: the calculators
 * check their options and name a bad one.
 */
function withParams<T extends object>(target: T, params: Readonly<Record<string, unknown>>, names: readonly (keyof T & string)[]): T {
  for (const name of names) if (params[name] !== undefined) (target as Record<string, unknown>)[name] = params[name];
  return target;
}

/** The goal a goal forecast is about: `params.goalId`, else the key's horizon segment (the seed's key shape). */
export function goalIdOf(context: Pick<TagContext, 'horizon' | 'params'>): string {
  const given = context.params.goalId;
  return typeof given === 'string' && given.length > 0 ? given : context.horizon;
}

/** Category totals of one category when `params.category` names one. */
function onlyCategory(totals: CategoryTotals, category: unknown): CategoryTotals {
  if (category === undefined) return totals;
  if (typeof category !== 'string' || category.length === 0) throw new TypeError('params.category must be a non-empty string');
  const kept = totals.categories.filter((c) => c.category === category);
  const [only] = kept;
  return { ...totals, categories: kept, total: only?.total ?? new Decimal(0), count: only?.count ?? 0 };
}

/**
 * Registers the built-in metrics, computed from `finance`:
 *
 * | metric | algorithms | value | horizon |
 * |---|---|---|---|
 * | `balance` | linear (default), trend_adjusted, seasonal | `BalanceProjection` | days projected ahead |
 * | `burn_rate` | simple (default), ema, weighted | `BurnRate` | the trailing window averaged, in whole calendar months (30d → 1, 90d → 3, 1y → 12) |
 * | `runway` | simple (default), ema, weighted | `Runway` | as for `burn_rate`; the balance is the store's at the as-of day, or `params.balance` |
 * | `expenses`, `income` | trailing | `CategoryTotals` | the trailing period totalled (the basis for the next one); `params.category` keeps one category |
 * | `goal_progress` | standard | `GoalProgress` | the goal id (`forecast:u:goal_progress:<goalId>:standard:default`) |
 * | `goals_summary` | standard | `GoalsSummary` | `all` |
 *
 * Optional params passed through: balance `historyDays`, `recentDays`, `recentWeight`, `pointEveryDays`;
 * burn_rate and runway `basis`; runway `balance` (a Decimal). `params.asOf` (a Date) sets the as-of day.
 */
export function registerBuiltinCalculators(registry: CalculatorRegistry, finance: FinanceStore, options: { clock?: Clock } = {}): CalculatorRegistry {
  const clock = options.clock ?? systemClock;
  const projection = new ProjectionEngine(finance, { clock });
  const burn = new BurnRateCalculator(finance, { clock });
  const categories = new CategoryAnalyzer(finance, { clock });
  const goals = new GoalTracker(finance, { clock });

  const totals = (type: 'expense' | 'income') => (context: CalculatorContext) => {
    const to = startOfDay(context.asOf);
    const from = new Date(subtractHorizon(to, context.horizon).getTime() + 86_400_000);
    return onlyCategory(categories.categoryTotals(context.userId, { type, from, to }), context.params.category);
  };

  registry.register('balance', (context) => {
    const options: ProjectBalanceOptions = { horizonDays: horizonDays(context.horizon, context.asOf), algorithm: context.algorithm as ProjectionAlgorithm, asOf: context.asOf };
    return projection.projectBalance(context.userId, withParams(options, context.params, ['historyDays', 'recentDays', 'recentWeight', 'pointEveryDays']));
  });
  const burnOptions = (context: CalculatorContext): RunwayOptions => ({
    method: context.algorithm as BurnMethod,
    months: Math.min(120, horizonMonths(context.horizon)),
    asOf: context.asOf,
  });
  registry.register('burn_rate', (context) => burn.burnRate(context.userId, withParams(burnOptions(context), context.params, ['basis'])));
  registry.register('runway', (context) => burn.runway(context.userId, withParams(burnOptions(context), context.params, ['basis', 'balance'])));
  registry.register('expenses', totals('expense'));
  registry.register('income', totals('income'));
  registry.register(
    'goal_progress',
    (context) => {
      const goalId = goalIdOf(context);
      const goal = finance.getGoal(goalId);
      // A goal of another user must not be readable through this user's key.
      if (goal === undefined || goal.userId !== context.userId) throw new RecordNotFoundError('goal', goalId, 'goalId');
      return goals.progress(goalId, { asOf: context.asOf });
    },
    { subjects: (userId) => finance.listGoals(userId).map((g) => g.id) },
  );
  registry.register('goals_summary', (context) => goals.summary(context.userId, { asOf: context.asOf }), { subjects: () => ['all'] });
  return registry;
}

/** Checks that a horizon segment fits its metric. @throws {TypeError} naming the horizon. */
export function checkHorizonFor(definition: MetricDefinition, horizon: string): string {
  if (definition.horizon === 'duration') return parseHorizon(horizon).text;
  if (typeof horizon !== 'string' || horizon.length === 0) {
    throw new TypeError(`metric ${JSON.stringify(definition.metric)} needs its subject (such as a goal id) as the horizon, got ${JSON.stringify(horizon)}`);
  }
  return horizon;
}

/** The lookback of a forecast as `'all'`, `'horizon'` or a horizon text; `'all'` when the function fails or the params are unknown. */
export function lookbackOf(definition: MetricDefinition, context: TagContext | undefined): string {
  const { lookback } = definition;
  if (typeof lookback === 'string') return lookback;
  if (context === undefined) return 'all';
  try {
    const value = lookback(context);
    return value === 'horizon' || value === 'all' || isHorizon(value) ? value : 'all';
  } catch {
    // A lookback that cannot be worked out is the whole history: invalidating too much is safe, too little is not.
    return 'all';
  }
}
