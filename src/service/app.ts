/**
 * The forecast service's HTTP API, over a {@link ForecastCache} and the {@link FinanceStore} it computes from.
 * `node:http` only. JSON in and out: money is a decimal string (`"12.34"`, never a float), record days are
 * `'YYYY-MM-DD'`, instants in forecasts are ISO 8601. Errors are `{ "error": { status, code, message, field? } }`
 * where `field` names the body field, query parameter or path segment that was wrong.
 *
 *   GET    /                               this list
 *   GET    /health                         cache.getHealth(): 200 when ok or degraded, 503 when down
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
 *   GET    /report                         the cache's performance report (hit rates, trends, latency, alerts, advice)
 *   GET    /metrics                        the cache's metrics in the Prometheus text format (tiercache/prometheus)
 *
 * `invalidated` counts the cached forecasts the write's trigger removed (those this instance wrote; the ones
 * other instances wrote go too, through their tags, uncounted).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { utcDayOf } from '../forecast/data/calendar.js';
import type { FinanceStore } from '../forecast/data/store.js';
import type { ForecastCache } from '../forecast/forecast-cache.js';
import { ConnectionGuard, DEFAULT_HTTP_LIMITS, resolveHttpLimits } from './connection-guard.js';
import { sendJson, sendText } from './http.js';
import { silentLogger, type Logger } from './logger.js';
import { AdminRoutes } from './routes/admin.js';
import { ForecastRoutes } from './routes/forecasts.js';
import { parseDuration } from '../ttl.js';
import { MetricsRoutes } from './routes/metrics.js';
import { RecordRoutes } from './routes/records.js';
import { formatMs, plural, Scope } from './routes/route.js';
import { Router, toHttpError } from './routes/router.js';

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
  /**
   * Window of the cache monitor the service runs (hit rate, latency, alerts; `GET /report` reads it), in ms or
   * a duration; `0` runs none. Raised and resolved alerts are logged as warnings.
   * @default '10s'
   */
  monitorInterval?: number | string;
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
  readonly #log: Logger;
  readonly #guard: ConnectionGuard;
  readonly #router: Router;
  readonly #inFlight = new Set<Promise<void>>();
  #requests = 0;
  #closing = false;
  #detachRemote: (() => void) | undefined;
  readonly #monitorInterval: number | string;

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
      monitorInterval = '10s',
    } = options;
    this.#monitorInterval = monitorInterval;
    if (typeof forecasts?.getForecast !== 'function') throw new TypeError('forecasts must be a ForecastCache');
    if (typeof finance?.listUsers !== 'function') throw new TypeError('finance must be a FinanceStore');
    if (asOf !== 'today') utcDayOf(asOf, 'asOf');
    const limits = resolveHttpLimits({ maxBodyBytes, headersTimeoutMs, bodyTimeoutMs, idleTimeoutMs, maxConnections });
    this.#forecasts = forecasts;
    this.#log = logger;
    const scope = new Scope(forecasts, finance, logger, asOf === 'today' ? 'today' : utcDayOf(asOf, 'asOf'));
    const reads = new ForecastRoutes(scope);
    const records = new RecordRoutes(scope);
    const admin = new AdminRoutes(scope, {
      cacheLabel,
      started: Date.now(),
      endpoints: () => this.#router.endpoints(),
      counters: () => ({ requests: this.#requests, forecastReads: reads.readsBySource(), connections: this.#guard.stats() }),
    });
    // The order of this table is the order `GET /` lists the endpoints in.
    const table = [...admin.overview(), ...records.users(), ...reads.routes(), ...records.transactions(), ...records.goals(), ...admin.operations(), ...new MetricsRoutes(scope).routes()];
    this.#router = new Router(table, limits.maxBodyBytes);
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
    const monitor = parseDuration(this.#monitorInterval, 'monitorInterval') === 0 ? undefined : cache.monitor({ interval: this.#monitorInterval });
    monitor?.on('alert', (alert) => this.#log.warn(`cache alert ${alert.rule}${alert.tier === undefined ? '' : ` (${alert.tier})`}: ${alert.metric} ${alert.value} ${alert.direction} ${alert.threshold}`));
    monitor?.on('resolve', (alert) => this.#log.info(`cache alert ${alert.rule}${alert.tier === undefined ? '' : ` (${alert.tier})`} resolved: ${alert.metric} ${alert.value}`));
    this.#detachRemote = () => {
      cache.off('remote', onRemote);
      cache.off('recover', onRecover);
      cache.off('error', onError);
      monitor?.stop();
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
      const reply = await this.#router.dispatch(req, label, bodyDeadline);
      const headers: Record<string, string> = this.#closing ? { connection: 'close' } : {};
      if (reply.contentType === undefined) sendJson(res, reply.status ?? 200, reply.body, headers);
      else sendText(res, reply.status ?? 200, String(reply.body), reply.contentType, headers);
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
}
