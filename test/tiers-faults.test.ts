import { Redis } from 'ioredis';
import { until } from './kit/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache, CacheBackendError } from '../src/index.js';
import { redisStore } from '../src/stores/redis.js';
import { createFakeClock } from '../src/testing/index.js';
import { startThrowawayRedis, type ThrowawayRedis } from './support/redis-server.js';

// A Redis of our own, so stopping it disturbs nobody else.
const PORT = 6391;
let server: ThrowawayRedis;
let raw: Redis;

beforeAll(async () => {
  server = await startThrowawayRedis(PORT);
  raw = new Redis({ port: PORT, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  raw.on('error', () => undefined);
});
afterAll(async () => {
  raw.disconnect();
  await server.stop();
});


describe('when Redis goes away and comes back', () => {
  it('keeps answering, opens and closes the breaker, and replays the missed writes', async () => {
    const clock = createFakeClock();
    const errors: string[] = [];
    const cache = new Cache({
      clock,
      stores: [{ store: redisStore({ url: server.url, prefix: 'faults:', clock }), timeout: '300ms', breaker: { failures: 3, cooldown: '5s' } }],
    });
    cache.on('error', (e) => errors.push(e.operation));
    try {
      await cache.set('before', 'v1');
      await cache.set('kept', 'old');
      await server.stop();

      // Down: memory-tier hits still answer; misses answer quickly with undefined.
      expect(await cache.get('before')).toBe('v1');
      const started = Date.now();
      for (let i = 0; i < 3; i++) expect(await cache.get(`missing${i}`)).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(3 * 1_500);
      expect(cache.getStats().stores.redis).toMatchObject({ breaker: 'open' });
      expect(errors.length).toBeGreaterThanOrEqual(3);

      // With the breaker open, calls skip the store at once.
      const skipStart = Date.now();
      expect(await cache.get('missing-again')).toBeUndefined();
      expect(Date.now() - skipStart).toBeLessThan(100);
      expect(cache.getStats().stores.redis?.skipped).toBeGreaterThan(0);

      // Writes while down are kept (last write per key wins) and still succeed in memory.
      expect(await cache.set('kept', 'new')).toBe(true);
      expect(await cache.set('during', 'a')).toBe(true);
      expect(await cache.set('during', 'b')).toBe(true);
      expect(await cache.delete('before')).toBe(true);
      expect(await cache.get('during')).toBe('b');
      expect(cache.getStats().stores.redis).toMatchObject({ pendingWrites: 3 });

      await server.start();
      // The breaker's cooldown runs on the cache clock: move it on while the client reconnects.
      await until(async () => {
        clock.advance(5_000);
        return (await raw.exists('faults:during').catch(() => 0)) === 1 && cache.getStats().stores.redis?.pendingWrites === 0;
      }, 'the replay', 8_000, 25);
      expect(cache.getStats().stores.redis).toMatchObject({ breaker: 'closed', pendingWrites: 0 });

      const fresh = new Cache({ clock, stores: [redisStore({ url: server.url, prefix: 'faults:', clock })] });
      try {
        expect(await fresh.get('during')).toBe('b');
        expect(await fresh.get('kept')).toBe('new');
        expect(await fresh.get('before')).toBeUndefined();
      } finally {
        await fresh.close();
      }
    } finally {
      await cache.close();
    }
  });

  it('does not overwrite a newer value written by another instance while this one was cut off', async () => {
    const clock = createFakeClock();
    const store = () => redisStore({ url: server.url, prefix: 'newer:', clock });
    const cutOff = new Cache({ clock, stores: [{ store: store(), timeout: '300ms', breaker: { failures: 1, cooldown: '1s' } }] });
    cutOff.on('error', () => undefined);
    try {
      await server.stop();
      await cutOff.set('k', 'stale write');
      expect(cutOff.getStats().stores.redis?.pendingWrites).toBe(1);
      await server.start();

      clock.advance(1_000);
      const other = new Cache({ clock, stores: [store()] });
      await other.set('k', 'newer write');
      await other.close();

      await until(async () => {
        clock.advance(1_000);
        await cutOff.get('anything');
        return cutOff.getStats().stores.redis?.pendingWrites === 0;
      }, 'the replay', 8_000, 25);
      const check = new Cache({ clock, stores: [store()] });
      expect(await check.get('k')).toBe('newer write');
      await check.close();
    } finally {
      await cutOff.close();
    }
  });

  it('getOrSet with the store down returns the loader value, uncached there, and never throws (with a lease too)', async () => {
    const clock = createFakeClock();
    const cache = new Cache({ clock, stores: [{ store: redisStore({ url: server.url, prefix: 'down:', clock }), timeout: '300ms', breaker: { failures: 2, cooldown: '1s' } }] });
    const errors: string[] = [];
    cache.on('error', (e) => errors.push(e.operation));
    try {
      await server.stop();
      expect(await cache.getOrSet('a', () => 'computed')).toBe('computed');
      expect(await cache.getOrSet('b', () => 'leased', { lease: true })).toBe('leased');
      expect(await cache.getOrSetMany(['c', 'd'], (keys) => keys)).toStrictEqual(['c', 'd']);
      expect(errors.length).toBeGreaterThan(0);
      // Served from the memory tier meanwhile.
      expect(await cache.get('a')).toBe('computed');
    } finally {
      await server.start();
      await cache.close();
    }
  });

  it('throws CacheBackendError naming the store in strict mode', async () => {
    const clock = createFakeClock();
    const cache = new Cache({ clock, strict: true, stores: [{ store: redisStore({ url: server.url, prefix: 'strict:', clock }), timeout: '300ms' }] });
    try {
      await server.stop();
      const error = await cache.set('k', 1).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CacheBackendError);
      expect((error as CacheBackendError).store).toBe('redis');
      expect(String((error as Error).message)).toMatch(/^redis: /);
      await expect(cache.get('nope')).rejects.toBeInstanceOf(CacheBackendError);
    } finally {
      await server.start();
      await cache.close();
    }
  });
});
