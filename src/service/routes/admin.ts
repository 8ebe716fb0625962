// The service's own endpoints: what it serves and how it is doing (index, health, stats, the invalidation
// log, one key), and the operations on the cache as a whole (manual refresh, date-range invalidation, warm).
import { formatDay } from '../../forecast/data/calendar.js';
import type { ForecastWarmOptions } from '../../forecast/types.js';
import { parseForecastKey } from '../../forecast/keys.js';
import { invalid, notFound } from '../http.js';
import { bodyObject, bool, day, instantParam, integerParam, stringList } from '../input.js';
import * as schema from '../schemas.js';
import { plural, required, type Context, type Mutable, type Reply, type Route, type Scope } from './route.js';

const REFRESH = schema.objectBody('a refresh', { metric: { type: 'string', description: 'one metric (all of the user’s forecasts when left out)' } }, [], true);
const DATE_RANGE = schema.objectBody('a date range', { from: schema.day, to: schema.day }, ['from', 'to']);
const WARM = schema.objectBody(
  'a warm request',
  {
    userIds: schema.stringList('user ids (every user when left out)'),
    metrics: schema.stringList('metrics (every metric when left out)'),
    horizons: schema.stringList('horizons such as 30d or 1y'),
    algorithms: schema.stringList('algorithms'),
    force: { ...schema.bool, description: 'true or false: recompute forecasts already cached' },
  },
  [],
  true,
);

/** What the admin routes read of the service around them. */
export interface ServiceView {
  /** How the cache is built, as `createApp` was told. */
  readonly cacheLabel: string | undefined;
  /** Epoch ms the service started. */
  readonly started: number;
  endpoints(): { method: string; path: string; summary: string }[];
  /** The service's own counters, for `GET /stats`. */
  counters(): { requests: number; forecastReads: Record<string, number>; connections: unknown };
}

export class AdminRoutes {
  readonly #scope: Scope;
  readonly #service: ServiceView;

  constructor(scope: Scope, service: ServiceView) {
    this.#scope = scope;
    this.#service = service;
  }

