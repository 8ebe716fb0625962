import { randomUUID } from 'node:crypto';
import type { BusEnvelope, BusMessage } from './bus/contract.js';
import type { Clock } from './clock.js';
import type { Codec } from './codec/types.js';
import { decodeEntry, encodeEntry } from './entry.js';
import { CacheError, isCacheError } from './errors.js';
import { Emitter, type CacheEventName, type CacheListener } from './events.js';
import { escapeSegment } from './keys/escape.js';
import { assertValidKey } from './keys/validate.js';
import { MemoryTier } from './memory/memory-tier.js';
import type { RemovalCause } from './memory/types.js';
import { resolveOptions, type CacheOptions, type ResolvedOptions } from './options.js';
import type { Store, StoreWrite } from './stores/contract.js';
import { StoreTier, type BreakerState } from './tiers/store-tier.js';
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
  /** The first tier that holds it: `'memory'` or a store's name. */
  tier: string;
  /** Milliseconds until it expires. */
  ttlRemaining: number;
  /** Bytes it counts for: in memory, encoded value + key + per-entry overhead; in a store, the stored bytes. */
  sizeBytes: number;
  createdAt: Date;
  expiresAt: Date;
  tags: string[];
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

export interface StoreTierStats {
  hits: number;
  misses: number;
  sets: number;
  deletes: number;
  errors: number;
  timeouts: number;
  /** Calls not sent because the breaker was open. */
  skipped: number;
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
  /** Reads the memory tier missed but a store answered. */
  storeHits = 0;
}

interface Prepared {
  /** NaN when the deadline has already passed. */
  deadline: number;
  createdAt: number;
  size: number;
  tags: readonly string[] | undefined;
  /** The envelope for the stores; undefined without stores. */
  bytes: Uint8Array | undefined;
}

interface Found {
  value: unknown;
  source: string;
}

