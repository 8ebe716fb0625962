import type { Clock, TimeSource } from '../clock.js';

/**
 * What a store can do, so the core can plan around what it cannot. The core reads `shared` and `atomicAdd`;
 * what the methods a store offers already say (`iterate`: `keys` present; `nativeExpiry`: `prune` absent) is
 * derived from them, and those flags are still accepted but ignored.
 */
export interface StoreCapabilities {
  /**
   * The backend removes expired entries by itself.
   * @deprecated Ignored: derived from the methods offered (no `prune` means the backend expires entries itself).
   * Still accepted, so stores written before keep type-checking.
   */
  readonly nativeExpiry?: boolean;
  /**
   * Smallest expiry step the backend honours, in ms (1000 for second-resolution backends such as Memcached).
   * A `get` may return an entry up to this long after its deadline; the core checks deadlines itself, so only
   * the conformance suite reads it (to wait long enough).
   */
  readonly expiryResolutionMs: number;
  /** Other processes (and machines) see the same entries: the core fences loads and keeps markers only there. */
  readonly shared: boolean;
  /**
   * `keys(pattern)` is available and does not block the backend.
   * @deprecated Ignored: the core looks at whether `keys` is offered. Still accepted; when given it must agree.
   */
  readonly iterate?: boolean;
  /** `add` is atomic across every client of the backend: the core takes leases and fences loads only then. */
  readonly atomicAdd: boolean;
  /** Largest value the backend accepts, in bytes (the store refuses larger ones; the conformance suite sizes its test by it). */
  readonly maxValueBytes: number;
}

/** Capabilities with the derived flags filled in from the methods a store offers (see `capabilitiesOf`). */
export interface ResolvedCapabilities extends StoreCapabilities {
  readonly nativeExpiry: boolean;
  readonly iterate: boolean;
}

/** A store's capabilities with `iterate` and `nativeExpiry` derived from the methods it offers. */
export function capabilitiesOf(store: Store): ResolvedCapabilities {
  return Object.freeze({ ...store.capabilities, iterate: typeof store.keys === 'function', nativeExpiry: typeof store.prune !== 'function' });
}

export interface StoreWrite {
  key: string;
  value: Uint8Array;
  /** Absolute deadline, epoch ms. At or before now: nothing is stored and any previous value is removed. */
  expiresAt: number;
}

/**
 * A backend adapter. It moves opaque bytes with an absolute deadline; serialization, tags, staleness and
 * statistics live in the core. Keys arrive without the store's own prefix; the store adds it, and
 * `clear` removes only what lies under it. Every error a store raises is a `CacheBackendError` naming it, but
 * for `InvalidKeyError` when a key is not a string or holds a lone surrogate (it could alias another key).
 */
export interface Store {
  /** Names the store in errors, events and stats, e.g. `'redis'`. */
  readonly name: string;
  readonly capabilities: StoreCapabilities;

  /**
   * The stored bytes. They may be a view into a larger buffer that nothing else writes (a network read chunk):
   * valid for as long as the caller keeps them, but a caller that keeps a small value for long should copy it
   * so the chunk can go.
   */
  get(key: string): Promise<Uint8Array | undefined>;
  set(key: string, value: Uint8Array, expiresAt: number): Promise<void>;
  /** True when a live entry was removed (stores that cannot tell return true when they may have). */
  delete(key: string): Promise<boolean>;
  /** Removes every entry under this store's prefix, never anything else in the backend. */
  clear(): Promise<void>;
  /** Releases what the store opened. A client passed in by the user stays open. Idempotent. */
  close(): Promise<void>;

