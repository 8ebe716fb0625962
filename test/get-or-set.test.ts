import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Cache } from '../src/index.js';
import { createFakeClock } from '../src/testing/index.js';

const open: Cache[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});
function memoryCache() {
  const cache = new Cache({ clock: createFakeClock() });
  open.push(cache);
  return cache;
}

describe('getOrSet', () => {
  it('calls the loader on a miss only, and caches with the given TTL and tags', async () => {
    const cache = memoryCache();
    let calls = 0;
    const loader = () => ({ result: 'calculated', n: ++calls });
    const first = await cache.getOrSet('forecast:u:balance:30d:linear:x', loader, { ttl: '1h', tags: ['u'] });
    const second = await cache.getOrSet('forecast:u:balance:30d:linear:x', loader);
    expect(calls).toBe(1);
    expect(second).toStrictEqual(first);
    expect(await cache.inspect('forecast:u:balance:30d:linear:x')).toMatchObject({ ttlRemaining: 3_600_000, tags: ['u'] });
    await cache.invalidateTags(['u']);
    await cache.getOrSet('forecast:u:balance:30d:linear:x', loader);
    expect(calls).toBe(2);
  });

  it('forceRefresh runs the loader and caches the new value', async () => {
    const cache = memoryCache();
    await cache.set('k', 'old');
    expect(await cache.getOrSet('k', () => 'new', { forceRefresh: true })).toBe('new');
    expect(await cache.get('k')).toBe('new');
  });

  it('1,000 concurrent callers on a cold key share one loader call', async () => {
    const cache = memoryCache();
    let calls = 0;
    const loader = async () => {
      calls++;
      await sleep(20);
      return 42;
    };
    const values = await Promise.all(Array.from({ length: 1000 }, () => cache.getOrSet('cold', loader)));
    expect(calls).toBe(1);
    expect(new Set(values)).toStrictEqual(new Set([42]));
  });

  it('a failing loader is called once for 50 waiters, who all get its rejection; nothing is cached', async () => {
    const cache = memoryCache();
    let calls = 0;
    const loader = async () => {
      calls++;
      await sleep(20);
      throw new Error('upstream down');
    };
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => cache.getOrSet('k', loader)));
    expect(calls).toBe(1);
    expect(results.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'upstream down')).toBe(true);
    expect(await cache.has('k')).toBe(false);
  });

  it('returns the value but does not cache it when the key is invalidated while the loader runs', async () => {
    const cache = memoryCache();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const pending = cache.getOrSet('k', async () => {
      await gate;
      return 'computed before the delete';
    });
    await sleep(1);
    await cache.delete('k');
    release();
    expect(await pending).toBe('computed before the delete');
    expect(await cache.has('k')).toBe(false);
  });

  it('refuses bad options before running the loader', async () => {
    const cache = memoryCache();
    let calls = 0;
    await expect(cache.getOrSet('k', () => ++calls, { ttl: -1 })).rejects.toThrow(TypeError);
    await expect(cache.getOrSet('k', 'nope' as never)).rejects.toThrow(/loader function/);
    expect(calls).toBe(0);
  });
});

describe('fencing torture', () => {
  /**
   * The bus delivery allowance for reads on an instance that did not make the invalidation itself: delivery is
   * about 1 ms here (docs/benchmarks.md), but the test files run in parallel on 2 cores, so leave room.
   */
  const DELIVERY_MS = 250;

  /**
   * Loaders read a data version, take a while, and return it; invalidators bump the version, then invalidate.
   * A read that starts after an invalidation resolved must return a version at least as new as that bump:
   * at once on the instance that invalidated, and within the bus delivery time on the others.
   */
  async function torture(caches: Cache[], rounds: number, keyInvalidations = true) {
    let version = 0;
    const resolved: { version: number; at: number; by: number }[] = [];
    let violations = 0;
    let reads = 0;
    const loader = async () => {
      const seen = version;
      await sleep(Math.random() * 4);
      return seen;
    };
    const floorFor = (instance: number, startedAt: number) =>
      resolved.reduce((floor, r) => ((r.by === instance && r.at <= startedAt) || r.at <= startedAt - DELIVERY_MS ? Math.max(floor, r.version) : floor), 0);
    const stop = Date.now() + 3_000;
    const readers = caches.flatMap((cache, instance) =>
      Array.from({ length: 8 }, async () => {
        while (Date.now() < stop) {
          const startedAt = performance.now();
          const floor = floorFor(instance, startedAt);
          const value = await cache.getOrSet('hot', loader, { tags: ['data'], ttl: '1m' });
          reads++;
          if (value < floor) violations++;
          await sleep(Math.random() * 2);
        }
      }),
    );
    const writer = (async () => {
      for (let i = 0; i < rounds && Date.now() < stop; i++) {
        await sleep(Math.random() * 6);
        version++;
        const bumped = version;
        const by = i % caches.length;
        const cache = caches[by] as Cache;
        if (keyInvalidations && i % 3 === 0) await cache.invalidate({ keys: ['hot'] });
        else await cache.invalidateTags(['data']);
        resolved.push({ version: bumped, at: performance.now(), by });
      }
    })();
    await Promise.all([...readers, writer]);
    return { violations, reads, invalidations: version };
  }

  it('in one process: no read after an invalidation returns a value computed before it', async () => {
    const result = await torture([memoryCache()], 300);
    expect(result.reads).toBeGreaterThan(500);
    expect(result.invalidations).toBeGreaterThan(100);
    expect(result.violations).toBe(0);
  }, 20_000);

});
