// The HTTP response cache, framework-free: an adapter describes the request (RequestView), asks `handle` what
// to do, and either sends the cached response, runs the handler untouched, or runs it and hands the captured
// response to `finish`. Every lookup is one `getOrSetResult`, so single-flight, leases, grace, fail-safe,
// fencing and tags are the engine's; this file only decides what an HTTP response means for them.
import { Buffer } from 'node:buffer';
import { createHash, randomUUID } from 'node:crypto';
import type { Cache } from '../cache.js';
import { systemClock, type Clock } from '../clock.js';
import type { GetOrSetOptions, LoaderContext } from '../compute/types.js';
import { CacheError } from '../errors.js';
import { buildKey } from '../keys/build-key.js';
import { escapeSegment } from '../keys/escape.js';
import {
  etagOf,
  headerOf,
  notModified,
  parseCacheControl,
  secondsOf,
  storableHeaders,
  varyOf,
  withoutBodyHeaders,
  type Directives,
  type HeaderLine,
} from './headers.js';
import {
  resolveCacheOptions,
  resolveInvalidate,
  resolveRoute,
  valueFor,
  type HttpCacheOptions,
  type InvalidateAfterOptions,
  type ResolvedInvalidate,
  type ResolvedRoute,
  type RouteCacheOptions,
} from './options.js';

/** What the core needs to know about a request; adapters build one over their framework's request. */
export interface RequestView {
  /** Upper-case method. */
  readonly method: string;
  /** The path, without the query string. */
  readonly path: string;
  /** The raw query string without its `?` (`''` when none). */
  readonly search: string;
  /** A request header by lower-case name (repeated headers joined with `, `). */
  header(name: string): string | undefined;
  /** Every request header, for the internal request a background refresh sends. */
  headers(): Record<string, string>;
}

/** A response as the handler produced it. `body` is undefined when it was not kept (larger than the limit, or unreadable). */
export interface Captured {
  readonly status: number;
  readonly headers: readonly HeaderLine[];
  readonly body: Uint8Array | undefined;
}

/** Sends the request again through the app (with `headers`), for a background refresh, and captures the response. */
export type Dispatch = (headers: Record<string, string>) => Promise<Captured>;

/** What the adapter does with a request. */
export type Decision =
  /** Send this response; the handler does not run. `body` undefined: none (304); for HEAD the framework drops it. */
  | { readonly kind: 'serve'; readonly status: number; readonly headers: readonly HeaderLine[]; readonly body: Uint8Array | undefined }
  /** Run the handler as if there were no cache; add these headers. */
  | { readonly kind: 'pass'; readonly headers: readonly HeaderLine[] }
  /** Run the handler, capture its response and give it to `finish` (or a failure to `fail`) before sending. */
  | { readonly kind: 'lead'; finish(captured: Captured): Promise<Finish>; fail(error: unknown): void };

/** What `finish` tells the adapter: headers to add, and whether to answer `304 Not Modified` instead. */
export interface Finish {
  readonly notModified: boolean;
  readonly headers: readonly HeaderLine[];
}

/** A cached response, as every tier holds it. */
interface StoredResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly headers: readonly HeaderLine[];
  readonly body: Uint8Array;
  readonly storedAt: number;
  readonly etag: string | undefined;
  /** The request headers the handler's `Vary` named, and this entry's values of them. */
  readonly vary: readonly string[];
  readonly varyValues: readonly string[];
}

/** A response the handler produced that is not cached; `shareable` when the callers that joined its run may get it too. */
interface PassedResponse {
  readonly kind: 'passed';
  readonly shareable: boolean;
  readonly status: number;
  readonly headers: readonly HeaderLine[];
  readonly body: Uint8Array | undefined;
}

type Value = StoredResponse | PassedResponse;

interface Outcome {
  readonly value: Value;
  readonly store: boolean;
  readonly failure: boolean;
  readonly ttlMs: number | undefined;
  readonly etag: string | undefined;
}