  /** Batched read, in order; the core emulates it with `get` when absent. */
  getMany?(keys: readonly string[]): Promise<(Uint8Array | undefined)[]>;
  setMany?(entries: readonly StoreWrite[]): Promise<void>;
  /** Returns how many live entries were removed (or how many may have been, where the backend cannot tell). */
  deleteMany?(keys: readonly string[]): Promise<number>;
  /** Stores only when no live entry exists; true when it stored. Atomic where `capabilities.atomicAdd`. */
  add?(key: string, value: Uint8Array, expiresAt: number): Promise<boolean>;
  /**
   * `add` and `get` in one atomic step: stores `value` and returns undefined when no live entry exists, otherwise
   * changes nothing and returns the live entry's bytes. The core claims a key with it before a load, so the claim
   * is also the read (one round trip instead of two). `expiresAt` must be after now: a deadline already passed
   * is refused with a CacheBackendError, since nothing would be stored. Present only where the backend does it
   * atomically for every client (Redis: `SET … NX GET`; on a server before 7.0 the Redis store emulates it, see `RedisStore`).
   */
  addOrGet?(key: string, value: Uint8Array, expiresAt: number): Promise<Uint8Array | undefined>;
  /**
   * Atomic compare-and-set, for fencing loads across processes: when the key holds a live entry whose bytes
   * start with `expected`, replaces it with `value` (removes it when `value` is undefined) and returns true;
   * otherwise changes nothing and returns false. Present only where the backend does it atomically for every
   * client (Redis: one script).
   */
  replaceIf?(key: string, expected: Uint8Array, value: Uint8Array | undefined, expiresAt: number): Promise<boolean>;
  /** Removes expired entries (stores without native expiry); returns how many. */
  prune?(): Promise<number>;
  /**
   * Keys (without the store prefix) matching a glob where `*` is any run and `?` one character. Other
   * characters match themselves. Present only where the backend can iterate without blocking (never `KEYS`).
   */
  keys?(pattern: string): AsyncIterable<string>;
  /**
   * Removes every live entry whose key (without the store prefix) starts with `prefix`, as `key.startsWith(prefix)`
   * says: no glob (`*` and `?` are ordinary characters), and no segments (`user_1` also matches `user_12`).
   * Returns how many live entries were removed; expired entries are not counted. Present only where the cost
   * grows with the entries matched rather than with the size of the store, once the store has built what it
   * needs (Redis: a sorted index of keys, built on first use while that call falls back to SCAN), so the core
   * can prefer it to `keys` + `deleteMany` for patterns of the form `literal*`. An empty prefix removes every
   * entry written through the store.
   */
  deletePrefix?(prefix: string): Promise<number>;
  /**
   * A small named set of members, each with its own deadline (epoch ms), shared by every client (Redis: a sorted
   * set scored by deadline). Adds `member` to `index` until `expiresAt`, or moves its deadline; members whose
   * deadline has passed are dropped. The three member methods come together or not at all (`hasMemberIndex`):
   * the fleet keeps its members there, so listing them costs what the members cost rather than a walk of every
   * key; a store without them lists heartbeats with `keys`.
   */
  addMember?(index: string, member: string, expiresAt: number): Promise<void>;
  /** Removes `member` from `index` (nothing when it is not there). */
  removeMember?(index: string, member: string): Promise<void>;
  /** At most `limit` members of `index` whose deadline is after now (the store's clock), in no set order. */
  members?(index: string, limit: number): Promise<string[]>;
  /**
   * Called once by each cache built over this store, before any other call, with what the cache shares with
   * its stores. A store uses the cache's clock for its deadlines and timers unless it was given one itself.
   */
  attach?(context: StoreContext): void;
  /** @deprecated Declare the store a `SharedLog` instead; still honoured when both log methods are present. */
  appendLog?(log: string, record: Uint8Array, maxLength: number): Promise<void>;
  /** @deprecated Declare the store a `SharedLog` instead; still honoured when both log methods are present. */
  readLog?(log: string, sinceMs: number, limit: number): Promise<Uint8Array[]>;
}

/** What a cache hands each of its stores once (see `Store.attach`). */
export interface StoreContext {
  /** The cache's time source: what a store built without a `clock` should use for "now" and for its timers. */
  readonly clock: TimeSource;
}

/**
 * An optional capability beside the byte-store contract: a capped log every process sharing the backend reads
 * and appends to. The core keeps its invalidation history there when the first store offers one (Redis: a stream).
 */
export interface SharedLog {
  /** Appends a record, trimming the log to about `maxLength` records. */
  appendLog(log: string, record: Uint8Array, maxLength: number): Promise<void>;
  /** The newest `limit` records appended at or after `sinceMs` (epoch ms), oldest first. */
  readLog(log: string, sinceMs: number, limit: number): Promise<Uint8Array[]>;
}

/** The member-index methods of a {@link Store}, all present. */
export type MemberIndex = Required<Pick<Store, 'addMember' | 'removeMember' | 'members'>>;

/** True when the store offers a member index (all three methods). */
export function hasMemberIndex<S extends Store>(store: S): store is S & MemberIndex {
  return typeof store.addMember === 'function' && typeof store.removeMember === 'function' && typeof store.members === 'function';
}

/** True when the store offers a shared log (both methods). */
export function hasSharedLog<S extends object>(store: S): store is S & SharedLog {
  const candidate = store as Partial<SharedLog>;
  return typeof candidate.appendLog === 'function' && typeof candidate.readLog === 'function';
}

/**
 * What a store's `get`/`getMany` returns for an entry whose own framing it cannot read (corrupt bytes, an unknown
 * format): no entry the core writes is empty, so the core's decoder refuses it, reports it on `error` (E_DECODE)
 * and reads a miss, and the next write replaces it. Empty, so nothing can be written into it.
 */
export const UNREADABLE: Uint8Array = new Uint8Array(0);

/** Options every store factory takes. */
export interface BaseStoreOptions {
  /**
   * Source of "now" for turning deadlines into backend TTLs, and of the store's timers when it has them. A store
   * built without one takes the clock of the first cache it serves (`Store.attach`); the default below holds
   * for a store no cache uses.
   * @default Date.now
   */
  clock?: Clock;
}

/**
 * The `prefix` option of a store, which also accepts its old name `namespace` (SQL and file stores) so code
 * written before the rename keeps working. Every store calls the part of the backend it owns its prefix: a
 * key prefix (Redis, Memcached), the value of the `namespace` column (SQL: the column keeps its name, so
 * existing tables stay readable), a subdirectory (file).
 *
 * @throws {TypeError} when the value is not a string, or both names are given with different values.
 */
export function prefixOption(options: { prefix?: string | undefined; namespace?: string | undefined }, fallback: string, owner: string): string {
  const { prefix, namespace } = options;
  if (prefix !== undefined && namespace !== undefined && prefix !== namespace) {
    throw new TypeError(`${owner}: prefix and namespace (its deprecated old name) disagree: ${JSON.stringify(prefix)} vs ${JSON.stringify(namespace)}; pass prefix only`);
  }
  const value: unknown = prefix ?? namespace ?? fallback;
  if (typeof value !== 'string') throw new TypeError(`${owner}: prefix must be a string, got ${typeof value}`);
  return value;
}
