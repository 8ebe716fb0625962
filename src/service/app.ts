/**
 * The forecast service's HTTP API, over a {@link ForecastCache} and the {@link FinanceStore} it computes from.
 * `node:http` only. JSON in and out: money is a decimal string (`"12.34"`, never a float), record days are
 * `'YYYY-MM-DD'`, instants in forecasts are ISO 8601. Errors are `{ "error": { status, code, message, field? } }`
 * where `field` names the body field, query parameter or path segment that was wrong.
 *
 *   GET    /                               this list
 *   GET    /health                         liveness, and the state of each cache store
 *   GET    /users                          every user
 *   GET    /users/:id                      one user
 *   GET    /users/:id/forecasts/:metric    one forecast, through the cache:
 *                                          ?horizon=30d&algorithm=linear&asOf=YYYY-MM-DD
 *                                          (&goal=<goal id> for goal_progress, &category=<name> for expenses/income)
 *                                          -> { key, value, cache: { source: memory|sqlite|redis|computed, ms } }
 *   GET    /users/:id/dashboard            balance 30d, burn rate 90d, runway 1y and each goal's progress
 *                                          (?balance=&burn_rate=&runway= horizons, &asOf=)
 *   GET    /users/:id/transactions         ?from=YYYY-MM-DD&to=YYYY-MM-DD
 *   POST   /users/:id/transactions         { date, amount, type, category, description?, id? } -> 201 { record, invalidated }
 *   PATCH  /transactions/:id               { date?, amount?, type?, category?, description? } -> { record, invalidated }
 *   DELETE /transactions/:id               -> { record, invalidated }
 *   GET    /users/:id/goals
 *   POST   /users/:id/goals                { name, target, saved?, createdAt?, deadline?, monthlyContribution?, id? } -> 201
 *   PATCH  /goals/:id                      { name?, target?, saved?, deadline?, monthlyContribution? } (null removes an optional one)
 *   DELETE /goals/:id
 *   POST   /users/:id/refresh              { metric? }: the manual_refresh trigger -> { invalidated }
 *   POST   /users/:id/invalidate-range     { from, to }: data of those days was corrected -> { invalidated }
 *   POST   /warm                           { userIds?, metrics?, horizons?, algorithms?, force? } -> the warm report
 *   GET    /stats                          cache statistics, where this service's forecast reads were answered, and
 *                                          its connections (open, refused, timed out)
 *   GET    /events                         ?since=<ISO date or date-time>&limit=1..1000: the invalidation log
 *   GET    /keys/:key                      what the cache knows of one forecast key
 *
 * `invalidated` counts the cached forecasts the write's trigger removed (those this instance wrote; the ones
 * other instances wrote go too, through their tags, uncounted).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatDay, utcDayOf } from '../forecast/data/calendar.js';
import { DuplicateRecordError, RecordNotFoundError } from '../forecast/data/errors.js';
import type { FinanceStore } from '../forecast/data/store.js';
import type { Goal, GoalPatch, NewGoal, NewTransaction, RecordChange, Transaction, TransactionPatch, User } from '../forecast/data/types.js';
import type { ForecastCache, ForecastRequest, ForecastResult, ForecastWarmOptions } from '../forecast/forecast-cache.js';
import { parseForecastKey } from '../forecast/keys.js';
import { horizonDays, isHorizon } from '../forecast/horizon.js';
import type { InvalidationTrigger } from '../forecast/triggers.js';
import { ConnectionGuard, DEFAULT_HTTP_LIMITS, resolveHttpLimits } from './connection-guard.js';
import { HttpError, invalid, notFound, pathSegments, readJsonBody, sendJson } from './http.js';
import { bodyObject, bool, day, instantParam, integerParam, money, onlyFields, optionalText, recordId, someField, stringList, text, transactionType, type Body } from './input.js';
import { goalJson, transactionJson, userJson, type Json } from './json.js';
import { silentLogger, type Logger } from './logger.js';

/** Options of {@link createApp}. */
export interface AppOptions {
  forecasts: ForecastCache;
  /** The store the forecasts are computed from (the one passed to the ForecastCache as `finance`). */
  finance: FinanceStore;
  /** @default a logger that writes nothing */
  logger?: Logger;
  /**
   * The day forecasts are as of when a request names none, or `'today'` (the current UTC day, and forecast
   * keys without parameters).
   * @default 'today'
   */
  asOf?: Date | 'today';
  /** Largest request body accepted, in bytes; a larger one gets 413. @default 65536 */
  maxBodyBytes?: number;
  /**
   * Time a client has to send a request's headers, from the request's first byte (from the connection for the
   * first request); past it the client gets 408 and the connection closes.
   * @default 10000
   */
  headersTimeoutMs?: number;
  /**
   * Time a client has to send a request's body once its headers are in; past it the client gets 408 (when no
   * response has started) and the connection closes. The time the service takes to answer is not counted.
   * @default 30000
   */
  bodyTimeoutMs?: number;
  /** Time a keep-alive connection may sit with no request before it is closed (Node adds up to 1 s). @default 5000 */
  idleTimeoutMs?: number;
  /** Open connections at most; the next ones are closed as they are accepted, before any request is read. @default 1024 */
  maxConnections?: number;
  /** How the cache is built, shown by `GET /` and `GET /health` (e.g. `'memory → sqlite'`). */
  cacheLabel?: string;
}

