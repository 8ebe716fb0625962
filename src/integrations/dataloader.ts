// A DataLoader whose batch function reads through a tiercache Cache: DataLoader batches the keys asked in one
// tick, tiercache answers the ones any instance already cached, and only the rest reach the user's `load`,
// in one call.
import DataLoader from 'dataloader';
import type { Cache } from '../cache.js';
import type { BatchLoaderContext, GetOrSetOptions } from '../compute/types.js';
import type { Ttl } from '../ttl.js';

/** Options of {@link createLoader}. */
export interface CreateLoaderOptions<K, V> {
  /**
   * Loads the keys no tier holds, in one call: their values in the order of `keys`. An `Error` in place of a
   * value fails that key only (DataLoader rejects its `load`); it is not cached.
   */
  load: (keys: K[], context: BatchLoaderContext) => readonly (V | Error)[] | Promise<readonly (V | Error)[]>;
  /**
   * The cache key of a DataLoader key. Also DataLoader's `cacheKeyFn`, so its per-request memo and tiercache
   * agree on what "the same key" is.
   * @default `String(key)` for strings and numbers (other keys need this option)
   */
  key?: (key: K) => string;
  /** TTL of what `load` returns; none means the cache's `defaultTtl`. @default none */
  ttl?: Ttl;
  /** Tags written with every loaded value (one set for the whole batch: getOrSetMany writes them together). @default none */
  tags?: readonly string[];
  /** Grace kept after the TTL for what `load` returns; none means the cache's `compute.grace`. @default none */
  grace?: Ttl;
  /** Abort the batch (its `signal`) and reject its keys after this long. @default none */
  hardTimeout?: Ttl;
}

/** DataLoader's options minus the two this bridge owns (`batchLoadFn` is ours, `cacheKeyFn` is `key`). */
export type BridgeDataLoaderOptions<K, V> = Omit<DataLoader.Options<K, V, string>, 'cacheKeyFn'>;

/** A DataLoader over tiercache, with `invalidate` to drop a key from tiercache as well as from the memo. */
export class TiercacheLoader<K, V> extends DataLoader<K, V, string> {
  readonly #cache: Cache;
  readonly #keyOf: (key: K) => string;

  constructor(cache: Cache, keyOf: (key: K) => string, batch: DataLoader.BatchLoadFn<K, V>, options: DataLoader.Options<K, V, string>) {
    super(batch, options);
    this.#cache = cache;
    this.#keyOf = keyOf;
  }

  /**
   * Clears the key from this loader's memo and deletes it from every tier of the cache (and, over the bus, from
   * other instances' memory). `clear(key)` alone only forgets this request's memo.
   *
   * @example
   * await db.renameUser(7, 'Ada'); await users.invalidate(7);
   */
  async invalidate(key: K): Promise<boolean> {
    this.clear(key);
    return this.#cache.delete(this.#keyOf(key));
  }
}

function defaultKey(key: unknown): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' || typeof key === 'bigint') return String(key);
  throw new TypeError('createLoader: keys that are not strings or numbers need the `key` option');
}

/**
 * A DataLoader whose batches go through `cache.getOrSetMany`. Create one per request, as DataLoader intends:
 * its memo (`cache: true`, DataLoader's default) keeps a request consistent, while tiercache shares values
 * across requests and instances.
 *
 * @example
 * const users = createLoader(cache.namespace('user'), { load: (ids: number[]) => db.usersByIds(ids), ttl: '5m' });
 * const [a, b] = await Promise.all([users.load(1), users.load(2)]); // one getOrSetMany, at most one db call
 */
export function createLoader<K, V>(cache: Cache, options: CreateLoaderOptions<K, V>, dataLoaderOptions: BridgeDataLoaderOptions<K, V> = {}): TiercacheLoader<K, V> {
  if (typeof options !== 'object' || options === null || typeof options.load !== 'function') throw new TypeError('createLoader option load must be a function');
  if (options.key !== undefined && typeof options.key !== 'function') throw new TypeError('createLoader option key must be a function');
  const keyOf: (key: K) => string = options.key ?? defaultKey;
  const { load } = options;
  const batchOptions: GetOrSetOptions = {};
  if (options.ttl !== undefined) batchOptions.ttl = options.ttl;
  if (options.tags !== undefined) batchOptions.tags = options.tags;
  if (options.grace !== undefined) batchOptions.grace = options.grace;
  if (options.hardTimeout !== undefined) batchOptions.hardTimeout = options.hardTimeout;

  const batch = async (keys: readonly K[]): Promise<(V | Error)[]> => {
    const names = keys.map(keyOf);
    // DataLoader with `cache: false` may hand the same key twice; the cache is asked once per distinct key.
    const byName = new Map<string, K>();
    names.forEach((name, i) => byName.has(name) || byName.set(name, keys[i] as K));
    const distinct = [...byName.keys()];
    const failed = new Map<string, Error>();
    const values = await cache.getOrSetMany<V>(distinct, async (missing, context) => {
      const loaded = await load(missing.map((name) => byName.get(name) as K), context);
      if (!Array.isArray(loaded) || loaded.length !== missing.length) {
        throw new TypeError(`createLoader: load must return an array of ${missing.length} values, one per key`);
      }
      const found = new Map<string, V>();
      missing.forEach((name, i) => {
        const value = loaded[i] as V | Error;
        if (value instanceof Error) failed.set(name, value);
        else found.set(name, value);
      });
      return found;
    }, batchOptions);
    const byResult = new Map<string, V | undefined>();
    distinct.forEach((name, i) => byResult.set(name, values[i]));
    return names.map((name) => failed.get(name) ?? (byResult.get(name) as V));
  };
  return new TiercacheLoader<K, V>(cache, keyOf, batch, { ...dataLoaderOptions, cacheKeyFn: keyOf });
}
