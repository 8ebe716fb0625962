import type { CacheResult, GetOptions, InvalidateOptions, InvalidateSelection, PatternOptions, SetManyEntry } from './api-types.js';
import { Loads, type Loader } from './compute/loads.js';
import type { LoadReport } from './compute/load.js';
import { planOf } from './compute/plan.js';
import type { BatchLoader, BatchLoaderContext, GetOrSetOptions, GetOrSetResult, LeaseOptions, LoaderContext, SetOptions } from './compute/types.js';
import { Engine, ENTRY_OVERHEAD_BYTES } from './engine.js';
import { CacheError, isCacheError } from './errors.js';
import type { CacheEventName, CacheListener } from './events.js';
import type { InvalidationEvent } from './freshness/log.js';
import type { PatternMatcher } from './freshness/pattern.js';
import { Patterns } from './freshness/patterns.js';
import { checkTagList, requireArray, type InvalidationRule } from './freshness/rules.js';
import { escapeSegment } from './keys/escape.js';
import { assertValidKey } from './keys/validate.js';
import type { CacheOptions } from './options.js';
import { statsOf, type BusStats, type CacheStats, type StoreTierStats, type TierStats } from './stats.js';
import { healthOf, type HealthOptions, type HealthReport } from './observe/health.js';
import { Monitor, type MonitorOptions } from './observe/monitor.js';
import { reportOf, type CacheReport } from './observe/report.js';
import type { InstanceInfo } from './fleet/info.js';
import type { FleetWarmStatus } from './fleet/warm-record.js';
import type { RequestWarmOptions, ServableWarmer, ServeWarmOptions } from './fleet/warms.js';
import { metricsOf, type MetricsSnapshot } from './observe/snapshot.js';
import { Reader, type KeyInfo } from './tiers/reader.js';
import { Writer } from './tiers/writer.js';
import { deadlineOf } from './ttl.js';

export type { BatchLoader, BatchLoaderContext, BusStats, CacheStats, GetOrSetOptions, GetOrSetResult, InvalidationEvent, InvalidationRule, KeyInfo, LeaseOptions, LoaderContext, SetOptions, StoreTierStats, TierStats };
export { ENTRY_OVERHEAD_BYTES };

export type { CacheResult, GetOptions, InvalidateOptions, InvalidateSelection, PatternOptions, PatternProgress, SetManyEntry } from './api-types.js';

/** The rooms a cache and its namespace views share. */
class Rooms {
  readonly reader: Reader;
  readonly writer: Writer;
  readonly loads: Loads;
  readonly patterns: Patterns;

  constructor(readonly engine: Engine) {
    this.reader = new Reader(engine);
    this.writer = new Writer(engine);
    this.loads = new Loads(engine, this.reader, this.writer);
    this.patterns = new Patterns(engine);
  }
}

class ViewInit {
  constructor(
    readonly rooms: Rooms,
    readonly ns: string,
  ) {}
}

/** getOrSet options that act per key and so have no meaning for a batch load. */
const BATCH_REFUSED = ['lease', 'softTimeout', 'refreshAhead', 'failSafeBackoff', 'negativeTtl'] as const;
/**
 * Most full keys a namespace view remembers, so that a hit builds no string: as many as the memory tier holds
 * (a view's working set fits), at most this many; the oldest is forgotten first.
 */
const VIEW_KEYS_MAX = 65_536;

function closedError(): CacheError {
  return new CacheError('E_CLOSED', 'the cache is closed');
}

/**
 * A cache: a bounded in-process memory tier in front of optional shared stores, with one codec for every
 * tier, so what you put in is exactly what you get back. This class is the public API only; the work is done
 * by the rooms it holds (see docs/architecture.md).
 *
 * @example
 * const cache = new Cache({ defaultTtl: '1h', memory: { maxEntries: 50_000 } });
 * await cache.set('user:1', { name: 'Ada' }, { ttl: '5m', tags: ['users'] });
 * const user = await cache.get<{ name: string }>('user:1');
 */
export class Cache {
  readonly #rooms: Rooms;
  readonly #engine: Engine;
  readonly #reader: Reader;
  /** Key prefix of this view inside the cache: '' for the cache itself, 'name:' for a namespace. */
  readonly #ns: string;
  /** A namespace view's full keys by the caller's key (root cache: unused). */
  readonly #fulls: Map<string, string> | undefined;
  /** The last per-call options object found valid: a caller that reuses one pays for its check once. */
  #checked: object | undefined;
  readonly #viewKeysKept: number;

