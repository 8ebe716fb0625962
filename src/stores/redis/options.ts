import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import type { BaseStoreOptions } from '../contract.js';

interface RedisStoreCommonOptions extends BaseStoreOptions {
  /**
   * Put in front of every key of this store: every key is stored as `prefix + key`, and `clear()` removes only keys that start
   * with it. An empty prefix makes `clear()` remove every key of the database.
   *
   * On a cluster, a prefix holding a hash tag (`{app}:`) sends every key to one slot, hence one node: multi-key
   * commands then need no grouping, but that node holds and serves the whole cache. Only do it on purpose.
   * @default 'tiercache:'
   */
  prefix?: string;
  /** Names the store in errors, events and stats. @default 'redis' */
  name?: string;
  /**
   * Offer `deletePrefix`, backed by a sorted index of keys (one sorted set under the store prefix), so that deleting
   * the entries under a prefix, and through it invalidating a `literal*` pattern, costs O(log N + M) for M matching
   * entries instead of a SCAN of the whole keyspace.
   *
   * The index is paid for by writes: a write of a key it covers is one Lua script (`EXISTS`, `ZADD`, `SET`) in
   * place of a plain `SET … PX`, about 1.7 µs more server time and 15-30% fewer sets per second at saturation
   * (bench/prefix-index.ts), and Redis keeps about 120 bytes per indexed key. So it is opt-in, and can be narrowed
   * to the prefixes your pattern invalidations use:
   * - `false`: no index; every write is one plain command, and pattern invalidation lists keys with SCAN.
   * - `{ prefixes: ['tenant:', 'report:'] }`: only keys starting with one of these (store keys: the cache's
   *   namespace path and key, without this store's `prefix`) are indexed; every other write stays one plain `SET`.
   *   `deletePrefix(p)` uses the index when `p` starts with one of them, and SCAN otherwise.
   * - `true`: every key is indexed.
   *
   * The index is built on first use: the first `deletePrefix` it covers is answered by SCAN and builds the index
   * in the background with one more SCAN (`buildIndex()` does it up front). From then on each covered write adds
   * its key in the same round trip, members of expired keys are pruned in small background steps, and after
   * `clear()`, or if Redis evicts the index (allkeys-* policies), the next `deletePrefix` builds it again.
   *
   * Every process writing under this store prefix must use the same setting: a key written without the index,
   * once the index exists, is invisible to `deletePrefix`.
   *
   * On a cluster whose prefix does not pin one slot (`{tag}`), the index lives in one slot that every covered
   * write also reaches (one more command per write, half the concurrent set throughput on a local 3-node
   * cluster, and a hot node at scale), and no command can change the index and a key together.
   * @default false
   */
  prefixIndex?: boolean | { readonly prefixes: readonly string[] };
}

/** Connect to one Redis server (the store creates the connection and closes it on `close()`). */
export interface RedisConnectStoreOptions extends RedisStoreCommonOptions {
  /** `redis://[[user]:password@]host[:port][/db]` or `rediss://` for TLS. */
  url?: string;
  /** ioredis options; with `url`, these add to (and override) what the URL says. */
  redis?: RedisOptions;
  client?: never;
  cluster?: never;
}

/** Use a connection the caller owns: the store never closes it, and applies none of its own connection settings. */
export interface RedisClientStoreOptions extends RedisStoreCommonOptions {
  client: Redis | Cluster;
  url?: never;
  redis?: never;
  cluster?: never;
}

/** Connect to a Redis Cluster (the store creates the connections and closes them on `close()`). */
export interface RedisClusterStoreOptions extends RedisStoreCommonOptions {
  /** Startup nodes, or startup nodes with ioredis cluster options. */
  cluster: readonly ClusterNode[] | { nodes: readonly ClusterNode[]; options?: ClusterOptions };
  url?: never;
  redis?: never;
  client?: never;
}

export type RedisStoreOptions = RedisConnectStoreOptions | RedisClientStoreOptions | RedisClusterStoreOptions;
