// The options of the HTTP response cache, checked once when a route (or the cache) is set up: a bad option
// throws a TypeError naming it, before any request arrives.
import type { Cache } from '../cache.js';
import type { Clock } from '../clock.js';
import type { LeaseOptions } from '../compute/types.js';
import { checkTagList } from '../freshness/rules.js';
import { parseDuration, type Ttl } from '../ttl.js';

/** A value given as is, or computed from the request (the framework's own request object). */
export type PerRequest<Req, T> = T | ((request: Req) => T);

/** How one route's GET/HEAD responses are cached. Every option has the default of the cache it belongs to. */
export interface RouteCacheOptions<Req> {
  /**
   * How long a response stays fresh.
   * @default the Cache's `defaultTtl`
   */
  ttl?: PerRequest<Req, Ttl>;
  /** Tags written with the response, for `invalidateTags` (and the write-route helpers). @default none */
  tags?: PerRequest<Req, readonly string[]>;
  /**
   * How long a response is kept past its TTL as a stale copy: served at once while one refresh runs in the
   * background (stale-while-revalidate), and served instead of a 5xx from that refresh (stale-if-error).
   * @default the Cache's `compute.grace`
   */
  grace?: PerRequest<Req, Ttl>;
  /** With a stale copy, wait this long for the refresh before serving the stale copy. @default 0 */
  softTimeout?: Ttl;
  /** After a refresh failed and the stale copy was served, how long to serve it without trying again. @default '5s' */
  failSafeBackoff?: Ttl;
  /** One handler run per key across every instance sharing the first store (getOrSet's `lease`). @default the Cache's `compute.lease` */
  lease?: boolean | LeaseOptions;
  /**
   * Query parameters that make two requests different: `'all'` (every parameter, sorted by name, so order
   * never matters), or the names to keep (the others are ignored).
   * @default 'all'
   */
  query?: 'all' | readonly string[];
  /** Request headers always part of the key, whether or not the handler names them in `Vary`. @default none */
  vary?: readonly string[];
  /**
   * Statuses that are cached: a list, or a predicate.
   * @default 200-299 except 206. A 206 holds part of the resource only.
   */
  statuses?: readonly number[] | ((status: number) => boolean);
  /**
   * Take the TTL from the handler's `Cache-Control` (`s-maxage`, else `max-age`) when it sets one; `max-age=0`
   * then means "do not cache". Without it the route's `ttl` always applies.
   * @default false
   */
  ttlFromResponse?: boolean;
  /**
   * The per-user part of the key. Requests carrying `Authorization` or a `Cookie` are never cached without it;
   * with it, they are cached per the string it returns (`undefined`: this request is not cached). A response
   * marked `Cache-Control: private` is then cached too (per user), never across users.
   * @default none
   */
  userKey?: (request: Req) => string | undefined;
  /**
   * Cache responses that set a cookie. The stored copy never holds the `Set-Cookie` header: only the response
   * that ran the handler sets it.
   * @default false
   */
  cacheSetCookie?: boolean;
  /** The strength of the ETag computed from the body when the handler sets none. @default 'strong' */
  etag?: 'strong' | 'weak';
  /**
   * Honour the client's `Cache-Control`: `no-cache` or `max-age=0` run the handler and refresh the entry,
   * `no-store` bypasses the cache. Turn off when clients must not be able to force handler runs.
   * @default true
   */
  clientCacheControl?: boolean;
}

/** What a write route invalidates after a successful (2xx) response. */
export interface InvalidateAfterOptions<Req> {
  /** Tags to invalidate (hard: every tier, and other instances through the bus). */
  tags?: PerRequest<Req, readonly string[]>;
  /** Request path globs whose cached responses are removed (`/users/42`, `/users/*`); any query, any variant. */
  paths?: PerRequest<Req, readonly string[]>;
  /** Raw cache-key patterns, for keys written outside the HTTP layer. */
  patterns?: PerRequest<Req, readonly string[]>;
  /** Statuses that count as success. @default 200-299 */
  statuses?: readonly number[] | ((status: number) => boolean);
}

/** Where an HTTP response cache keeps responses, and how it marks them. */
export interface HttpCacheSetup {
  /** The cache that holds the responses (a namespace view works too). */
  cache: Cache;
  /** First segment of every key (`http:GET:/path:query`). @default 'http' */
  prefix?: string;
  /** Name of the header that tells `hit`, `miss`, `stale` or `bypass`; `false` for none. @default 'x-cache' */
  header?: string | false;
  /** Largest body kept, in bytes; a larger (or streamed past it) response is sent through, uncached. @default 1 MiB */
  maxBodyBytes?: number;
  /** The time source for `Age`: give the Cache's own clock when it has one. @default wall-clock time */
  clock?: Clock;
}

/** The options of an HTTP response cache: its setup, and the defaults of every route. */
export type HttpCacheOptions<Req> = HttpCacheSetup & RouteCacheOptions<Req>;

