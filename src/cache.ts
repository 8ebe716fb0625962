import type { Clock } from './clock.js';
import type { Codec } from './codec/types.js';
import { CacheError, isCacheError } from './errors.js';
import { Emitter, type CacheEventName, type CacheListener } from './events.js';
import { escapeSegment } from './keys/escape.js';
import { assertValidKey } from './keys/validate.js';
import { MemoryTier } from './memory/memory-tier.js';
import type { RemovalCause } from './memory/types.js';
import { resolveOptions, type CacheOptions, type ResolvedOptions } from './options.js';
import { deadlineOf, type Ttl } from './ttl.js';

export interface SetOptions {
  /** How long the entry lives. @default the cache's `defaultTtl` */
  ttl?: Ttl;
  /** Labels for bulk invalidation. */
  tags?: readonly string[];
}

export interface GetOptions<T> {
  /** Returned instead of `undefined` when the key is not cached. */
  default?: T;
}

export interface SetManyEntry extends SetOptions {
  key: string;
  value: unknown;
}

/** What `inspect` knows about a cached key (the seed's `get_key_info`). Durations are milliseconds. */
export interface KeyInfo {
  key: string;
  exists: true;
  /** The tier that holds it. */
  tier: string;
  /** Milliseconds until it expires. */
  ttlRemaining: number;
  /** Bytes it counts for: encoded value, key and per-entry overhead. */
  sizeBytes: number;
  createdAt: Date;
  expiresAt: Date;
  tags: string[];
}

/** The variant of `get` that never throws (seed 002's `CacheResult`). `ok` is true when a value was found. */
export interface CacheResult<T> {
  ok: boolean;
  value: T | undefined;
  /** Set when the read failed (bad key, closed cache), as opposed to a plain miss. */
  error: CacheError | undefined;
  /** The tier that answered, `undefined` on a miss. */
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

export interface CacheStats {
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
}

/**
 * Bytes an entry counts for beyond its encoded value and key: the tier's per-entry slots and the key map's
 * share, measured at about this size in `npm run bench`.
 */
export const ENTRY_OVERHEAD_BYTES = 96;

class Counters {
  hits = 0;
  misses = 0;
  sets = 0;
  deletes = 0;
  evictions = 0;
  expirations = 0;
}

/** State shared by a cache and its namespace views. */
class Core {
  readonly options: ResolvedOptions;
  readonly clock: Clock;
  readonly codec: Codec;
  readonly emitter = new Emitter();
  readonly memory: MemoryTier<unknown>;
  counters = new Counters();
  closed = false;

  constructor(options: CacheOptions) {
    this.options = resolveOptions(options);
    this.clock = this.options.clock;
    this.codec = this.options.codec;
    this.memory = new MemoryTier<unknown>({
      maxEntries: this.options.maxEntries,
      maxBytes: this.options.maxBytes,
      policy: this.options.policy,
      clock: this.clock,
      sweepInterval: this.options.sweepInterval,
      onRemove: (key, cause) => this.onRemove(key, cause),
    });
  }

