// The forecast reads: one forecast, and the dashboard. Each read is counted by where it was answered, for
// `GET /stats`, and logged with that outcome.
import type { ForecastRequest, ForecastResult } from '../../forecast/types.js';
import { invalid, notFound } from '../http.js';
import { text } from '../input.js';
import { formatMs, round, type Context, type Reply, type Route, type Scope } from './route.js';

/** One forecast as the API returns it. */
interface ForecastRead {
  key: string;
  value: unknown;
  cache: { source: string; ms: number };
}

/** What a forecast read uses without `?horizon=`: the seed's dashboard horizons, 30 days elsewhere. */
const DEFAULT_HORIZONS: Readonly<Record<string, string>> = { balance: '30d', burn_rate: '90d', runway: '1y', expenses: '30d', income: '30d' };
const CATEGORY_METRICS: ReadonlySet<string> = new Set(['expenses', 'income']);

/** The log text of a forecast read: `hit (memory) 0.21 ms`, `miss, computed in 12.3 ms`. */
function outcomeText(read: ForecastResult<unknown>): string {
  if (read.source !== 'computed') return `hit (${read.source}) ${formatMs(read.ms)}`;
  return read.joined ? `miss, waited for a computation in progress: ${formatMs(read.ms)}` : `miss, computed in ${formatMs(read.ms)}`;
}

export class ForecastRoutes {
  readonly #scope: Scope;
  readonly #sources = new Map<string, number>();

  constructor(scope: Scope) {
    this.#scope = scope;
  }

  /** Forecast reads so far, by the tier (or `computed`) that answered them. */
  readsBySource(): Record<string, number> {
    return Object.fromEntries(this.#sources);
  }

  routes(): Route[] {
    return [
      {
        method: 'GET',
        path: '/users/:id/forecasts/:metric',
        summary: 'one forecast through the cache: ?horizon=30d&algorithm=linear&asOf=YYYY-MM-DD (&goal= for goal_progress, &category= for expenses/income)',
        query: {
          horizon: 'how far ahead: a whole number of d, w, m or y (7d, 12w, 6m, 1y), at most 5y; the metric’s usual horizon when left out',
          algorithm: 'one of the metric’s algorithms (balance: linear, seasonal; burn_rate: simple, ema…)',
          asOf: "the day the forecast is as of, 'YYYY-MM-DD'; the service’s as-of day when left out",
          goal: 'the goal id, for goal_progress',
          category: 'one category, for expenses and income',
        },
        httpCache: true,
        handle: (context) => this.#forecast(context),
      },
      {
        method: 'GET',
        path: '/users/:id/dashboard',
        summary: 'balance 30d, burn rate 90d, runway 1y and every goal’s progress (?balance=&burn_rate=&runway= horizons, &asOf=)',
        query: {
          balance: 'horizon of the balance projection (30d when left out)',
          burn_rate: 'horizon of the burn rate (90d when left out)',
          runway: 'horizon of the runway (1y when left out)',
          asOf: "the day the dashboard is as of, 'YYYY-MM-DD'",
        },
        httpCache: true,
        handle: (context) => this.#dashboard(context),
      },
    ];
  }

  /** Reads one forecast through the cache, noting and logging where it came from. */
  async #read(label: string, request: ForecastRequest): Promise<ForecastRead> {
    const read = await this.#scope.forecasts.getForecastResult(request);
    this.#sources.set(read.source, (this.#sources.get(read.source) ?? 0) + 1);
    // The text line is the message; a JSON line carries the same facts as fields.
    this.#scope.log.info(`${label} -> ${outcomeText(read)}`, { forecast: { key: read.key, source: read.source, joined: read.joined, ms: round(read.ms) } });
    return { key: read.key, value: read.value, cache: { source: read.source, ms: round(read.ms) } };
  }