/** Route options after checking, defaults filled in. */
export interface ResolvedRoute<Req> {
  readonly ttl: PerRequest<Req, Ttl> | undefined;
  readonly tags: PerRequest<Req, readonly string[]> | undefined;
  readonly grace: PerRequest<Req, Ttl> | undefined;
  readonly softTimeout: Ttl | undefined;
  readonly failSafeBackoff: Ttl | undefined;
  readonly lease: boolean | LeaseOptions | undefined;
  readonly query: 'all' | readonly string[];
  readonly vary: readonly string[];
  readonly cacheable: (status: number) => boolean;
  readonly ttlFromResponse: boolean;
  readonly userKey: ((request: Req) => string | undefined) | undefined;
  readonly cacheSetCookie: boolean;
  readonly weakEtag: boolean;
  readonly clientCacheControl: boolean;
}

export interface ResolvedInvalidate<Req> {
  readonly tags: PerRequest<Req, readonly string[]> | undefined;
  readonly paths: PerRequest<Req, readonly string[]> | undefined;
  readonly patterns: PerRequest<Req, readonly string[]> | undefined;
  readonly success: (status: number) => boolean;
}

export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

const ROUTE_KEYS = new Set<string>(['ttl', 'tags', 'grace', 'softTimeout', 'failSafeBackoff', 'lease', 'query', 'vary', 'statuses', 'ttlFromResponse', 'userKey', 'cacheSetCookie', 'etag', 'clientCacheControl']);
const CACHE_KEYS = new Set<string>([...ROUTE_KEYS, 'cache', 'prefix', 'header', 'maxBodyBytes', 'clock']);
const INVALIDATE_KEYS = new Set<string>(['tags', 'paths', 'patterns', 'statuses']);

const is2xx = (status: number): boolean => status >= 200 && status < 300;
const cacheable2xx = (status: number): boolean => is2xx(status) && status !== 206;

function unknownKeys(options: object, known: ReadonlySet<string>, where: string): void {
  for (const name of Object.keys(options)) {
    if (!known.has(name)) throw new TypeError(`${where}: unknown option ${JSON.stringify(name)}`);
  }
}

function checkBoolean(value: unknown, option: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw new TypeError(`${option} must be a boolean, got ${typeof value}`);
  return value;
}

function checkDuration(value: unknown, option: string): void {
  if (value === undefined || typeof value === 'function') return;
  if (value instanceof Date) throw new TypeError(`${option} must be a duration, not a Date`);
  parseDuration(value, option);
}

function checkTags(value: unknown, option: string): void {
  if (value === undefined || typeof value === 'function') return;
  try {
    checkTagList(value);
  } catch (error) {
    throw new TypeError(`${option}: ${(error as Error).message}`);
  }
}

function checkStrings(value: unknown, option: string): readonly string[] | undefined {
  if (value === undefined || typeof value === 'function') return value as undefined;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item.length === 0)) {
    throw new TypeError(`${option} must be an array of non-empty strings`);
  }
  return value as readonly string[];
}

function statusPredicate(value: unknown, option: string, fallback: (status: number) => boolean): (status: number) => boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'function') return value as (status: number) => boolean;
  if (!Array.isArray(value) || value.some((s) => !Number.isInteger(s) || (s as number) < 100 || (s as number) > 599)) {
    throw new TypeError(`${option} must be an array of HTTP status codes (100-599) or a function`);
  }
  const set = new Set(value as number[]);
  return (status) => set.has(status);
}

