/**
 * `tiercache/dashboard`: a live page over a cache, as one Node request handler that any HTTP server or
 * framework can mount. Read-only without an admin token; every action goes through the Cache API, so the bus
 * tells every instance and the invalidation log records it with the dashboard as its origin.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isCacheError } from '../errors.js';
import { assetHeaders, loadAssets, type Asset } from './assets.js';
import { eventsOf, figuresOf, fleetOf, History, type Snapshot } from './data.js';
import { GUESS_LIMIT, GUESS_WINDOW_MS, TokenGuesses } from './guesses.js';
import { bearerOf, carriesToken, DashboardHttpError, readJsonObject, sendError, sendJson, stringField, stringListField } from './http.js';
import { resolveDashboardOptions, type DashboardOptions, type ResolvedDashboardOptions } from './options.js';
import { StreamHub } from './stream.js';
import { WarmRuns } from './warm-runs.js';

export type { DashboardOptions, DashboardWarmContext, DashboardWarmer } from './options.js';
export type { EventView, HistoryPoint, InstanceView, Snapshot, TierView } from './data.js';
export type { WarmRun } from './warm-runs.js';
export { CONTENT_SECURITY_POLICY } from './assets.js';

/** The dashboard's request handler: `(req, res, next?)`, plus `close()`. */
export interface DashboardHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void;
  /** Ends every open stream, aborts the warms it started and stops its timers. Idempotent. */
  close(): void;
  /** Streams open now. */
  readonly clients: number;
}

const ACTIONS = ['invalidate', 'expire', 'warm', 'clear'] as const;
type ActionName = (typeof ACTIONS)[number];

class Dashboard {
  readonly #o: ResolvedDashboardOptions;
  readonly #history: History;
  readonly #runs: WarmRuns;
  readonly #guesses: TokenGuesses;
  readonly #hub: StreamHub;
  #assets: ReadonlyMap<string, Asset> | undefined;
  #closed = false;

  constructor(options: ResolvedDashboardOptions) {
    this.#o = options;
    this.#history = new History(options.historyPoints);
    this.#runs = new WarmRuns(options.warmers, options.clock, (run) => this.#hub.warm(run));
    this.#guesses = new TokenGuesses(options.clock);
    this.#hub = new StreamHub(
      options,
      (authorized) => this.snapshot(authorized),
      async (authorized) => eventsOf(options.cache, this.#showKeys(authorized)),
      () => this.#history.sample(options.cache.getMetrics()),
    );
  }

  get clients(): number {
    return this.#hub.size;
  }

