import { afterEach, describe, expect, it } from 'vitest';
import { Cache } from '../src/index.js';
import { createFakeClock, deferred, drain, seededRandom, seedFrom, sleepOn, type FakeClock } from './kit/index.js';

const open: Cache[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});
function memoryCache(clock: FakeClock = createFakeClock()) {
  const cache = new Cache({ clock });
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
    const gate = deferred();
    const loader = async () => {
      calls++;
      await gate.promise;
      return 42;
    };
    const pending = Promise.all(Array.from({ length: 1000 }, () => cache.getOrSet('cold', loader)));
    await drain();
    gate.resolve();
    const values = await pending;
    expect(calls).toBe(1);
    expect(new Set(values)).toStrictEqual(new Set([42]));
  });

  it('a failing loader is called once for 50 waiters, who all get its rejection; nothing is cached', async () => {
    const cache = memoryCache();
    let calls = 0;
    const gate = deferred();
    const loader = async () => {
      calls++;
      await gate.promise;
      throw new Error('upstream down');
    };
    const pending = Promise.allSettled(Array.from({ length: 50 }, () => cache.getOrSet('k', loader)));
    await drain();
    gate.resolve();
    const results = await pending;
    expect(calls).toBe(1);
    expect(results.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'upstream down')).toBe(true);
    expect(await cache.has('k')).toBe(false);
  });

  it('returns the value but does not cache it when the key is invalidated while the loader runs', async () => {
    const cache = memoryCache();
    const gate = deferred();
    const started = deferred();
    const pending = cache.getOrSet('k', async () => {
      started.resolve();
      await gate.promise;
      return 'computed before the delete';
    });
    await started.promise;
    await cache.delete('k');
    gate.resolve();
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
   * Readers call getOrSet on a hot key whose loader reads a data version and takes a while; a writer bumps the
   * version, then invalidates by key or tag. A read that starts after an invalidation resolved must return a
   * version at least as new as that bump. Every delay is a fake-clock timer drawn from a seeded generator, so a
   * run is one interleaving, replayed exactly by its seed.
   */
  async function torture(seed: number, rounds: number, keyInvalidations = true) {
    const random = seededRandom(seed);
    const clock = createFakeClock();
    const cache = memoryCache(clock);
    let version = 0;
    // Event order, not time: two events in the same fake millisecond still have an order.
    let step = 0;
    const resolved: { version: number; step: number }[] = [];
    let violations = 0;
    let reads = 0;
    const loader = async () => {
      const seen = version;
      await sleepOn(clock, random() * 4);
      return seen;
    };
    const floorAt = (startedAt: number) => resolved.reduce((floor, r) => (r.step <= startedAt ? Math.max(floor, r.version) : floor), 0);
    const stop = clock.now() + 3_000;
    const readers = Array.from({ length: 8 }, async () => {
      while (clock.now() < stop) {
        const floor = floorAt(++step);
        const value = await cache.getOrSet('hot', loader, { tags: ['data'], ttl: '1m' });
        reads++;
        if (value < floor) violations++;
        await sleepOn(clock, random() * 2);
      }
    });
    const writer = (async () => {
      for (let i = 0; i < rounds && clock.now() < stop; i++) {
        await sleepOn(clock, random() * 6);
        version++;
        const bumped = version;
        if (keyInvalidations && i % 3 === 0) await cache.invalidate({ keys: ['hot'] });
        else await cache.invalidateTags(['data']);
        resolved.push({ version: bumped, step: ++step });
      }
    })();
    const done = Promise.all([...readers, writer]);
    // Bounded: 3 s of fake time in 1 ms steps, plus the few timers still armed when the readers stop.
    for (let i = 0; i < 3_100 && clock.now() <= stop; i++) await clock.tick(1);
    await clock.tick(10);
    await done;
    return { violations, reads, invalidations: version };
  }

  it('in one process: no read after an invalidation returns a value computed before it', async () => {
    const seed = seedFrom();
    const replay = `replay with TORTURE_SEED=${seed}`;
    const result = await torture(seed, 300);
    expect(result.reads, replay).toBeGreaterThan(500);
    expect(result.invalidations, replay).toBeGreaterThan(100);
    expect(result.violations, `${result.violations} stale reads; ${replay}`).toBe(0);
  }, 20_000);
});
