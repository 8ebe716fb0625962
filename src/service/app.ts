/**
 * The forecast service's HTTP API on Fastify, over a {@link ForecastCache} and the {@link FinanceStore} it
 * computes from. JSON in and out: money is a decimal string (`"12.34"`, never a float), record days are
 * `'YYYY-MM-DD'`, instants in forecasts are ISO 8601. Errors are `{ "error": { status, code, message, field? } }`
 * where `field` names the body field, query parameter or path segment that was wrong. `GET /` lists the
 * endpoints; `GET /docs` serves their OpenAPI document (`/docs/json`) and a browsable UI of it.
 *
 * `invalidated` in a write's answer counts the cached forecasts the write's trigger removed (those this
 * instance wrote; the ones other instances wrote go too, through their tags, uncounted).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createDashboard, type DashboardHandler, type DashboardOptions } from '../dashboard/index.js';
import { utcDayOf } from '../forecast/data/calendar.js';
import type { FinanceStore } from '../forecast/data/store.js';
import type { ForecastCache } from '../forecast/forecast-cache.js';
import { fastifyHttpCache } from '../http/fastify.js';
import { isCacheError } from '../errors.js';
import { parseDuration } from '../ttl.js';
import { ConnectionGuard, DEFAULT_HTTP_LIMITS, resolveHttpLimits } from './connection-guard.js';
import { HttpError, invalid, notFound, toHttpError } from './http.js';
import { toJson } from './json.js';
import { silentLogger, type Logger } from './logger.js';
import { AdminRoutes } from './routes/admin.js';
import { ForecastRoutes } from './routes/forecasts.js';
import { MetricsRoutes } from './routes/metrics.js';
import { RecordRoutes } from './routes/records.js';
import { formatMs, plural, Scope, type Reply, type Route } from './routes/route.js';
import { AJV_OPTIONS, paramsSchema, querySchema, schemaError } from './schemas.js';

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
   * Time a client has to send a request's body, on top of the headers' time (the whole request must arrive
   * within both, from its first byte); past it the client gets 408 (when no response has started) and the
   * connection closes. The time the service takes to answer is not counted.
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
  /**
   * The dashboard mounted at `/dashboard` (its `token` defaults to `TIERCACHE_ADMIN_TOKEN`; its warmer
   * `forecasts` warms every user's forecasts), or `false` for none.
   * @default {}
   */
  dashboard?: false | Omit<DashboardOptions, 'cache' | 'basePath'>;
  /**
   * Forecast responses (`GET /users/:id/forecasts/:metric`, `GET /users/:id/dashboard`) cached whole at the
   * HTTP layer (tiercache/fastify, in the forecasts' cache under the namespace `http`), on top of the
   * ForecastCache: a hit skips validation, the reads and the JSON writing. Each is tagged with its user, and
   * the writes (transactions, goals, refresh, date-range invalidation) drop their user's; `ttl` bounds what
   * other invalidations (the dashboard's, a forecast's own expiry) leave behind. `x-cache` says
   * hit/miss/stale/bypass; `ETag` and `304` come with it. `false` for none.
   * @default { ttl: '1m' }
   */
  httpCache?: false | { ttl?: number | string };
}

/** A running (or ready to run) forecast service. */
export interface App {
  /** The Fastify instance (`inject` it in tests, or register more routes before `listen`). */
  readonly fastify: FastifyInstance;
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

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
/** Path parameters are user ids, metric names and forecast keys: a few hundred characters at most. */
const MAX_PARAM_LENGTH = 2_000;

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the request arrived. */
    startedAt: number;
    /** The users a write changed (from its handler's answer), whose cached responses go. */
    changedUsers: readonly string[] | undefined;
  }
}

/** The tag of a user's responses in the HTTP cache. */
const userTag = (userId: string): string => `user:${userId}`;

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
  await service.build();
  return service;
}

function label(request: FastifyRequest): string {
  return `${request.method} ${request.raw.url ?? ''}`;
}

