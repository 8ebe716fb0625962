import { Core, Counters, ENTRY_OVERHEAD_BYTES, globToRegExp, isInternalKey, metaOf, type Flight, type Found, type Prepared, type TagMeta } from './core.js';
import { FRESH, INVALID, newStamp, STALE } from './freshness/tags.js';
import { decodeEntry, encodeEntry } from './entry.js';
import { CacheError, isCacheError } from './errors.js';
import type { CacheEventName, CacheListener } from './events.js';
import { buildKey } from './keys/build-key.js';
import { escapeSegment } from './keys/escape.js';
import { assertValidKey } from './keys/validate.js';
import type { CacheOptions } from './options.js';
import type { Store, StoreWrite } from './stores/contract.js';
import type { BreakerState, StoreTier, TierCounters } from './tiers/store-tier.js';
import { deadlineOf, parseDuration } from './ttl.js';
import { DEFAULT_LEASE, planOf, type LoadPlan } from './compute/plan.js';
import { batchValues, runLoader, settleWithin, type LoadReport } from './compute/load.js';
import { claim, type Claim } from './compute/lease.js';
import type { BatchLoader, BatchLoaderContext, GetOrSetOptions, GetOrSetResult, LeaseOptions, LoaderContext, SetOptions } from './compute/types.js';

export type { BatchLoader, BatchLoaderContext, GetOrSetOptions, GetOrSetResult, LeaseOptions, LoaderContext, SetOptions };

export { ENTRY_OVERHEAD_BYTES };

export interface GetOptions<T> {
  /** Returned instead of `undefined` when the key is not cached. */
  default?: T;
  /**
   * Also return a value whose tags were soft-expired (`expireTags`): stale, but allowed here. Values of
   * hard-invalidated tags are never returned.
   * @default false
   */
  stale?: boolean;
}

export interface InvalidateOptions {
  /** Why, for the invalidation log (`getInvalidationEvents`). */
  reason?: string;
  /** Who asked, for the invalidation log. */
  triggeredBy?: string;
}

export interface PatternOptions extends InvalidateOptions {
  /** Needed for a pattern that matches every key (`*`), as `clear` needs it. */
  confirm?: boolean;
}

/** What `invalidate` removes: the union of what each part selects. */
export interface InvalidateSelection {
  keys?: readonly string[];
  /** A glob over keys: `*` any run, `?` one character. */
  pattern?: string;
  tags?: readonly string[];
  /** Every forecast of this user: `forecast:<userId>:*`, with the id escaped so it matches this user only. */
  userId?: string;
}

/** One recorded invalidation (seed 004). */
export interface InvalidationEvent {
  /** Unique across instances sharing a log. */
  id: string;
  at: Date;
  kind: 'keys' | 'pattern' | 'tags' | 'expire-tags' | 'clear';
  reason: string | undefined;
  triggeredBy: string | undefined;
  keys?: readonly string[];
  pattern?: string;
  tags?: readonly string[];
  /** Entries removed, where it can be known; `undefined` for tags (invalidated lazily, without a count). */
  count: number | undefined;
}

/**
 * Invalidates more when something is invalidated (seed 001): when one of `whenTags` is invalidated, or when
 * `invalidateByWrite(whenResource, ...)` reports a write. Templates in `invalidateTags`/`invalidatePatterns`
 * may use `{id}` (the resource id) and the fields of the write's context; substituted values are escaped.
 */
export interface InvalidationRule {
  whenTags?: readonly string[];
  whenResource?: string;
  invalidateTags?: readonly string[];
  invalidatePatterns?: readonly string[];
}

export interface SetManyEntry extends SetOptions {
  key: string;
  value: unknown;
}

/** What `inspect` knows about a cached key (the seed's `get_key_info`). Durations are milliseconds. */
export interface KeyInfo {
  key: string;
  exists: true;
  /** The first tier that holds it: `'memory'` or a store's name. */
  tier: string;
  /** Milliseconds until it expires. */
  ttlRemaining: number;
  /** Bytes it counts for: in memory, encoded value + key + per-entry overhead; in a store, the stored bytes. */
  sizeBytes: number;
  createdAt: Date;
  expiresAt: Date;
  tags: string[];
  /** One of its tags was soft-expired: served only to readers that accept stale values. */
  stale: boolean;
}

/** The variant of `get` that never throws (seed 002's `CacheResult`). `ok` is true when a value was found. */
export interface CacheResult<T> {
  ok: boolean;
  value: T | undefined;
  /** Set when the read failed (bad key, closed cache, a store failing in strict mode), as opposed to a plain miss. */
  error: CacheError | undefined;
  /** The tier that answered (`'memory'` or a store's name), `undefined` on a miss. */
  source: string | undefined;
  durationMs: number;
}

export interface TierStats {
  hits: number;
  misses: number;
  sets: number;
  deletes: number;
  evictions: number;
  expirations: number;
  memoryUsedBytes: number;
  keyCount: number;
  /** Mean milliseconds left before the held entries expire. */
  avgTtlRemaining: number;
}

export interface StoreTierStats extends TierCounters {
  breaker: BreakerState;
  /** Writes waiting for the store to come back. */
  pendingWrites: number;
}

export interface CacheStats {
  /** Reads answered by any tier or by none. */
  totalRequests: number;
  hits: number;
  misses: number;
  /** hits / totalRequests, 0 before the first request. */
  hitRate: number;
  evictions: number;
  memoryUsedBytes: number;
  keyCount: number;
  avgTtlRemaining: number;
  tiers: { memory: TierStats };
  /** Each store tier by name. */
  stores: Record<string, StoreTierStats>;
}

class ViewInit {
  constructor(
    readonly core: Core,
    readonly ns: string,
  ) {}
}

/** getOrSet options that act per key and so have no meaning for a batch load. */
const BATCH_REFUSED = ['lease', 'softTimeout', 'refreshAhead', 'failSafeBackoff', 'negativeTtl'] as const;

function closedError(): CacheError {
  return new CacheError('E_CLOSED', 'the cache is closed');
}

function checkTagList(tags: unknown): readonly string[] {
  requireArray(tags, 'tags must be an array of strings');
  const list = tags as readonly unknown[];
  if (list.length === 0) throw new TypeError('tags must not be empty');
  for (const tag of list) assertValidKey(tag, 256, 'tag');
  return [...new Set(list as readonly string[])];
}

// Checks without narrowing: `Array.isArray` would turn a typed readonly array into `any[]`.
function requireArray(value: unknown, message: string): void {
  if (!Array.isArray(value)) throw new TypeError(message);
}

function validateTags(tags: unknown): readonly string[] | undefined {
  if (tags === undefined) return undefined;
  if (!Array.isArray(tags)) throw new TypeError(`tags must be an array of strings, got ${typeof tags}`);
  if (tags.length === 0) return undefined;
  for (const tag of tags) assertValidKey(tag, 256, 'tag');
  return Object.freeze([...new Set(tags as string[])]);
}

/**
 * A cache: a bounded in-process memory tier in front of optional shared stores, with one codec for every
 * tier, so what you put in is exactly what you get back.
 *
 * @example
 * const cache = new Cache({ defaultTtl: '1h', memory: { maxEntries: 50_000 } });
 * await cache.set('user:1', { name: 'Ada' }, { ttl: '5m', tags: ['users'] });
 * const user = await cache.get<{ name: string }>('user:1');
 */
export class Cache {
  readonly #core: Core;
  /** Key prefix of this view inside the cache: '' for the cache itself, 'name:' for a namespace. */
  readonly #ns: string;

  constructor(options: CacheOptions = {}) {
    if (options instanceof ViewInit) {
      this.#core = options.core;
      this.#ns = options.ns;
    } else {
      this.#core = new Core(options);
      this.#ns = '';
    }
  }

  /** Resolves once the cache listens to its bus (immediately without one); rejects if it cannot subscribe. */
  ready(): Promise<void> {
    return this.#core.ready;
  }

  /** The namespace path of this view (`''` for the cache itself). */
  get namespacePath(): string {
    return this.#ns;
  }

