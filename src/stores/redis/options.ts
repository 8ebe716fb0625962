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
   * Offer `deletePrefix`, backed by a sorted index of the keys (one sorted set under the prefix), so that
   * deleting the entries under a prefix, and through it invalidating a `literal*` pattern, costs O(log N + M)
   * for M matching entries instead of a SCAN of the whole keyspace.
   *
   * The index is built on first use: the first `deletePrefix` is answered by SCAN (today's cost) and builds the
   * index in the background with one more SCAN (`buildIndex()` does it up front). From then on each write adds
   * its key in the same round trip, members of expired keys are pruned in small background steps, and Redis
   * spends about 120 bytes per entry on it (keys of ~25 bytes). On a standalone server every write becomes one
   * Lua script in place of SET, index built or not: about 1.7 µs more server time per write and 15-30% fewer
   * sets per second at saturation (bench/prefix-index.ts); reads are untouched. After `clear()`, or if Redis
   * evicts the index (allkeys-* policies), the next `deletePrefix` builds it again.
   *
   * Every process writing under this prefix must keep it on: a key written with it off, once the index
   * exists, is invisible to `deletePrefix`. Turned off, the store offers no `deletePrefix` and the core falls
   * back to SCAN.
   *
   * @default true on a standalone server, and on a cluster whose prefix pins one slot (`{tag}`); false on other
   * clusters. There the index lives in one slot that every write of the cluster would also reach (one more
   * command per write, half the concurrent set throughput on a local 3-node cluster, and a hot node at scale),
   * and no command can change the index and a key together, so it is left for those who opt in.
   */
  prefixIndex?: boolean;
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
