import type { Cluster, Redis } from 'ioredis';
import type { Store } from '../stores/contract.js';
import type { ResolvedTier } from '../tiers/store-tier.js';
import { parseDuration } from '../ttl.js';

/**
 * Server-assisted invalidation: Redis (6 or later) tells this instance about every write under the tracked
 * prefixes, made by anyone, and the memory tier drops those keys. It complements the bus: tracking reports
 * keys only, so tag, pattern and `clear` invalidations between tiercache instances still need `bus`.
 */
export interface CoherenceOptions {
  /** The only mode so far: Redis client tracking (`CLIENT TRACKING … BCAST`). */
  mode: 'tracking';
  /**
   * Name of the Redis store tier whose keys are tracked.
   * @default the first store that supports tracking (a `redisStore`)
   */
  store?: string;
  /**
   * Cache keys (namespace path included, without the cache's `prefix`) whose writes are tracked. Redis sends
   * every write under a tracked prefix to every tracking instance, so narrowing the prefixes narrows that
   * traffic; a key outside them is never dropped for an outside write. Prefixes must not overlap.
   * @default [''] (every key of this cache)
   */
  prefixes?: readonly string[];
  /**
   * Longest `ready()` waits for tracking to be set up, and longest one set-up step may take before the
   * connection is dropped and tried again (ms or a duration).
   * @default '2s'
   */
  connectTimeout?: number | string;
}

/** Where tracking reaches Redis: the store's own connection (its writes are not reported back) and key prefix. */
export interface TrackingTarget {
  readonly client: Redis | Cluster;
  /** The Redis store's key prefix: a Redis key is `prefix + store key`. */
  readonly prefix: string;
}

/** A store whose keys Redis can track (the Redis store). */
export interface TrackableStore extends Store {
  trackingTarget(): TrackingTarget;
}

export interface ResolvedCoherence {
  readonly store: TrackableStore;
  readonly storeName: string;
  readonly prefixes: readonly string[];
  readonly connectTimeoutMs: number;
}

function isTrackable(store: Store): store is TrackableStore {
  return typeof (store as Partial<TrackableStore>).trackingTarget === 'function';
}

/** Validates the `coherence` option against the resolved store tiers. */
export function resolveCoherence(given: 'tracking' | CoherenceOptions | undefined, tiers: readonly ResolvedTier[]): ResolvedCoherence | undefined {
  if (given === undefined) return undefined;
  const options: CoherenceOptions = given === 'tracking' ? { mode: 'tracking' } : given;
  if (typeof options !== 'object' || options === null || options.mode !== 'tracking') {
    throw new TypeError(`coherence must be 'tracking' or { mode: 'tracking', store?, prefixes?, connectTimeout? }, got ${JSON.stringify(given)}`);
  }
  if (options.store !== undefined && typeof options.store !== 'string') throw new TypeError('coherence.store must be the name of a store tier');
  const tier = options.store === undefined ? tiers.find((t) => isTrackable(t.store)) : tiers.find((t) => t.name === options.store);
  if (tier === undefined) {
    throw new TypeError(
      options.store === undefined
        ? "coherence: 'tracking' needs a Redis store among `stores`"
        : `coherence.store: no store tier is named ${JSON.stringify(options.store)}`,
    );
  }
  const store = tier.store;
  if (!isTrackable(store)) throw new TypeError(`coherence.store: the store ${JSON.stringify(tier.name)} does not support client tracking (a Redis store does)`);
  const connectTimeoutMs = parseDuration(options.connectTimeout ?? '2s', 'coherence.connectTimeout');
  if (connectTimeoutMs === 0) throw new TypeError('coherence.connectTimeout must be greater than 0');
  return Object.freeze({ store, storeName: tier.name, prefixes: checkPrefixes(options.prefixes), connectTimeoutMs });
}

function checkPrefixes(prefixes: readonly string[] | undefined): readonly string[] {
  if (prefixes === undefined) return Object.freeze(['']);
  if (!Array.isArray(prefixes) || prefixes.length === 0 || !prefixes.every((p) => typeof p === 'string')) {
    throw new TypeError('coherence.prefixes must be a non-empty array of strings');
  }
  // Redis refuses overlapping prefixes on one connection ("Prefixes for a single client must not overlap").
  for (const a of prefixes) {
    for (const b of prefixes) {
      if (a !== b && b.startsWith(a)) throw new TypeError(`coherence.prefixes must not overlap: ${JSON.stringify(a)} covers ${JSON.stringify(b)}`);
    }
  }
  return Object.freeze([...new Set(prefixes)]);
}