interface Lead {
  readonly context: LoaderContext<Value>;
  resolve(value: Value): void;
  reject(error: unknown): void;
}

/** A 5xx from the handler: thrown into the engine so a stale copy is served instead (fail-safe). */
class HandlerFailure extends Error {
  constructor(readonly response: PassedResponse) {
    super(`the handler answered ${response.status}`);
    this.name = 'HandlerFailure';
  }
}

/** A HEAD that found nothing: HEAD never runs a handler for the cache (its body may be dropped), so it passes. */
const HEAD_MISS = new Error('HEAD miss');

/** Marks the internal request of a background refresh (its value is this process's secret). */
export const REFRESH_HEADER = 'x-tiercache-refresh';

const NO_DIRECTIVES: Directives = new Map();
const ABSENT = '\u0000';
/** Longest key the HTTP layer builds; a longer URL is served uncached rather than refused by the engine. */
const MAX_KEY_LENGTH = 1000;

function hashOf(values: readonly string[]): string {
  return createHash('sha1').update(values.join('\n')).digest('base64url').slice(0, 16);
}

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** A path glob as a key pattern: `*` and `?` stay wildcards, every other character stands for itself. */
function pathPattern(glob: string): string {
  let out = '';
  for (const ch of glob) out += ch === '*' || ch === '?' ? ch : escapeSegment(ch);
  return out;
}

/**
 * The framework-free HTTP response cache that the Fastify, Express and Hono adapters share. Use it directly to
 * write an adapter for another framework.
 *
 * @example
 * const http = new HttpCache({ cache, ttl: '1m' });
 * const decision = await http.handle(view, request, http.route({ tags: ['forecasts'] }), dispatch);
 */
export class HttpCache<Req = unknown> {
  readonly #cache: Cache;
  readonly #prefix: string;
  readonly #header: string | undefined;
  readonly #clock: Clock;
  readonly #secret = randomUUID();
  readonly #refreshing = new Set<Promise<unknown>>();
  /** The largest body kept, in bytes. */
  readonly maxBodyBytes: number;
  /** The cache-wide route defaults. */
  readonly defaults: ResolvedRoute<Req>;

  constructor(options: HttpCacheOptions<Req>, where = 'httpCache') {
    const resolved = resolveCacheOptions(options, where);
    this.#cache = resolved.cache;
    this.#prefix = resolved.prefix;
    this.#header = resolved.header;
    this.#clock = resolved.clock ?? systemClock;
    this.maxBodyBytes = resolved.maxBodyBytes;
    this.defaults = resolved.defaults;
  }

  /** The Cache the responses live in. */
  get cache(): Cache {
    return this.#cache;
  }

  /** A route's options checked over the defaults; `where` names them in errors. */
  route(options: RouteCacheOptions<Req> = {}, where = 'route'): ResolvedRoute<Req> {
    return resolveRoute(options, where, this.defaults);
  }

  /** A write route's invalidation options, checked. */
  invalidation(options: InvalidateAfterOptions<Req>, where = 'invalidate'): ResolvedInvalidate<Req> {
    return resolveInvalidate(options, where);
  }

  /** The cache-key pattern of every cached response whose path matches `glob` (any query, any variant). */
  pathPattern(glob: string): string {
    return `${this.#prefix}:GET:${pathPattern(glob)}:*`;
  }

