// The `tiercache/stores/redis` entry point. The store is built in layers under ./redis/: the connection
// (connection.ts), the prefix index (prefix-index.ts) and the Store API (store.ts), with the Lua scripts and
// the Redis protocol details (hash slots, globs, limits) beside them.
export type { RedisClientStoreOptions, RedisClusterStoreOptions, RedisConnectStoreOptions, RedisStoreOptions } from './redis/options.js';
export { redisHashSlot } from './redis/protocol.js';
export { RedisStore, redisStore } from './redis/store.js';