  /** `GET /` and `GET /health`: first in the table, as they come first in the list `GET /` shows. */
  overview(): Route[] {
    return [
      { method: 'GET', path: '/', summary: 'this list', handle: () => this.#index() },
      { method: 'GET', path: '/health', summary: 'the cache’s health: 200 when ok or degraded, 503 when down', handle: () => this.#health() },
    ];
  }

  operations(): Route[] {
    return [
      { method: 'POST', path: '/users/:id/refresh', summary: 'manual refresh of the user’s forecasts { metric? }', body: REFRESH, handle: (context) => this.#refresh(context) },
      { method: 'POST', path: '/users/:id/invalidate-range', summary: 'data of the days { from, to } was corrected: invalidate the forecasts that read it', body: DATE_RANGE, handle: (context) => this.#invalidateRange(context) },
      { method: 'POST', path: '/warm', summary: 'compute forecasts ahead of demand { userIds?, metrics?, horizons?, algorithms?, force? }', body: WARM, handle: (context) => this.#warm(context) },
      { method: 'GET', path: '/stats', summary: 'cache statistics, and where forecast reads were answered', handle: () => this.#stats() },
      { method: 'GET', path: '/report', summary: 'the cache’s performance report: hit rates and trends, latency, memory, key groups, alerts, recommendations', handle: () => this.#report() },
      { method: 'GET', path: '/events', summary: 'the invalidation log, ?since=<ISO>&limit=1..1000', query: { since: 'events at or after this ISO date or date-time', limit: 'at most this many events, 1 to 1000 (100 when left out)' }, handle: (context) => this.#events(context) },
      { method: 'GET', path: '/keys/:key', summary: 'what the cache knows of one forecast key', handle: (context) => this.#keyInfo(context) },
    ];
  }

  // ---- invalidation and warming --------------------------------------------------------------------------------

  async #refresh({ params, body }: Context): Promise<Reply> {
    const scope = this.#scope;
    const user = scope.user(params.id);
    const input = bodyObject(await body(), false);
    const metric = input.metric === undefined ? undefined : scope.knownMetric(input.metric, 'metric');
    const invalidated = await scope.forecasts.manualRefresh({ userId: user.id, ...(metric === undefined ? {} : { metric }) });
    scope.log.info(`manual refresh for ${user.id}${metric === undefined ? '' : ` (${metric})`}: ${plural(invalidated, 'forecast')} invalidated (manual_refresh)`);
    return { body: { userId: user.id, invalidated }, users: [user.id] };
  }

  async #invalidateRange({ params, body }: Context): Promise<Reply> {
    const scope = this.#scope;
    const user = scope.user(params.id);
    const input = bodyObject(await body(), true);
    const from = day(required(input, 'from'), 'from');
    const to = day(required(input, 'to'), 'to');
    if (to < from) throw invalid('to', `to ${formatDay(to)} is before from ${formatDay(from)}`);
    const invalidated = await scope.forecasts.invalidateByDateRange(user.id, from, to);
    scope.log.info(`data corrected for ${user.id} from ${formatDay(from)} to ${formatDay(to)}: ${plural(invalidated, 'forecast')} invalidated (historical_data_corrected)`);
    return { body: { userId: user.id, from: formatDay(from), to: formatDay(to), invalidated }, users: [user.id] };
  }

  async #warm({ body }: Context): Promise<Reply> {
    const scope = this.#scope;
    const input = bodyObject(await body(), false);
    const asOfDay = scope.asOfDay();
    const options: Mutable<ForecastWarmOptions> = {};
    if (input.userIds !== undefined) {
      options.userIds = stringList(input.userIds, 'userIds', (id, at) => {
        if (scope.finance.getUser(id) === undefined) throw invalid(at, `${at}: no user with id ${JSON.stringify(id)}`);
      });
    }
    if (input.metrics !== undefined) options.metrics = stringList(input.metrics, 'metrics', (metric, at) => void scope.knownMetric(metric, at));
    if (input.horizons !== undefined) options.horizons = stringList(input.horizons, 'horizons', (h, at) => void scope.horizon(h, at, asOfDay));
    if (input.algorithms !== undefined) {
      const metrics = options.metrics ?? scope.forecasts.calculators.metrics();
      options.algorithms = stringList(input.algorithms, 'algorithms', (algorithm, at) => {
        const takes = (metric: string) => scope.forecasts.calculators.get(metric)?.algorithms?.includes(algorithm) ?? true;
        if (!metrics.some(takes)) throw invalid(at, `${at}: no metric of ${metrics.join(', ')} has algorithm ${JSON.stringify(algorithm)}`);
      });
    }
    if (input.force !== undefined) options.force = bool(input.force, 'force');
    // The keys a warm writes must be the keys reads ask for: the same as-of parameter.
    if (scope.asOf !== 'today') options.params = { asOf: scope.asOf };
    const report = await scope.forecasts.warm(options);
    scope.log.info(
      `warm: ${plural(report.forecastsGenerated, 'forecast')} computed, ${report.cacheHitsSkipped} already cached, ${plural(report.errors.length, 'error')} in ${report.durationSeconds.toFixed(2)} s`,
    );
    return {
      body: {
        forecastsGenerated: report.forecastsGenerated,
        cacheHitsSkipped: report.cacheHitsSkipped,
        errors: report.errors.map(({ key, userId, metric, horizon, algorithm, message }) => ({ key, userId, metric, horizon, algorithm, message })),
        durationSeconds: report.durationSeconds,
        aborted: report.aborted,
      },
    };
  }

  // ---- inspection ----------------------------------------------------------------------------------------------

  #index(): Reply {
    const scope = this.#scope;
    return {
      body: {
        service: 'tiercache forecast service',
        asOf: scope.asOf === 'today' ? 'today' : formatDay(scope.asOf),
        cache: this.#service.cacheLabel ?? null,
        metrics: scope.forecasts.calculators.metrics(),
        endpoints: this.#service.endpoints(),
      },
    };
  }

  async #health(): Promise<Reply> {
    const cache = await this.#scope.forecasts.cache();
    // A load balancer polls this: a probe at most a second old is reused, and concurrent polls share one.
    const health = await cache.getHealth({ maxProbeAge: '1s' });
    // Degraded still serves (from memory, or by computing): only a cache that cannot serve takes the instance out.
    return {
      status: health.healthy ? 200 : 503,
      body: { ...health, uptimeSeconds: Math.round((Date.now() - this.#service.started) / 1000), cacheLabel: this.#service.cacheLabel ?? null },
    };
  }

  async #stats(): Promise<Reply> {
    const stats = await this.#scope.forecasts.getStats();
    return { body: { ...stats, service: this.#service.counters() } };
  }

  async #report(): Promise<Reply> {
    const cache = await this.#scope.forecasts.cache();
    // Unbounded sizes are Infinity in the report; JSON has no Infinity, so they travel as null.
    return { body: cache.getReport() };
  }

  async #events({ query }: Context): Promise<Reply> {
    const sinceText = query.get('since');
    const limitText = query.get('limit');
    const since = sinceText === undefined ? undefined : instantParam(sinceText, 'since');
    const limit = limitText === undefined ? 100 : integerParam(limitText, 'limit', 1, 1_000);
    const events = await this.#scope.forecasts.getInvalidationEvents({ limit, ...(since === undefined ? {} : { since }) });
    return { body: { events } };
  }

  async #keyInfo({ params }: Context): Promise<Reply> {
    const key = params.key ?? '';
    // Only forecast keys: anything else is no forecast, and the engine would refuse some (control characters).
    if (parseForecastKey(key) === undefined) {
      throw invalid('key', `key must be a forecast key forecast:{userId}:{metric}:{horizon}:{algorithm}:{params}, got ${JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key)}`);
    }
    const info = await this.#scope.forecasts.getKeyInfo(key);
    if (!info.exists) throw notFound(`the key ${JSON.stringify(key)} is not cached`, 'key');
    return { body: info };
  }
}