  /**
   * The cached value, or `options.default` (else `undefined`) when the key is missing or expired.
   * A memory-tier hit awaits nothing and allocates nothing but the returned promise.
   */
  get<T = unknown>(key: string, options?: GetOptions<T>): Promise<T | undefined> {
    const core = this.#core;
    if (!core.closed) {
      const full = this.#ns === '' ? key : this.#full(key);
      const slot = core.freshSlot(full);
      if (slot >= 0) return Promise.resolve(core.memory.valueAt(slot) as T);
    }
    return this.#getSlow(key, options);
  }

  async #getSlow<T>(key: string, options: GetOptions<T> | undefined): Promise<T | undefined> {
    const full = this.#validKey(key);
    const found = (await this.#readMemoryChecked(full, options?.stale === true)) ?? (await this.#readBelow(full, options?.stale === true));
    return found === undefined ? options?.default : (found.value as T);
  }

  /**
   * A memory-tier read the hot path could not settle: a stamp the registry does not know, a soft expiry, or a
   * TTL that ran out within grace. Removes the entry when its tags were invalidated.
   */
  async #readMemoryChecked(full: string, allowStale: boolean): Promise<Found | undefined> {
    const core = this.#core;
    const memory = core.memory;
    const slot = memory.find(full);
    if (slot < 0) return undefined;
    const value = memory.valueAt(slot);
    const meta = memory.metaOf(slot) as TagMeta | undefined;
    // Read before any await: the slot may hold another key afterwards.
    const createdAt = memory.createdAtOf(slot);
    const freshUntil = meta?.freshUntil ?? memory.expiresAtOf(slot);
    const verdict = meta === undefined ? FRESH : await core.verdict(meta);
    if (verdict === INVALID) {
      // The stamps were checked against the truth: no tier can hold a valid copy written before that.
      memory.delete(full);
      core.fence(full);
      return undefined;
    }
    if (verdict === STALE && !allowStale) return undefined;
    core.counters.hits++;
    if (core.emitter.listeners.hit !== undefined) core.emitter.emit('hit', { key: full, tier: 'memory' });
    return { value, source: 'memory', stale: verdict === STALE, createdAt, freshUntil };
  }

  /** After a memory-tier miss: the stores, and the hit/miss accounting of the whole read. */
  async #readBelow(full: string, allowStale = false): Promise<Found | undefined> {
    const core = this.#core;
    const found = core.tiers.length === 0 ? undefined : await core.readStores(full, allowStale);
    if (found === undefined) {
      core.counters.misses++;
      if (core.emitter.listeners.miss !== undefined) core.emitter.emit('miss', { key: full });
    } else {
      core.counters.hits++;
    }
    return found;
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
   * A memory-tier hit awaits nothing and allocates nothing but the returned promise.
   *
   * @example
   * const forecast = await cache.getOrSet(key, () => engine.projectBalance(userId, 30), { ttl: '1h', tags: [`user:${userId}`], grace: '10m' });
   */
  getOrSet<T>(key: string, loader: (context: LoaderContext<T>) => T | Promise<T>, options?: GetOrSetOptions): Promise<T> {
    const core = this.#core;
    if (!core.closed && options?.forceRefresh !== true && typeof loader === 'function') {
      const full = this.#ns === '' ? key : this.#full(key);
      const slot = core.freshSlot(full);
      if (slot >= 0) {
        const value = core.memory.valueAt(slot) as T;
        const ahead = options?.refreshAhead ?? core.options.compute.refreshAhead;
        if (ahead !== undefined && this.#dueAt(slot, ahead) <= core.clock.now()) this.#refreshAhead(key, full, loader, options ?? {}, value);
        return Promise.resolve(value);
      }
    }
    return this.#getOrLoad(key, loader, options ?? {}, undefined);
  }

  /**
   * `getOrSet` that never throws (seed 002's `CacheResult`): the value or the error, where the value came from
   * (`'memory'`, a store's name, or `'loader'`), whether it was stale, and how long the call took.
   */
  async getOrSetResult<T>(key: string, loader: (context: LoaderContext<T>) => T | Promise<T>, options?: GetOrSetOptions): Promise<GetOrSetResult<T>> {
    const started = performance.now();
    const report: LoadReport = { source: undefined, stale: false };
    try {
      const value = await this.#getOrLoad(key, loader, options ?? {}, report);
      return { ok: true, value, error: undefined, source: report.source, stale: report.stale, durationMs: performance.now() - started };
    } catch (error) {
      return { ok: false, value: undefined, error, source: undefined, stale: false, durationMs: performance.now() - started };
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
    const core = this.#core;
    const plan = planOf(options, core.options.compute);
    if (fulls.length === 0) return [];
    this.#prepare(fulls[0] as string, null, options, plan.graceMs);
    const found = plan.forceRefresh ? [] : await this.#readMany(fulls);
    const out = new Array<T | undefined>(fulls.length).fill(undefined);
    const waits: Promise<void>[] = [];
    // Full key -> the caller's key, for the keys this call loads.
    const batch = new Map<string, string>();
    fulls.forEach((full, i) => {
      const hit = found[i];
      if (hit !== undefined) {
        out[i] = hit.value as T;
        return;
      }
      const running = batch.has(full) ? undefined : core.flights.get(full);
      if (running !== undefined && !running.fenced && !plan.forceRefresh) {
        waits.push(running.promise.then((value) => void (out[i] = value as T)));
        return;
      }
      batch.set(full, keys[i] as string);
    });
    if (batch.size > 0) {
      const values = this.#loadBatch(batch, loadMany, options, plan);
      fulls.forEach((full, i) => {
        if (batch.has(full) && found[i] === undefined) waits.push(values.then((map) => void (out[i] = map.get(batch.get(full) as string))));
      });
    }
    await Promise.all(waits);
    return out;
  }

  /** One `loadMany` call for `batch` (full key -> caller's key), registered as a load of each key. */
  #loadBatch<T>(batch: ReadonlyMap<string, string>, loadMany: BatchLoader<T>, options: GetOrSetOptions, plan: LoadPlan): Promise<Map<string, T>> {
    const core = this.#core;
    const tags = validateTags(options.tags);
    const controller = new AbortController();
    const whole: Flight = { promise: Promise.resolve(), fenced: false, tags, controller };
    const flights = new Map<string, Flight>();
    for (const full of batch.keys()) {
      const flight: Flight = { promise: Promise.resolve(), fenced: false, tags, controller };
      // A load still registered for this key is fenced (or superseded by a forced refresh): this one replaces it.
      const running = core.flights.get(full);
      if (running !== undefined) running.fenced = true;
      core.flights.set(full, flight);
      flights.set(full, flight);
    }
    const given = [...batch.values()];
    const loaded = (async () => {
      const stamps = tags === undefined ? undefined : await this.#stampsFor(tags);
      const raw = await runLoader((context: BatchLoaderContext) => loadMany(given, context), { signal: controller.signal }, plan.hardTimeoutMs, whole, given.join(','));
      const values = batchValues(raw, given);
      const items: { full: string; value: unknown; prepared: Prepared }[] = [];
      for (const [full, key] of batch) {
        if (whole.fenced || flights.get(full)?.fenced === true || !values.has(key)) continue;
        const value = values.get(key);
        items.push({ full, value, prepared: this.#prepare(full, value, options, plan.graceMs) });
      }
      if (items.length > 0 && !core.closed) {
        try {
          await this.#writeMany(items, stamps, flights);
        } catch (error) {
          core.emitter.reportError(error, 'getOrSetMany.store', items[0]?.full);
        }
      }
      return values;
    })();
    for (const [full, key] of batch) {
      const flight = flights.get(full) as Flight;
      flight.promise = loaded.then((values) => values.get(key));
      core.untrackWhenSettled(full, flight);
    }
    return loaded;
  }

  /** When a memory-tier entry is due for a refresh-ahead. */
  #dueAt(slot: number, fraction: number): number {
    const memory = this.#core.memory;
    const createdAt = memory.createdAtOf(slot);
    const freshUntil = (memory.metaOf(slot) as TagMeta | undefined)?.freshUntil ?? memory.expiresAtOf(slot);
    return createdAt + fraction * (freshUntil - createdAt);
  }

  /** Starts one background refresh of a value that is still served (refresh-ahead). Never throws. */
  #refreshAhead<T>(key: string, full: string, loader: (context: LoaderContext<T>) => T | Promise<T>, options: GetOrSetOptions, value: T): void {
    const core = this.#core;
    if (core.flights.has(full) || core.failureOf(full) !== undefined) return;
    try {
      const plan = planOf(options, core.options.compute);
      this.#flight(key, full, loader, options, { ...plan, forceRefresh: false }, value, true);
    } catch (error) {
      core.emitter.reportError(error, 'getOrSet.refreshAhead', full);
    }
  }

  async #getOrLoad<T>(key: string, loader: (context: LoaderContext<T>) => T | Promise<T>, options: GetOrSetOptions, report: LoadReport | undefined): Promise<T> {
    if (typeof loader !== 'function') throw new TypeError('getOrSet needs a loader function');
    const full = this.#validKey(key);
    const core = this.#core;
    const plan = planOf(options, core.options.compute);
    // Checked before anything runs, so a bad option never leaves a loader result uncached.
    this.#prepare(full, null, options, plan.graceMs);
    let stale: Found | undefined;
    if (!plan.forceRefresh) {
      const allowStale = plan.graceMs > 0;
      let found = await this.#readMemoryChecked(full, allowStale);
      if (found === undefined) {
        // A load already running here answers sooner than the stores, and spares them one read per caller.
        const running = core.flights.get(full);
        if (running !== undefined && !running.fenced) {
          core.counters.misses++;
          const value = (await running.promise) as T;
          if (report !== undefined) report.source = 'loader';
          return value;
        }
        found = await this.#readBelow(full, allowStale);
      }
      if (found !== undefined && !found.stale) {
        if (plan.refreshAhead !== undefined && found.createdAt + plan.refreshAhead * (found.freshUntil - found.createdAt) <= core.clock.now()) {
          this.#refreshAhead(key, full, loader, options, found.value as T);
        }
        if (report !== undefined) report.source = found.source;
        return found.value as T;
      }
      // Stale for longer than this caller's grace: as good as missing.
      if (found !== undefined && core.clock.now() - found.freshUntil <= plan.graceMs) stale = found;
    }
    const failure = plan.forceRefresh ? undefined : core.failureOf(full);
    if (stale !== undefined && failure !== undefined && !failure.negative) return this.#served(stale, report);
    if (stale === undefined && failure?.negative === true) throw failure.error;

    const flight = this.#flight(key, full, loader, options, plan, stale?.value as T | undefined, stale !== undefined);
    if (stale === undefined) {
      const value = (await flight.promise) as T;
      if (report !== undefined) report.source = 'loader';
      return value;
    }
    if (plan.softTimeoutMs > 0) {
      const outcome = await settleWithin(flight.promise, plan.softTimeoutMs);
      if (outcome.done && outcome.ok) {
        if (report !== undefined) report.source = 'loader';
        return outcome.value as T;
      }
    }
    // Stale-while-revalidate, a soft timeout, or fail-safe: the refresh goes on (or rests) in the background.
    return this.#served(stale, report);
  }

  #served<T>(found: Found, report: LoadReport | undefined): T {
    if (report !== undefined) {
      report.source = found.source;
      report.stale = true;
    }
    return found.value as T;
  }

  /**
   * The load of `full`: the one running (shared), or a new one. A `forceRefresh` load supersedes the one
   * running, which then does not write its older result.
   */
  #flight<T>(
    key: string,
    full: string,
    loader: (context: LoaderContext<T>) => T | Promise<T>,
    options: GetOrSetOptions,
    plan: LoadPlan,
    staleValue: T | undefined,
    hasStale: boolean,
  ): Flight {
    const core = this.#core;
    // A fenced load was overtaken by a write or an invalidation: its value is too old to hand to a new caller.
    const running = core.flights.get(full);
    if (running !== undefined && !running.fenced && !plan.forceRefresh) return running;
    if (running !== undefined) running.fenced = true;
    const flight: Flight = { promise: Promise.resolve(), fenced: false, tags: validateTags(options.tags), controller: new AbortController() };
    core.flights.set(full, flight);
    flight.promise = this.#load(key, full, loader, options, plan, staleValue, hasStale, flight);
    core.untrackWhenSettled(full, flight);
    return flight;
  }

  async #load<T>(
    key: string,
    full: string,
    loader: (context: LoaderContext<T>) => T | Promise<T>,
    options: GetOrSetOptions,
    plan: LoadPlan,
    staleValue: T | undefined,
    hasStale: boolean,
    flight: Flight,
  ): Promise<T> {
    const core = this.#core;
    let claimed: Claim | undefined;
    try {
      // Stamps are taken before the loader reads anything: if a tag is invalidated while it runs, the entry
      // is born invalid.
      const initialTags = flight.tags;
      // Both before the loader reads anything, side by side: one round trip, not two.
      const fence = core.fenceTier;
      const [stamped, settled] = await Promise.allSettled([
        initialTags === undefined ? undefined : this.#stampsFor(initialTags),
        fence === undefined ? undefined : this.#claim(full, fence, plan, hasStale, flight),
      ]);
      if (settled.status === 'rejected') throw settled.reason;
      claimed = settled.value?.claim;
      // A claim taken while the stamps failed is given back by the catch below.
      if (stamped.status === 'rejected') throw stamped.reason;
      const stamps = stamped.value;
      if (settled.value?.found !== undefined) return settled.value.found.value as T;
      let ttl = options.ttl;
      let skip = false;
      const context: LoaderContext<T> = {
        key,
        staleValue,
        signal: flight.controller.signal,
        setTtl: (value) => {
          deadlineOf(value, 0, 'ttl');
          ttl = value;
        },
        setTags: (tags) => {
          flight.tags = validateTags(tags);
        },
        skipCache: () => {
          skip = true;
        },
      };
      const value = await runLoader(loader, context, plan.hardTimeoutMs, flight, full);
      if (!skip && !flight.fenced && !core.closed) {
        try {
          const tags = flight.tags;
          const prepared = this.#prepare(full, value, { ...(ttl === undefined ? {} : { ttl }), ...(tags === undefined ? {} : { tags }) }, plan.graceMs);
          const late = tags?.filter((tag) => stamps?.has(tag) !== true) ?? [];
          const all = late.length === 0 ? stamps : new Map([...(stamps ?? []), ...(await this.#stampsFor(late))]);
          if (!flight.fenced) await this.#store(full, value, prepared, all, flight, claimed);
        } catch (error) {
          // The caller asked for a value, not for caching: a value that cannot be cached is still returned.
          core.emitter.reportError(error, 'getOrSet.store', full);
        }
      }
      await claimed?.release();
      return value;
    } catch (error) {
      await claimed?.release().catch((failure: unknown) => core.emitter.reportError(failure, 'getOrSet.lease', full));
      if (!flight.fenced) {
        const now = core.clock.now();
        if (hasStale) core.rememberFailure(full, { until: now + plan.failSafeBackoffMs, error, negative: false });
        else if (plan.negativeTtlMs > 0) core.rememberFailure(full, { until: now + plan.negativeTtlMs, error, negative: true });
      }
      throw error;
    }
  }

  /**
   * Claims the key in the fence store before the loader runs (see compute/lease.ts). Returns the value when
   * another process's load answered meanwhile (with `lease`, after waiting for it), else the claim the result
   * must be written through (none when the store cannot be asked: the load then goes on unfenced).
   */
  async #claim(full: string, tier: StoreTier, plan: LoadPlan, hasStale: boolean, flight: Flight): Promise<{ found?: Found; claim?: Claim }> {
    const core = this.#core;
    const index = core.tiers.indexOf(tier);
    const ttlMs = (plan.lease ?? DEFAULT_LEASE).ttlMs;
    const waitUntil = performance.now() + (plan.lease?.waitMs ?? 0);
    let delay = 5;
    for (;;) {
      const generation = core.generationOf(full);
      const outcome = await claim(core, tier, full, ttlMs);
      switch (outcome.kind) {
        case 'unavailable':
          return {};
        case 'claimed':
          if (outcome.holder) outcome.claim.renewEvery(ttlMs);
          return { claim: outcome.claim };
        case 'found': {
          if (!plan.forceRefresh && !hasStale) {
            const found = await core.accept(index, full, outcome.bytes, false, generation);
            if (found !== undefined) return { found };
          }
          return { claim: outcome.claim };
        }
        case 'leased': {
          // Without a lease (or once waited long enough) this load goes on, and expects the other's marker.
          if (plan.lease === undefined) return { claim: outcome.claim };
          if (performance.now() >= waitUntil) {
            if (await outcome.claim.takeOver(ttlMs)) {
              outcome.claim.renewEvery(ttlMs);
              return { claim: outcome.claim };
            }
            // The key changed under the takeover: look again after the usual pause, never in a tight loop.
          }
          await core.waitForKey(full, delay);
          // Without a bus nothing wakes the wait early: keep polls close, each is two round trips for the process.
          delay = Math.min(delay * 1.5, 50);
          const reason: unknown = flight.controller.signal.reason;
          if (flight.controller.signal.aborted) throw reason;
        }
      }
    }
  }

  /**
   * Stores a value in every tier. Returns `false` when nothing was stored: the TTL is `0` or a past `Date`
   * (any previous value of the key is removed, since it is now out of date), or no tier could take it.
   * Throws `SerializationError` for values the codec cannot hold, `TypeError` for a bad TTL,
   * `InvalidKeyError` for a bad key; nothing is stored then. A store that fails is skipped (and the write
   * replayed when it is back) unless the cache is `strict`.
   */
  async set(key: string, value: unknown, options: SetOptions = {}): Promise<boolean> {
    const full = this.#validKey(key);
    const prepared = this.#prepare(full, value, options);
    const stamps = prepared.tags === undefined ? undefined : await this.#stampsFor(prepared.tags);
    return this.#store(full, value, prepared, stamps);
  }

  /** Current stamps of tags for a write; a tag whose marker cannot be had gets a stamp that validates nothing. */
  async #stampsFor(tags: readonly string[]): Promise<Map<string, string>> {
    const current = await this.#core.currentStamps(tags, true);
    return new Map(tags.map((tag, i) => [tag, current[i] ?? newStamp()]));
  }

  /** Checks and encodes everything a write needs before anything is written. */
  #prepare(full: string, value: unknown, options: SetOptions, graceMs?: number): Prepared {
    const core = this.#core;
    const now = core.clock.now();
    const deadline = deadlineOf(options.ttl ?? core.options.defaultTtl, now);
    const grace = graceMs ?? (options.grace === undefined ? core.options.compute.graceMs : parseDuration(options.grace, 'grace'));
    const tags = validateTags(options.tags);
    const encoded = core.codec.encode(value, full);
    const expired = deadline <= now;
    return {
      deadline: expired ? Number.NaN : deadline + grace,
      freshUntil: expired || grace === 0 ? undefined : deadline,
      createdAt: now,
      size: core.memorySize(full, encoded.length),
      tags,
      encoded,
    };
  }

  /** The memory-tier meta and the stores' envelope of a prepared write. */
  #seal(prepared: Prepared, stamps: Map<string, string> | undefined): { meta: TagMeta | undefined; bytes: Uint8Array | undefined } {
    const tags = stamps === undefined ? undefined : prepared.tags;
    const meta = metaOf({ tags, stamps: tags?.map((t) => stamps?.get(t) as string), freshUntil: prepared.freshUntil });
    const bytes =
      this.#core.tiers.length === 0 || Number.isNaN(prepared.deadline)
        ? undefined
        : encodeEntry(prepared.encoded, {
            createdAt: prepared.createdAt,
            expiresAt: prepared.deadline,
            freshUntil: prepared.freshUntil,
            tags: meta === undefined || meta.tags.length === 0 ? undefined : meta.tags,
            stamps: meta === undefined || meta.tags.length === 0 ? undefined : meta.stamps,
          });
    return { meta, bytes };
  }

  /**
   * Writes a prepared entry to every tier; `writer` is the load doing it (it does not fence itself), whose
   * `claim` must still hold in the fence store for anything to be written.
   */
  async #store(full: string, value: unknown, prepared: Prepared, stamps: Map<string, string> | undefined, writer?: Flight, claimed?: Claim): Promise<boolean> {
    const core = this.#core;
    const { meta, bytes: sealed } = this.#seal(prepared, stamps);
    if (claimed !== undefined && sealed !== undefined) {
      const committed = await claimed.commit(sealed, claimed.tier.deadlineFor(prepared.deadline));
      // Another process wrote or invalidated the key since this load began, or this instance heard of it meanwhile.
      if (!committed || writer?.fenced === true) return false;
    }
    if (Number.isNaN(prepared.deadline)) {
      core.memory.delete(full);
      await Promise.all(core.tiers.map((tier) => core.write(tier, full, undefined, 0, prepared.createdAt)));
      await core.announce({ type: 'keys', keys: [full] });
      return false;
    }
    core.fence(full, writer);
    let stored = core.memory.set(full, value, prepared.size, core.memoryDeadline(prepared.deadline, prepared.createdAt), meta);
    if (sealed !== undefined) {
      const bytes = sealed;
      const results = await Promise.all(
        core.tiers.map((tier) => (tier === claimed?.tier ? Promise.resolve(true) : core.write(tier, full, bytes, prepared.deadline, prepared.createdAt))),
      );
      stored = stored || results.includes(true);
    }
    await core.announce({ type: 'keys', keys: [full] });
    if (stored) {
      core.counters.sets++;
      if (core.emitter.listeners.set !== undefined) core.emitter.emit('set', { key: full, tier: 'memory' });
    }
    return stored;
  }

  /** True when the key holds a live, fresh value in any tier. Does not count as a read. */
  async has(key: string): Promise<boolean> {
    const info = await this.#locate(this.#validKey(key));
    return info !== undefined && !info.stale;
  }

  /** Finds the first tier holding a live entry, without counting a read or backfilling. */
  async #locate(full: string): Promise<KeyInfo | undefined> {
    const core = this.#core;
    const memory = core.memory;
    const slot = memory.peek(full);
    const meta = slot >= 0 ? (memory.metaOf(slot) as TagMeta | undefined) : undefined;
    const verdict = slot < 0 || meta === undefined ? FRESH : await core.verdict(meta);
    if (slot >= 0 && verdict !== INVALID && memory.peek(full) === slot) {
      const expiresAt = memory.expiresAtOf(slot);
      return {
        key: full,
        exists: true,
        tier: 'memory',
        ttlRemaining: Math.max(0, expiresAt - core.clock.now()),
        sizeBytes: memory.sizeOf(slot),
        createdAt: new Date(memory.createdAtOf(slot)),
        expiresAt: new Date(expiresAt),
        tags: [...(meta?.tags ?? [])],
        stale: verdict === STALE,
      };
    }
    const key = core.storeKey(full);
    for (const tier of core.tiers) {
      const bytes = await core.attempt(tier, 'get', (s) => s.get(key), full);
      if (bytes === undefined) continue;
      let entry;
      try {
        entry = decodeEntry(bytes, full);
      } catch (error) {
        core.emitter.reportError(error, `${tier.name}.decode`, full);
        continue;
      }
      const now = core.clock.now();
      if (entry.expiresAt <= now) continue;
      const stored = await core.storedVerdict(entry);
      if (stored === INVALID) continue;
      return {
        key: full,
        exists: true,
        tier: tier.name,
        ttlRemaining: entry.expiresAt - now,
        sizeBytes: bytes.length,
        createdAt: new Date(entry.createdAt),
        expiresAt: new Date(entry.expiresAt),
        tags: [...(entry.tags ?? [])],
        stale: stored === STALE,
      };
    }
    return undefined;
  }

  /** Removes the key from every tier. Returns true when a tier held a live value. */
  async delete(key: string): Promise<boolean> {
    return this.#deleteOne(this.#validKey(key));
  }

  async #deleteOne(full: string): Promise<boolean> {
    const core = this.#core;
    const now = core.clock.now();
    let live = core.memory.peek(full) >= 0;
    core.memory.delete(full);
    core.fence(full);
    const removed = await Promise.all(core.tiers.map((tier) => core.write(tier, full, undefined, 0, now)));
    // A read or load that reached a store before the delete did may have copied the old value up meanwhile.
    core.memory.delete(full);
    core.fence(full);
    await core.announce({ type: 'keys', keys: [full] });
    live = live || removed.includes(true);
    if (live) {
      core.counters.deletes++;
      if (core.emitter.listeners.delete !== undefined) core.emitter.emit('delete', { key: full });
    }
    return live;
  }

  /** The values of `keys`, in order, `undefined` for the missing ones. Stores are asked once per tier, for the misses only. */
  async getMany<T = unknown>(keys: readonly string[]): Promise<(T | undefined)[]> {
    requireArray(keys, 'getMany expects an array of keys');
    const fulls = keys.map((key) => this.#validKey(key));
    return (await this.#readMany(fulls)).map((found) => (found === undefined ? undefined : (found.value as T)));
  }

  /**
   * The values of `keys` (full keys), or `undefined` for missing ones. Stores are asked once per tier, for the
   * misses only.
   */
  async #readMany(fulls: readonly string[]): Promise<({ value: unknown } | undefined)[]> {
    const core = this.#core;
    const results = new Array<{ value: unknown } | undefined>(fulls.length).fill(undefined);
    let missing: number[] = [];
    for (let i = 0; i < fulls.length; i++) {
      const full = fulls[i] as string;
      const slot = core.memory.find(full);
      const meta = slot >= 0 ? (core.memory.metaOf(slot) as TagMeta | undefined) : undefined;
      if (slot >= 0 && (meta === undefined || core.registryVerdict(meta) === FRESH)) {
        core.counters.hits++;
        if (core.emitter.listeners.hit !== undefined) core.emitter.emit('hit', { key: full, tier: 'memory' });
        results[i] = { value: core.memory.valueAt(slot) };
      } else if (slot >= 0) {
        const found = await this.#readMemoryChecked(full, false);
        if (found === undefined) missing.push(i);
        else results[i] = found;
      } else {
        missing.push(i);
      }
    }
    const generations = missing.map((i) => core.generationOf(fulls[i] as string));
    const generationAt = new Map(missing.map((index, j) => [index, generations[j] as number]));
    for (let t = 0; t < core.tiers.length && missing.length > 0; t++) {
      const tier = core.tiers[t] as StoreTier;
      const storeKeys = missing.map((i) => core.storeKey(fulls[i] as string));
      const got = await core.attempt(tier, 'getMany', (s) => (s.getMany === undefined ? Promise.all(storeKeys.map((k) => s.get(k))) : s.getMany(storeKeys)));
      if (got === undefined) continue;
      const stillMissing: number[] = [];
      const opened = missing.map((index, j) => {
        const bytes = got[j];
        return bytes === undefined ? undefined : core.open(tier, fulls[index] as string, bytes);
      });
      const verdicts = await Promise.all(opened.map((found) => (found === undefined ? Promise.resolve(INVALID) : core.storedVerdict(found.entry))));
      missing.forEach((index, j) => {
        const full = fulls[index] as string;
        const bytes = got[j];
        const found = verdicts[j] === FRESH ? opened[j] : undefined;
        if (found === undefined) {
          if (bytes === undefined || opened[j] !== undefined) tier.counters.misses++;
          stillMissing.push(index);
          return;
        }
        tier.counters.hits++;
        core.counters.hits++;
        core.counters.storeHits++;
        // Copied up only if nothing wrote or invalidated the key while it was read (see Core.generationOf).
        if (core.generationOf(full) === generationAt.get(index)) {
          const now = core.clock.now();
          core.memory.set(full, found.value, core.memorySize(full, found.entry.value.length), core.memoryDeadline(found.entry.expiresAt, now), metaOf(found.entry));
          if (t > 0) core.backfill(full, bytes as Uint8Array, found.entry.expiresAt, found.entry.createdAt, t);
        }
        if (core.emitter.listeners.hit !== undefined) core.emitter.emit('hit', { key: full, tier: tier.name });
        results[index] = found;
      });
      missing = stillMissing;
    }
    for (const index of missing) {
      core.counters.misses++;
      if (core.emitter.listeners.miss !== undefined) core.emitter.emit('miss', { key: fulls[index] as string });
    }
    return results;
  }

  /**
   * Stores several entries. Every key, TTL and value is checked and encoded first: if any is bad, the call
   * throws and stores none of them. Each store gets one batched write. Returns one boolean per entry, as
   * `set` would.
   */
  async setMany(entries: readonly SetManyEntry[], options: SetOptions = {}): Promise<boolean[]> {
    requireArray(entries, 'setMany expects an array of { key, value, ttl?, tags? }');
    const items = entries.map((entry: SetManyEntry, i) => {
      if (typeof entry !== 'object' || entry === null) throw new TypeError(`setMany entry ${i} must be an object`);
      const full = this.#validKey(entry.key);
      const merged: SetOptions = { ...options };
      if (entry.ttl !== undefined) merged.ttl = entry.ttl;
      if (entry.tags !== undefined) merged.tags = entry.tags;
      return { full, value: entry.value, prepared: this.#prepare(full, entry.value, merged) };
    });
    const allTags = [...new Set(items.flatMap((item) => item.prepared.tags ?? []))];
    const stamps = allTags.length === 0 ? undefined : await this.#stampsFor(allTags);
    return this.#writeMany(items, stamps);
  }

  /** Writes prepared entries: one batched write per store, one bus message. */
  async #writeMany(items: readonly { full: string; value: unknown; prepared: Prepared }[], stamps: Map<string, string> | undefined, writers?: ReadonlyMap<string, Flight>): Promise<boolean[]> {
    const core = this.#core;
    const sealed = items.map((item) => this.#seal(item.prepared, stamps));
    const stored = items.map(({ full, value, prepared }, i) => {
      core.fence(full, writers?.get(full));
      if (Number.isNaN(prepared.deadline)) {
        core.memory.delete(full);
        return false;
      }
      return core.memory.set(full, value, prepared.size, core.memoryDeadline(prepared.deadline, prepared.createdAt), sealed[i]?.meta);
    });
    await Promise.all(
      core.tiers.map(async (tier) => {
        const writes: StoreWrite[] = items.map(({ full, prepared }, i) => ({
          key: core.storeKey(full),
          value: sealed[i]?.bytes ?? new Uint8Array(0),
          expiresAt: Number.isNaN(prepared.deadline) ? 0 : tier.deadlineFor(prepared.deadline),
        }));
        const ok = await core.attempt(tier, 'setMany', (s) =>
          (s.setMany === undefined ? Promise.all(writes.map((w) => s.set(w.key, w.value, w.expiresAt))) : s.setMany(writes)).then(() => true),
        );
        items.forEach(({ full, prepared }, i) => {
          const bytes = sealed[i]?.bytes;
          if (ok === true) {
            if (!Number.isNaN(prepared.deadline)) stored[i] = true;
            tier.counters.sets++;
          } else {
            core.remember(
              tier,
              full,
              bytes === undefined ? { kind: 'delete', at: prepared.createdAt } : { kind: 'set', bytes, expiresAt: prepared.deadline, createdAt: prepared.createdAt },
            );
          }
        });
      }),
    );
    await core.announce({ type: 'keys', keys: items.map((item) => item.full) });
    stored.forEach((ok, i) => {
      if (!ok) return;
      core.counters.sets++;
      if (core.emitter.listeners.set !== undefined) core.emitter.emit('set', { key: (items[i] as { full: string }).full, tier: 'memory' });
    });
    return stored;
  }

  /** Removes several keys from every tier (one batched call per store); returns how many were live somewhere. */
  async deleteMany(keys: readonly string[]): Promise<number> {
    requireArray(keys, 'deleteMany expects an array of keys');
    return this.#deleteFulls(keys.map((key) => this.#validKey(key)));
  }

  /** Removes full keys from every tier: one batched call per store, one bus message. */
  async #deleteFulls(fulls: readonly string[]): Promise<number> {
    const core = this.#core;
    const now = core.clock.now();
    const live = fulls.map((full) => {
      const was = core.memory.peek(full) >= 0;
      core.memory.delete(full);
      core.fence(full);
      return was;
    });
    let storeRemoved = 0;
    await Promise.all(
      core.tiers.map(async (tier) => {
        const storeKeys = fulls.map((full) => core.storeKey(full));
        const removed = await core.attempt(tier, 'deleteMany', (s) =>
          s.deleteMany === undefined ? Promise.all(storeKeys.map((k) => s.delete(k))).then((r) => r.filter(Boolean).length) : s.deleteMany(storeKeys),
        );
        if (removed === undefined) {
          for (const full of fulls) core.remember(tier, full, { kind: 'delete', at: now });
        } else {
          tier.counters.deletes += fulls.length;
          storeRemoved = Math.max(storeRemoved, removed);
        }
      }),
    );
    // A read or load that reached a store before the delete did may have copied the old value up meanwhile.
    for (const full of fulls) {
      core.memory.delete(full);
      core.fence(full);
    }
    await core.announce({ type: 'keys', keys: fulls });
    const count = Math.max(live.filter(Boolean).length, storeRemoved);
    core.counters.deletes += count;
    if (core.emitter.listeners.delete !== undefined) fulls.forEach((full) => core.emitter.emit('delete', { key: full }));
    return count;
  }

  /**
   * Removes every entry of this cache (or, on a namespace view, of that namespace only) from every tier and
   * returns how many the memory tier held (stores cannot count cheaply). Refuses unless called as
   * `clear({ confirm: true })`. A namespace view needs stores that can list keys (`capabilities.iterate`).
   */
  async clear(options?: { confirm?: boolean }): Promise<number> {
    if (options?.confirm !== true) {
      throw new CacheError('E_NOT_CONFIRMED', 'clear() removes every entry: call clear({ confirm: true }) to do it');
    }
    const core = this.#requireOpen();
    if (this.#ns === '') {
      const count = core.memory.count;
      core.memory.clear();
      core.fenceWhere(() => true);
      await Promise.all(
        core.tiers.map(async (tier) => {
          const ok = await core.attempt(tier, 'clear', (s) => s.clear().then(() => true));
          if (ok === undefined) {
            tier.pendingClear = true;
            tier.pending.clear();
            core.scheduleReplay(tier, tier.timeoutMs);
          }
        }),
      );
      if (core.tiers.length > 0) {
        // A read or load that reached a store before the clear did may have copied an old value up meanwhile.
        core.memory.clear();
        core.fenceWhere(() => true);
      }
      await core.announce({ type: 'clear' });
      return count;
    }
    for (const tier of core.tiers) {
      if (tier.store.keys === undefined) {
        throw new CacheError('E_UNSUPPORTED', `${tier.name}: cannot list keys, so namespace ${JSON.stringify(this.#ns)} cannot be cleared there`);
      }
    }
    const doomed: string[] = [];
    for (const key of core.memory.keys()) if (key.startsWith(this.#ns)) doomed.push(key);
    for (const key of doomed) core.memory.delete(key);
    core.fenceWhere((key) => key.startsWith(this.#ns));
    const pattern = core.storeKey(this.#ns).replace(/[*?]/g, '?') + '*';
    await Promise.all(
      core.tiers.map(async (tier) => {
        await core.attempt(tier, 'clear', async (s) => {
          const keys: string[] = [];
          // Every `*`/`?` of the namespace was widened to `?` above; the exact prefix check removes the excess.
          for await (const key of (s.keys as (p: string) => AsyncIterable<string>).call(s, pattern)) {
            if (key.startsWith(core.storeKey(this.#ns))) keys.push(key);
          }
          if (s.deleteMany !== undefined) await s.deleteMany(keys);
          else await Promise.all(keys.map((k) => s.delete(k)));
          return true;
        });
      }),
    );
    // A read or load that reached a store before the deletes did may have copied an old value up meanwhile.
    for (const key of [...core.memory.keys()]) if (key.startsWith(this.#ns)) core.memory.delete(key);
    core.fenceWhere((key) => key.startsWith(this.#ns));
    await core.announce({ type: 'namespace', namespace: this.#ns });
    return doomed.length;
  }

  /**
   * Adds a rule; returns a function that removes it. Rules belong to this instance (they are code, not data).
   *
   * @example
   * cache.addInvalidationRule({ whenResource: 'transaction', invalidateTags: ['user:{userId}'], invalidatePatterns: ['forecast:{userId}:*'] });
   * await cache.invalidateByWrite('transaction', 't-1', { userId: 'user_123' });
   */
  addInvalidationRule(rule: InvalidationRule): () => void {
    if (typeof rule !== 'object' || rule === null) throw new TypeError('an invalidation rule must be an object');
    if (rule.whenTags === undefined && rule.whenResource === undefined) throw new TypeError('an invalidation rule needs whenTags or whenResource');
    if (rule.invalidateTags === undefined && rule.invalidatePatterns === undefined) {
      throw new TypeError('an invalidation rule needs invalidateTags or invalidatePatterns');
    }
    if (rule.whenTags !== undefined) checkTagList(rule.whenTags);
    if (rule.whenResource !== undefined && (typeof rule.whenResource !== 'string' || rule.whenResource.length === 0)) {
      throw new TypeError('whenResource must be a non-empty string');
    }
    for (const template of [...(rule.invalidateTags ?? []), ...(rule.invalidatePatterns ?? [])]) {
      if (typeof template !== 'string' || template.length === 0) throw new TypeError('rule templates must be non-empty strings');
    }
    const frozen = Object.freeze({ ...rule });
    const rules = this.#core.rules;
    rules.push(frozen);
    return () => {
      const at = rules.indexOf(frozen);
      if (at >= 0) rules.splice(at, 1);
    };
  }

  /**
   * Tells the cache that a resource was written (seed 001): invalidates the tags `<resourceType>` and
   * `<resourceType>:<resourceId>`, plus whatever the rules for that resource name. Resolves to the number of
   * keys removed by patterns (tags are lazy and not counted).
   */
  async invalidateByWrite(resourceType: string, resourceId?: string | number, context: Readonly<Record<string, string | number>> = {}, options: InvalidateOptions = {}): Promise<number> {
    if (typeof resourceType !== 'string' || resourceType.length === 0) throw new TypeError('resourceType must be a non-empty string');
    this.#requireOpen();
    const values: Record<string, string | number> = { ...context };
    if (resourceId !== undefined) values.id = resourceId;
    const tags = [resourceType];
    if (resourceId !== undefined) tags.push(`${resourceType}:${String(resourceId)}`);
    const patterns: string[] = [];
    for (const rule of this.#core.rules) {
      if (rule.whenResource !== resourceType) continue;
      for (const template of rule.invalidateTags ?? []) tags.push(buildKey(template, values));
      for (const template of rule.invalidatePatterns ?? []) patterns.push(buildKey(template, values));
    }
    return this.invalidate({ tags, ...(patterns.length === 0 ? {} : { pattern: patterns.join('\u0000') }) }, { reason: options.reason ?? `write:${resourceType}`, ...(options.triggeredBy === undefined ? {} : { triggeredBy: options.triggeredBy }) });
  }

  /** Tags and patterns that rules add to an invalidation of `tags`, followed transitively (cycles are safe). */
  #expand(tags: readonly string[]): { tags: string[]; patterns: string[] } {
    const seen = new Set(tags);
    const patterns = new Set<string>();
    const queue = [...tags];
    for (let tag = queue.shift(); tag !== undefined; tag = queue.shift()) {
      for (const rule of this.#core.rules) {
        if (rule.whenTags?.includes(tag) !== true) continue;
        for (const next of rule.invalidateTags ?? []) {
          if (!seen.has(next)) {
            seen.add(next);
            queue.push(next);
          }
        }
        for (const pattern of rule.invalidatePatterns ?? []) patterns.add(pattern);
      }
    }
    return { tags: [...seen], patterns: [...patterns] };
  }

  /**
   * Records that `key` is derived from `dependsOn` (seed 001): invalidating any of those with
   * `invalidateWithDependencies` also invalidates `key`. Kept in the first store when it can list keys, so
   * every instance sees the same graph; the edges live `ttl` (default: the cache's default TTL).
   */
  async addDependency(key: string, dependsOn: string | readonly string[], options: { ttl?: number | string } = {}): Promise<void> {
    const full = this.#validKey(key);
    const sources = (typeof dependsOn === 'string' ? [dependsOn] : [...dependsOn]).map((source) => this.#validKey(source));
    if (sources.length === 0) throw new TypeError('dependsOn must name at least one key');
    const core = this.#core;
    const ttl = deadlineOf(options.ttl ?? core.options.defaultTtl, 0, 'ttl');
    if (ttl <= 0) throw new TypeError('a dependency ttl must be greater than 0');
    await core.addDependency(full, sources, ttl);
  }

  /**
   * Removes `key` and every key that depends on it (transitively with `recursive`, the default; cycles are
   * safe). Resolves to the number of keys that held a live value.
   */
  async invalidateWithDependencies(key: string, options: InvalidateOptions & { recursive?: boolean } = {}): Promise<number> {
    const start = this.#validKey(key);
    const core = this.#core;
    const seen = new Set([start]);
    let frontier = [start];
    while (frontier.length > 0) {
      const next: string[] = [];
      for (const source of frontier) {
        for (const dependent of await core.dependentsOf(source)) {
          if (seen.has(dependent)) continue;
          seen.add(dependent);
          next.push(dependent);
        }
      }
      frontier = options.recursive === false ? [] : next;
    }
    const all = [...seen];
    const live = await Promise.all(all.map((full) => this.#deleteOne(full)));
    const count = live.filter(Boolean).length;
    this.#record('keys', options, { keys: all, count });
    return count;
  }

  /**
   * Hard tag invalidation: once this resolves, no reader (of any tier, in any instance that shares the
   * stores) gets an entry written with one of these tags before the call; other instances' memory tiers
   * follow within the bus delivery time. Costs one write per tag, whatever the number of tagged entries.
   * Resolves to the number of tags; entries are invalidated lazily and not counted.
   */
  async invalidateTags(tags: readonly string[], options: InvalidateOptions = {}): Promise<number> {
    const list = checkTagList(tags);
    this.#requireOpen();
    const expanded = this.#expand(list);
    const patterns = expanded.patterns.map((pattern) => this.#checkPattern(pattern, false));
    await this.#core.invalidateTags(expanded.tags, false);
    for (const pattern of patterns) await this.#removePatternKeys(pattern);
    this.#record('tags', options, { tags: expanded.tags, count: undefined });
    return list.length;
  }

  /**
   * Soft tag invalidation: entries of these tags become stale. `get` no longer returns them unless called
   * with `{ stale: true }` (a caller that prefers a stale answer to none); a new `set` replaces them.
   */
  async expireTags(tags: readonly string[], options: InvalidateOptions = {}): Promise<number> {
    const list = checkTagList(tags);
    this.#requireOpen();
    await this.#core.invalidateTags(list, true);
    this.#record('expire-tags', options, { tags: list, count: undefined });
    return list.length;
  }

  /**
   * Removes every key of this cache (view) matching a glob: `*` is any run, `?` one character, everything else
   * literal. Exact on the memory tier; on stores through their non-blocking key listing (`SCAN` on Redis, on
   * every master of a cluster). A store that cannot list keys makes the call fail with `E_UNSUPPORTED` before
   * anything is removed. A pattern of only `*` needs `{ confirm: true }`. Resolves to the number of distinct
   * keys removed.
   */
  async invalidatePattern(pattern: string, options: PatternOptions = {}): Promise<number> {
    const count = await this.#removePattern(this.#checkPattern(pattern, options.confirm === true));
    this.#record('pattern', options, { pattern, count });
    return count;
  }

  /**
   * The seed's combined call: removes the union of what `keys`, `pattern`, `tags` and `userId` select.
   * Resolves to the number of keys removed by `keys`, `pattern` and `userId` (tags are lazy and not counted).
   */
  async invalidate(selection: InvalidateSelection, options: PatternOptions = {}): Promise<number> {
    if (typeof selection !== 'object' || selection === null) throw new TypeError('invalidate expects { keys?, pattern?, tags?, userId? }');
    const { keys, pattern, tags, userId } = selection;
    if (keys === undefined && pattern === undefined && tags === undefined && userId === undefined) {
      throw new TypeError('invalidate needs at least one of keys, pattern, tags or userId');
    }
    if (userId !== undefined && (typeof userId !== 'string' || userId.length === 0)) throw new TypeError('userId must be a non-empty string');
    if (keys !== undefined) requireArray(keys, 'keys must be an array of keys');
    const patterns: string[] = [];
    // invalidateByWrite joins several rule patterns with NUL, a character no key or pattern can hold.
    if (pattern !== undefined) for (const p of pattern.split('\u0000')) patterns.push(this.#checkPattern(p, options.confirm === true));
    if (userId !== undefined) patterns.push(this.#checkPattern(`forecast:${escapeSegment(userId)}:*`, false));
    const tagList = tags === undefined ? undefined : this.#expand(checkTagList(tags));
    if (tagList !== undefined) for (const p of tagList.patterns) patterns.push(this.#checkPattern(p, false));
    const fulls = keys === undefined ? [] : keys.map((key) => this.#validKey(key));
    this.#requireOpen();

    // The keys go first, in one batch: a pattern run after them cannot find (and count) them again.
    const unique = [...new Set(fulls)];
    let count = unique.length === 0 ? 0 : unique.length === 1 ? Number(await this.#deleteOne(unique[0] as string)) : await this.#deleteFulls(unique);
    // Patterns one after another: what one removed is gone for the next, so nothing is counted twice.
    for (const p of patterns) count += await this.#removePattern(p);
    if (tagList !== undefined) await this.#core.invalidateTags(tagList.tags, false);
    const event: Partial<InvalidationEvent> = { count };
    if (keys !== undefined) event.keys = keys;
    if (pattern !== undefined || userId !== undefined) event.pattern = patterns.join(' | ');
    if (tagList !== undefined) event.tags = tagList.tags;
    this.#record(tagList !== undefined && keys === undefined && patterns.length === 0 ? 'tags' : patterns.length > 0 ? 'pattern' : 'keys', options, event);
    return count;
  }

  /**
   * The most recent invalidations (at most `limit`, default 100), oldest first. Kept in memory (the last
   * 1,000) and, when the first store offers a shared log (Redis), in a capped stream that every instance
   * reads: then the history covers all of them.
   */
  async getInvalidationEvents(options: { since?: Date; limit?: number } = {}): Promise<InvalidationEvent[]> {
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit <= 0) throw new TypeError(`limit must be a positive integer, got ${String(limit)}`);
    return this.#core.readEvents(options.since?.getTime() ?? Number.NEGATIVE_INFINITY, limit);
  }

  #record(kind: InvalidationEvent['kind'], options: InvalidateOptions, detail: Partial<InvalidationEvent>): void {
    this.#core.record({ ...detail, kind, reason: options.reason, triggeredBy: options.triggeredBy, count: detail.count });
  }

  /** Validates a pattern and returns it as a full key pattern (namespace included). */
  #checkPattern(pattern: string, confirmed: boolean): string {
    if (typeof pattern !== 'string' || pattern.length === 0) throw new TypeError('pattern must be a non-empty string');
    // eslint-disable-next-line no-control-regex -- control characters never occur in keys
    if (/[\u0000-\u001f\u007f]/.test(pattern)) throw new TypeError(`pattern ${JSON.stringify(pattern)} contains a control character`);
    if (/^\*+$/.test(pattern) && !confirmed) {
      throw new CacheError('E_NOT_CONFIRMED', `pattern ${JSON.stringify(pattern)} matches every key: pass { confirm: true } (or call clear)`);
    }
    const core = this.#requireOpen();
    for (const tier of core.tiers) {
      if (tier.store.keys === undefined) {
        throw new CacheError('E_UNSUPPORTED', `${tier.name}: cannot list keys, so pattern ${JSON.stringify(pattern)} cannot be invalidated there`);
      }
    }
    return this.#ns + pattern;
  }

  /**
   * Removes the keys matching a full pattern from every tier; returns how many were removed. Where a store can
   * delete by prefix (Redis, through its index) and the pattern is a plain prefix (`forecast:user_1:*`), that
   * costs in proportion to the matches and the count is the store's; otherwise keys are listed (SCAN) and the
   * count is of distinct keys.
   */
  async #removePattern(fullPattern: string): Promise<number> {
    const { keys, counted } = await this.#removePatternKeys(fullPattern);
    return Math.max(keys.size, counted);
  }

  /** Removes the keys matching a full pattern from every tier; returns the distinct keys removed. */
  async #removePatternKeys(fullPattern: string): Promise<{ keys: Set<string>; counted: number }> {
    const core = this.#core;
    const match = globToRegExp(fullPattern);
    // A plain prefix: one trailing `*`, no other wildcard, and something before it (never the internal keys).
    const head = fullPattern.slice(0, -1);
    const plainPrefix = fullPattern.endsWith('*') && !/[*?]/.test(head) && head.length > 0 && !isInternalKey(head);
    let counted = 0;
    core.fenceWhere((key) => match.test(key));
    const removed = new Set<string>();
    for (const key of [...core.memory.keys()]) {
      if (match.test(key)) {
        core.memory.delete(key);
        removed.add(key);
      }
    }
    const prefix = core.storeKey('');
    await Promise.all(
      core.tiers.map(async (tier) => {
        if (plainPrefix && tier.store.deletePrefix !== undefined) {
          const removed = await core.attempt(tier, 'deletePrefix', (s) => (s.deletePrefix as NonNullable<Store['deletePrefix']>).call(s, core.storeKey(head)));
          if (removed !== undefined) {
            tier.counters.deletes += removed;
            counted = Math.max(counted, removed);
          }
          return;
        }
        const listed = await core.attempt(tier, 'keys', async (s) => {
          const out: string[] = [];
          for await (const key of (s.keys as (p: string) => AsyncIterable<string>).call(s, core.storeKey(fullPattern))) {
            const full = key.slice(prefix.length);
            if (key.startsWith(prefix) && !isInternalKey(full) && match.test(full)) out.push(key);
          }
          return out;
        });
        if (listed === undefined || listed.length === 0) return;
        const ok = await core.attempt(tier, 'deleteMany', (s) =>
          s.deleteMany === undefined ? Promise.all(listed.map((k) => s.delete(k))).then((r) => r.length) : s.deleteMany(listed),
        );
        for (const key of listed) {
          const full = key.slice(prefix.length);
          removed.add(full);
          if (ok === undefined) core.remember(tier, full, { kind: 'delete', at: core.clock.now() });
        }
      }),
    );
    if (core.tiers.length > 0) {
      // A read or load that reached a store before the deletes did may have copied an old value up meanwhile.
      core.fenceWhere((key) => match.test(key));
      for (const key of [...core.memory.keys()]) if (match.test(key)) core.memory.delete(key);
    }
    await core.announce({ type: 'pattern', pattern: fullPattern });
    return { keys: removed, counted };
  }

  /** Metadata of a cached key (the seed's `get_key_info`), or `undefined` when no tier holds it. */
  async inspect(key: string): Promise<KeyInfo | undefined> {
    const info = await this.#locate(this.#validKey(key));
    if (info !== undefined) info.key = key;
    return info;
  }

  /** Like `get`, but never throws: failures come back as `{ ok: false, error }`. */
  async getResult<T = unknown>(key: string): Promise<CacheResult<T>> {
    const started = performance.now();
    try {
      const full = this.#validKey(key);
      const core = this.#core;
      const slot = core.freshSlot(full);
      if (slot >= 0) {
        const value = core.memory.valueAt(slot) as T;
        return { ok: true, value, error: undefined, source: 'memory', durationMs: performance.now() - started };
      }
      const found = (await this.#readMemoryChecked(full, false)) ?? (await this.#readBelow(full));
      if (found !== undefined) {
        return { ok: true, value: found.value as T, error: undefined, source: found.source, durationMs: performance.now() - started };
      }
      return { ok: false, value: undefined, error: undefined, source: undefined, durationMs: performance.now() - started };
    } catch (error) {
      const wrapped = isCacheError(error) ? error : new CacheError('E_INVALID_KEY', String(error), { cause: error });
      return { ok: false, value: undefined, error: wrapped, source: undefined, durationMs: performance.now() - started };
    }
  }

  /**
   * Counters and sizes, in total and per tier. O(1): counters are kept as operations happen.
   * With `reset`, the counters restart from zero after being read (sizes are not counters).
   */
  getStats(options?: { reset?: boolean }): CacheStats {
    const core = this.#core;
    const c = core.counters;
    const memory = core.memory;
    const expiring = memory.expiringCount;
    const avgTtlRemaining = expiring === 0 ? 0 : Math.max(0, memory.expirySum / expiring - core.clock.now());
    const memoryStats: TierStats = {
      hits: c.hits - c.storeHits,
      misses: c.misses + c.storeHits,
      sets: c.sets,
      deletes: c.deletes,
      evictions: c.evictions,
      expirations: c.expirations,
      memoryUsedBytes: memory.bytes,
      keyCount: memory.count,
      avgTtlRemaining,
    };
    const stores: CacheStats['stores'] = {};
    for (const tier of core.tiers) {
      stores[tier.name] = { ...tier.counters, breaker: tier.state, pendingWrites: tier.pending.size + (tier.pendingClear ? 1 : 0) };
      if (options?.reset === true) {
        for (const name of Object.keys(tier.counters) as (keyof typeof tier.counters)[]) tier.counters[name] = 0;
      }
    }
    const totalRequests = c.hits + c.misses;
    if (options?.reset === true) core.counters = new Counters();
    return {
      totalRequests,
      hits: c.hits,
      misses: c.misses,
      hitRate: totalRequests === 0 ? 0 : c.hits / totalRequests,
      evictions: c.evictions,
      memoryUsedBytes: memory.bytes,
      keyCount: memory.count,
      avgTtlRemaining,
      tiers: { memory: memoryStats },
      stores,
    };
  }

  /**
   * A view whose keys live under `name:` inside this cache. It shares tiers, stats and events with the
   * cache; its `clear` removes only its own keys.
   */
  namespace(name: string): Cache {
    assertValidKey(name, 256, 'namespace name');
    return new Cache(new ViewInit(this.#core, this.#ns + escapeSegment(name) + ':') as CacheOptions);
  }

  /** Listens to an event. Listeners cost nothing until registered; payloads carry full keys (namespace included). */
  on<E extends CacheEventName>(name: E, listener: CacheListener<E>): this {
    this.#core.emitter.on(name, listener);
    return this;
  }

  off<E extends CacheEventName>(name: E, listener: CacheListener<E>): this {
    this.#core.emitter.off(name, listener);
    return this;
  }

  /** Stops timers, frees memory and closes the stores (a client the user passed in stays open). Idempotent. */
  async close(): Promise<void> {
    const core = this.#core;
    if (core.closed) return;
    core.closed = true;
    await core.close();
  }

  #full(key: string): string {
    return typeof key === 'string' ? this.#ns + key : key;
  }

  #requireOpen(): Core {
    if (this.#core.closed) throw closedError();
    return this.#core;
  }

  /** Checks the key (and that the cache is open) and returns its full form inside the cache. */
  #validKey(key: string): string {
    this.#requireOpen();
    const full = this.#full(key);
    assertValidKey(full, this.#core.options.maxKeyLength);
    return full;
  }
}

/** Same as `new Cache(options)`. */
export function createCache(options: CacheOptions = {}): Cache {
  return new Cache(options);
}