  constructor(options: CacheOptions = {}) {
    if (options instanceof ViewInit) {
      this.#rooms = options.rooms;
      this.#ns = options.ns;
      this.#fulls = new Map();
    } else {
      this.#rooms = new Rooms(new Engine(options));
      this.#ns = '';
      this.#fulls = undefined;
    }
    this.#engine = this.#rooms.engine;
    this.#reader = this.#rooms.reader;
    this.#viewKeysKept = Math.min(this.#engine.options.maxEntries, VIEW_KEYS_MAX);
  }

  /**
   * Resolves once the cache listens to its bus (immediately without one). Rejects with `BusTimeoutError` when
   * the bus does not answer within its connect timeout, or `CacheBackendError` when it refuses; the cache works
   * meanwhile, and the bus keeps trying to subscribe. With `coherence: 'tracking'`, it also waits for Redis to
   * track this cache's keys (or rejects with `BusTimeoutError` after `coherence.connectTimeout`).
   *
   * @example
   * await cache.ready();
   */
  ready(): Promise<void> {
    const tracking = this.#engine.tracking;
    return tracking === undefined ? this.#engine.sync.ready : Promise.all([this.#engine.sync.ready, tracking.ready]).then(() => undefined);
  }

  /** The namespace path of this view (`''` for the cache itself). */
  get namespacePath(): string {
    return this.#ns;
  }

  /**
   * The cached value, or `options.default` (else `undefined`) when the key is missing or expired.
   * A memory-tier hit looks the key up once, awaits nothing and allocates nothing but the returned promise.
   *
   * @example
   * const user = await cache.get<User>('user:1', { default: guest });
   */
  get<T = unknown>(key: string, options?: GetOptions<T>): Promise<T | undefined> {
    const engine = this.#engine;
    if (!engine.closed && typeof key === 'string') {
      const full = this.#fulls === undefined ? key : this.#viewKey(key);
      const looked = this.#reader.hot(full);
      if (looked >= 0) return Promise.resolve(engine.memory.valueAt(looked) as T);
      return this.#getSlow(key, options, looked);
    }
    return this.#getSlow(key, options, undefined);
  }