/** The path of a request target, percent-encoded as sent. Appended rather than resolved: resolving would read `//host/path` as another host's URL. */
function pathOf(request: FastifyRequest): string {
  const target = request.raw.url ?? '/';
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** What Fastify's own refusals become, in the service's error shape. */
function frameworkError(error: FastifyError): HttpError {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(415, 'unsupported_media_type', 'the body must be JSON sent with content-type: application/json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(413, 'payload_too_large', `the body is larger than the limit`, { headers: { connection: 'close' } });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalid('body', 'the body is empty although its content-type says JSON');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError(400, 'invalid_json', 'the body is not valid JSON (or holds a __proto__ or constructor key)', { field: 'body' });
    case 'FST_ERR_BAD_URL':
      return invalid('path', 'the request target is not a valid path (bad percent-encoding)');
    default:
      if (error.statusCode === 414) return new HttpError(414, 'bad_request', `a path segment is longer than ${MAX_PARAM_LENGTH} characters`);
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return new HttpError(error.statusCode, 'bad_request', error.message);
      return toHttpError(error);
  }
}

class ForecastService implements App {
  readonly fastify: FastifyInstance;
  readonly server: Server;
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  readonly #forecasts: ForecastCache;
  readonly #log: Logger;
  readonly #guard: ConnectionGuard;
  readonly #table: readonly Route[];
  readonly #dashboardOptions: false | Omit<DashboardOptions, 'cache' | 'basePath'>;
  #dashboard: DashboardHandler | undefined;
  readonly #asOf: Date | 'today';
  readonly #monitorInterval: number | string;
  readonly #httpCacheTtl: number | undefined;
  readonly #httpReads = new Map<string, number>();
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
      monitorInterval = '10s',
      dashboard = {},
      httpCache = {},
    } = options;
    if (typeof forecasts?.getForecast !== 'function') throw new TypeError('forecasts must be a ForecastCache');
    if (typeof finance?.listUsers !== 'function') throw new TypeError('finance must be a FinanceStore');
    if (asOf !== 'today') utcDayOf(asOf, 'asOf');
    parseDuration(monitorInterval, 'monitorInterval');
    this.#monitorInterval = monitorInterval;
    this.#dashboardOptions = dashboard;
    if (httpCache !== false && (typeof httpCache !== 'object' || httpCache === null)) throw new TypeError('httpCache must be false or { ttl }');
    this.#httpCacheTtl = httpCache === false ? undefined : parseDuration(httpCache.ttl ?? '1m', 'httpCache.ttl');
    if (this.#httpCacheTtl === 0) throw new TypeError('httpCache.ttl must be greater than 0 (or httpCache: false)');
    this.#asOf = asOf === 'today' ? 'today' : utcDayOf(asOf, 'asOf');
    this.#forecasts = forecasts;
    this.#log = logger;
    this.#guard = new ConnectionGuard(resolveHttpLimits({ maxBodyBytes, headersTimeoutMs, bodyTimeoutMs, idleTimeoutMs, maxConnections }), logger);

    const scope = new Scope(forecasts, finance, logger, this.#asOf);
    const reads = new ForecastRoutes(scope);
    const records = new RecordRoutes(scope);
    const admin = new AdminRoutes(scope, {
      cacheLabel,
      started: Date.now(),
      endpoints: () => this.#table.map(({ method, path, summary }) => ({ method, path, summary })),
      counters: () => ({ requests: this.#requests, forecastReads: reads.readsBySource(), httpCache: Object.fromEntries(this.#httpReads), connections: this.#guard.stats() }),
    });
    // The order of this table is the order `GET /` lists the endpoints in.
    this.#table = [...admin.overview(), ...records.users(), ...reads.routes(), ...records.transactions(), ...records.goals(), ...admin.operations(), ...new MetricsRoutes(scope).routes()];

    // Typed as Fastify's logger so the instance is a plain FastifyInstance (pino's own type is wider).
    const loggerInstance: FastifyBaseLogger = logger.pino;
    this.fastify = Fastify({
      loggerInstance,
      // The service writes its own line per request (and per forecast read), as it always has.
      logController: new LogController({ disableRequestLogging: true }),
      ...this.#guard.fastifyOptions(),
      routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
      ajv: { customOptions: AJV_OPTIONS },
      schemaErrorFormatter: (errors, where) => schemaError(errors, where),
      frameworkErrors: (error, request, reply) => this.#fail(request, reply, frameworkError(error)),
    });
    this.server = this.fastify.server;
    this.handle = (req, res) => this.fastify.routing(req, res);
  }

  async build(): Promise<void> {
    const app = this.fastify;
    this.#guard.attach(this.server);
    // A body is JSON or nothing: no text/plain parsing. Besides being honest, requiring JSON makes a cross-site
    // browser request need a CORS preflight, which this service never grants: a web page the user visits
    // cannot post transactions to a service listening on their loopback interface.
    app.removeContentTypeParser('text/plain');
    app.addContentTypeParser(/^application\/[\w.+-]+\+json(?:\s*;.*)?$/i, { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
    app.addHook('onRequest', (request, reply, done) => {
      this.#requests++;
      request.startedAt = performance.now();
      this.#guard.track(request.raw, reply.raw);
      // An empty segment names nothing (`//`, `/users//goals`); the router would read `//` as `/`.
      if (pathOf(request).includes('//')) return done(notFound(`no endpoint ${pathOf(request)}; GET / lists them`, 'path'));
      done();
    });
    app.addHook('onSend', (_request, reply, payload, done) => {
      if (this.#closing) void reply.header('connection', 'close');
      done(null, payload);
    });
    app.addHook('onResponse', (request, reply, done) => {
      const ms = performance.now() - request.startedAt;
      const state = request.routeOptions.config.httpCache === undefined ? undefined : reply.getHeader('x-cache');
      if (typeof state === 'string') {
        this.#httpReads.set(state, (this.#httpReads.get(state) ?? 0) + 1);
        // The handler did not run: this is the read's line, where the handler would have written its own.
        if (state === 'hit' || state === 'stale') this.#log.info(`${label(request)} -> ${state} (http) ${formatMs(ms)}`);
      }
      if (reply.statusCode < 400 && this.#log.enabled('debug')) this.#log.debug(`${label(request)} -> ${reply.statusCode} in ${formatMs(ms)}`);
      done();
    });
    app.setErrorHandler((error, request, reply) => this.#fail(request, reply, error instanceof HttpError ? error : frameworkError(error as FastifyError)));
    app.setNotFoundHandler((request) => {
      throw notFound(`no endpoint ${pathOf(request)}; GET / lists them`, 'path');
    });

    await app.register(swagger, {
      openapi: {
        info: { title: 'tiercache forecast service', version: '1', description: 'Forecasts of a personal-finance demo, cached by tiercache. Money is a decimal string, days are YYYY-MM-DD.' },
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    if (this.#httpCacheTtl !== undefined) {
      const cache = await this.#forecasts.cache();
      await app.register(fastifyHttpCache, { cache: cache.namespace('http'), ttl: this.#httpCacheTtl });
    }

    this.#routes();
    if (this.#dashboardOptions !== false) {
      // Handed over before Fastify reads the body: the dashboard reads its own, and streams its events.
      const onRequest = (request: FastifyRequest, reply: FastifyReply): void => {
        reply.hijack();
        const dashboard = this.#dashboard;
        if (dashboard === undefined) return void reply.raw.writeHead(503, { 'content-type': 'text/plain' }).end('the dashboard is not ready');
        dashboard(request.raw, reply.raw);
      };
      const unreachable = (): void => undefined;
      app.all('/dashboard', { schema: { hide: true }, onRequest }, unreachable);
      app.all('/dashboard/*', { schema: { hide: true }, onRequest }, unreachable);
    }
    await app.ready();
    await this.#attach();
  }

  #routes(): void {
    const app = this.fastify;
    const methodsByPath = new Map<string, string[]>();
    for (const route of this.#table) {
      methodsByPath.set(route.path, [...(methodsByPath.get(route.path) ?? []), route.method]);
      const params = paramsSchema(route.path);
      const cached = this.#httpCacheTtl !== undefined && route.httpCache === true && route.method === 'GET';
      const config =
        this.#httpCacheTtl === undefined
          ? {}
          : cached
            ? { httpCache: { tags: (request: FastifyRequest) => [userTag((request.params as { id: string }).id)] } }
            : route.method === 'GET'
              ? {}
              : { httpInvalidate: { tags: (request: FastifyRequest) => (request.changedUsers ?? []).map(userTag) } };
      app.route({
        method: route.method,
        url: route.path,
        config,
        schema: {
          summary: route.summary,
          querystring: querySchema(route.query ?? {}),
          ...(params === undefined ? {} : { params }),
          ...(route.body === undefined ? {} : { body: route.body }),
        },
        handler: async (request, reply) => {
          const query = new Map(Object.entries(request.query as Record<string, string>));
          const answer = await route.handle({
            params: request.params as Record<string, string>,
            query,
            label: label(request),
            // Fastify validates a missing body as null; the handler still tells "no body" (undefined) from a JSON null.
            body: () => Promise.resolve(request.body),
          });
          request.changedUsers = answer.users;
          return this.#send(reply, answer, cached);
        },
      });
    }
    // A known path with another method is a 405 that says which methods it takes, not a 404.
    for (const [path, methods] of methodsByPath) {
      const allowed = methods.includes('GET') ? [...methods, 'HEAD'] : methods;
      const others = ALL_METHODS.filter((method) => !allowed.includes(method));
      const allow = allowed.join(', ');
      app.route({
        method: others,
        url: path,
        schema: { hide: true },
        handler: (request) => {
          throw new HttpError(405, 'method_not_allowed', `${request.method} is not allowed on ${pathOf(request)}; allowed: ${allow}`, { headers: { allow } });
        },
      });
    }
  }

  #send(reply: FastifyReply, answer: Reply, cached: boolean): FastifyReply {
    const status = answer.status ?? 200;
    // Forecasts change with every write: an HTTP cache between client and service would defeat the triggers.
    // A response the service caches itself may be kept downstream, but only to be revalidated (ETag, 304)
    // on each use, against the cache the writes invalidate.
    void reply.code(status).header('cache-control', cached ? 'max-age=0, must-revalidate' : 'no-store');
    if (answer.contentType !== undefined) return reply.type(answer.contentType).send(String(answer.body));
    return reply.type('application/json; charset=utf-8').send(JSON.stringify(toJson(answer.body)));
  }

  #fail(request: FastifyRequest, reply: FastifyReply, error: unknown): void {
    const failure = toHttpError(error);
    if (failure.status >= 500) this.#log.error(`${label(request)} -> ${failure.status}`, error);
    else this.#log.info(`${label(request)} -> ${failure.status} ${failure.message}`);
    if (reply.sent || reply.raw.headersSent || reply.raw.destroyed) {
      reply.raw.destroy();
      return;
    }
    void reply.code(failure.status).headers({ ...failure.headers, 'cache-control': 'no-store' }).type('application/json; charset=utf-8').send(JSON.stringify(failure.toBody()));
  }

  /** Starts listening to the cache: invalidations arriving from other instances, alerts of its monitor. */
  async #attach(): Promise<void> {
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
    const forecasts = this.#forecasts;
    // The keys a warm writes must be the keys reads ask for: the same as-of parameter as POST /warm.
    const params = this.#asOf === 'today' ? undefined : { asOf: this.#asOf };
    if (this.#dashboardOptions !== false) {
      this.#dashboard = createDashboard({
        warmers: { forecasts: ({ signal, onProgress }) => forecasts.warm({ signal, onProgress, ...(params === undefined ? {} : { params }) }) },
        ...this.#dashboardOptions,
        cache,
        basePath: '/dashboard',
      });
    }
    // `tiercache warm` reaches this instance over the bus; one instance of the fleet runs each request.
    let stopServingWarms: () => void = () => undefined;
    try {
      stopServingWarms = cache.serveWarmRequests(({ force, signal, onProgress }) => forecasts.warm({ force, signal, onProgress, ...(params === undefined ? {} : { params }) }), { name: 'forecasts' });
    } catch (error) {
      // A cache without a shared first store (memory-only, an in-memory SQLite) has no fleet to warm for.
      if (!(error instanceof TypeError) && !(isCacheError(error) && error.code === 'E_UNSUPPORTED')) throw error;
      this.#log.info(`fleet warm requests off: ${error.message}`);
    }
    this.#detachRemote = () => {
      stopServingWarms();
      cache.off('remote', onRemote);
      cache.off('recover', onRecover);
      cache.off('error', onError);
      monitor?.stop();
    };
  }

  async listen(port: number, host = '127.0.0.1'): Promise<{ port: number; url: string }> {
    await this.fastify.listen({ port, host });
    const address = this.server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { port: address.port, url: `http://${shown}:${address.port}` };
  }

  async close(graceMs = 5_000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    // Open event streams would otherwise hold the server open until the grace runs out.
    this.#dashboard?.close();
    // Fastify stops accepting, answers 503 to requests arriving meanwhile, closes idle keep-alive connections
    // and waits for the requests in progress; past the grace period, the connections left are cut.
    const closed = this.fastify.close();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'grace'>((resolve) => {
      timer = setTimeout(() => resolve('grace'), graceMs);
      timer.unref();
    });
    if ((await Promise.race([closed, grace])) === 'grace') this.server.closeAllConnections();
    clearTimeout(timer);
    await closed;
    this.#detachRemote?.();
  }
}
