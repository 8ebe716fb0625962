// The caches compared by the `compute` section, each behind the same small interface so every scenario calls
// them the same way: tiercache `getOrSet`, BentoCache `getOrSet({ key, factory })`, cache-manager `wrap`,
// cacheable `getOrSet`. The per-call overhead of this indirection is the same for all of them; the hit-latency
// scenario does not use it (bench/compute.ts calls each library directly there).
import { createKeyv as createRedisKeyv } from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import { Cacheable } from 'cacheable';
import { redisBus } from '../../src/bus/redis.js';
import { Cache } from '../../src/cache.js';
import { redisStore } from '../../src/stores/redis.js';

/** Contenders of the one-process scenarios (stampede, failing loader, stale-while-revalidate). */
export const LOCAL_CONTENDERS = ['tiercache', 'bentocache', 'cache-manager', 'cacheable'] as const;
/** Contenders of the cross-process stampede, every one sharing Redis. */
export const SHARED_CONTENDERS = ['tiercache+lease', 'tiercache+lease+bus', 'tiercache', 'bentocache', 'cache-manager', 'cacheable'] as const;

export type LocalContender = (typeof LOCAL_CONTENDERS)[number];
export type SharedContender = (typeof SHARED_CONTENDERS)[number];

/**
 * How a contender serves a value whose TTL ran out:
 * - `grace`: it keeps the value for a grace period and answers with it while one refresh runs;
 * - `refresh-threshold`: only before the TTL runs out (a refresh starts once less than the threshold is left);
 * - `none`: the value is gone at its TTL and callers wait for the loader.
 */
export type StaleMode = 'grace' | 'refresh-threshold' | 'none';

export interface CallOptions {
  ttlMs: number;
  /** Kept this long past the TTL, for contenders with grace. */
  graceMs?: number;
  /** cache-manager `refreshThreshold`: refresh once less than this is left of the TTL. */
  refreshThresholdMs?: number;
}

export interface ComputeContender {
  readonly name: string;
  /** How the cache is built, as the report shows it. */
  readonly setup: string;
  /** The getOrSet equivalent, as the report shows it. */
  readonly call: string;
  readonly staleModes: readonly StaleMode[];
  getOrSet<T>(key: string, loader: () => Promise<T>, options: CallOptions): Promise<T | undefined>;
  set(key: string, value: unknown, options: CallOptions): Promise<void>;
  /** Reads this instance has sent to its shared store so far, where the library counts them. */
  storeReads?: () => number;
  /** One untimed read, so connections are open before anything is timed. */
  warm(): Promise<void>;
  close(): Promise<void>;
}

export interface SharedRedis {
  url: string;
  /** Every key this contender writes starts with it. */
  prefix: string;
}

const MEMORY_ENTRIES = 1_000;

function tiercache(name: string, redis: SharedRedis | undefined, lease: boolean, bus: boolean): ComputeContender {
  const cache = new Cache({
    memory: { maxEntries: MEMORY_ENTRIES },
    ...(redis === undefined ? {} : { stores: [redisStore({ url: redis.url, prefix: redis.prefix })] }),
    ...(redis === undefined || !bus ? {} : { bus: redisBus({ url: redis.url, channel: `${redis.prefix}bus` }) }),
  });
  const shared = `memory tier + \`redisStore\`${bus ? ' + `redisBus`' : ''}`;
  return {
    name,
    setup: redis === undefined ? 'memory tier only' : `${shared}${lease ? ', `lease: true`' : ', no lease (for contrast)'}`,
    call: `await cache.getOrSet(key, loader, { ttl${lease ? ', lease: true' : ''} })`,
    staleModes: ['grace'],
    getOrSet: (key, loader, o) =>
      cache.getOrSet(key, loader, {
        ttl: o.ttlMs,
        ...(o.graceMs === undefined ? {} : { grace: o.graceMs }),
        ...(lease ? { lease: true } : {}),
      }),
    set: async (key, value, o) => {
      await cache.set(key, value, { ttl: o.ttlMs, ...(o.graceMs === undefined ? {} : { grace: o.graceMs }) });
    },
    storeReads: () => Object.values(cache.getStats().stores).reduce((sum, t) => sum + t.hits + t.misses, 0),
    warm: async () => {
      await cache.ready();
      await cache.get('warm-up');
    },
    close: () => cache.close(),
  };
}

