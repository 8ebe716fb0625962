import type { Cache } from '../cache.js';
import { escapeSegment } from '../keys/escape.js';
import type { Ttl } from '../ttl.js';
import { argsHash, assertLiteralPrefix, assertNarrowPattern, compileTemplate, type KeySpec, type KeyTemplateOptions, type TemplateRole } from './key-template.js';
import type { GetOrSetOptions, SetOptions } from './types.js';

/** Templates filled from a call's arguments (as keys are), or a function of the arguments returning the strings. */
export type TemplateList<A extends unknown[]> = readonly string[] | ((...args: A) => readonly string[]);

/** Options of {@link cacheAside}: where the result lives, plus every `getOrSet` option. */
export interface CacheAsideOptions<A extends unknown[]> extends Omit<GetOrSetOptions, 'tags'>, KeyTemplateOptions {
  /**
   * The key of a call: a template (`'user:{userId}'` reads the first argument's `userId` field, or the
   * parameter of that name given in `params`; `'items:{0}:{1}'` reads arguments by position) or a function
   * of the arguments. Substituted values are escaped, so an id holding `:` or `*` stays one segment.
   * @default `<prefix or the function's name + ':'><hash of the arguments>`
   */
  key?: KeySpec<A>;
  /** Tags of the cached result: templates filled like `key`, or a function of the arguments. @default none */
  tags?: TemplateList<A>;
}

/** A wrapped function: always asynchronous, since the cache may have to be read from a store. */
export interface CachedFunction<A extends unknown[], R> {
  (...args: A): Promise<R>;
  /** The key a call with these arguments reads and writes. Throws `TypeError` when the key template cannot be filled. */
  key(...args: A): string;
  /** Removes the cached result of a call with these arguments; resolves to whether one was cached. */
  invalidate(...args: A): Promise<boolean>;
}

/** A memoized function: a {@link CachedFunction} whose results share one key prefix. */
export interface MemoizedFunction<A extends unknown[], R> extends CachedFunction<A, R> {
  /** Removes every cached result of this function (and only of it); resolves to the number of keys removed. */
  clear(): Promise<number>;
}

/** Options of {@link stampedeProtect}: those of {@link cacheAside}, with the lease settings named for the seeds. */
export interface StampedeOptions<A extends unknown[]> extends Omit<CacheAsideOptions<A>, 'lease'> {
  /**
   * How long the cross-process lock (the lease) lives without renewal: a process that dies while computing
   * blocks the key this long at most. The holder renews it while the function runs.
   * @default '10s'
   */
  lockTtl?: Ttl;
  /**
   * Longest a caller waits for another process's computation before it computes the value itself.
   * @default '30s'
   */
  lockWait?: Ttl;
}

/** Options of {@link memoize}. */
export interface MemoizeOptions<A extends unknown[]> extends CacheAsideOptions<A> {
  /**
   * Head of every key of this function, so `clear()` can remove them all with one pattern. It is prepended
   * verbatim, so end it with a separator (`'reports:'`); it must not hold `*`, `?`, `[`, `]` or `\`.
   * With `key`, the filled template follows it: `prefix + key`.
   * @default the function's name, escaped, + `':'`
   */
  prefix?: string;
}

/** What a successful write invalidates, each entry filled from the write's arguments. */
export interface InvalidationTargets<A extends unknown[]> {
  /** Keys to delete (templates or a function). */
  keys?: TemplateList<A>;
  /**
   * Globs to invalidate (`*` any run, `?` one character): literal wildcards stay wildcards, substituted
   * values are escaped so they match themselves only. A pattern that would match every key is refused.
   */
  patterns?: TemplateList<A>;
  /** Tags to invalidate (templates or a function). */
  tags?: TemplateList<A>;
}