  /** Resolves once every background refresh started so far has settled (for tests and graceful shutdown). */
  async drain(): Promise<void> {
    while (this.#refreshing.size > 0) await Promise.allSettled([...this.#refreshing]);
  }

  /** What to do with this request. `dispatch` sends it again through the app, for stale-while-revalidate. */
  async handle(view: RequestView, request: Req, route: ResolvedRoute<Req>, dispatch: Dispatch | undefined): Promise<Decision> {
    const method = view.method;
    if ((method !== 'GET' && method !== 'HEAD') || view.header(REFRESH_HEADER) === this.#secret) return { kind: 'pass', headers: [] };
    const client = route.clientCacheControl ? this.#clientDirectives(view) : NO_DIRECTIVES;
    if (client.has('no-store')) return this.#pass('bypass');
    let user: string | undefined;
    if (route.userKey !== undefined) {
      user = route.userKey(request);
      if (user === undefined) return this.#pass('bypass');
      if (typeof user !== 'string') throw new TypeError(`userKey must return a string or undefined, got ${typeof user}`);
    } else if (view.header('authorization') !== undefined || view.header('cookie') !== undefined) {
      return this.#pass('bypass');
    }
    const base = this.#baseKey(view, route, user);
    if (base === undefined) return this.#pass('bypass');
    const force = client.has('no-cache') || secondsOf(client, 'max-age') === 0;
    return this.#lookup(base, base, view, request, route, dispatch, this.#optionsFor(route, request, force));
  }

  /** After a write route's response: invalidates what `invalidation` names when `status` counts as success. */
  async invalidateAfter(status: number, request: Req, invalidation: ResolvedInvalidate<Req>): Promise<void> {
    if (!invalidation.success(status)) return;
    const tags = invalidation.tags === undefined ? [] : valueFor(invalidation.tags, request);
    const paths = invalidation.paths === undefined ? [] : valueFor(invalidation.paths, request);
    const raw = invalidation.patterns === undefined ? [] : valueFor(invalidation.patterns, request);
    const patterns = [...paths.map((glob) => this.pathPattern(glob)), ...raw];
    if (tags.length === 0 && patterns.length === 0) return;
    await this.#cache.invalidate({ ...(tags.length > 0 ? { tags } : {}), ...(patterns.length > 0 ? { patterns } : {}) }, { reason: 'write route', triggeredBy: 'http' });
  }

  #pass(state: 'bypass' | 'miss'): Decision {
    return { kind: 'pass', headers: this.#header === undefined ? [] : [[this.#header, state]] };
  }

  #clientDirectives(view: RequestView): Directives {
    const cc = view.header('cache-control');
    if (cc !== undefined) return parseCacheControl(cc);
    // HTTP/1.0 clients say it with Pragma.
    return view.header('pragma')?.toLowerCase().includes('no-cache') === true ? parseCacheControl('no-cache') : NO_DIRECTIVES;
  }

  #baseKey(view: RequestView, route: ResolvedRoute<Req>, user: string | undefined): string | undefined {
    const params = new URLSearchParams(view.search);
    const chosen = route.query === 'all' ? [...params] : [...params].filter(([name]) => route.query.includes(name));
    // A stable sort by name keeps the order of repeated parameters (`a=2&a=1` is not `a=1&a=2`).
    chosen.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    let key = buildKey('GET:{path}:{query}', { path: view.path, query: new URLSearchParams(chosen).toString() }, { prefix: `${this.#prefix}:` });
    if (user !== undefined) key += `:u:${escapeSegment(user)}`;
    if (route.vary.length > 0) key += `:h:${hashOf(route.vary.map((name) => view.header(name) ?? ABSENT))}`;
    return key.length > MAX_KEY_LENGTH ? undefined : key;
  }