  onRemove(key: string, cause: RemovalCause): void {
    if (cause === 'capacity') {
      this.counters.evictions++;
      if (this.emitter.listeners.evict !== undefined) this.emitter.emit('evict', { key, tier: 'memory' });
    } else {
      this.counters.expirations++;
      if (this.emitter.listeners.expire !== undefined) this.emitter.emit('expire', { key, tier: 'memory' });
    }
  }
}

class ViewInit {
  constructor(
    readonly core: Core,
    readonly ns: string,
  ) {}
}

function closedError(): CacheError {
  return new CacheError('E_CLOSED', 'the cache is closed');
}

function validateTags(tags: unknown): readonly string[] | undefined {
  if (tags === undefined) return undefined;
  if (!Array.isArray(tags)) throw new TypeError(`tags must be an array of strings, got ${typeof tags}`);
  if (tags.length === 0) return undefined;
  for (const tag of tags) assertValidKey(tag, 256, 'tag');
  return Object.freeze([...new Set(tags as string[])]);
}

/**
 * A cache: a bounded in-process memory tier in front of (later) shared stores, with one codec for every
 * tier, so what you put in is exactly what you get back.
 *
 * @example
 * const cache = new Cache({ defaultTtl: '1h', memory: { maxEntries: 50_000 } });
 * await cache.set('user:1', { name: 'Ada' }, { ttl: '5m', tags: ['users'] });
 * const user = await cache.get<{ name: string }>('user:1');
 */
export class Cache {
  readonly #core: Core;
  /** Key prefix of this view inside the memory tier: '' for the cache itself, 'name:' for a namespace. */
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
      const slot = core.memory.find(full);
      if (slot >= 0) {
        core.counters.hits++;
        if (core.emitter.listeners.hit !== undefined) core.emitter.emit('hit', { key: full, tier: 'memory' });
        return Promise.resolve(core.memory.valueAt(slot) as T);
      }
    }
    return this.#getMissing(key, options);
  }

  async #getMissing<T>(key: string, options: GetOptions<T> | undefined): Promise<T | undefined> {
    const full = this.#validKey(key);
    const core = this.#core;
    core.counters.misses++;
    if (core.emitter.listeners.miss !== undefined) core.emitter.emit('miss', { key: full });
    return options?.default;
  }

  /**
   * Stores a value. Returns `false` when nothing was stored: the TTL is `0` or a past `Date` (any previous
   * value of the key is removed, since it is now out of date), or the entry is larger than the tier's byte bound.
   * Throws `SerializationError` for values the codec cannot hold, `TypeError` for a bad TTL, `InvalidKeyError`
   * for a bad key; nothing is stored then.
   */
  async set(key: string, value: unknown, options: SetOptions = {}): Promise<boolean> {
    return this.#setOne(this.#validKey(key), value, options);
  }

  #setOne(full: string, value: unknown, options: SetOptions): boolean {
    const prepared = this.#prepare(full, value, options);
    return this.#store(full, value, prepared);
  }

  /** Checks and encodes everything a write needs before anything is written. */
  #prepare(full: string, value: unknown, options: SetOptions): { deadline: number; size: number; tags: readonly string[] | undefined } {
    const core = this.#core;
    const now = core.clock.now();
    const deadline = deadlineOf(options.ttl ?? core.options.defaultTtl, now);
    const tags = validateTags(options.tags);
    const bytes = core.codec.encode(value, full);
    return { deadline: deadline <= now ? Number.NaN : deadline, size: bytes.length + 2 * full.length + ENTRY_OVERHEAD_BYTES, tags };
  }

  #store(full: string, value: unknown, prepared: { deadline: number; size: number; tags: readonly string[] | undefined }): boolean {
    const core = this.#core;
    if (Number.isNaN(prepared.deadline)) {
      core.memory.delete(full);
      return false;
    }
    const stored = core.memory.set(full, value, prepared.size, prepared.deadline, prepared.tags);
    if (stored) {
      core.counters.sets++;
      if (core.emitter.listeners.set !== undefined) core.emitter.emit('set', { key: full, tier: 'memory' });
    }
    return stored;
  }

  /** True when the key holds a live value. Does not count as a use of the entry. */
  async has(key: string): Promise<boolean> {
    return this.#core.memory.peek(this.#validKey(key)) >= 0;
  }

  /** Removes the key. Returns true when there was a live value. */
  async delete(key: string): Promise<boolean> {
    return this.#deleteOne(this.#validKey(key));
  }

  #deleteOne(full: string): boolean {
    const core = this.#core;
    const live = core.memory.peek(full) >= 0;
    core.memory.delete(full);
    if (live) {
      core.counters.deletes++;
      if (core.emitter.listeners.delete !== undefined) core.emitter.emit('delete', { key: full });
    }
    return live;
  }

  /** The values of `keys`, in order, `undefined` for the missing ones. */
  async getMany<T = unknown>(keys: readonly string[]): Promise<(T | undefined)[]> {
    if (!Array.isArray(keys)) throw new TypeError('getMany expects an array of keys');
    const fulls = keys.map((key) => this.#validKey(key));
    const core = this.#core;
    return fulls.map((full) => {
      const slot = core.memory.find(full);
      if (slot >= 0) {
        core.counters.hits++;
        if (core.emitter.listeners.hit !== undefined) core.emitter.emit('hit', { key: full, tier: 'memory' });
        return core.memory.valueAt(slot) as T;
      }
      core.counters.misses++;
      if (core.emitter.listeners.miss !== undefined) core.emitter.emit('miss', { key: full });
      return undefined;
    });
  }

  /**
   * Stores several entries. Every key, TTL and value is checked and encoded first: if any is bad, the call
   * throws and stores none of them. Returns one boolean per entry, as `set` would.
   */
  async setMany(entries: readonly SetManyEntry[], options: SetOptions = {}): Promise<boolean[]> {
    if (!Array.isArray(entries)) throw new TypeError('setMany expects an array of { key, value, ttl?, tags? }');
    const prepared = entries.map((entry: SetManyEntry, i) => {
      if (typeof entry !== 'object' || entry === null) throw new TypeError(`setMany entry ${i} must be an object`);
      const full = this.#validKey(entry.key);
      const merged: SetOptions = { ...options };
      if (entry.ttl !== undefined) merged.ttl = entry.ttl;
      if (entry.tags !== undefined) merged.tags = entry.tags;
      return { full, value: entry.value, prepared: this.#prepare(full, entry.value, merged) };
    });
    return prepared.map(({ full, value, prepared: p }) => this.#store(full, value, p));
  }

  /** Removes several keys; returns how many held a live value. */
  async deleteMany(keys: readonly string[]): Promise<number> {
    if (!Array.isArray(keys)) throw new TypeError('deleteMany expects an array of keys');
    const fulls = keys.map((key) => this.#validKey(key));
    let count = 0;
    for (const full of fulls) if (this.#deleteOne(full)) count++;
    return count;
  }

  /**
   * Removes every entry of this cache (or, on a namespace view, of that namespace only) and returns how many
   * there were. Refuses unless called as `clear({ confirm: true })`.
   */
  async clear(options?: { confirm?: boolean }): Promise<number> {
    if (options?.confirm !== true) {
      throw new CacheError('E_NOT_CONFIRMED', 'clear() removes every entry: call clear({ confirm: true }) to do it');
    }
    const core = this.#requireOpen();
    if (this.#ns === '') {
      const count = core.memory.count;
      core.memory.clear();
      return count;
    }
    const doomed: string[] = [];
    for (const key of core.memory.keys()) if (key.startsWith(this.#ns)) doomed.push(key);
    for (const key of doomed) core.memory.delete(key);
    return doomed.length;
  }

  /** Metadata of a cached key (the seed's `get_key_info`), or `undefined` when it is not cached. */
  async inspect(key: string): Promise<KeyInfo | undefined> {
    const full = this.#validKey(key);
    const core = this.#core;
    const memory = core.memory;
    const slot = memory.peek(full);
    if (slot < 0) return undefined;
    const expiresAt = memory.expiresAtOf(slot);
    return {
      key,
      exists: true,
      tier: 'memory',
      ttlRemaining: Math.max(0, expiresAt - core.clock.now()),
      sizeBytes: memory.sizeOf(slot),
      createdAt: new Date(memory.createdAtOf(slot)),
      expiresAt: new Date(expiresAt),
      tags: [...((memory.metaOf(slot) as readonly string[] | undefined) ?? [])],
    };
  }

  /** Like `get`, but never throws: failures come back as `{ ok: false, error }`. */
  async getResult<T = unknown>(key: string): Promise<CacheResult<T>> {
    const started = performance.now();
    try {
      const full = this.#validKey(key);
      const core = this.#core;
      const slot = core.memory.find(full);
      if (slot >= 0) {
        core.counters.hits++;
        if (core.emitter.listeners.hit !== undefined) core.emitter.emit('hit', { key: full, tier: 'memory' });
        const value = core.memory.valueAt(slot) as T;
        return { ok: true, value, error: undefined, source: 'memory', durationMs: performance.now() - started };
      }
      core.counters.misses++;
      if (core.emitter.listeners.miss !== undefined) core.emitter.emit('miss', { key: full });
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
    const tier: TierStats = {
      hits: c.hits,
      misses: c.misses,
      sets: c.sets,
      deletes: c.deletes,
      evictions: c.evictions,
      expirations: c.expirations,
      memoryUsedBytes: memory.bytes,
      keyCount: memory.count,
      avgTtlRemaining,
    };
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
      tiers: { memory: tier },
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

  /** Stops timers and frees memory. Later calls reject with code `E_CLOSED`. Idempotent. */
  async close(): Promise<void> {
    const core = this.#core;
    if (core.closed) return;
    core.closed = true;
    core.memory.close();
    core.memory.clear();
  }

  #full(key: string): string {
    return typeof key === 'string' ? this.#ns + key : (key as unknown as string);
  }

  #requireOpen(): Core {
    if (this.#core.closed) throw closedError();
    return this.#core;
  }

  /** Checks the key (and that the cache is open) and returns its full form inside the memory tier. */
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