/** State shared by a cache and its namespace views. */
class Core {
  readonly options: ResolvedOptions;
  readonly clock: Clock;
  readonly codec: Codec;
  readonly emitter = new Emitter();
  readonly memory: MemoryTier<unknown>;
  readonly tiers: readonly StoreTier[];
  counters = new Counters();
  closed = false;
  readonly #replayTimers = new Set<NodeJS.Timeout>();
  /** Identifies this instance on the bus. */
  readonly origin = randomUUID();
  #seq = 0;
  readonly #lastSeq = new Map<string, number>();
  /** Resolves when the bus (if any) is subscribed. */
  readonly ready: Promise<void>;

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
    this.tiers = this.options.tiers.map((tier) => new StoreTier(tier, this.clock));
    const bus = this.options.bus;
    this.ready =
      bus === undefined
        ? Promise.resolve()
        : bus.start({
            message: (envelope) => this.receive(envelope),
            reconnected: () => this.recover('reconnect'),
            error: (error) => this.emitter.reportError(error, `${bus.name}.subscribe`),
          });
    // Surfaced through ready() and the error event; never an unhandled rejection.
    this.ready.catch((error: unknown) => this.emitter.reportError(error, 'bus.start'));
  }

  /** Tells the other instances; failures are reported (and thrown in strict mode), never silently lost. */
  async announce(message: BusMessage): Promise<void> {
    const bus = this.options.bus;
    if (bus === undefined) return;
    this.#seq++;
    try {
      await bus.publish({ ...message, origin: this.origin, seq: this.#seq, prefix: this.options.prefix });
    } catch (error) {
      this.storeFailed(error, `${bus.name}.publish`, message.type === 'keys' && message.keys.length === 1 ? message.keys[0] : undefined);
    }
  }

  receive(envelope: BusEnvelope): void {
    if (envelope.origin === this.origin || envelope.prefix !== this.options.prefix || this.closed) return;
    const last = this.#lastSeq.get(envelope.origin);
    if (last !== undefined && envelope.seq <= last) return;
    this.#lastSeq.set(envelope.origin, envelope.seq);
    if (last !== undefined && envelope.seq !== last + 1) {
      // Something between last and this one never arrived: whatever it invalidated may still be here.
      this.recover('gap', envelope.origin);
      return;
    }
    switch (envelope.type) {
      case 'keys':
        for (const key of envelope.keys) this.memory.delete(key);
        break;
      case 'clear':
        this.memory.clear();
        break;
      case 'namespace':
        for (const key of [...this.memory.keys()]) if (key.startsWith(envelope.namespace)) this.memory.delete(key);
        break;
    }
    if (this.emitter.listeners.remote !== undefined) {
      this.emitter.emit('remote', envelope.type === 'keys' ? { origin: envelope.origin, type: 'keys', keys: envelope.keys } : { origin: envelope.origin, type: envelope.type });
    }
  }

  recover(reason: 'gap' | 'reconnect', origin?: string): void {
    const dropped = this.memory.count;
    this.memory.clear();
    if (this.emitter.listeners.recover !== undefined) {
      this.emitter.emit('recover', origin === undefined ? { reason, dropped } : { reason, dropped, origin });
    }
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

  storeKey(full: string): string {
    return this.options.prefix === '' ? full : this.options.prefix + full;
  }

  memoryDeadline(expiresAt: number, now: number): number {
    const cap = this.options.memoryMaxTtl;
    return cap === Number.POSITIVE_INFINITY ? expiresAt : Math.min(expiresAt, now + cap);
  }

  /**
   * A store call that failed: told to `error` listeners, thrown in strict mode. Returns normally otherwise
   * so the caller carries on with the other tiers.
   */
  storeFailed(error: unknown, operation: string, key: string | undefined): void {
    this.emitter.reportError(error, operation, key);
    if (this.options.strict) throw error;
  }

  /** Runs a store call; undefined when it failed or was skipped (and strict mode is off). */
  async attempt<T>(tier: StoreTier, operation: string, call: (store: Store) => Promise<T>, key?: string): Promise<T | undefined> {
    if (!tier.available()) {
      if (this.options.strict) {
        throw new CacheError('E_BACKEND', `${tier.name}: circuit breaker is open; ${operation} not attempted`, key === undefined ? {} : { key });
      }
      return undefined;
    }
    try {
      const result = await tier.run(operation, call, key);
      if (tier.hasPending) this.scheduleReplay(tier, 0);
      return result;
    } catch (error) {
      this.storeFailed(error, `${tier.name}.${operation}`, key);
      return undefined;
    }
  }

  /** Applies a write to a store, or remembers it for replay when the store cannot take it now. */
  async write(tier: StoreTier, full: string, bytes: Uint8Array | undefined, expiresAt: number, createdAt: number): Promise<boolean> {
    const key = this.storeKey(full);
    const ok =
      bytes === undefined
        ? await this.attempt(tier, 'delete', (s) => s.delete(key), full)
        : await this.attempt(tier, 'set', (s) => s.set(key, bytes, tier.deadlineFor(expiresAt)).then(() => true), full);
    if (ok === undefined) {
      const pending = bytes === undefined ? { kind: 'delete' as const, at: createdAt } : { kind: 'set' as const, bytes, expiresAt, createdAt };
      this.remember(tier, full, pending);
      return false;
    }
    if (bytes === undefined) tier.counters.deletes++;
    else tier.counters.sets++;
    return ok;
  }

  remember(tier: StoreTier, full: string, write: Parameters<StoreTier['remember']>[1]): void {
    const { dropped } = tier.remember(full, write);
    if (dropped > 0) {
      this.emitter.reportError(
        new CacheError('E_BACKEND', `${tier.name}: ${dropped} pending writes dropped; the queue is full`),
        `${tier.name}.replay`,
      );
    }
    this.scheduleReplay(tier, tier.timeoutMs);
  }

  /** Tries the replay after `delayMs`, again and again while the store keeps failing. Never keeps the process alive. */
  scheduleReplay(tier: StoreTier, delayMs: number): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.#replayTimers.delete(timer);
      if (this.closed || !tier.hasPending) return;
      if (!tier.available()) {
        this.scheduleReplay(tier, Math.max(100, tier.timeoutMs));
        return;
      }
      // Deliberately not awaited: the replay runs beside the caller's traffic and reports its own failures.
      tier.replay((key) => this.storeKey(key)).then(
        () => {
          if (tier.hasPending) this.scheduleReplay(tier, tier.timeoutMs);
        },
        (error: unknown) => {
          this.emitter.reportError(error, `${tier.name}.replay`);
          this.scheduleReplay(tier, Math.max(100, tier.timeoutMs));
        },
      );
    }, delayMs);
    timer.unref();
    this.#replayTimers.add(timer);
  }

  /**
   * Reads down the store tiers. On a hit, the memory tier and the stores above the one that answered are
   * backfilled with the entry's remaining TTL (the deadline travels in the entry).
   */
  async readStores(full: string): Promise<Found | undefined> {
    const key = this.storeKey(full);
    for (let i = 0; i < this.tiers.length; i++) {
      const tier = this.tiers[i] as StoreTier;
      const bytes = await this.attempt(tier, 'get', (s) => s.get(key), full);
      if (bytes === undefined) {
        tier.counters.misses++;
        continue;
      }
      const found = this.open(tier, full, bytes);
      if (found === undefined) continue;
      tier.counters.hits++;
      this.counters.storeHits++;
      const { value, entry } = found;
      const now = this.clock.now();
      this.memory.set(full, value, this.memorySize(full, entry.value.length), this.memoryDeadline(entry.expiresAt, now), entry.tags);
      if (i > 0) this.backfill(full, bytes, entry.expiresAt, entry.createdAt, i);
      if (this.emitter.listeners.hit !== undefined) this.emitter.emit('hit', { key: full, tier: tier.name });
      return { value, source: tier.name };
    }
    return undefined;
  }

  /** Decodes a stored entry; undefined (a miss, reported on `error`) when it is expired or unreadable. */
  open(tier: StoreTier, full: string, bytes: Uint8Array): { value: unknown; entry: ReturnType<typeof decodeEntry> } | undefined {
    try {
      const entry = decodeEntry(bytes, full);
      if (entry.expiresAt <= this.clock.now()) {
        tier.counters.misses++;
        return undefined;
      }
      return { value: this.codec.decode(entry.value, full), entry };
    } catch (error) {
      tier.counters.misses++;
      this.emitter.reportError(error, `${tier.name}.decode`, full);
      return undefined;
    }
  }

  /** Writes an entry found in tier `below` into the stores above it, in the background. */
  backfill(full: string, bytes: Uint8Array, expiresAt: number, createdAt: number, below: number): void {
    for (let i = 0; i < below; i++) {
      const tier = this.tiers[i] as StoreTier;
      // Deliberately not awaited: a read must not wait for the tiers it did not need; failures are reported.
      this.write(tier, full, bytes, expiresAt, createdAt).catch((error: unknown) => this.emitter.reportError(error, `${tier.name}.backfill`, full));
    }
  }

  memorySize(full: string, encodedLength: number): number {
    return encodedLength + 2 * full.length + ENTRY_OVERHEAD_BYTES;
  }

  async close(): Promise<void> {
    for (const timer of this.#replayTimers) clearTimeout(timer);
    this.#replayTimers.clear();
    this.memory.close();
    this.memory.clear();
    const closing = this.tiers.map((tier) => tier.store.close());
    if (this.options.bus !== undefined) closing.push(this.options.bus.close());
    const results = await Promise.allSettled(closing);
    for (const result of results) if (result.status === 'rejected') this.emitter.reportError(result.reason, 'close');
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
    const found = await this.#readBelow(full);
    return found === undefined ? options?.default : (found.value as T);
  }

  /** After a memory-tier miss: the stores, and the hit/miss accounting of the whole read. */
  async #readBelow(full: string): Promise<Found | undefined> {
    const core = this.#core;
    const found = core.tiers.length === 0 ? undefined : await core.readStores(full);
    if (found === undefined) {
      core.counters.misses++;
      if (core.emitter.listeners.miss !== undefined) core.emitter.emit('miss', { key: full });
    } else {
      core.counters.hits++;
    }
    return found;
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
    return this.#store(full, value, this.#prepare(full, value, options));
  }

  /** Checks and encodes everything a write needs before anything is written. */
  #prepare(full: string, value: unknown, options: SetOptions): Prepared {
    const core = this.#core;
    const now = core.clock.now();
    const deadline = deadlineOf(options.ttl ?? core.options.defaultTtl, now);
    const tags = validateTags(options.tags);
    const encoded = core.codec.encode(value, full);
    const expired = deadline <= now;
    return {
      deadline: expired ? Number.NaN : deadline,
      createdAt: now,
      size: core.memorySize(full, encoded.length),
      tags,
      bytes: core.tiers.length === 0 || expired ? undefined : encodeEntry(encoded, { createdAt: now, expiresAt: deadline, tags }),
    };
  }

  async #store(full: string, value: unknown, prepared: Prepared): Promise<boolean> {
    const core = this.#core;
    if (Number.isNaN(prepared.deadline)) {
      core.memory.delete(full);
      await Promise.all(core.tiers.map((tier) => core.write(tier, full, undefined, 0, prepared.createdAt)));
      await core.announce({ type: 'keys', keys: [full] });
      return false;
    }
    let stored = core.memory.set(full, value, prepared.size, core.memoryDeadline(prepared.deadline, prepared.createdAt), prepared.tags);
    if (prepared.bytes !== undefined) {
      const bytes = prepared.bytes;
      const results = await Promise.all(core.tiers.map((tier) => core.write(tier, full, bytes, prepared.deadline, prepared.createdAt)));
      stored = stored || results.includes(true);
    }
    await core.announce({ type: 'keys', keys: [full] });
    if (stored) {
      core.counters.sets++;
      if (core.emitter.listeners.set !== undefined) core.emitter.emit('set', { key: full, tier: 'memory' });
    }
    return stored;
  }

  /** True when the key holds a live value in any tier. Does not count as a read. */
  async has(key: string): Promise<boolean> {
    return (await this.#locate(this.#validKey(key))) !== undefined;
  }

  /** Finds the first tier holding a live entry, without counting a read or backfilling. */
  async #locate(full: string): Promise<KeyInfo | undefined> {
    const core = this.#core;
    const memory = core.memory;
    const slot = memory.peek(full);
    if (slot >= 0) {
      const expiresAt = memory.expiresAtOf(slot);
      return {
        key: full,
        exists: true,
        tier: 'memory',
        ttlRemaining: Math.max(0, expiresAt - core.clock.now()),
        sizeBytes: memory.sizeOf(slot),
        createdAt: new Date(memory.createdAtOf(slot)),
        expiresAt: new Date(expiresAt),
        tags: [...((memory.metaOf(slot) as readonly string[] | undefined) ?? [])],
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
      return {
        key: full,
        exists: true,
        tier: tier.name,
        ttlRemaining: entry.expiresAt - now,
        sizeBytes: bytes.length,
        createdAt: new Date(entry.createdAt),
        expiresAt: new Date(entry.expiresAt),
        tags: [...(entry.tags ?? [])],
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
    const removed = await Promise.all(core.tiers.map((tier) => core.write(tier, full, undefined, 0, now)));
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
    const core = this.#core;
    const results = new Array<T | undefined>(fulls.length).fill(undefined);
    let missing: number[] = [];
    for (let i = 0; i < fulls.length; i++) {
      const full = fulls[i] as string;
      const slot = core.memory.find(full);
      if (slot >= 0) {
        core.counters.hits++;
        if (core.emitter.listeners.hit !== undefined) core.emitter.emit('hit', { key: full, tier: 'memory' });
        results[i] = core.memory.valueAt(slot) as T;
      } else {
        missing.push(i);
      }
    }
    for (let t = 0; t < core.tiers.length && missing.length > 0; t++) {
      const tier = core.tiers[t] as StoreTier;
      const storeKeys = missing.map((i) => core.storeKey(fulls[i] as string));
      const got = await core.attempt(tier, 'getMany', (s) => (s.getMany === undefined ? Promise.all(storeKeys.map((k) => s.get(k))) : s.getMany(storeKeys)));
      if (got === undefined) continue;
      const stillMissing: number[] = [];
      missing.forEach((index, j) => {
        const full = fulls[index] as string;
        const bytes = got[j];
        const found = bytes === undefined ? undefined : core.open(tier, full, bytes);
        if (found === undefined) {
          if (bytes === undefined) tier.counters.misses++;
          stillMissing.push(index);
          return;
        }
        tier.counters.hits++;
        core.counters.hits++;
        core.counters.storeHits++;
        const now = core.clock.now();
        core.memory.set(full, found.value, core.memorySize(full, found.entry.value.length), core.memoryDeadline(found.entry.expiresAt, now), found.entry.tags);
        if (t > 0) core.backfill(full, bytes as Uint8Array, found.entry.expiresAt, found.entry.createdAt, t);
        if (core.emitter.listeners.hit !== undefined) core.emitter.emit('hit', { key: full, tier: tier.name });
        results[index] = found.value as T;
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
    const core = this.#core;
    const stored = items.map(({ full, value, prepared }) => {
      if (Number.isNaN(prepared.deadline)) {
        core.memory.delete(full);
        return false;
      }
      return core.memory.set(full, value, prepared.size, core.memoryDeadline(prepared.deadline, prepared.createdAt), prepared.tags);
    });
    await Promise.all(
      core.tiers.map(async (tier) => {
        const writes: StoreWrite[] = items.map(({ full, prepared }) => ({
          key: core.storeKey(full),
          value: prepared.bytes ?? new Uint8Array(0),
          expiresAt: Number.isNaN(prepared.deadline) ? 0 : tier.deadlineFor(prepared.deadline),
        }));
        const ok = await core.attempt(tier, 'setMany', (s) =>
          (s.setMany === undefined ? Promise.all(writes.map((w) => s.set(w.key, w.value, w.expiresAt))) : s.setMany(writes)).then(() => true),
        );
        items.forEach(({ full, prepared }, i) => {
          if (ok === true) {
            if (!Number.isNaN(prepared.deadline)) stored[i] = true;
            tier.counters.sets++;
          } else {
            core.remember(
              tier,
              full,
              prepared.bytes === undefined
                ? { kind: 'delete', at: prepared.createdAt }
                : { kind: 'set', bytes: prepared.bytes, expiresAt: prepared.deadline, createdAt: prepared.createdAt },
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
    const fulls = keys.map((key) => this.#validKey(key));
    const core = this.#core;
    const now = core.clock.now();
    const live = fulls.map((full) => {
      const was = core.memory.peek(full) >= 0;
      core.memory.delete(full);
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
    await core.announce({ type: 'namespace', namespace: this.#ns });
    return doomed.length;
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
      const slot = core.memory.find(full);
      if (slot >= 0) {
        core.counters.hits++;
        if (core.emitter.listeners.hit !== undefined) core.emitter.emit('hit', { key: full, tier: 'memory' });
        const value = core.memory.valueAt(slot) as T;
        return { ok: true, value, error: undefined, source: 'memory', durationMs: performance.now() - started };
      }
      const found = await this.#readBelow(full);
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