/** A running (or ready to run) forecast service. */
export interface App {
  /** The `node:http` server; {@link App.listen} starts it. */
  readonly server: Server;
  /** The request listener, for mounting the API in another server. */
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Starts listening; resolves with the actual port (useful with port 0) and the base URL. */
  listen(port: number, host?: string): Promise<{ port: number; url: string }>;
  /**
   * Stops accepting connections, lets requests in progress finish (for at most `graceMs`), then closes what
   * is left and stops listening to the cache. Leaves the ForecastCache and the FinanceStore open: their owner
   * closes them.
   */
  close(graceMs?: number): Promise<void>;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** What a handler returns: a status (200 unless said) and a body serialized by `toJson`. */
interface Reply {
  status?: number;
  body: unknown;
}

interface Context {
  readonly params: Readonly<Record<string, string>>;
  readonly query: ReadonlyMap<string, string>;
  /** The request line as the client sent it, for log lines. */
  readonly label: string;
  readonly body: () => Promise<unknown>;
}

interface Route {
  readonly method: Method;
  readonly path: string;
  readonly summary: string;
  /** Query parameters the route reads; any other is refused (a typo would otherwise be silently ignored). */
  readonly query?: readonly string[];
  readonly handle: (context: Context) => Promise<Reply> | Reply;
}

interface CompiledRoute extends Route {
  readonly segments: readonly string[];
}

/** One forecast as the API returns it. */
interface ForecastRead {
  key: string;
  value: unknown;
  cache: { source: string; ms: number };
}

/**
 * Longest horizon served: five years. The calculators refuse some longer ones (a balance projection stops at
 * 3,650 days), and every distinct horizon is a distinct cache key, so an open-ended one would let a client
 * fill the cache with keys nobody reads again.
 */
const MAX_HORIZON_DAYS = 1_830;
const MAX_HORIZON_TEXT = '5y';
/** What a forecast read uses without `?horizon=`: the seed's dashboard horizons, 30 days elsewhere. */
const DEFAULT_HORIZONS: Readonly<Record<string, string>> = { balance: '30d', burn_rate: '90d', runway: '1y', expenses: '30d', income: '30d' };
const CATEGORY_METRICS: ReadonlySet<string> = new Set(['expenses', 'income']);
const TRANSACTION_FIELDS = ['id', 'date', 'amount', 'type', 'category', 'description'] as const;
const TRANSACTION_PATCH_FIELDS = ['date', 'amount', 'type', 'category', 'description'] as const;
const GOAL_FIELDS = ['id', 'name', 'target', 'saved', 'createdAt', 'deadline', 'monthlyContribution'] as const;
const GOAL_PATCH_FIELDS = ['name', 'target', 'saved', 'deadline', 'monthlyContribution'] as const;
const WARM_FIELDS = ['userIds', 'metrics', 'horizons', 'algorithms', 'force'] as const;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function required(body: Body, field: string): unknown {
  const value = body[field];
  if (value === undefined || value === null) throw invalid(field, `${field} is required`);
  return value;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function formatMs(ms: number): string {
  return `${ms < 1 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The log text of a forecast read: `hit (memory) 0.21 ms`, `miss, computed in 12.3 ms`. */
function outcomeText(read: ForecastResult<unknown>): string {
  if (read.source !== 'computed') return `hit (${read.source}) ${formatMs(read.ms)}`;
  return read.joined ? `miss, waited for a computation in progress: ${formatMs(read.ms)}` : `miss, computed in ${formatMs(read.ms)}`;
}

/**
 * The data layer refused a write the service let through (a transaction dated before its user's opening
 * day, a deadline before its goal's creation): a 400 naming the field as the client called it. Its messages
 * start with `transaction.date`, `goal.deadline`…
 */
function storeRefusal(error: unknown): unknown {
  if (error instanceof RecordNotFoundError || error instanceof DuplicateRecordError) return error;
  if (!(error instanceof TypeError) && !(error instanceof RangeError)) return error;
  const field = /^(?:transaction|goal|user)\.(\w+)/.exec(error.message)?.[1];
  return new HttpError(400, 'invalid_field', error.message, { ...(field === undefined ? {} : { field }), cause: error });
}

/** Runs a data-layer write, turning its refusals into responses. */
function write<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw storeRefusal(error);
  }
}

function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof RecordNotFoundError) return new HttpError(404, 'not_found', error.message, { field: error.field, cause: error });
  if (error instanceof DuplicateRecordError) return new HttpError(409, 'conflict', error.message, { field: 'id', cause: error });
  return new HttpError(500, 'internal', 'the service failed to answer this request; the log says why', { cause: error });
}

/**
 * Builds the forecast service over an open ForecastCache and its FinanceStore. Start it with `listen`; tests
 * listen on port 0.
 *
 * @example
 * const app = await createApp({ forecasts, finance, logger: createLogger() });
 * const { url } = await app.listen(3000, '127.0.0.1');
 */
export async function createApp(options: AppOptions): Promise<App> {
  const service = new ForecastService(options);
  await service.attach();
  return service;
}

class ForecastService implements App {
  readonly server: Server;
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  readonly #forecasts: ForecastCache;
  readonly #finance: FinanceStore;
  readonly #log: Logger;
  readonly #asOf: Date | 'today';
  readonly #maxBody: number;
  readonly #guard: ConnectionGuard;
  readonly #cacheLabel: string | undefined;
  readonly #routes: readonly CompiledRoute[];
  readonly #started = Date.now();
  readonly #sources = new Map<string, number>();
  readonly #inFlight = new Set<Promise<void>>();
  #requests = 0;
  #closing = false;
  #detachRemote: (() => void) | undefined;

  constructor(options: AppOptions) {
    const {
      forecasts,
      finance,
      logger = silentLogger,
      asOf = 'today',
      maxBodyBytes = DEFAULT_HTTP_LIMITS.maxBodyBytes,
      headersTimeoutMs = DEFAULT_HTTP_LIMITS.headersTimeoutMs,
      bodyTimeoutMs = DEFAULT_HTTP_LIMITS.bodyTimeoutMs,
      idleTimeoutMs = DEFAULT_HTTP_LIMITS.idleTimeoutMs,
      maxConnections = DEFAULT_HTTP_LIMITS.maxConnections,
      cacheLabel,
    } = options;
    if (typeof forecasts?.getForecast !== 'function') throw new TypeError('forecasts must be a ForecastCache');
    if (typeof finance?.listUsers !== 'function') throw new TypeError('finance must be a FinanceStore');
    if (asOf !== 'today') utcDayOf(asOf, 'asOf');
    const limits = resolveHttpLimits({ maxBodyBytes, headersTimeoutMs, bodyTimeoutMs, idleTimeoutMs, maxConnections });
    this.#forecasts = forecasts;
    this.#finance = finance;
    this.#log = logger;
    this.#asOf = asOf === 'today' ? 'today' : utcDayOf(asOf, 'asOf');
    this.#maxBody = limits.maxBodyBytes;
    this.#cacheLabel = cacheLabel;
    this.#routes = this.#table().map((route) => ({ ...route, segments: pathSegments(route.path) }));
    this.handle = (req, res) => {
      const bodyDeadline = this.#guard.watch(req, res);
      // Tracked so close() can wait for it; never rejects (#serve answers every failure itself).
      const serving = this.#serve(req, res, bodyDeadline);
      this.#inFlight.add(serving);
      void serving.finally(() => this.#inFlight.delete(serving));
    };
    // A client that sends slowly, or not at all, must not hold a connection: see ConnectionGuard.
    this.#guard = new ConnectionGuard(this.handle, limits, logger);
    this.server = this.#guard.server;
  }

  /** Starts listening to the cache: invalidations arriving from other instances. */
  async attach(): Promise<void> {
    const cache = await this.#forecasts.cache();
    const onRemote = (event: { origin: string; type: string; keys?: readonly string[] }): void => {
      // Every value another instance computes arrives as a `keys` message (drop your older copy): routine, so
      // debug. Tags, patterns and clears are that instance's triggers: worth a line.
      if (event.type === 'keys') this.#log.debug(`bus: ${plural(event.keys?.length ?? 0, 'key')} replaced or removed by instance ${event.origin}`);
      else this.#log.info(`bus: ${event.type} invalidated by instance ${event.origin}`);
    };
    const onRecover = (event: { reason: string; dropped: number }): void => {
      this.#log.warn(`bus: ${event.reason === 'gap' ? 'missed messages' : 'reconnected'}; dropped ${plural(event.dropped, 'entry')} from memory so nothing stale is served`);
    };
    const onError = (event: { error: unknown; operation: string }): void => {
      this.#log.warn(`cache: ${event.operation} failed: ${event.error instanceof Error ? event.error.message : String(event.error)}`);
    };
    cache.on('remote', onRemote);
    cache.on('recover', onRecover);
    cache.on('error', onError);
    this.#detachRemote = () => {
      cache.off('remote', onRemote);
      cache.off('recover', onRecover);
      cache.off('error', onError);
    };
  }

  listen(port: number, host = '127.0.0.1'): Promise<{ port: number; url: string }> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const address = this.server.address() as AddressInfo;
        const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve({ port: address.port, url: `http://${shown}:${address.port}` });
      });
    });
  }

  async close(graceMs = 5_000): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
    // Keep-alive connections with no request would otherwise keep `close` waiting for their timeout.
    this.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.#inFlight]), grace]);
    clearTimeout(timer);
    this.server.closeAllConnections();
    await closed;
    this.#detachRemote?.();
  }

  // ---- dispatch ------------------------------------------------------------------------------------------------

  async #serve(req: IncomingMessage, res: ServerResponse, bodyDeadline: AbortSignal | undefined): Promise<void> {
    this.#requests++;
    const started = performance.now();
    const label = `${req.method ?? '?'} ${req.url ?? ''}`;
    try {
      const reply = await this.#dispatch(req, label, bodyDeadline);
      const headers: Record<string, string> = this.#closing ? { connection: 'close' } : {};
      sendJson(res, reply.status ?? 200, reply.body, headers);
      this.#log.debug(`${label} -> ${reply.status ?? 200} in ${formatMs(performance.now() - started)}`);
    } catch (error) {
      const failure = toHttpError(error);
      if (failure.status >= 500) this.#log.error(`${label} -> ${failure.status}`, error);
      else this.#log.info(`${label} -> ${failure.status} ${failure.message}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      try {
        sendJson(res, failure.status, failure.toBody(), this.#closing ? { ...failure.headers, connection: 'close' } : failure.headers);
      } catch (sendError) {
        // Nothing more can be said to this client; the connection goes, the process stays.
        this.#log.error(`${label} -> the error response could not be sent`, sendError);
        res.destroy();
      }
    }
  }

  async #dispatch(req: IncomingMessage, label: string, bodyDeadline: AbortSignal | undefined): Promise<Reply> {
    let url: URL;
    const target = req.url ?? '/';
    try {
      // Appended rather than resolved: resolving would read `//host/path` as another host's URL.
      url = target.startsWith('/') ? new URL(`http://service.invalid${target}`) : new URL(target);
    } catch {
      throw invalid('path', `the request target ${JSON.stringify(req.url)} is not a valid path`);
    }
    const segments = pathSegments(url.pathname);
    // HEAD is GET without the body (Node leaves the body out by itself).
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const params = match(route.segments, segments);
      if (params === undefined) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      const query = readQuery(url.searchParams, route.query ?? []);
      return route.handle({ params, query, label, body: () => readJsonBody(req, this.#maxBody, bodyDeadline) });
    }
    if (allowed.length > 0) {
      const allow = [...new Set(allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed)].join(', ');
      throw new HttpError(405, 'method_not_allowed', `${req.method ?? '?'} is not allowed on ${url.pathname}; allowed: ${allow}`, { headers: { allow } });
    }
    throw notFound(`no endpoint ${url.pathname}; GET / lists them`, 'path');
  }

  #table(): Route[] {
    return [
      { method: 'GET', path: '/', summary: 'this list', handle: () => this.#index() },
      { method: 'GET', path: '/health', summary: 'liveness, and the state of each cache store', handle: () => this.#health() },
      { method: 'GET', path: '/users', summary: 'every user', handle: () => ({ body: { users: this.#finance.listUsers().map(userJson) } }) },
      { method: 'GET', path: '/users/:id', summary: 'one user', handle: ({ params }) => ({ body: { user: userJson(this.#user(params.id)) } }) },
      {
        method: 'GET',
        path: '/users/:id/forecasts/:metric',
        summary: 'one forecast through the cache: ?horizon=30d&algorithm=linear&asOf=YYYY-MM-DD (&goal= for goal_progress, &category= for expenses/income)',
        query: ['horizon', 'algorithm', 'asOf', 'goal', 'category'],
        handle: (context) => this.#forecast(context),
      },
      {
        method: 'GET',
        path: '/users/:id/dashboard',
        summary: 'balance 30d, burn rate 90d, runway 1y and every goal’s progress (?balance=&burn_rate=&runway= horizons, &asOf=)',
        query: ['balance', 'burn_rate', 'runway', 'asOf'],
        handle: (context) => this.#dashboard(context),
      },
      { method: 'GET', path: '/users/:id/transactions', summary: 'the user’s transactions, ?from=&to= days', query: ['from', 'to'], handle: (context) => this.#transactions(context) },
      { method: 'POST', path: '/users/:id/transactions', summary: 'add a transaction { date, amount, type, category, description?, id? }', handle: (context) => this.#addTransaction(context) },
      { method: 'PATCH', path: '/transactions/:id', summary: 'change a transaction { date?, amount?, type?, category?, description? }', handle: (context) => this.#updateTransaction(context) },
      { method: 'DELETE', path: '/transactions/:id', summary: 'delete a transaction', handle: (context) => this.#deleteTransaction(context) },
      { method: 'GET', path: '/users/:id/goals', summary: 'the user’s goals', handle: ({ params }) => ({ body: { goals: this.#finance.listGoals(this.#user(params.id).id).map(goalJson) } }) },
      { method: 'POST', path: '/users/:id/goals', summary: 'add a goal { name, target, saved?, createdAt?, deadline?, monthlyContribution?, id? }', handle: (context) => this.#addGoal(context) },
      { method: 'PATCH', path: '/goals/:id', summary: 'change a goal { name?, target?, saved?, deadline?, monthlyContribution? }', handle: (context) => this.#updateGoal(context) },
      { method: 'DELETE', path: '/goals/:id', summary: 'delete a goal', handle: (context) => this.#deleteGoal(context) },
      { method: 'POST', path: '/users/:id/refresh', summary: 'manual refresh of the user’s forecasts { metric? }', handle: (context) => this.#refresh(context) },
      { method: 'POST', path: '/users/:id/invalidate-range', summary: 'data of the days { from, to } was corrected: invalidate the forecasts that read it', handle: (context) => this.#invalidateRange(context) },
      { method: 'POST', path: '/warm', summary: 'compute forecasts ahead of demand { userIds?, metrics?, horizons?, algorithms?, force? }', handle: (context) => this.#warm(context) },
      { method: 'GET', path: '/stats', summary: 'cache statistics, and where forecast reads were answered', handle: () => this.#stats() },
      { method: 'GET', path: '/events', summary: 'the invalidation log, ?since=<ISO>&limit=1..1000', query: ['since', 'limit'], handle: (context) => this.#events(context) },
      { method: 'GET', path: '/keys/:key', summary: 'what the cache knows of one forecast key', handle: (context) => this.#keyInfo(context) },
    ];
  }

  // ---- lookups -------------------------------------------------------------------------------------------------

  #user(id: string | undefined): User {
    const user = id === undefined ? undefined : this.#finance.getUser(id);
    if (user === undefined) throw notFound(`no user with id ${JSON.stringify(id)}`, 'id');
    return user;
  }

  /** The day a request's forecasts are as of, and the params that say so (none for "today"). */
  #asOfOf(query: ReadonlyMap<string, string>, user: User): { day: Date; params: { asOf?: Date } } {
    const given = query.get('asOf');
    const asOf = given !== undefined ? day(given, 'asOf') : this.#asOf;
    const today = asOf === 'today' ? utcDayOf(new Date()) : asOf;
    if (today.getTime() < user.openingDate.getTime()) {
      throw invalid('asOf', `asOf ${formatDay(today)} is before ${user.id}'s first day ${formatDay(user.openingDate)}: there is no balance to forecast from`);
    }
    return { day: today, params: asOf === 'today' ? {} : { asOf } };
  }

  #metric(name: string | undefined): string {
    if (name === undefined || !this.#forecasts.calculators.has(name)) {
      throw notFound(`no metric ${JSON.stringify(name)}; metrics: ${this.#forecasts.calculators.metrics().join(', ')}`, 'metric');
    }
    return name;
  }

  #horizon(value: string, field: string, from: Date): string {
    if (!isHorizon(value)) throw invalid(field, `${field} must be a whole number of d, w, m or y such as 7d, 12w, 6m or 1y, got ${JSON.stringify(value)}`);
    if (horizonDays(value, from) > MAX_HORIZON_DAYS) throw invalid(field, `${field} must be at most ${MAX_HORIZON_TEXT}, got ${JSON.stringify(value)}`);
    return value;
  }

  #algorithm(metric: string, value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const accepted = this.#forecasts.calculators.get(metric)?.algorithms;
    if (accepted !== undefined && !accepted.includes(value)) {
      throw invalid('algorithm', `algorithm must be one of ${accepted.join(', ')} for ${metric}, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  // ---- forecasts -----------------------------------------------------------------------------------------------

  /** Reads one forecast through the cache, noting and logging where it came from. */
  async #read(label: string, request: ForecastRequest): Promise<ForecastRead> {
    const read = await this.#forecasts.getForecastResult(request);
    this.#sources.set(read.source, (this.#sources.get(read.source) ?? 0) + 1);
    this.#log.info(`${label} -> ${outcomeText(read)}`);
    return { key: read.key, value: read.value, cache: { source: read.source, ms: round(read.ms) } };
  }

  async #forecast({ params, query, label }: Context): Promise<Reply> {
    const user = this.#user(params.id);
    const metric = this.#metric(params.metric);
    const definition = this.#forecasts.calculators.get(metric);
    const asOf = this.#asOfOf(query, user);
    const forecastParams: Record<string, unknown> = { ...asOf.params };
    let horizon: string;
    if (definition?.horizon === 'subject') {
      if (query.has('horizon')) throw invalid('horizon', `${metric} has no horizon${metric === 'goal_progress' ? '; name the goal with ?goal=<goal id>' : ''}`);
      if (metric === 'goal_progress') {
        const goalId = query.get('goal');
        if (goalId === undefined) throw invalid('goal', 'goal is required for goal_progress: ?goal=<goal id> (GET /users/:id/goals lists them)');
        const goal = this.#finance.getGoal(goalId);
        if (goal === undefined || goal.userId !== user.id) throw notFound(`no goal ${JSON.stringify(goalId)} of user ${user.id}`, 'goal');
        horizon = goal.id;
      } else {
        // goals_summary (and any subject metric registered later): its first subject, 'all' for the summary.
        horizon = (await definition.subjects?.(user.id))?.[0] ?? 'all';
      }
    } else {
      horizon = this.#horizon(query.get('horizon') ?? DEFAULT_HORIZONS[metric] ?? '30d', 'horizon', asOf.day);
    }
    if (metric !== 'goal_progress' && query.has('goal')) throw invalid('goal', `goal only applies to goal_progress, not ${metric}`);
    const category = query.get('category');
    if (category !== undefined) {
      if (!CATEGORY_METRICS.has(metric)) throw invalid('category', `category only applies to expenses and income, not ${metric}`);
      forecastParams.category = text(category, 'category');
    }
    const algorithm = this.#algorithm(metric, query.get('algorithm'));
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
    const user = this.#user(params.id);
    const asOf = this.#asOfOf(query, user);
    const horizon = (name: 'balance' | 'burn_rate' | 'runway') => this.#horizon(query.get(name) ?? DEFAULT_HORIZONS[name] ?? '30d', name, asOf.day);
    const forecastParams = Object.keys(asOf.params).length === 0 ? {} : { params: asOf.params };
    // The seed's dashboard (as ForecastCache.getDashboard builds it), read here forecast by forecast so the
    // response can say where each came from, and so that a fixed as-of day applies to all of them.
    const requests: { what: string; request: ForecastRequest }[] = [
      { what: `balance ${horizon('balance')}`, request: { userId: user.id, metric: 'balance', horizon: horizon('balance'), algorithm: 'linear', ...forecastParams } },
      { what: `burn_rate ${horizon('burn_rate')}`, request: { userId: user.id, metric: 'burn_rate', horizon: horizon('burn_rate'), algorithm: 'simple', ...forecastParams } },
      { what: `runway ${horizon('runway')}`, request: { userId: user.id, metric: 'runway', horizon: horizon('runway'), algorithm: 'simple', ...forecastParams } },
      ...this.#finance.listGoals(user.id).map((goal) => ({
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

  // ---- transactions --------------------------------------------------------------------------------------------

  #transactions({ params, query }: Context): Reply {
    const user = this.#user(params.id);
    const fromText = query.get('from');
    const toText = query.get('to');
    const from = fromText === undefined ? undefined : day(fromText, 'from');
    const to = toText === undefined ? undefined : day(toText, 'to');
    if (from !== undefined && to !== undefined && to < from) throw invalid('to', `to ${toText} is before from ${fromText}`);
    const list = this.#finance.listTransactions(user.id, { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) });
    return { body: { userId: user.id, count: list.length, transactions: list.map(transactionJson) } };
  }

  async #addTransaction({ params, body }: Context): Promise<Reply> {
    const user = this.#user(params.id);
    const input = bodyObject(await body(), true);
    onlyFields(input, TRANSACTION_FIELDS, 'a transaction');
    const transaction: Mutable<NewTransaction> = {
      userId: user.id,
      date: day(required(input, 'date'), 'date'),
      amount: money(required(input, 'amount'), 'amount', 'positive'),
      type: transactionType(required(input, 'type'), 'type'),
      category: text(required(input, 'category'), 'category'),
    };
    if (input.id !== undefined) transaction.id = recordId(input.id, 'id');
    if (input.description !== undefined && input.description !== null) transaction.description = optionalText(input.description, 'description');
    const change = write(() => this.#finance.addTransaction(transaction));
    return { status: 201, body: await this.#afterTransaction(change) };
  }

  async #updateTransaction({ params, body }: Context): Promise<Reply> {
    const id = params.id ?? '';
    if (this.#finance.getTransaction(id) === undefined) throw notFound(`no transaction with id ${JSON.stringify(id)}`, 'id');
    const input = bodyObject(await body(), true);
    onlyFields(input, TRANSACTION_PATCH_FIELDS, 'a transaction patch');
    someField(input, TRANSACTION_PATCH_FIELDS, 'a transaction patch');
    const patch: Mutable<TransactionPatch> = {};
    if (input.date !== undefined) patch.date = day(input.date, 'date');
    if (input.amount !== undefined) patch.amount = money(input.amount, 'amount', 'positive');
    if (input.type !== undefined) patch.type = transactionType(input.type, 'type');
    if (input.category !== undefined) patch.category = text(input.category, 'category');
    if (input.description !== undefined) patch.description = input.description === null ? null : optionalText(input.description, 'description');
    const change = write(() => this.#finance.updateTransaction(id, patch));
    return { body: await this.#afterTransaction(change) };
  }

  async #deleteTransaction({ params }: Context): Promise<Reply> {
    const change = write(() => this.#finance.deleteTransaction(params.id ?? ''));
    return { body: await this.#afterTransaction(change) };
  }

  #afterTransaction(change: RecordChange<Transaction>): Promise<Json> {
    const record = change.after ?? change.before;
    return this.#fire(`transaction ${change.kind}`, record.userId, `transaction_${change.kind}`, transactionJson(record), () => this.#forecasts.onTransactionChange(change));
  }

  // ---- goals ---------------------------------------------------------------------------------------------------

  async #addGoal({ params, body }: Context): Promise<Reply> {
    const user = this.#user(params.id);
    const input = bodyObject(await body(), true);
    onlyFields(input, GOAL_FIELDS, 'a goal');
    const goal: Mutable<NewGoal> = {
      userId: user.id,
      name: text(required(input, 'name'), 'name'),
      target: money(required(input, 'target'), 'target', 'positive'),
      // A goal is created "now": the as-of day the service forecasts from, which is today outside the demo.
      createdAt: input.createdAt === undefined || input.createdAt === null ? (this.#asOf === 'today' ? utcDayOf(new Date()) : this.#asOf) : day(input.createdAt, 'createdAt'),
    };
    if (input.id !== undefined) goal.id = recordId(input.id, 'id');
    if (input.saved !== undefined && input.saved !== null) goal.saved = money(input.saved, 'saved', 'non-negative');
    if (input.deadline !== undefined && input.deadline !== null) goal.deadline = day(input.deadline, 'deadline');
    if (input.monthlyContribution !== undefined && input.monthlyContribution !== null) {
      goal.monthlyContribution = money(input.monthlyContribution, 'monthlyContribution', 'non-negative');
    }
    const change = write(() => this.#finance.addGoal(goal));
    return { status: 201, body: await this.#afterGoal(change) };
  }

  async #updateGoal({ params, body }: Context): Promise<Reply> {
    const id = params.id ?? '';
    if (this.#finance.getGoal(id) === undefined) throw notFound(`no goal with id ${JSON.stringify(id)}`, 'id');
    const input = bodyObject(await body(), true);
    onlyFields(input, GOAL_PATCH_FIELDS, 'a goal patch');
    someField(input, GOAL_PATCH_FIELDS, 'a goal patch');
    const patch: Mutable<GoalPatch> = {};
    if (input.name !== undefined) patch.name = text(input.name, 'name');
    if (input.target !== undefined) patch.target = money(input.target, 'target', 'positive');
    if (input.saved !== undefined) patch.saved = money(input.saved, 'saved', 'non-negative');
    if (input.deadline !== undefined) patch.deadline = input.deadline === null ? null : day(input.deadline, 'deadline');
    if (input.monthlyContribution !== undefined) {
      patch.monthlyContribution = input.monthlyContribution === null ? null : money(input.monthlyContribution, 'monthlyContribution', 'non-negative');
    }
    const change = write(() => this.#finance.updateGoal(id, patch));
    return { body: await this.#afterGoal(change) };
  }

  async #deleteGoal({ params }: Context): Promise<Reply> {
    const change = write(() => this.#finance.deleteGoal(params.id ?? ''));
    return { body: await this.#afterGoal(change) };
  }

  #afterGoal(change: RecordChange<Goal>): Promise<Json> {
    const record = change.after ?? change.before;
    const verb = change.kind === 'added' ? 'created' : change.kind;
    return this.#fire(`goal ${verb}`, record.userId, `goal_${verb}`, goalJson(record), () => this.#forecasts.onGoalChange(change));
  }

  /**
   * Runs the trigger of a write that has already happened. If the invalidation fails, the write is still
   * reported as done (retrying a POST would add the record twice), with `invalidated: null` and the reason:
   * the client then knows forecasts may lag until their TTL.
   */
  async #fire(what: string, userId: string, reason: InvalidationTrigger, record: Json, run: () => Promise<number>): Promise<Json> {
    try {
      const invalidated = await run();
      this.#log.info(`${what} for ${userId}: ${plural(invalidated, 'forecast')} invalidated (${reason})`);
      return { record, invalidated };
    } catch (error) {
      this.#log.error(`${what} for ${userId}: the ${reason} trigger failed; cached forecasts may be stale until they expire`, error);
      return { record, invalidated: null, invalidationError: error instanceof Error ? error.message : String(error) };
    }
  }

  // ---- invalidation and warming --------------------------------------------------------------------------------

  async #refresh({ params, body }: Context): Promise<Reply> {
    const user = this.#user(params.id);
    const input = bodyObject(await body(), false);
    onlyFields(input, ['metric'], 'a refresh');
    const metric = input.metric === undefined ? undefined : this.#knownMetric(input.metric, 'metric');
    const invalidated = await this.#forecasts.manualRefresh({ userId: user.id, ...(metric === undefined ? {} : { metric }) });
    this.#log.info(`manual refresh for ${user.id}${metric === undefined ? '' : ` (${metric})`}: ${plural(invalidated, 'forecast')} invalidated (manual_refresh)`);
    return { body: { userId: user.id, invalidated } };
  }

  async #invalidateRange({ params, body }: Context): Promise<Reply> {
    const user = this.#user(params.id);
    const input = bodyObject(await body(), true);
    onlyFields(input, ['from', 'to'], 'a date range');
    const from = day(required(input, 'from'), 'from');
    const to = day(required(input, 'to'), 'to');
    if (to < from) throw invalid('to', `to ${formatDay(to)} is before from ${formatDay(from)}`);
    const invalidated = await this.#forecasts.invalidateByDateRange(user.id, from, to);
    this.#log.info(`data corrected for ${user.id} from ${formatDay(from)} to ${formatDay(to)}: ${plural(invalidated, 'forecast')} invalidated (historical_data_corrected)`);
    return { body: { userId: user.id, from: formatDay(from), to: formatDay(to), invalidated } };
  }

  #knownMetric(value: unknown, field: string): string {
    if (typeof value !== 'string' || !this.#forecasts.calculators.has(value)) {
      throw invalid(field, `${field} must be one of ${this.#forecasts.calculators.metrics().join(', ')}, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  async #warm({ body }: Context): Promise<Reply> {
    const input = bodyObject(await body(), false);
    onlyFields(input, WARM_FIELDS, 'a warm request');
    const asOfDay = this.#asOf === 'today' ? utcDayOf(new Date()) : this.#asOf;
    const options: Mutable<ForecastWarmOptions> = {};
    if (input.userIds !== undefined) {
      options.userIds = stringList(input.userIds, 'userIds', (id, at) => {
        if (this.#finance.getUser(id) === undefined) throw invalid(at, `${at}: no user with id ${JSON.stringify(id)}`);
      });
    }
    if (input.metrics !== undefined) options.metrics = stringList(input.metrics, 'metrics', (metric, at) => void this.#knownMetric(metric, at));
    if (input.horizons !== undefined) options.horizons = stringList(input.horizons, 'horizons', (h, at) => void this.#horizon(h, at, asOfDay));
    if (input.algorithms !== undefined) {
      const metrics = options.metrics ?? this.#forecasts.calculators.metrics();
      options.algorithms = stringList(input.algorithms, 'algorithms', (algorithm, at) => {
        const takes = (metric: string) => this.#forecasts.calculators.get(metric)?.algorithms?.includes(algorithm) ?? true;
        if (!metrics.some(takes)) throw invalid(at, `${at}: no metric of ${metrics.join(', ')} has algorithm ${JSON.stringify(algorithm)}`);
      });
    }
    if (input.force !== undefined) options.force = bool(input.force, 'force');
    // The keys a warm writes must be the keys reads ask for: the same as-of parameter.
    if (this.#asOf !== 'today') options.params = { asOf: this.#asOf };
    const report = await this.#forecasts.warm(options);
    this.#log.info(
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
    return {
      body: {
        service: 'tiercache forecast service',
        asOf: this.#asOf === 'today' ? 'today' : formatDay(this.#asOf),
        cache: this.#cacheLabel ?? null,
        metrics: this.#forecasts.calculators.metrics(),
        endpoints: this.#routes.map(({ method, path, summary }) => ({ method, path, summary })),
      },
    };
  }

  async #health(): Promise<Reply> {
    const stats = await this.#forecasts.getStats();
    const stores = Object.entries(stats.stores).map(([name, store]) => ({ name, breaker: store.breaker, pendingWrites: store.pendingWrites, errors: store.errors }));
    // A store with an open breaker is skipped, so the service still answers (computing more): degraded, not down.
    const status = stores.every((store) => store.breaker === 'closed') ? 'ok' : 'degraded';
    return { body: { status, uptimeSeconds: Math.round((Date.now() - this.#started) / 1000), cache: this.#cacheLabel ?? null, stores } };
  }

  async #stats(): Promise<Reply> {
    const stats = await this.#forecasts.getStats();
    return { body: { ...stats, service: { requests: this.#requests, forecastReads: Object.fromEntries(this.#sources), connections: this.#guard.stats() } } };
  }

  async #events({ query }: Context): Promise<Reply> {
    const sinceText = query.get('since');
    const limitText = query.get('limit');
    const since = sinceText === undefined ? undefined : instantParam(sinceText, 'since');
    const limit = limitText === undefined ? 100 : integerParam(limitText, 'limit', 1, 1_000);
    const events = await this.#forecasts.getInvalidationEvents({ limit, ...(since === undefined ? {} : { since }) });
    return { body: { events } };
  }

  async #keyInfo({ params }: Context): Promise<Reply> {
    const key = params.key ?? '';
    // Only forecast keys: anything else is no forecast, and the engine would refuse some (control characters).
    if (parseForecastKey(key) === undefined) {
      throw invalid('key', `key must be a forecast key forecast:{userId}:{metric}:{horizon}:{algorithm}:{params}, got ${JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key)}`);
    }
    const info = await this.#forecasts.getKeyInfo(key);
    if (!info.exists) throw notFound(`the key ${JSON.stringify(key)} is not cached`, 'key');
    return { body: info };
  }
}

/** The path parameters when `path` fits the route's segments, else undefined. */
function match(route: readonly string[], path: readonly string[]): Record<string, string> | undefined {
  if (route.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < route.length; i++) {
    const expected = route[i] as string;
    const actual = path[i] as string;
    if (expected.startsWith(':')) {
      if (actual === '') return undefined;
      params[expected.slice(1)] = actual;
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params;
}

/** The query as a map, refusing parameters the route does not read and parameters given twice. */
function readQuery(search: URLSearchParams, allowed: readonly string[]): Map<string, string> {
  const query = new Map<string, string>();
  for (const [name, value] of search) {
    if (!allowed.includes(name)) {
      throw invalid(name, allowed.length === 0 ? `${name}: this endpoint takes no query parameters` : `${name} is not a parameter of this endpoint; it takes ${allowed.join(', ')}`);
    }
    if (query.has(name)) throw invalid(name, `${name} is given more than once`);
    query.set(name, value);
  }
  return query;
}
