import { systemClock, type Clock } from '../clock.js';
import { giveLease, takeLease } from '../compute/lease.js';
import type { Store } from '../stores/contract.js';

/**
 * A lock that expires by itself, shared by the instances of a service, so that one of them does a piece of
 * work. A {@link Scheduler} takes one per firing.
 */
export interface Lease {
  /** A token when this caller now holds `name` for `ttlMs`; `undefined` when someone else holds it. */
  acquire(name: string, ttlMs: number): Promise<string | undefined>;
  /** Gives `name` up, if `token` still holds it; never removes a lease someone else took since. */
  release(name: string, token: string): Promise<void>;
}

export interface StoreLeaseOptions {
  /**
   * Prepended to lease names to make store keys. The leading U+0001 keeps them out of the keys a cache lists
   * and invalidates by pattern when the store is shared with one.
   * @default '\u0001lease:'
   */
  prefix?: string;
  /**
   * Turns `ttlMs` into the absolute deadline the store takes: must be the clock the store was created with.
   * @default systemClock
   */
  clock?: Clock;
}

/**
 * A {@link Lease} over a shared {@link Store}: `acquire` takes a lease entry with the store's `add` (Redis
 * `SET NX PX`, Memcached `add`), which only one caller wins, the same lease entries `getOrSet` takes for a
 * cold key (compute/lease.ts); the lease then lasts `ttlMs` unless released.
 *
 * `release` deletes the key only when it still holds this caller's token: atomically where the store has
 * `replaceIf` (Redis). Elsewhere the read and the delete are two calls: if the lease expires and another
 * instance acquires it in between, that instance's lease is deleted. The window is one round trip after an
 * expiry the holder did not prevent; the scheduler makes it harmless by naming a lease after one firing and
 * by never releasing a lease it ran under.
 *
 * Throws a `TypeError` when the store has no `add`, or one that is not atomic across clients
 * (`capabilities.atomicAdd`), since two instances could then both believe they hold the lease.
 *
 * @example
 * const lease = storeLease(redisStore({ url: 'redis://127.0.0.1:6379', prefix: 'myapp:' }));
 * const scheduler = new Scheduler({ lease });
 */
export function storeLease(store: Store, options: StoreLeaseOptions = {}): Lease {
  if (typeof store !== 'object' || store === null) throw new TypeError('storeLease needs a store');
  if (typeof store.add !== 'function') throw new TypeError(`storeLease: store ${JSON.stringify(store.name)} has no add(), so it cannot hold a lease`);
  if (store.capabilities.atomicAdd !== true) {
    throw new TypeError(`storeLease: store ${JSON.stringify(store.name)} has no atomic add(), so two instances could hold one lease`);
  }
  const prefix = options.prefix ?? '\u0001lease:';
  if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');
  const clock = options.clock ?? systemClock;
  const adds = store as Store & Required<Pick<Store, 'add'>>;

  return {
    async acquire(name, ttlMs) {
      if (typeof name !== 'string' || name.length === 0) throw new TypeError('a lease name must be a non-empty string');
      if (typeof ttlMs !== 'number' || !(ttlMs > 0) || !Number.isFinite(ttlMs)) {
        throw new TypeError(`a lease ttlMs must be a finite number > 0, got ${String(ttlMs)}`);
      }
      const held = await takeLease(adds, prefix + name, ttlMs, clock.now());
      return held === undefined ? undefined : Buffer.from(held).toString('base64url');
    },
    async release(name, token) {
      await giveLease(store, prefix + name, Buffer.from(token, 'base64url'));
    },
  };
}