  #optionsFor(route: ResolvedRoute<Req>, request: Req, force: boolean): GetOrSetOptions {
    // An HTTP failure is never remembered as a negative entry: the next request runs the handler again.
    const options: GetOrSetOptions = { negativeTtl: 0 };
    if (route.ttl !== undefined) options.ttl = valueFor(route.ttl, request);
    if (route.tags !== undefined) {
      const tags = valueFor(route.tags, request);
      if (tags.length > 0) options.tags = tags;
    }
    if (route.grace !== undefined) options.grace = valueFor(route.grace, request);
    if (route.softTimeout !== undefined) options.softTimeout = route.softTimeout;
    if (route.failSafeBackoff !== undefined) options.failSafeBackoff = route.failSafeBackoff;
    if (route.lease !== undefined) options.lease = route.lease;
    if (force) options.forceRefresh = true;
    return options;
  }

  async #lookup(key: string, base: string, view: RequestView, request: Req, route: ResolvedRoute<Req>, dispatch: Dispatch | undefined, options: GetOrSetOptions): Promise<Decision> {
    const head = view.method === 'HEAD';
    let signal!: (lead: Lead) => void;
    const led = new Promise<Lead>((resolve) => (signal = resolve));
    const loader = (context: LoaderContext<Value>): Promise<Value> => {
      // A stale copy is being served: the refresh runs as an internal request, in the background.
      if (context.staleValue !== undefined) return this.#refresh(context, view, route, dispatch);
      if (head) return Promise.reject(HEAD_MISS);
      return new Promise<Value>((resolve, reject) => signal({ context, resolve, reject }));
    };
    const pending = this.#cache.getOrSetResult(key, loader, options);
    const first = await Promise.race([led, pending]);
    if ('context' in first) return this.#leadDecision(first, pending, view, route);
    if (!first.ok) {
      const error = first.error;
      if (error instanceof HandlerFailure && error.response.shareable) return this.#serve(view, error.response, 'miss');
      return this.#pass('miss');
    }
    const value = first.value as Value;
    if (value.kind === 'passed') return value.shareable ? this.#serve(view, value, 'miss') : this.#pass('miss');
    if (value.vary.length > 0) {
      const mine = value.vary.map((name) => view.header(name) ?? ABSENT);
      if (!sameValues(mine, value.varyValues)) {
        // Another variant: it has its own key under the base key. One level only.
        if (key !== base) return this.#pass('miss');
        return this.#lookup(`${base}:v:${hashOf(mine)}`, base, view, request, route, dispatch, options);
      }
    }
    return this.#serve(view, value, first.stale ? 'stale' : first.source === 'loader' && !first.joined ? 'miss' : 'hit');
  }

  #leadDecision(lead: Lead, pending: Promise<unknown>, view: RequestView, route: ResolvedRoute<Req>): Decision {
    let settled = false;
    return {
      kind: 'lead',
      finish: async (captured) => {
        if (settled) throw new CacheError('E_UNSUPPORTED', 'finish was called twice for one request');
        settled = true;
        const outcome = this.#settle(lead.context, captured, view, route, lead);
        // The write is awaited, so a client (or another instance) asking right after this response finds it.
        await pending;
        const headers: HeaderLine[] = [];
        if (this.#header !== undefined) headers.push([this.#header, 'miss']);
        if (outcome.etag !== undefined && headerOf(captured.headers, 'etag') === undefined) headers.push(['etag', outcome.etag]);
        const lastModified = headerOf(captured.headers, 'last-modified');
        const fresh = captured.status === 200 && notModified(view.header('if-none-match'), view.header('if-modified-since'), outcome.etag, lastModified);
        return { notModified: fresh, headers };
      },
      fail: (error) => {
        if (settled) return;
        settled = true;
        lead.reject(error);
      },
    };
  }

  /** Classifies a handler's response and settles the load with it (`lead` for a request's own run). */
  #settle(context: LoaderContext<Value>, captured: Captured, view: RequestView, route: ResolvedRoute<Req>, lead?: Lead): Outcome {
    const outcome = this.#classify(captured, view, route);
    if (!outcome.store) context.skipCache();
    else if (outcome.ttlMs !== undefined) context.setTtl(outcome.ttlMs);
    if (lead !== undefined) {
      if (outcome.failure) lead.reject(new HandlerFailure(outcome.value as PassedResponse));
      else lead.resolve(outcome.value);
    }
    return outcome;
  }

  #classify(captured: Captured, view: RequestView, route: ResolvedRoute<Req>): Outcome {
    const { status, headers: lines, body } = captured;
    const cc = parseCacheControl(lines.filter(([name]) => name === 'cache-control').map(([, v]) => v).join(', '));
    const setsCookie = lines.some(([name]) => name === 'set-cookie');
    const vary = varyOf(lines);
    const personal = cc.has('private') && route.userKey === undefined;
    const shareable = body !== undefined && !setsCookie && !cc.has('no-store') && !personal && vary[0] !== '*';
    const etag = headerOf(lines, 'etag') ?? (body !== undefined && status >= 200 && status < 300 ? etagOf(body, route.weakEtag) : undefined);
    const passed = (failure: boolean): Outcome => ({ value: { kind: 'passed', shareable, status, headers: lines, body }, store: false, failure, ttlMs: undefined, etag });
    if (body === undefined) return passed(false);
    if (!route.cacheable(status)) return passed(status >= 500);
    if (cc.has('no-store') || cc.has('no-cache') || personal || (setsCookie && !route.cacheSetCookie) || vary[0] === '*') return passed(false);
    let ttlMs: number | undefined;
    if (route.ttlFromResponse) {
      const seconds = secondsOf(cc, 's-maxage') ?? secondsOf(cc, 'max-age');
      if (seconds === 0) return passed(false);
      if (seconds !== undefined) ttlMs = seconds * 1000;
    }
    const stored: StoredResponse = {
      kind: 'response',
      status,
      headers: storableHeaders(lines, this.#header ?? ''),
      // A plain Uint8Array of its own: a Buffer view may pin a shared 8 KiB pool slab in the memory tier, and
      // every tier then hands back the same type.
      body: body instanceof Buffer || body.byteLength !== body.buffer.byteLength ? new Uint8Array(body) : body,
      storedAt: this.#clock.now(),
      etag,
      vary,
      varyValues: vary.map((name) => view.header(name) ?? ABSENT),
    };
    return { value: stored, store: true, failure: false, ttlMs, etag };
  }

  #refresh(context: LoaderContext<Value>, view: RequestView, route: ResolvedRoute<Req>, dispatch: Dispatch | undefined): Promise<Value> {
    if (dispatch === undefined) {
      return Promise.reject(new CacheError('E_UNSUPPORTED', 'this adapter cannot refresh in the background: give it the app (see docs/http.md)'));
    }
    const headers = view.headers();
    for (const name of ['if-none-match', 'if-modified-since', 'cache-control', 'pragma', 'content-length']) delete headers[name];
    headers[REFRESH_HEADER] = this.#secret;
    const run = dispatch(headers).then((captured) => {
      const outcome = this.#settle(context, captured, view, route);
      if (outcome.failure) throw new HandlerFailure(outcome.value as PassedResponse);
      return outcome.value;
    });
    const tracked = run.then(
      () => undefined,
      () => undefined,
    );
    this.#refreshing.add(tracked);
    void tracked.then(() => this.#refreshing.delete(tracked));
    return run;
  }

  #serve(view: RequestView, value: Value, state: 'hit' | 'miss' | 'stale'): Decision {
    const stored = value.kind === 'response';
    const headers: HeaderLine[] = stored ? [...value.headers] : storableHeaders(value.headers, this.#header ?? '');
    const etag = stored ? value.etag : headerOf(value.headers, 'etag');
    if (etag !== undefined && headerOf(headers, 'etag') === undefined) headers.push(['etag', etag]);
    if (stored) headers.push(['age', String(Math.max(0, Math.floor((this.#clock.now() - value.storedAt) / 1000)))]);
    if (this.#header !== undefined) headers.push([this.#header, state]);
    const body = value.body ?? new Uint8Array(0);
    if (value.status === 200 && notModified(view.header('if-none-match'), view.header('if-modified-since'), etag, headerOf(headers, 'last-modified'))) {
      return { kind: 'serve', status: 304, headers: withoutBodyHeaders(headers), body: undefined };
    }
    headers.push(['content-length', String(body.byteLength)]);
    // HEAD gets the body too: each framework drops it, and some (Fastify) take Content-Length from it.
    return { kind: 'serve', status: value.status, headers, body };
  }
}