/** Options of {@link writeThrough}. */
export interface WriteThroughOptions<A extends unknown[]> extends Omit<SetOptions, 'tags'>, KeyTemplateOptions {
  /** Where the write's result is cached, filled like {@link CacheAsideOptions.key}. @default not cached */
  key?: KeySpec<A>;
  /** Tags of the cached result. @default none */
  tags?: TemplateList<A>;
  /** What the write makes out of date. @default nothing */
  invalidate?: InvalidationTargets<A>;
  /** Recorded in the invalidation log (`getInvalidationEvents`). @default `'write:<function name>'` */
  reason?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Plans: everything a wrapper can check and compile is done once, when it is built; a call only fills in.
// `self` is the `this` of the call for decorators (instance caches, class-named keys) and `undefined` for the
// function wrappers, whose key functions are plain functions of the arguments.

/** @internal */
export type CacheOf = (self: unknown) => Cache;
/** @internal */
export type KeyOf<A extends unknown[]> = (self: unknown, args: A) => string;
type ListOf<A extends unknown[]> = (self: unknown, args: A) => readonly string[];

/**
 * @internal
 * `head` is the default start of keys (the function's or method's name); `scoped` makes it head templated
 * keys too (memoize, whose `clear` needs every key under one prefix).
 */
export function keyPlan<A extends unknown[]>(
  spec: KeySpec<A> | undefined,
  options: KeyTemplateOptions,
  head: (self: unknown) => string,
  scoped: boolean,
): KeyOf<A> {
  const { prefix, params } = options;
  if (prefix !== undefined && typeof prefix !== 'string') throw new TypeError(`prefix must be a string, got ${typeof prefix}`);
  const headOf = prefix !== undefined ? () => prefix : head;
  if (spec === undefined) return (self, args) => headOf(self) + argsHash(args);
  const templateHead = prefix !== undefined || !scoped ? (prefix ?? '') : undefined;
  if (typeof spec === 'string') {
    const fill = compileTemplate(spec, params === undefined ? {} : { params });
    return templateHead === undefined ? (self, args) => head(self) + fill(args) : (_, args) => templateHead + fill(args);
  }
  if (typeof spec === 'function') {
    return (self, args) => {
      const key: unknown = spec.apply(self, args);
      if (typeof key !== 'string' || key.length === 0) throw new TypeError(`key function must return a non-empty string, got ${describe(key)}`);
      return (templateHead ?? head(self)) + key;
    };
  }
  throw new TypeError(`key must be a template string or a function, got ${describe(spec)}`);
}

/** @internal Compiles a template list; `undefined` when there is nothing to fill. */
export function listPlan<A extends unknown[]>(spec: TemplateList<A> | undefined, params: readonly string[] | undefined, role: TemplateRole, what: string): ListOf<A> | undefined {
  if (spec === undefined) return undefined;
  if (typeof spec === 'function') {
    return (self, args) => {
      const list: unknown = spec.apply(self, args);
      if (!Array.isArray(list) || !(list as unknown[]).every((item) => typeof item === 'string')) {
        throw new TypeError(`${what} function must return an array of strings, got ${describe(list)}`);
      }
      // Built by the caller's own code, a pattern still must not wipe the cache by accident.
      if (role === 'pattern') for (const pattern of list as string[]) assertNarrowPattern(pattern, 'returned by the patterns function');
      return list as readonly string[];
    };
  }
  if (!Array.isArray(spec)) throw new TypeError(`${what} must be an array of templates or a function, got ${describe(spec)}`);
  const fills = (spec as readonly unknown[]).map((template) => {
    if (typeof template !== 'string') throw new TypeError(`${what} must hold template strings, got ${describe(template)}`);
    return compileTemplate(template, { role, ...(params === undefined ? {} : { params }) });
  });
  if (fills.length === 0) return undefined;
  return (_, args) => fills.map((fill) => fill(args));
}

/** @internal The `getOrSet` options of a call: one shared object unless the tags depend on the arguments. */
export function optionsPlan<A extends unknown[]>(options: CacheAsideOptions<A>, what: string): (self: unknown, args: A) => GetOrSetOptions {
  const { key: _key, prefix: _prefix, params, tags, ...rest } = options;
  const base: GetOrSetOptions = Object.freeze({ ...rest });
  const tagsOf = listPlan(tags, params, 'tag', `${what} tags`);
  if (tagsOf === undefined) return () => base;
  // Checked by listPlan: an array here holds templates, and those without a placeholder are the tags themselves.
  if (Array.isArray(tags) && (tags as readonly string[]).every((tag) => !tag.includes('{'))) {
    const fixed: GetOrSetOptions = Object.freeze({ ...rest, tags: Object.freeze([...(tags as readonly string[])]) });
    return () => fixed;
  }
  return (self, args) => ({ ...base, tags: tagsOf(self, args) });
}

/** @internal The function that reads through the cache: `this` is passed on to `fn`. */
export function readThrough<A extends unknown[], R>(
  fn: (...args: A) => R | Promise<R>,
  cacheOf: CacheOf,
  keyOf: KeyOf<A>,
  optionsOf: (self: unknown, args: A) => GetOrSetOptions,
  selfForKeys: boolean,
): (this: unknown, ...args: A) => Promise<R> {
  // `async` so that a key that cannot be built, or a synchronous throw of `fn`, rejects instead of throwing.
  return async function (this: unknown, ...args: A): Promise<R> {
    const self = selfForKeys ? this : undefined;
    const cache = cacheOf(this);
    const key = keyOf(self, args);
    // An async loader whatever `fn` is, so a synchronous throw is a rejection however getOrSet calls it.
    return cache.getOrSet<R>(key, async () => fn.apply(this, args), optionsOf(self, args));
  };
}

/** @internal The targets of one call, filled before the write runs. */
export interface WritePlan<A extends unknown[]> {
  keys: ListOf<A> | undefined;
  patterns: ListOf<A> | undefined;
  tags: ListOf<A> | undefined;
  /** Where the result is cached, if anywhere, and how. */
  key: KeyOf<A> | undefined;
  setOptions: (self: unknown, args: A) => SetOptions;
  reason: (self: unknown) => string;
}

/** @internal `name` names the writer in the invalidation log. */
export function writePlan<A extends unknown[]>(
  options: WriteThroughOptions<A>,
  name: (self: unknown) => string,
  what: string,
): WritePlan<A> {
  const { key, prefix, params, tags, invalidate, reason, ...setRest } = options;
  if (invalidate !== undefined && (typeof invalidate !== 'object' || invalidate === null)) {
    throw new TypeError(`${what} invalidate must be { keys?, patterns?, tags? }, got ${describe(invalidate)}`);
  }
  if (reason !== undefined && typeof reason !== 'string') throw new TypeError(`${what} reason must be a string`);
  const keyOptions: KeyTemplateOptions = { ...(prefix === undefined ? {} : { prefix }), ...(params === undefined ? {} : { params }) };
  return {
    keys: listPlan(invalidate?.keys, params, 'key', `${what} invalidate.keys`),
    patterns: listPlan(invalidate?.patterns, params, 'pattern', `${what} invalidate.patterns`),
    tags: listPlan(invalidate?.tags, params, 'tag', `${what} invalidate.tags`),
    // Unscoped: a write's key is its template (after any prefix), never headed by the function's name.
    key: key === undefined ? undefined : keyPlan(key, keyOptions, () => '', false),
    setOptions: optionsPlan({ ...setRest, ...(tags === undefined ? {} : { tags }), ...(params === undefined ? {} : { params }) }, what),
    reason: reason === undefined ? (self) => `write:${name(self)}` : () => reason,
  };
}

/** @internal Runs the write, then brings the cache up to date; a failed write changes nothing in the cache. */
export function writeThen<A extends unknown[], R>(
  fn: (...args: A) => R | Promise<R>,
  cacheOf: CacheOf,
  plan: WritePlan<A>,
  selfForKeys: boolean,
): (this: unknown, ...args: A) => Promise<R> {
  return async function (this: unknown, ...args: A): Promise<R> {
    const self = selfForKeys ? this : undefined;
    const cache = cacheOf(this);
    // Filled before the write: a template that cannot be filled must fail before the write happens, not after
    // it, when the caller could no longer tell whether it took place.
    const keys = plan.keys?.(self, args) ?? [];
    const patterns = plan.patterns?.(self, args) ?? [];
    const tags = plan.tags?.(self, args) ?? [];
    const key = plan.key?.(self, args);
    const setOptions = key === undefined ? undefined : plan.setOptions(self, args);

    const meta = { reason: plan.reason(self) };
    const write = async (): Promise<R> => {
      const result = await fn.apply(this, args);
      const deletes = keys.filter((k) => k !== key);
      if (deletes.length > 0 || tags.length > 0) {
        await cache.invalidate({ ...(deletes.length > 0 ? { keys: deletes } : {}), ...(tags.length > 0 ? { tags } : {}) }, meta);
      }
      // `invalidate` takes one pattern per call.
      await Promise.all(patterns.map((pattern) => cache.invalidatePattern(pattern, meta)));
      return result;
    };
    if (key === undefined) return write();
    // The write runs as a forced load of the result's key, so the result is fenced from before the write began:
    // if another write or invalidation of the key lands meanwhile (in this process or another), this older
    // result is returned but not cached. One of its own invalidations that covers the key fences it too: then
    // the key is simply left empty, never stale.
    return cache.getOrSet<R>(key, write, { ...setOptions, forceRefresh: true });
  };
}

// ---------------------------------------------------------------------------------------------------------
// Public wrappers.

function checkCache(cache: unknown, what: string): Cache {
  if (typeof cache !== 'object' || cache === null || typeof (cache as { getOrSet?: unknown }).getOrSet !== 'function') {
    throw new TypeError(`${what}: cache must be a Cache, got ${describe(cache)}`);
  }
  return cache as Cache;
}

function checkFn(fn: unknown, what: string): void {
  if (typeof fn !== 'function') throw new TypeError(`${what}: fn must be a function, got ${describe(fn)}`);
}

/** The default key head of a function: its name as one segment, so no other name's keys can match it. */
function nameHead(fn: { name: string }, what: string): string {
  // Two anonymous functions would share every entry: a wrong answer, not just a wasted one.
  if (fn.name === '') throw new TypeError(`${what}: an anonymous function needs a prefix (or a key) to name its entries`);
  return escapeSegment(fn.name) + ':';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? JSON.stringify(value) : typeof value;
}

function attach<A extends unknown[], R>(
  call: (this: unknown, ...args: A) => Promise<R>,
  cache: Cache,
  keyOf: KeyOf<A>,
  name: string,
): CachedFunction<A, R> {
  const wrapped = call as CachedFunction<A, R>;
  Object.defineProperty(wrapped, 'name', { value: name, configurable: true });
  wrapped.key = (...args: A) => keyOf(undefined, args);
  wrapped.invalidate = async (...args: A) => cache.delete(keyOf(undefined, args));
  return wrapped;
}

/**
 * Cache-aside (lazy loading): a call returns the cached result of the same arguments, or runs `fn` and caches
 * what it returns, through `cache.getOrSet` — so concurrent calls with the same arguments share one `fn` call,
 * and every `getOrSet` option (`grace`, `hardTimeout`, `negativeTtl`, `lease`...) applies.
 *
 * The wrapper is asynchronous even when `fn` is not (a store may have to be read): a synchronous `fn` comes
 * back as a function returning a Promise, and what it throws becomes a rejection. Failures are not cached
 * unless `negativeTtl` says so. `this` is passed on to `fn`, but is not part of the key.
 *
 * @example
 * const getUser = cacheAside(cache, (userId: string) => db.users.find(userId), {
 *   key: 'user:{userId}',
 *   params: ['userId'],
 *   ttl: '5m',
 *   tags: ['users', 'user:{userId}'],
 * });
 * await getUser('123');            // runs the query, caches under 'user:123'
 * await getUser('123');            // from the cache
 * await getUser.invalidate('123'); // the next call runs the query again
 *
 * @example
 * // Named placeholders also read the fields of a single object argument.
 * const getOrders = cacheAside(cache, async ({ userId, page }: { userId: string; page: number }) => api.orders(userId, page), {
 *   key: 'orders:{userId}:{page}',
 * });
 */
export function cacheAside<A extends unknown[], R>(cache: Cache, fn: (...args: A) => R | Promise<R>, options: CacheAsideOptions<A> = {}): CachedFunction<A, R> {
  checkCache(cache, 'cacheAside');
  checkFn(fn, 'cacheAside');
  // The name is only needed when neither a key nor a prefix names the entries.
  const head = options.key === undefined && options.prefix === undefined ? nameHead(fn, 'cacheAside') : '';
  const keyOf = keyPlan(options.key, options, () => head, false);
  const call = readThrough(fn, () => cache, keyOf, optionsPlan(options, 'cacheAside'), false);
  return attach(call, cache, keyOf, fn.name);
}

/**
 * Cache-aside for hot keys: only one caller computes a missing value, in this process and — through a lease
 * in the first shared store — across every process sharing it; the others wait for that value.
 *
 * @example
 * const dashboardStats = stampedeProtect(cache, () => computeExpensiveStats(), {
 *   key: 'dashboard:stats',
 *   ttl: '1m',
 *   lockTtl: '60s',
 * });
 * // 100 concurrent requests: computeExpensiveStats runs once, all 100 get its result.
 * await Promise.all(Array.from({ length: 100 }, () => dashboardStats()));
 */
export function stampedeProtect<A extends unknown[], R>(cache: Cache, fn: (...args: A) => R | Promise<R>, options: StampedeOptions<A> = {}): CachedFunction<A, R> {
  const { lockTtl, lockWait, ...rest } = options;
  const lease = { ...(lockTtl === undefined ? {} : { ttl: lockTtl }), ...(lockWait === undefined ? {} : { wait: lockWait }) };
  return cacheAside(cache, fn, { ...rest, lease });
}

/**
 * Caches a function's results by its arguments, under a key prefix of its own, so `clear()` removes all of
 * them and nothing else. Without `key`, the key is the prefix followed by a hash of the arguments' canonical
 * JSON (object keys sorted), so any JSON-like arguments work; arguments that cannot be hashed (functions,
 * class instances the codec does not know) make the call reject with a `TypeError`.
 *
 * Two functions with the same name share the default prefix, and so their entries: give one a `prefix`.
 * An anonymous function needs one.
 *
 * @example
 * async function aggregateAnalytics(): Promise<Analytics> { return db.aggregate(); }
 * const computeAnalytics = memoize(cache, aggregateAnalytics, { ttl: '60s' }); // key 'aggregateAnalytics:<hash>'
 *
 * async function generateReport(period: string, region: string): Promise<Report> { ... }
 * const getReport = memoize(cache, generateReport, { ttl: '5m', key: '{period}:{region}', params: ['period', 'region'] });
 * await getReport('2026-q1', 'eu'); // key 'generateReport:2026-q1:eu'
 * await getReport.clear();          // every report, and nothing of computeAnalytics
 *
 * @example
 * // An inline arrow function has no name: give it a prefix.
 * const square = memoize(cache, (n: number) => n * n, { prefix: 'square:' });
 */
export function memoize<A extends unknown[], R>(cache: Cache, fn: (...args: A) => R | Promise<R>, options: MemoizeOptions<A> = {}): MemoizedFunction<A, R> {
  checkCache(cache, 'memoize');
  checkFn(fn, 'memoize');
  let head: string;
  if (options.prefix === undefined) {
    head = nameHead(fn, 'memoize');
  } else {
    assertLiteralPrefix(options.prefix, 'memoize prefix');
    head = options.prefix;
  }
  const { prefix: _prefix, ...rest } = options;
  const keyOf = keyPlan(options.key, rest, () => head, true);
  const call = readThrough(fn, () => cache, keyOf, optionsPlan(options, 'memoize'), false);
  const memoized = attach(call, cache, keyOf, fn.name) as MemoizedFunction<A, R>;
  const pattern = head + '*';
  memoized.clear = () => cache.invalidatePattern(pattern, { reason: `memoize.clear:${head}` });
  return memoized;
}

/**
 * Write-through: runs the write `fn`, then — only when it succeeds — invalidates what it makes out of date
 * (keys, patterns and tags filled from its arguments) and, when `key` is given, caches its result there.
 * Resolves to `fn`'s result. A failing write invalidates nothing and rejects with its error.
 *
 * Every template is filled before the write runs, so a missing argument rejects with a `TypeError` without
 * writing. A rejection after the write (a closed cache, a store that cannot list keys for a pattern, a
 * result the codec cannot hold) means the cache could not be updated, not that the write failed.
 *
 * @example
 * const updateUser = writeThrough(cache, (userId: string, data: UserPatch) => db.users.update(userId, data), {
 *   params: ['userId'],
 *   key: 'user:{userId}',
 *   ttl: '5m',
 *   invalidate: { patterns: ['users:list:*'], tags: ['user:{userId}'] },
 * });
 * await updateUser('123', { name: 'Ada' }); // updates, drops the lists and tagged entries, caches 'user:123'
 */
export function writeThrough<A extends unknown[], R>(cache: Cache, fn: (...args: A) => R | Promise<R>, options: WriteThroughOptions<A> = {}): (...args: A) => Promise<R> {
  checkCache(cache, 'writeThrough');
  checkFn(fn, 'writeThrough');
  const name = fn.name === '' ? 'anonymous' : fn.name;
  const call = writeThen(fn, () => cache, writePlan(options, () => name, 'writeThrough'), false);
  Object.defineProperty(call, 'name', { value: fn.name, configurable: true });
  return call;
}
