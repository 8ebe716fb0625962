// The cache ForecastCache keeps its forecasts in: the one passed in, or the one it builds from its backend
// options (opened in the background for a shared backend, whose client library loads on first use).
import { Cache } from '../cache.js';
import type { Clock } from '../clock.js';
import type { EvictionPolicy } from '../memory/types.js';
import type { CacheOptions, MemoryOptions } from '../options.js';
import type { Store } from '../stores/contract.js';
import { BACKENDS } from '../stores/from-backend.js';
import type { Ttl } from '../ttl.js';
import { openForecastBackend } from './backend.js';
import { positiveInteger, requireString } from './check.js';
import { forecastKeyGroup } from './keys.js';
import type { ForecastCacheOptions } from './types.js';

const EVICTION_POLICIES: readonly EvictionPolicy[] = ['lru', 'lfu', 'ttl', 'tinylfu'];

/** Lists the shared tier's keys matching a glob. */
export type KeyLister = (pattern: string) => AsyncIterable<string>;

/**
 * Holds the cache, open or opening, and what ForecastCache learns of its store: whether it is shared (the
 * fleet-wide lease of scheduled warms is taken there) and how to list its keys (for date ranges).
 */
export class CacheHandle {
  readonly #owned: boolean;
  readonly #opening: Promise<Cache>;
  #current: Cache | undefined;
  #shared: Store | undefined;
  #lister: KeyLister | undefined;

  /** Checks the options that configure the cache and starts opening it. */
  constructor(options: ForecastCacheOptions, clock: Clock, defaultTtl: Ttl, lister: KeyLister | undefined) {
    this.#lister = lister;
    if (options.cache !== undefined) {
      if (!(options.cache instanceof Cache)) throw new TypeError('cache must be a Cache');
      const conflicting = (['backend', 'url', 'prefix', 'bus', 'store', 'maxMemory', 'maxEntries', 'evictionPolicy'] as const).filter((name) => options[name] !== undefined);
      if (conflicting.length > 0) throw new TypeError(`cache cannot be combined with ${conflicting.join(', ')}: those configure the cache ForecastCache would otherwise build`);
      this.#owned = false;
      this.#current = options.cache;
      this.#opening = Promise.resolve(options.cache);
      return;
    }

    const backend = options.backend ?? 'memory';
    if (!(BACKENDS as readonly string[]).includes(backend)) throw new TypeError(`backend must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(backend)}`);
    if (options.url !== undefined) requireString(options.url, 'url');
    if (options.prefix !== undefined && typeof options.prefix !== 'string') throw new TypeError('prefix must be a string');
    if ((backend === 'memory' || options.store !== undefined) && (options.url !== undefined || options.prefix !== undefined)) {
      throw new TypeError(`${options.url === undefined ? 'prefix' : 'url'} configures a backend ForecastCache builds; it has no use ${options.store === undefined ? "with backend 'memory'" : 'with a store passed in'}`);
    }
    if (options.bus !== undefined && typeof options.bus !== 'boolean' && (typeof options.bus !== 'object' || options.bus === null)) {
      throw new TypeError('bus must be a boolean or a Bus');
    }
    if (options.bus === true && (backend !== 'redis' || options.store !== undefined)) {
      throw new TypeError("bus: true builds a Redis bus from backend 'redis' and its url; with another backend or a store, pass a Bus");
    }
    const policy = options.evictionPolicy ?? 'lru';
    if (!EVICTION_POLICIES.includes(policy)) throw new TypeError(`evictionPolicy must be one of ${EVICTION_POLICIES.join(', ')}, got ${JSON.stringify(policy)}`);
    const memory: MemoryOptions = { policy };
    if (options.maxMemory !== undefined) memory.maxBytes = positiveInteger(options.maxMemory, 'maxMemory');
    if (options.maxEntries !== undefined) memory.maxEntries = positiveInteger(options.maxEntries, 'maxEntries');
    // Detailed metrics, grouped by forecast metric: GET /report ranks them by traffic and miss cost.
    const base: CacheOptions = { defaultTtl, clock, memory, metrics: { keyGroup: forecastKeyGroup } };
    this.#owned = true;

    if (options.store !== undefined || backend === 'memory') {
      const store = options.store;
      const cacheOptions: CacheOptions = { ...base };
      if (store !== undefined) cacheOptions.stores = [store];
      if (typeof options.bus === 'object') cacheOptions.bus = options.bus;
      const cache = new Cache(cacheOptions);
      if (store?.capabilities.shared === true) this.#shared = store;
      this.#lister ??= store?.keys === undefined ? undefined : (pattern) => (store.keys as (p: string) => AsyncIterable<string>).call(store, pattern);
      this.#current = cache;
      this.#opening = Promise.resolve(cache);
      return;
    }

    // The store modules import their client libraries (optional peers), so they are loaded on first use.
    this.#opening = openForecastBackend(options, clock).then(({ store, bus }) => {
      let cache: Cache;
      try {
        cache = new Cache({ ...base, stores: [store], ...(bus === undefined ? {} : { bus }) });
      } catch (error) {
        return Promise.allSettled([store.close(), bus?.close()]).then(() => Promise.reject(error as Error));
      }
      this.#lister ??= store.keys === undefined ? undefined : (pattern) => (store.keys as (p: string) => AsyncIterable<string>).call(store, pattern);
      if (store.capabilities.shared) this.#shared = store;
      this.#current = cache;
      return cache;
    });
    // Deliberately handled here too: a backend that fails to open is reported by the next call, not as an
    // unhandled rejection of a promise nobody awaited yet.
    this.#opening.catch(() => undefined);
  }

  /** True when ForecastCache built the cache (and so closes and clears it). */
  get owned(): boolean {
    return this.#owned;
  }

  /** The cache once open; undefined while a shared backend is still opening. */
  get current(): Cache | undefined {
    return this.#current;
  }

  /** Resolves to the cache once open; rejects when the backend could not be opened. */
  get opening(): Promise<Cache> {
    return this.#opening;
  }

  /** The store ForecastCache built, when it is shared. */
  get shared(): Store | undefined {
    return this.#shared;
  }

  get lister(): KeyLister | undefined {
    return this.#lister;
  }
}