function bentocache(redis: SharedRedis | undefined): ComputeContender {
  const l1 = memoryDriver({ maxItems: MEMORY_ENTRIES });
  let store = bentostore().useL1Layer(l1);
  if (redis !== undefined) {
    const url = new URL(redis.url);
    store = store.useL2Layer(redisDriver({ connection: { host: url.hostname, port: Number(url.port || 6379) } }));
  }
  const bento = new BentoCache({ default: 'main', stores: { main: store }, ...(redis === undefined ? {} : { prefix: `${redis.prefix}bento` }) });
  return {
    name: 'bentocache',
    setup: redis === undefined ? '`memoryDriver` L1' : '`memoryDriver` L1 + `redisDriver` L2 (no bus: not needed for one key written once)',
    call: 'await bento.getOrSet({ key, factory, ttl })',
    staleModes: ['grace'],
    // `timeout: 0` is BentoCache's default soft timeout, spelled out: a graced value is returned at once.
    getOrSet: (key, loader, o) =>
      bento.getOrSet({ key, factory: loader, ttl: o.ttlMs, ...(o.graceMs === undefined ? {} : { grace: o.graceMs, timeout: 0 }) }),
    set: async (key, value, o) => {
      await bento.set({ key, value, ttl: o.ttlMs, ...(o.graceMs === undefined ? {} : { grace: o.graceMs }) });
    },
    warm: async () => {
      await bento.get({ key: 'warm-up' });
    },
    close: () => bento.disconnectAll(),
  };
}

function cacheManager(redis: SharedRedis | undefined): ComputeContender {
  const manager = createCacheManager(redis === undefined ? {} : { stores: [createRedisKeyv(redis.url, { namespace: `${redis.prefix}cm` })] });
  return {
    name: 'cache-manager',
    setup: redis === undefined ? '`createCache()` (in-memory Keyv)' : '`createCache({ stores: [Keyv(@keyv/redis)] })`',
    call: 'await manager.wrap(key, loader, ttl)',
    staleModes: ['refresh-threshold', 'none'],
    getOrSet: (key, loader, o) =>
      o.refreshThresholdMs === undefined ? manager.wrap(key, loader, o.ttlMs) : manager.wrap(key, loader, { ttl: o.ttlMs, refreshThreshold: o.refreshThresholdMs }),
    set: async (key, value, o) => {
      await manager.set(key, value, o.ttlMs);
    },
    warm: async () => {
      await manager.get('warm-up');
    },
    close: async () => {
      await manager.disconnect();
    },
  };
}

function cacheable(redis: SharedRedis | undefined): ComputeContender {
  const cache = new Cacheable(redis === undefined ? {} : { secondary: createRedisKeyv(redis.url, { namespace: `${redis.prefix}cacheable` }) });
  return {
    name: 'cacheable',
    setup: redis === undefined ? '`new Cacheable()` (in-memory primary)' : '`new Cacheable({ secondary: Keyv(@keyv/redis) })`',
    // Without `throwErrors`, a failed loader resolves `undefined` for every caller instead of rejecting.
    call: 'await cacheable.getOrSet(key, loader, { ttl, throwErrors: true })',
    staleModes: ['none'],
    getOrSet: (key, loader, o) => cache.getOrSet(key, loader, { ttl: o.ttlMs, throwErrors: true }),
    set: async (key, value, o) => {
      await cache.set(key, value, { ttl: o.ttlMs });
    },
    warm: async () => {
      await cache.get('warm-up');
    },
    close: () => cache.disconnect(),
  };
}

/** Builds one contender: memory only without `redis`, sharing Redis with it. */
export function createContender(name: string, redis?: SharedRedis): ComputeContender {
  switch (name) {
    case 'tiercache':
      return tiercache(name, redis, false, false);
    case 'tiercache+lease':
    case 'tiercache+lease+bus':
      if (redis === undefined) throw new Error(`${name} needs Redis`);
      return tiercache(name, redis, true, name.endsWith('+bus'));
    case 'bentocache':
      return bentocache(redis);
    case 'cache-manager':
      return cacheManager(redis);
    case 'cacheable':
      return cacheable(redis);
    default:
      throw new Error(`unknown contender ${name}`);
  }
}