  async #forecast({ params, query, label }: Context): Promise<Reply> {
    const scope = this.#scope;
    const user = scope.user(params.id);
    const metric = scope.metric(params.metric);
    const definition = scope.forecasts.calculators.get(metric);
    const asOf = scope.asOfOf(query, user);
    const forecastParams: Record<string, unknown> = { ...asOf.params };
    let horizon: string;
    if (definition?.horizon === 'subject') {
      if (query.has('horizon')) throw invalid('horizon', `${metric} has no horizon${metric === 'goal_progress' ? '; name the goal with ?goal=<goal id>' : ''}`);
      if (metric === 'goal_progress') {
        const goalId = query.get('goal');
        if (goalId === undefined) throw invalid('goal', 'goal is required for goal_progress: ?goal=<goal id> (GET /users/:id/goals lists them)');
        const goal = scope.finance.getGoal(goalId);
        if (goal === undefined || goal.userId !== user.id) throw notFound(`no goal ${JSON.stringify(goalId)} of user ${user.id}`, 'goal');
        horizon = goal.id;
      } else {
        // goals_summary (and any subject metric registered later): its first subject, 'all' for the summary.
        horizon = (await definition.subjects?.(user.id))?.[0] ?? 'all';
      }
    } else {
      horizon = scope.horizon(query.get('horizon') ?? DEFAULT_HORIZONS[metric] ?? '30d', 'horizon', asOf.day);
    }
    if (metric !== 'goal_progress' && query.has('goal')) throw invalid('goal', `goal only applies to goal_progress, not ${metric}`);
    const category = query.get('category');
    if (category !== undefined) {
      if (!CATEGORY_METRICS.has(metric)) throw invalid('category', `category only applies to expenses and income, not ${metric}`);
      forecastParams.category = text(category, 'category');
    }
    const algorithm = scope.algorithm(metric, query.get('algorithm'));
    const request: ForecastRequest = {
      userId: user.id,
      metric,
      horizon,
      ...(algorithm === undefined ? {} : { algorithm }),
      ...(Object.keys(forecastParams).length === 0 ? {} : { params: forecastParams }),
    };
    return { body: await this.#read(label, request) };
  }

  async #dashboard({ params, query, label }: Context): Promise<Reply> {
    const scope = this.#scope;
    const user = scope.user(params.id);
    const asOf = scope.asOfOf(query, user);
    const horizon = (name: 'balance' | 'burn_rate' | 'runway') => scope.horizon(query.get(name) ?? DEFAULT_HORIZONS[name] ?? '30d', name, asOf.day);
    const forecastParams = Object.keys(asOf.params).length === 0 ? {} : { params: asOf.params };
    // The seed's dashboard (as ForecastCache.getDashboard builds it), read here forecast by forecast so the
    // response can say where each came from, and so that a fixed as-of day applies to all of them.
    const requests: { what: string; request: ForecastRequest }[] = [
      { what: `balance ${horizon('balance')}`, request: { userId: user.id, metric: 'balance', horizon: horizon('balance'), algorithm: 'linear', ...forecastParams } },
      { what: `burn_rate ${horizon('burn_rate')}`, request: { userId: user.id, metric: 'burn_rate', horizon: horizon('burn_rate'), algorithm: 'simple', ...forecastParams } },
      { what: `runway ${horizon('runway')}`, request: { userId: user.id, metric: 'runway', horizon: horizon('runway'), algorithm: 'simple', ...forecastParams } },
      ...scope.finance.listGoals(user.id).map((goal) => ({
        what: `goal_progress ${goal.id}`,
        request: { userId: user.id, metric: 'goal_progress', horizon: goal.id, algorithm: 'standard', ...forecastParams },
      })),
    ];
    const started = performance.now();
    const reads = await Promise.all(requests.map(({ what, request }) => this.#read(`${label} [${what}]`, request)));
    const [balance, burnRate, runway, ...goals] = reads as [ForecastRead, ForecastRead, ForecastRead, ...ForecastRead[]];
    const computed = reads.filter((read) => read.cache.source === 'computed').length;
    return {
      body: {
        userId: user.id,
        asOf: asOf.day,
        balance: balance.value,
        burnRate: burnRate.value,
        runway: runway.value,
        goals: goals.map((read) => read.value),
        cache: {
          hits: reads.length - computed,
          computed,
          ms: round(performance.now() - started),
          forecasts: reads.map((read) => ({ key: read.key, ...read.cache })),
        },
      },
    };
  }
}