/** Checks route options (`where` names them in errors) over `base`, the cache-wide defaults. */
export function resolveRoute<Req>(options: RouteCacheOptions<Req>, where: string, base?: ResolvedRoute<Req>, known: ReadonlySet<string> = ROUTE_KEYS): ResolvedRoute<Req> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${where} must be an object`);
  unknownKeys(options, known, where);
  const at = (name: string) => `${where}.${name}`;
  checkDuration(options.ttl, at('ttl'));
  checkDuration(options.grace, at('grace'));
  checkDuration(options.softTimeout, at('softTimeout'));
  checkDuration(options.failSafeBackoff, at('failSafeBackoff'));
  if (options.ttl !== undefined && typeof options.ttl !== 'function' && parseDuration(options.ttl, at('ttl')) === 0) throw new TypeError(`${at('ttl')} must be greater than 0`);
  checkTags(options.tags, at('tags'));
  if (options.lease !== undefined && typeof options.lease !== 'boolean' && (typeof options.lease !== 'object' || options.lease === null)) {
    throw new TypeError(`${at('lease')} must be a boolean or { ttl, wait }`);
  }
  const query = options.query;
  if (query !== undefined && query !== 'all') checkStrings(query, at('query'));
  if (query !== undefined && typeof query === 'function') throw new TypeError(`${at('query')} must be 'all' or an array of parameter names`);
  const vary = checkStrings(options.vary, at('vary'));
  if (typeof options.vary === 'function') throw new TypeError(`${at('vary')} must be an array of header names`);
  if (options.userKey !== undefined && typeof options.userKey !== 'function') throw new TypeError(`${at('userKey')} must be a function (request) => string | undefined`);
  if (options.etag !== undefined && options.etag !== 'strong' && options.etag !== 'weak') throw new TypeError(`${at('etag')} must be 'strong' or 'weak', got ${JSON.stringify(options.etag)}`);
  return {
    ttl: options.ttl ?? base?.ttl,
    tags: options.tags ?? base?.tags,
    grace: options.grace ?? base?.grace,
    softTimeout: options.softTimeout ?? base?.softTimeout,
    failSafeBackoff: options.failSafeBackoff ?? base?.failSafeBackoff,
    lease: options.lease ?? base?.lease,
    query: query ?? base?.query ?? 'all',
    vary: vary === undefined ? (base?.vary ?? []) : [...new Set(vary.map((h) => h.toLowerCase()))].sort(),
    cacheable: statusPredicate(options.statuses, at('statuses'), base?.cacheable ?? cacheable2xx),
    ttlFromResponse: checkBoolean(options.ttlFromResponse, at('ttlFromResponse')) ?? base?.ttlFromResponse ?? false,
    userKey: options.userKey ?? base?.userKey,
    cacheSetCookie: checkBoolean(options.cacheSetCookie, at('cacheSetCookie')) ?? base?.cacheSetCookie ?? false,
    weakEtag: options.etag === undefined ? (base?.weakEtag ?? false) : options.etag === 'weak',
    clientCacheControl: checkBoolean(options.clientCacheControl, at('clientCacheControl')) ?? base?.clientCacheControl ?? true,
  };
}

export interface ResolvedCacheOptions<Req> {
  readonly cache: Cache;
  readonly prefix: string;
  readonly header: string | undefined;
  readonly maxBodyBytes: number;
  readonly clock: Clock | undefined;
  readonly defaults: ResolvedRoute<Req>;
}

/** Checks the options of an HTTP cache (`where` names them in errors: `httpCache`, the plugin's name…). */
export function resolveCacheOptions<Req>(options: HttpCacheOptions<Req>, where: string): ResolvedCacheOptions<Req> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${where} options must be an object`);
  const { cache, prefix = 'http', header = 'x-cache', maxBodyBytes = DEFAULT_MAX_BODY_BYTES, clock } = options;
  if (typeof cache !== 'object' || cache === null || typeof (cache as Partial<Cache>).getOrSetResult !== 'function') {
    throw new TypeError(`${where}.cache must be a tiercache Cache`);
  }
  if (typeof prefix !== 'string' || prefix.length === 0 || /[:*?[\]\\%]/.test(prefix)) {
    throw new TypeError(`${where}.prefix must be a non-empty string without : * ? [ ] \\ or %, got ${JSON.stringify(prefix)}`);
  }
  if (header !== false && (typeof header !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header))) {
    throw new TypeError(`${where}.header must be a header name or false, got ${JSON.stringify(header)}`);
  }
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes <= 0) throw new TypeError(`${where}.maxBodyBytes must be a positive integer, got ${String(maxBodyBytes)}`);
  if (clock !== undefined && (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function')) {
    throw new TypeError(`${where}.clock must be an object with a now() method`);
  }
  const route: Record<string, unknown> = { ...options };
  for (const name of ['cache', 'prefix', 'header', 'maxBodyBytes', 'clock']) delete route[name];
  return {
    cache,
    prefix,
    header: header === false ? undefined : header.toLowerCase(),
    maxBodyBytes,
    clock,
    defaults: resolveRoute(route as RouteCacheOptions<Req>, where, undefined, CACHE_KEYS),
  };
}

/** Checks the options of a write route's invalidation. */
export function resolveInvalidate<Req>(options: InvalidateAfterOptions<Req>, where: string): ResolvedInvalidate<Req> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${where} must be an object`);
  unknownKeys(options, INVALIDATE_KEYS, where);
  checkTags(options.tags, `${where}.tags`);
  checkStrings(options.paths, `${where}.paths`);
  checkStrings(options.patterns, `${where}.patterns`);
  if (options.tags === undefined && options.paths === undefined && options.patterns === undefined) {
    throw new TypeError(`${where} needs at least one of tags, paths or patterns`);
  }
  return {
    tags: options.tags,
    paths: options.paths,
    patterns: options.patterns,
    success: statusPredicate(options.statuses, `${where}.statuses`, is2xx),
  };
}

/** The value of a per-request option for this request. */
export function valueFor<Req, T>(option: PerRequest<Req, T>, request: Req): T {
  return typeof option === 'function' ? (option as (request: Req) => T)(request) : option;
}
