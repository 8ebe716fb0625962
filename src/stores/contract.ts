import type { Clock } from '../clock.js';

/** What a store can do, so the core can plan around what it cannot. */
export interface StoreCapabilities {
  /** The backend removes expired entries by itself; without it the core calls `prune` now and then. */
  readonly nativeExpiry: boolean;
  /**
   * Smallest expiry step the backend honours, in ms (1000 for second-resolution backends such as Memcached).
   * A `get` may return an entry up to this long after its deadline; the core checks deadlines itself.
   */
  readonly expiryResolutionMs: number;
  /** Other processes (and machines) see the same entries. */
  readonly shared: boolean;
  /** `keys(pattern)` is available and does not block the backend. */
  readonly iterate: boolean;
  /** `add` is atomic across every client of the backend. */
  readonly atomicAdd: boolean;
  /** Largest value the backend accepts, in bytes. */
  readonly maxValueBytes: number;
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
   * Appends a record to a capped log every process shares (Redis: a stream trimmed to about `maxLength`).
   * The core keeps its invalidation history there when the store offers it.
   */
  appendLog?(log: string, record: Uint8Array, maxLength: number): Promise<void>;
  /** The newest `limit` records appended at or after `sinceMs` (epoch ms), oldest first. */
  readLog?(log: string, sinceMs: number, limit: number): Promise<Uint8Array[]>;
}

/**
 * What a store's `get`/`getMany` returns for an entry whose own framing it cannot read (corrupt bytes, an unknown
 * format): no entry the core writes is empty, so the core's decoder refuses it, reports it on `error` (E_DECODE)
 * and reads a miss, and the next write replaces it. Empty, so nothing can be written into it.
 */
export const UNREADABLE: Uint8Array = new Uint8Array(0);

/** Options every store factory takes. */
export interface BaseStoreOptions {
  /** Source of "now" for turning deadlines into backend TTLs. @default Date.now */
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