  #showKeys(authorized: boolean): boolean {
    return this.#o.showValues || authorized;
  }

  async snapshot(authorized: boolean): Promise<Snapshot> {
    const cache = this.#o.cache;
    const showKeys = this.#showKeys(authorized);
    const [events, fleet] = await Promise.all([eventsOf(cache, showKeys), fleetOf(cache)]);
    return {
      ...figuresOf(cache, cache.getMetrics(), showKeys),
      access: { actions: this.#o.token !== undefined, authorized, showKeys },
      history: this.#history.points(),
      events,
      warming: { warmers: [...this.#o.warmers.keys()], runs: this.#runs.list() },
      fleet,
    };
  }

  handle(req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void {
    const raw = req.url ?? '/';
    const query = raw.indexOf('?');
    let path = query < 0 ? raw : raw.slice(0, query);
    const base = this.#o.basePath;
    if (base !== '' && (path === base || path.startsWith(base + '/'))) path = path.slice(base.length);
    else if (base !== '' && (req as { originalUrl?: string }).originalUrl === undefined) return this.#pass(res, next);
    void this.#route(req, res, path, next).catch((error: unknown) => this.#fail(res, error));
  }

  #pass(res: ServerResponse, next?: (error?: unknown) => void): void {
    if (next !== undefined) return next();
    sendError(res, new DashboardHttpError(404, 'not_found', 'no such dashboard page'));
  }

  async #route(req: IncomingMessage, res: ServerResponse, path: string, next?: (error?: unknown) => void): Promise<void> {
    const method = req.method ?? 'GET';
    if (path === '' || (path === '/' && this.#missingSlash(req))) {
      // Relative asset URLs need the page's URL to end with a slash.
      const full = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
      const [p, q] = full.split('?', 2) as [string, string | undefined];
      res.writeHead(308, { location: `${p}/${q === undefined ? '' : `?${q}`}`, 'cache-control': 'no-store' });
      return void res.end();
    }
    if (path.startsWith('/api/')) return this.#api(req, res, method, path.slice(5));
    if (method !== 'GET' && method !== 'HEAD') throw new DashboardHttpError(405, 'method_not_allowed', 'the page is read with GET');
    const asset = this.#asset(path === '/' ? '/index.html' : path);
    if (asset === undefined) {
      if (path === '/' || path === '/index.html') throw new DashboardHttpError(503, 'not_built', 'the dashboard page is not built: run `npm run build` in the tiercache package');
      return this.#pass(res, next);
    }
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, { etag: asset.etag, 'cache-control': assetHeaders(asset)['cache-control'] as string });
      return void res.end();
    }
    res.writeHead(200, assetHeaders(asset));
    res.end(method === 'HEAD' ? undefined : asset.body);
  }

  #missingSlash(req: IncomingMessage): boolean {
    const original = (req as { originalUrl?: string }).originalUrl;
    if (original === undefined) return false;
    const path = original.split('?', 1)[0] as string;
    return !path.endsWith('/');
  }

  #asset(path: string): Asset | undefined {
    this.#assets ??= loadAssets();
    return this.#assets.get(path);
  }

  async #api(req: IncomingMessage, res: ServerResponse, method: string, route: string): Promise<void> {
    const authorized = this.#authorize(req);
    if (route === 'snapshot' || route === 'stream') {
      if (method !== 'GET') throw new DashboardHttpError(405, 'method_not_allowed', `${route} is read with GET`);
      if (route === 'snapshot') return sendJson(res, 200, await this.snapshot(authorized));
      if (!this.#hub.open(res, authorized)) {
        throw new DashboardHttpError(503, 'too_many_streams', this.#closed ? 'the dashboard is closed' : `${this.#o.maxClients} streams are open (the limit): try again later`);
      }
      return;
    }
    const action = route.startsWith('actions/') ? (route.slice(8) as ActionName) : undefined;
    if (action === undefined || !ACTIONS.includes(action)) throw new DashboardHttpError(404, 'not_found', `no dashboard endpoint ${JSON.stringify(route)}`);
    if (method !== 'POST') throw new DashboardHttpError(405, 'method_not_allowed', 'actions are sent with POST');
    if (this.#o.token === undefined) throw new DashboardHttpError(403, 'read_only', 'this dashboard is read-only: no admin token is configured (set TIERCACHE_ADMIN_TOKEN or the token option)');
    if (!authorized) throw new DashboardHttpError(401, 'unauthorized', 'actions need the admin token in an Authorization: Bearer header');
    if (req.headers['sec-fetch-site'] === 'cross-site') throw new DashboardHttpError(403, 'cross_site', 'actions are refused from another site');
    const body = await readJsonObject(req);
    sendJson(res, action === 'warm' ? 202 : 200, await this.#act(action, body));
  }

  /**
   * Whether the request carries the admin token. A token-bearing request from an address that sent too many
   * wrong ones lately is refused (429) before its token is even compared; a wrong token is counted.
   */
  #authorize(req: IncomingMessage): boolean {
    if (bearerOf(req) === undefined) return false;
    const address = req.socket.remoteAddress ?? 'unknown';
    const wait = this.#guesses.waitOf(address);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new DashboardHttpError(429, 'too_many_guesses', `${GUESS_LIMIT} wrong admin tokens from this address within ${GUESS_WINDOW_MS / 1000} s: requests with a token are refused for ${seconds} s more`, { 'retry-after': String(seconds) });
    }
    const authorized = carriesToken(req, this.#o.token);
    if (!authorized && this.#o.token !== undefined) this.#guesses.failed(address);
    return authorized;
  }

  async #act(action: ActionName, body: Record<string, unknown>): Promise<unknown> {
    const cache = this.#o.cache;
    const reason = stringField(body, 'reason', false) ?? `dashboard ${action}`;
    const signed = { reason, triggeredBy: this.#o.origin };
    switch (action) {
      case 'invalidate': {
        const tags = stringListField(body, 'tags');
        const keys = stringListField(body, 'keys');
        const pattern = stringField(body, 'pattern', false);
        if (tags === undefined && keys === undefined && pattern === undefined) throw new DashboardHttpError(400, 'invalid_body', 'invalidate needs tags, keys or a pattern');
        const selection = { ...(tags === undefined ? {} : { tags }), ...(keys === undefined ? {} : { keys }), ...(pattern === undefined ? {} : { pattern }) };
        const removed = await cache.invalidate(selection, { ...signed, confirm: body.confirm === true });
        return { ok: true, action, removed };
      }
      case 'expire': {
        const tags = stringListField(body, 'tags');
        if (tags === undefined) throw new DashboardHttpError(400, 'invalid_body', 'expire needs tags');
        return { ok: true, action, tags: await cache.expireTags(tags, signed) };
      }
      case 'clear': {
        if (body.confirm !== 'clear') throw new DashboardHttpError(400, 'not_confirmed', 'clear removes every entry: send { "confirm": "clear" } to do it');
        return { ok: true, action, removed: await cache.clear({ confirm: true, ...signed }) };
      }
      case 'warm': {
        const names = [...this.#o.warmers.keys()];
        if (names.length === 0) throw new DashboardHttpError(404, 'no_warmer', 'no warmer is registered with this dashboard (the warmers option)');
        const name = stringField(body, 'warmer', names.length > 1) ?? names[0];
        if (name === undefined || !this.#o.warmers.has(name)) throw new DashboardHttpError(404, 'no_warmer', `no warmer named ${JSON.stringify(name)}; there are ${names.map((n) => JSON.stringify(n)).join(', ')}`);
        if (this.#runs.isRunning(name)) throw new DashboardHttpError(409, 'already_running', `warmer ${JSON.stringify(name)} is already running`);
        return { ok: true, action, run: this.#runs.start(name) };
      }
    }
  }

  #fail(res: ServerResponse, error: unknown): void {
    let failure: DashboardHttpError;
    if (error instanceof DashboardHttpError) failure = error;
    else if (error instanceof TypeError || (isCacheError(error) && (error.code.startsWith('E_INVALID') || error.code === 'E_NOT_CONFIRMED'))) failure = new DashboardHttpError(400, 'invalid_request', error.message);
    else if (isCacheError(error) && error.code === 'E_UNSUPPORTED') failure = new DashboardHttpError(422, 'unsupported', error.message);
    else if (isCacheError(error) && error.code === 'E_CLOSED') failure = new DashboardHttpError(503, 'closed', error.message);
    else failure = new DashboardHttpError(500, 'internal', `the dashboard failed: ${error instanceof Error ? error.message : String(error)}`);
    if (res.headersSent) return void res.destroy();
    sendError(res, failure, failure.status === 401 ? { 'www-authenticate': 'Bearer realm="tiercache"', ...failure.headers } : failure.headers);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#runs.abortAll();
    this.#hub.close();
    this.#history.pause();
  }
}

/**
 * A request handler serving the dashboard of `cache`: the page (prebuilt, no CDN), `GET api/snapshot`,
 * `GET api/stream` (Server-Sent Events) and `POST api/actions/{invalidate,expire,warm,clear}` (admin token
 * only). Mount it anywhere: `node:http`, Express (`app.use('/dashboard', handler)`), Fastify (a route handing
 * over `request.raw`/`reply.raw`), Hono's node server. Call `close()` before closing the server: open
 * streams otherwise keep it waiting.
 *
 * @example
 * const dashboard = createDashboard({ cache, basePath: '/dashboard', token: process.env.TIERCACHE_ADMIN_TOKEN });
 * http.createServer((req, res) => req.url?.startsWith('/dashboard') ? dashboard(req, res) : app(req, res));
 */
export function createDashboard(options: DashboardOptions): DashboardHandler {
  const dashboard = new Dashboard(resolveDashboardOptions(options));
  const handler = ((req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => dashboard.handle(req, res, next)) as DashboardHandler;
  Object.defineProperty(handler, 'close', { value: () => dashboard.close() });
  Object.defineProperty(handler, 'clients', { get: () => dashboard.clients });
  return handler;
}
