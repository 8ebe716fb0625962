import type { Ttl } from '../ttl.js';

export interface SetOptions {
  /** How long the entry lives. @default the cache's `defaultTtl` */
  ttl?: Ttl;
  /** Labels for bulk invalidation. */
  tags?: readonly string[];
  /**
   * How long the entry is kept after its TTL runs out (or after `expireTags` made it stale), as a stale value:
   * `getOrSet` serves it at once while one refresh runs in the background (stale-while-revalidate), and when
   * the loader fails (fail-safe). Plain `get` never returns it unless asked with `{ stale: true }`.
   * Hard invalidations (`invalidateTags`, `delete`, patterns) remove it whatever the grace.
   * @default the cache's `compute.grace` (0: no stale values)
   */
  grace?: Ttl;
}

/** Cross-process single-flight for `getOrSet` (opt-in): one loader call per cold key across every instance. */
export interface LeaseOptions {
  /**
   * How long a lease lives without renewal: an instance that dies while loading blocks the key this long at
   * most. The holder renews it every third of this while its loader runs.
   * @default '10s'
   */
  ttl?: Ttl;
  /**
   * Longest a caller waits for another instance's load before it loads the value itself.
   * @default '30s'
   */
  wait?: Ttl;
}

export interface GetOrSetOptions extends SetOptions {
  /**
   * Run the loader even when a value is cached, and cache its result (seed 001's `force_refresh`).
   * @default false
   */
  forceRefresh?: boolean;
  /**
   * When a stale value (within grace) exists, wait at most this long for the refresh before answering with
   * the stale value; the refresh goes on in the background and caches its result. `0` answers at once
   * (stale-while-revalidate).
   * @default 0
   */
  softTimeout?: Ttl;
  /**
   * Longest the loader may run: then its `signal` is aborted and the callers get `LoaderTimeoutError`
   * (or the stale value, when one exists within grace).
   * @default none
   */
  hardTimeout?: Ttl;
  /**
   * Fraction of the TTL (between 0 and 1, exclusive) after which the first read starts one background
   * refresh while the current value is still served, so hot keys never expire under their readers.
   * @default none
   */
  refreshAhead?: number;
  /**
   * After the loader failed and a stale value was served instead (fail-safe), how long this instance keeps
   * serving it without calling the loader again.
   * @default '5s'
   */
  failSafeBackoff?: Ttl;
  /**
   * When the loader fails and no stale value exists, remember the failure this long: callers get the same
   * error without calling the loader (negative caching). Per instance; a write or invalidation of the key
   * forgets it.
   * @default 0 (off)
   */
  negativeTtl?: Ttl;
  /**
   * Across processes, one loader call per cold key: the first instance takes a lease in the first shared
   * store, the others wait for its value. `true` uses the default lease settings.
   * @default the cache's `compute.lease` (off)
   */
  lease?: boolean | LeaseOptions;
}

/** What a loader is told about the load it runs, and how it can change what is cached (adaptive caching). */
export interface LoaderContext<T = unknown> {
  /** The key being loaded (without the namespace). */
  readonly key: string;
  /** The value being refreshed, when one exists (stale, or still fresh for a refresh-ahead or `forceRefresh`). */
  readonly staleValue: T | undefined;
  /** Aborted when the load passes its `hardTimeout` or the cache closes: stop work and throw. */
  readonly signal: AbortSignal;
  /** Caches the result for this long instead of the call's `ttl`. */
  setTtl(ttl: Ttl): void;
  /**
   * Gives the result these tags instead of the call's. Call it before reading the data the value is built
   * from: an invalidation of a tag that arrives before the tag is set here cannot fence this load.
   */
  setTags(tags: readonly string[]): void;
  /** Returns the result to the callers without caching it. */
  skipCache(): void;
}

/** `getOrSet`'s structured result (seed 002): where the value came from and how long it took. */
export interface GetOrSetResult<T> {
  ok: boolean;
  value: T | undefined;
  /** The loader's error (or `LoaderTimeoutError`, or a cache error such as a bad key). */
  error: unknown;
  /** `'memory'`, a store's name, or `'loader'`; `undefined` on failure. */
  source: string | undefined;
  /** The value was stale (served within grace). */
  stale: boolean;
  /**
   * The call waited for a load another caller in this process had started (`source` is then `'loader'` too):
   * single-flight at work.
   */
  joined: boolean;
  durationMs: number;
}

/** What a batch loader is told. */
export interface BatchLoaderContext {
  /** Aborted when the load passes its `hardTimeout` or the cache closes. */
  readonly signal: AbortSignal;
}

/**
 * Loads several keys at once for `getOrSetMany`: their values in the order of `keys`, or a `Map` by key
 * (keys left out are returned `undefined` and not cached).
 */
export type BatchLoader<T> = (keys: string[], context: BatchLoaderContext) => readonly T[] | ReadonlyMap<string, T> | Promise<readonly T[] | ReadonlyMap<string, T>>;