  async #getSlow<T>(key: string, options: GetOptions<T> | undefined, looked: number | undefined): Promise<T | undefined> {
    const full = this.#validKey(key);
    const allowStale = options?.stale === true;
    const found = looked === undefined ? await this.#reader.fresh(full, allowStale) : await this.#reader.read(full, allowStale, looked);
    return found === undefined ? options?.default : (found.value as T);
  }

  /**
   * The cached value, or the loader's, cached (seed 000 `get_or_calculate`, seed 001 `get_or_compute`).
   *
   * - Single-flight: concurrent callers for one missing key in this process share one loader call and its
   *   value or rejection. With `lease`, one call across every instance sharing the first store.
   * - Grace: a value past its TTL (or soft-expired by `expireTags`) but within `grace` is returned at once
   *   while one refresh runs in the background (or after `softTimeout`, if the refresh is not done by then);
   *   when the loader fails, it is returned instead of the error and the loader rests for `failSafeBackoff`.
   * - `refreshAhead`: past that fraction of the TTL, a read starts one background refresh.
   * - `hardTimeout`: the loader's signal is aborted and callers get `LoaderTimeoutError` (or the stale value).
   * - Fenced: if the key is written or invalidated (directly, by pattern, by clear, by another instance over
   *   the bus, or through one of its tags) while the loader runs, its result is returned to the waiting callers
   *   but not cached, so a value computed from data read before an invalidation is never written after it.
   *
   * Options are checked on every call, hit or miss. A memory-tier hit looks the key up once, awaits nothing and
   * allocates nothing but the returned promise.
   *
   * @example
   * const forecast = await cache.getOrSet(key, () => engine.projectBalance(userId, 30), { ttl: '1h', tags: [`user:${userId}`], grace: '10m' });
   */
  getOrSet<T>(key: string, loader: Loader<T>, options?: GetOrSetOptions): Promise<T> {
    const engine = this.#engine;
    if (engine.closed || typeof key !== 'string' || typeof loader !== 'function') return this.#getOrLoad(key, loader, options ?? {}, undefined, undefined);
    if (options !== undefined && options !== this.#checked) {
      try {
        this.#checkOptions(options);
      } catch (error) {
        // What #checkOptions throws is a TypeError or a CacheError.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        return Promise.reject(error);
      }
    }
    if (options?.forceRefresh === true) return this.#getOrLoad(key, loader, options, undefined, undefined);
    const full = this.#fulls === undefined ? key : this.#viewKey(key);
    const looked = this.#reader.hot(full);
    if (looked < 0) return this.#getOrLoad(key, loader, options ?? {}, undefined, looked);
    const value = engine.memory.valueAt(looked) as T;
    const ahead = options?.refreshAhead ?? engine.options.compute.refreshAhead;
    if (ahead !== undefined && this.#rooms.loads.dueAt(looked, ahead) <= engine.clock.now()) this.#rooms.loads.refreshAhead(key, full, loader, options ?? {}, value);
    return Promise.resolve(value);
  }

  /** Throws what a miss would throw for these options, so a bad option fails on a hit too. */
  #checkOptions(options: GetOrSetOptions): void {
    if (typeof options !== 'object' || options === null) throw new TypeError('getOrSet options must be an object');
    planOf(options, this.#engine.options.compute);
    if (options.ttl !== undefined) deadlineOf(options.ttl, 0, 'ttl');
    if (options.tags !== undefined) checkTagList(options.tags);
    this.#checked = options;
  }

  async #getOrLoad<T>(key: string, loader: Loader<T>, options: GetOrSetOptions, report: LoadReport | undefined, looked: number | undefined): Promise<T> {
    if (typeof loader !== 'function') throw new TypeError('getOrSet needs a loader function');
    const full = this.#validKey(key);
    return this.#rooms.loads.getOrLoad(key, full, loader, options, report, looked);
  }

  /**
   * `getOrSet` that never throws (seed 002's `CacheResult`): the value or the error, where the value came from
   * (`'memory'`, a store's name, or `'loader'`), whether it was stale, and how long the call took.
   *
   * @example
   * const { ok, value, source } = await cache.getOrSetResult('fx:usd', fetchRate, { ttl: '5m' });
   */
  async getOrSetResult<T>(key: string, loader: Loader<T>, options?: GetOrSetOptions): Promise<GetOrSetResult<T>> {
    const started = performance.now();
    const report: LoadReport = { source: undefined, stale: false, joined: false };
    try {
      const value = await this.#getOrLoad(key, loader, options ?? {}, report, undefined);
      return { ok: true, value, error: undefined, source: report.source, stale: report.stale, joined: report.joined, durationMs: performance.now() - started };
    } catch (error) {
      return { ok: false, value: undefined, error, source: undefined, stale: false, joined: report.joined, durationMs: performance.now() - started };
    }
  }

  /**
   * The values of `keys`, loading the missing ones with one `loadMany` call: cached values come from the tiers
   * (one batched read per store), keys another call is already loading join that load, and the rest go to
   * `loadMany(missingKeys)`, which returns their values in the same order (an array) or by key (a `Map`; keys
   * it leaves out come back `undefined`, uncached). The results are written with one batched write per store,
   * each key fenced in this process as `getOrSet` fences it (an invalidation here or over the bus).
   *
   * It serves fresh values only and takes `ttl`, `tags`, `grace` (for what it writes), `forceRefresh` and
   * `hardTimeout`; the per-key behaviours of `getOrSet` (`lease`, `softTimeout`, `refreshAhead`,
   * `failSafeBackoff`, `negativeTtl`) are refused with a TypeError rather than ignored, and their cache-wide
   * defaults do not apply to it: use `getOrSet` per key for those.
   *
   * @example
   * const users = await cache.getOrSetMany(ids.map((id) => `user:${id}`), (keys) => db.usersByKeys(keys), { ttl: '5m' });
   */
  async getOrSetMany<T>(keys: readonly string[], loadMany: BatchLoader<T>, options: GetOrSetOptions = {}): Promise<(T | undefined)[]> {
    requireArray(keys, 'getOrSetMany expects an array of keys');
    if (typeof loadMany !== 'function') throw new TypeError('getOrSetMany needs a loader function');
    const ignored = BATCH_REFUSED.filter((name) => options[name] !== undefined);
    if (ignored.length > 0) throw new TypeError(`getOrSetMany does not take ${ignored.join(', ')}: use getOrSet per key for those`);
    const fulls = keys.map((key) => this.#validKey(key));
    return this.#rooms.loads.many(keys, fulls, loadMany, options);
  }

  /**
   * Stores a value in every tier. Returns `false` when nothing was stored: the TTL is `0` or a past `Date`
   * (any previous value of the key is removed, since it is now out of date), or no tier could take it.
   * Throws `SerializationError` for values the codec cannot hold, `TypeError` for a bad TTL,
   * `InvalidKeyError` for a bad key; nothing is stored then. A store that fails is skipped (and the write
   * replayed when it is back) unless the cache is `strict`. Resolves when the stores have it; the bus message
   * to other instances goes out beside it and never delays it.
   *
   * @example
   * await cache.set('user:1', user, { ttl: '10m', tags: ['users'] });
   */
  async set(key: string, value: unknown, options: SetOptions = {}): Promise<boolean> {
    const full = this.#validKey(key);
    const writer = this.#rooms.writer;
    const prepared = writer.prepare(full, value, options);
    const stamps = prepared.tags === undefined ? undefined : await this.#engine.stamps.forWrite(prepared.tags);
    return writer.store(full, value, prepared, stamps);
  }

  /**
   * True when the key holds a live, fresh value in any tier. Does not count as a read.
   *
   * @example
   * if (!(await cache.has('report:2026'))) await rebuild();
   */
  async has(key: string): Promise<boolean> {
    const info = await this.#reader.locate(this.#validKey(key));
    return info !== undefined && !info.stale;
  }

  /**
   * Removes the key from every tier. Returns true when a tier held a live value.
   *
   * @example
   * await cache.delete('user:1');
   */
  async delete(key: string): Promise<boolean> {
    return this.#rooms.writer.deleteOne(this.#validKey(key));
  }

  /**
   * The values of `keys`, in order, `undefined` for the missing ones. Stores are asked once per tier, for the misses only.
   *
   * @example
   * const [a, b] = await cache.getMany(['user:1', 'user:2']);
   */
  async getMany<T = unknown>(keys: readonly string[]): Promise<(T | undefined)[]> {
    requireArray(keys, 'getMany expects an array of keys');
    const fulls = keys.map((key) => this.#validKey(key));
    return (await this.#reader.many(fulls)).map((found) => (found === undefined ? undefined : (found.value as T)));
  }

  /**
   * Stores several entries. Every key, TTL and value is checked and encoded first: if any is bad, the call
   * throws and stores none of them. Each store gets one batched write. Returns one boolean per entry, as
   * `set` would.
   *
   * @example
   * await cache.setMany([{ key: 'a', value: 1 }, { key: 'b', value: 2, ttl: '1m' }], { tags: ['batch'] });
   */
  async setMany(entries: readonly SetManyEntry[], options: SetOptions = {}): Promise<boolean[]> {
    requireArray(entries, 'setMany expects an array of { key, value, ttl?, tags? }');
    const writer = this.#rooms.writer;
    const items = entries.map((entry: SetManyEntry, i) => {
      if (typeof entry !== 'object' || entry === null) throw new TypeError(`setMany entry ${i} must be an object`);
      const full = this.#validKey(entry.key);
      const merged: SetOptions = { ...options };
      if (entry.ttl !== undefined) merged.ttl = entry.ttl;
      if (entry.tags !== undefined) merged.tags = entry.tags;
      return { full, value: entry.value, prepared: writer.prepare(full, entry.value, merged) };
    });
    const allTags = [...new Set(items.flatMap((item) => item.prepared.tags ?? []))];
    const stamps = allTags.length === 0 ? undefined : await this.#engine.stamps.forWrite(allTags);
    return writer.many(items, stamps);
  }

  /**
   * Removes several keys from every tier (one batched call per store); returns how many were live somewhere.
   *
   * @example
   * await cache.deleteMany(['user:1', 'user:2']);
   */
  async deleteMany(keys: readonly string[]): Promise<number> {
    requireArray(keys, 'deleteMany expects an array of keys');
    return this.#rooms.writer.deleteMany(keys.map((key) => this.#validKey(key)));
  }

  /**
   * Removes every entry of this cache (or, on a namespace view, of that namespace only) from every tier and
   * returns how many the memory tier held (stores cannot count cheaply). Refuses unless called as
   * `clear({ confirm: true })`. A namespace view needs stores that can list keys (that offer `keys`). Recorded
   * in the invalidation log (kind `clear`) with the `reason` and `triggeredBy` given.
   *
   * @example
   * await cache.namespace('reports').clear({ confirm: true });
   */
  async clear(options?: { confirm?: boolean } & InvalidateOptions): Promise<number> {
    if (options?.confirm !== true) {
      throw new CacheError('E_NOT_CONFIRMED', 'clear() removes every entry: call clear({ confirm: true }) to do it');
    }
    const engine = this.#requireOpen();
    engine.metrics.invalidated(this.#ns === '' ? 'clear' : 'namespace', 'local', options.reason);
    const logged = (count: number): number => (engine.emitter.emit('invalidate', engine.log.record({ kind: 'clear', reason: options.reason, triggeredBy: options.triggeredBy, count, ...(this.#ns === '' ? {} : { pattern: `${this.#ns}*` }) })), count);
    if (this.#ns === '') return logged(await this.#rooms.writer.clearAll());
    const unlistable = engine.stack.unlistable();
    if (unlistable !== undefined) {
      throw new CacheError('E_UNSUPPORTED', `${unlistable.name}: cannot list keys, so namespace ${JSON.stringify(this.#ns)} cannot be cleared there`);
    }
    return logged(await this.#rooms.writer.clearNamespace(this.#ns));
  }

  /**
   * Adds a rule; returns a function that removes it. Rules belong to this instance (they are code, not data).
   *
   * @example
   * cache.addInvalidationRule({ whenResource: 'transaction', invalidateTags: ['user:{userId}'], invalidatePatterns: ['forecast:{userId}:*'] });
   * await cache.invalidateByWrite('transaction', 't-1', { userId: 'user_123' });
   */
  addInvalidationRule(rule: InvalidationRule): () => void {
    return this.#engine.rules.add(rule);
  }

  /**
   * Tells the cache that a resource was written (seed 001): invalidates the tags `<resourceType>` and
   * `<resourceType>:<resourceId>`, plus whatever the rules for that resource name. Resolves to the number of
   * keys removed by patterns (tags are lazy and not counted).
   *
   * @example
   * await cache.invalidateByWrite('user', 42);
   */
  async invalidateByWrite(resourceType: string, resourceId?: string | number, context: Readonly<Record<string, string | number>> = {}, options: InvalidateOptions = {}): Promise<number> {
    if (typeof resourceType !== 'string' || resourceType.length === 0) throw new TypeError('resourceType must be a non-empty string');
    this.#requireOpen();
    const { tags, patterns } = this.#engine.rules.forWrite(resourceType, resourceId, context);
    return this.invalidate(
      { tags, ...(patterns.length === 0 ? {} : { patterns }) },
      { reason: options.reason ?? `write:${resourceType}`, ...(options.triggeredBy === undefined ? {} : { triggeredBy: options.triggeredBy }) },
    );
  }

  /**
   * Records that `key` is derived from `dependsOn` (seed 001): invalidating any of those with
   * `invalidateWithDependencies` also invalidates `key`. Kept in the first store when it can list keys, so
   * every instance sees the same graph; the edges live `ttl` (default: the cache's default TTL).
   *
   * @example
   * await cache.addDependency('report:q1', ['ledger:q1', 'fx:q1']);
   */
  async addDependency(key: string, dependsOn: string | readonly string[], options: { ttl?: number | string } = {}): Promise<void> {
    const full = this.#validKey(key);
    // Anything but an array is taken as one key, so a bad one gets the key's error rather than a TypeError.
    const sources = (Array.isArray(dependsOn) ? [...(dependsOn as readonly string[])] : [dependsOn as string]).map((source) => this.#validKey(source));
    if (sources.length === 0) throw new TypeError('dependsOn must name at least one key');
    const ttl = options.ttl === undefined ? this.#engine.options.defaultTtlMs : deadlineOf(options.ttl, 0, 'ttl');
    if (ttl <= 0) throw new TypeError('a dependency ttl must be greater than 0');
    await this.#engine.dependencies.add(full, sources, ttl);
  }

  /**
   * Removes `key` and every key that depends on it (transitively with `recursive`, the default; cycles are
   * safe). Resolves to the number of keys that held a live value.
   *
   * @example
   * await cache.invalidateWithDependencies('ledger:q1', { reason: 'restated' });
   */
  async invalidateWithDependencies(key: string, options: InvalidateOptions & { recursive?: boolean } = {}): Promise<number> {
    const all = await this.#engine.dependencies.closure(this.#validKey(key), options.recursive !== false);
    const writer = this.#rooms.writer;
    const live = await Promise.all(all.map((full) => writer.deleteOne(full)));
    const count = live.filter(Boolean).length;
    this.#record('keys', options, { keys: all, count });
    return count;
  }

  /**
   * Hard tag invalidation: once this resolves, no reader (of any tier, in any instance that shares the
   * stores) gets an entry written with one of these tags before the call; other instances' memory tiers
   * follow within the bus delivery time. Costs one write per tag, whatever the number of tagged entries.
   * Resolves to the number of tags; entries are invalidated lazily and not counted.
   *
   * @example
   * await cache.invalidateTags(['user:42'], { reason: 'profile updated' });
   */
  async invalidateTags(tags: readonly string[], options: InvalidateOptions = {}): Promise<number> {
    const list = checkTagList(tags);
    const engine = this.#requireOpen();
    const expanded = engine.rules.expand(list);
    const patterns = expanded.patterns.map((pattern) => this.#rooms.patterns.check(pattern, false, this.#ns));
    await engine.stamps.invalidate(expanded.tags, false);
    for (const pattern of patterns) await this.#rooms.patterns.removeKeys(pattern);
    this.#record('tags', options, { tags: expanded.tags, count: undefined });
    return list.length;
  }

  /**
   * Soft tag invalidation: entries of these tags become stale. `get` no longer returns them unless called
   * with `{ stale: true }` (a caller that prefers a stale answer to none); a new `set` replaces them.
   *
   * @example
   * await cache.expireTags(['prices']);
   */
  async expireTags(tags: readonly string[], options: InvalidateOptions = {}): Promise<number> {
    const list = checkTagList(tags);
    await this.#requireOpen().stamps.invalidate(list, true);
    this.#record('expire-tags', options, { tags: list, count: undefined });
    return list.length;
  }

  /**
   * Removes every key of this cache (view) matching a glob: `*` is any run, `?` one character, everything else
   * literal; matched in time linear in the key length for a given pattern, whatever the pattern. Exact on the
   * memory tier; on stores through their non-blocking key listing (`SCAN` on Redis, on every master of a
   * cluster). A store that cannot list keys makes the call fail with `E_UNSUPPORTED` before anything is
   * removed; a pattern that is too long or holds control characters with `InvalidPatternError`. A pattern of
   * only `*` needs `{ confirm: true }`. Resolves to the number of distinct keys removed.
   *
   * @example
   * await cache.invalidatePattern('report:2026-*', { reason: 'restatement' });
   */
  async invalidatePattern(pattern: string, options: PatternOptions = {}): Promise<number> {
    this.#requireOpen();
    const count = await this.#rooms.patterns.remove(this.#rooms.patterns.check(pattern, options.confirm === true, this.#ns), options.onProgress);
    this.#record('pattern', options, { pattern, count });
    return count;
  }

  /**
   * The seed's combined call: removes the union of what `keys`, `pattern`/`patterns` and `tags` select.
   * Resolves to the number of keys removed by keys and patterns (tags are lazy and not counted).
   *
   * @example
   * await cache.invalidate({ keys: ['a', 'b'], pattern: 'report:*', tags: ['users'] }, { reason: 'import' });
   */
  async invalidate(selection: InvalidateSelection, options: PatternOptions = {}): Promise<number> {
    if (typeof selection !== 'object' || selection === null) throw new TypeError('invalidate expects { keys?, pattern?, patterns?, tags? }');
    const { keys, pattern, patterns: more, tags } = selection;
    if (keys === undefined && pattern === undefined && more === undefined && tags === undefined) {
      throw new TypeError('invalidate needs at least one of keys, pattern, patterns or tags');
    }
    if ('userId' in selection) throw new TypeError('invalidate no longer takes userId: ForecastCache.invalidate({ userId }) does that');
    if (keys !== undefined) requireArray(keys, 'keys must be an array of keys');
    if (more !== undefined) requireArray(more, 'patterns must be an array of patterns');
    const engine = this.#requireOpen();
    const rooms = this.#rooms;
    const given = [...(pattern === undefined ? [] : [pattern]), ...(more ?? [])];
    const matchers: PatternMatcher[] = given.map((p) => rooms.patterns.check(p, options.confirm === true, this.#ns));
    const tagList = tags === undefined ? undefined : engine.rules.expand(checkTagList(tags));
    if (tagList !== undefined) for (const p of tagList.patterns) matchers.push(rooms.patterns.check(p, false, this.#ns));
    const fulls = keys === undefined ? [] : keys.map((key) => this.#validKey(key));

    // The keys go first, in one batch: a pattern run after them cannot find (and count) them again.
    const unique = [...new Set(fulls)];
    let count = unique.length === 0 ? 0 : unique.length === 1 ? Number(await rooms.writer.deleteOne(unique[0] as string)) : await rooms.writer.deleteMany(unique);
    // Patterns one after another: what one removed is gone for the next, so nothing is counted twice.
    for (const matcher of matchers) count += await rooms.patterns.remove(matcher, options.onProgress);
    if (tagList !== undefined) await engine.stamps.invalidate(tagList.tags, false);
    const event: Partial<InvalidationEvent> = { count };
    if (keys !== undefined) event.keys = keys;
    if (given.length > 0) event.pattern = given.join(' | ');
    if (tagList !== undefined) event.tags = tagList.tags;
    this.#record(tagList !== undefined && keys === undefined && matchers.length === 0 ? 'tags' : matchers.length > 0 ? 'pattern' : 'keys', options, event);
    return count;
  }

  /**
   * The most recent invalidations (at most `limit`, default 100), oldest first. Kept in memory (the last
   * 1,000) and, when the first store offers a shared log (Redis), in a capped stream that every instance
   * reads: then the history covers all of them.
   *
   * @example
   * const recent = await cache.getInvalidationEvents({ since: new Date(Date.now() - 60_000) });
   */
  async getInvalidationEvents(options: { since?: Date; limit?: number } = {}): Promise<InvalidationEvent[]> {
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit <= 0) throw new TypeError(`limit must be a positive integer, got ${String(limit)}`);
    return this.#engine.log.read(options.since?.getTime() ?? Number.NEGATIVE_INFINITY, limit);
  }

  #record(kind: InvalidationEvent['kind'], options: InvalidateOptions, detail: Partial<InvalidationEvent>): void {
    this.#engine.metrics.invalidated(kind, 'local', options.reason);
    this.#engine.emitter.emit('invalidate', this.#engine.log.record({ ...detail, kind, reason: options.reason, triggeredBy: options.triggeredBy, count: detail.count }));
  }

  /**
   * Metadata of a cached key (the seed's `get_key_info`), or `undefined` when no tier holds it. `expiresAt` is
   * when `get` stops answering with it; `staleUntil` when it is gone (later only with grace).
   *
   * @example
   * const info = await cache.inspect('user:1'); // { tier: 'memory', ttlRemaining, expiresAt, staleUntil, tags, ... }
   */
  async inspect(key: string): Promise<KeyInfo | undefined> {
    const info = await this.#reader.locate(this.#validKey(key));
    if (info !== undefined) info.key = key;
    return info;
  }

  /**
   * Like `get`, but never throws: failures come back as `{ ok: false, error }`.
   *
   * @example
   * const { ok, value, source } = await cache.getResult('user:1');
   */
  async getResult<T = unknown>(key: string): Promise<CacheResult<T>> {
    const started = performance.now();
    try {
      const found = await this.#reader.fresh(this.#validKey(key), false);
      if (found !== undefined) return { ok: true, value: found.value as T, error: undefined, source: found.source, durationMs: performance.now() - started };
      return { ok: false, value: undefined, error: undefined, source: undefined, durationMs: performance.now() - started };
    } catch (error) {
      const wrapped = isCacheError(error) ? error : new CacheError('E_INVALID_KEY', String(error), { cause: error });
      return { ok: false, value: undefined, error: wrapped, source: undefined, durationMs: performance.now() - started };
    }
  }

  /**
   * Counters and sizes, in total, for the memory tier, per store and for the bus. With `reset`, the counters
   * restart from zero after being read (sizes are not counters).
   *
   * @example
   * const { hitRate, tiers, stores } = cache.getStats();
   */
  getStats(options?: { reset?: boolean }): CacheStats {
    return statsOf(this.#engine, options?.reset === true);
  }

  /**
   * Everything the cache measured, now: per tier requests by result, latency histograms, bytes, breaker and
   * pending writes; loads by outcome, joins, lease waits; the bus; invalidations; key groups (with
   * `metrics: true`). Counters only grow. What the Prometheus and OpenTelemetry exporters read.
   *
   * @example
   * const { tiers } = cache.getMetrics(); // tiers[0].requests.hit, tiers[1].latency.get ...
   */
  getMetrics(): MetricsSnapshot {
    return metricsOf(this.#engine);
  }

  /**
   * Starts monitoring (seed 001): every `interval`, a window of hit rate, latency percentiles per tier, error
   * rate, evictions and memory, kept in a ring of fixed size; trends against a baseline; alert rules raised
   * and resolved as events (defaults after the seed's hit-rate bands; see `MonitorOptions`). Runs on the
   * cache's clock; stopped by `monitor.stop()` or `close()`.
   *
   * @example
   * const monitor = cache.monitor({ interval: '10s' });
   * monitor.on('alert', (alert) => log.warn(alert, 'cache'));
   * monitor.trend().verdict; // 'stable' | 'improving' | 'degrading'
   */
  monitor(options?: MonitorOptions): Monitor {
    return new Monitor(this.#requireOpen(), options);
  }

  /**
   * A verdict a load balancer can use (seed 004): `ok`; `degraded` (a store unreachable, its breaker open, its
   * recent error rate above `maxErrorRate`, writes waiting for it, or the bus down); `down` (closed, or no store
   * reachable with `strict` on), with each store's reachability, breaker, recent p99 latency and error rate.
   * `healthy` is false only when `down`. Probes stores whose last probe is older than `maxProbeAge`, each
   * within its tier's timeout: it never hangs.
   *
   * @example
   * const { healthy, status, reasons } = await cache.getHealth();
   * res.statusCode = healthy ? 200 : 503;
   */
  getHealth(options?: HealthOptions): Promise<HealthReport> {
    return healthOf(this.#engine, options);
  }

  /**
   * The performance report of seed 001: hit rates per tier now and their trend, latency, memory, the top key
   * groups by traffic and by miss cost, alerts, and recommendations drawn from the figures (each with the
   * numbers behind it; none for a cache with nothing wrong). "Now" is the last window of the monitor running
   * on this cache, else everything since it started.
   *
   * @example
   * const { hitRate, recommendations } = cache.getReport();
   * for (const r of recommendations) log.info(r.evidence, r.message);
   */
  getReport(): CacheReport {
    return reportOf(this.#engine);
  }

  /**
   * Every live instance sharing this cache's first store and prefix, this one included (with its figures now),
   * sorted by id: what their heartbeats say (see the `fleet` option). A memory-only cache lists itself only.
   *
   * @example
   * for (const i of await cache.listInstances()) console.log(i.name, i.health, i.hitRate);
   */
  listInstances(): Promise<InstanceInfo[]> {
    return this.#engine.fleet.list();
  }

  /**
   * Lets the fleet run `warmer` here: a warm request (`requestWarm`, `tiercache warm`) that reaches this instance
   * over the bus is run by it when it wins the store lease named after the request, so exactly one instance
   * runs each request; its progress and report are written to the first store for the requester to follow.
   * Nothing runs remotely unless the application calls this. Returns a function that stops serving it.
   *
   * @throws {TypeError} when the first store is not shared or has no atomic `add` (no lease), or the name is taken.
   * @example
   * const stop = cache.serveWarmRequests(warmer); // `tiercache warm` now runs warmer's tasks on one instance
   */
  serveWarmRequests(warmer: ServableWarmer, options?: ServeWarmOptions): () => void {
    return this.#requireOpen().fleet.warms.serve(warmer, options);
  }

  /**
   * Asks the fleet to run a served warmer (see `serveWarmRequests`) and follows it: resolves with the final
   * status (counts and per-task errors) once the instance that took it is done. Rejects with
   * `WarmRequestError`: `not_accepted` when no instance took it within `acceptTimeout`, `rejected` when the
   * instance refused it (an unknown task id), `lost` when it stopped reporting.
   *
   * @example
   * const status = await cache.requestWarm({ tasks: ['config'], onProgress: (s) => console.log(`${s.done}/${s.total}`) });
   */
  requestWarm(options?: RequestWarmOptions): Promise<FleetWarmStatus> {
    return this.#requireOpen().fleet.warms.request(options);
  }

  /**
   * A view whose keys live under `name:` inside this cache. It shares tiers, stats and events with the
   * cache; its `clear` removes only its own keys.
   *
   * @example
   * const reports = cache.namespace('reports');
   * await reports.set('q1', data); // stored as 'reports:q1'
   */
  namespace(name: string): Cache {
    assertValidKey(name, 256, 'namespace name');
    return new Cache(new ViewInit(this.#rooms, this.#ns + escapeSegment(name) + ':') as CacheOptions);
  }

  /**
   * Listens to an event. Listeners cost nothing until registered; payloads carry full keys (namespace included).
   *
   * @example
   * cache.on('error', ({ error, operation }) => log.warn({ error, operation }, 'cache'));
   */
  on<E extends CacheEventName>(name: E, listener: CacheListener<E>): this {
    this.#engine.emitter.on(name, listener);
    return this;
  }

  /**
   * Stops listening.
   *
   * @example
   * const onMiss = ({ key }: { key: string }) => misses.add(key);
   * cache.on('miss', onMiss);
   * cache.off('miss', onMiss);
   */
  off<E extends CacheEventName>(name: E, listener: CacheListener<E>): this {
    this.#engine.emitter.off(name, listener);
    return this;
  }

  /**
   * Stops timers, frees memory and closes the stores and the bus (a client the user passed in stays open).
   * Idempotent.
   *
   * @example
   * process.on('SIGTERM', () => void cache.close());
   */
  async close(): Promise<void> {
    const engine = this.#engine;
    if (engine.closed) return;
    await engine.close();
  }

  /** A namespace view's full key for `key`, remembered so that a hit builds no string. */
  #viewKey(key: string): string {
    const fulls = this.#fulls as Map<string, string>;
    let full = fulls.get(key);
    if (full === undefined) {
      if (fulls.size >= this.#viewKeysKept) fulls.delete(fulls.keys().next().value as string);
      full = this.#ns + key;
      fulls.set(key, full);
    }
    return full;
  }

  #requireOpen(): Engine {
    if (this.#engine.closed) throw closedError();
    return this.#engine;
  }

  /** Checks the key (and that the cache is open) and returns its full form inside the cache. */
  #validKey(key: string): string {
    const max = this.#requireOpen().options.maxKeyLength;
    assertValidKey(key, max);
    if (this.#ns === '') return key;
    const full = this.#ns + key;
    if (full.length > max) assertValidKey(full, max);
    return full;
  }
}

/**
 * Same as `new Cache(options)`.
 *
 * @example
 * const cache = createCache({ defaultTtl: '10m' });
 */
export function createCache(options: CacheOptions = {}): Cache {
  return new Cache(options);
}
