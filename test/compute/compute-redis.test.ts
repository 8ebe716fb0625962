// The compute features over a shared Redis tier: kept apart from the memory-only suites so those run without a
// server (npm run test:unit).
import { afterEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache.js';
import { cacheAside, memoize, writeThrough } from '../../src/compute/wrappers.js';
import { redisBus } from '../../src/bus/redis.js';
import type { Store } from '../../src/stores/contract.js';
import { redisStore } from '../../src/stores/redis.js';
import { createFakeClock, deferred, drain, until } from '../kit/index.js';
import { REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';

const open: Cache[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

/** Stands for the I/O of a real data source: the wrapped functions are asynchronous for real. */
const io = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('grace across a shared Redis tier', () => {
  it('a second instance reads the stale entry from Redis within grace and refreshes it', async () => {
    const prefix = `compute-grace-${process.pid}-${Date.now()}:`;
    const clock = createFakeClock(Date.now());
    const a = new Cache({ clock, stores: [redisStore({ url: REDIS_URL, prefix })] });
    const b = new Cache({ clock, stores: [redisStore({ url: REDIS_URL, prefix })] });
    open.push(a, b);
    await a.getOrSet('k', () => 'v1', { ttl: '1m', grace: '10m' });
    clock.advance(2 * 60_000);
    const slow = deferred<string>();
    expect(await b.getOrSetResult('k', () => slow.promise, { grace: '10m' })).toMatchObject({ value: 'v1', source: 'redis', stale: true });
    slow.resolve('v2');
    await drain();
    // a's own memory copy is stale too, so a plain read goes down to Redis and finds b's refresh once it lands.
    await until(async () => (await a.get('k')) === 'v2', 'b’s refresh to reach Redis');
    await a.clear({ confirm: true });
  });
});

/**
 * The real store, its reads counted (`get`, and `addOrGet`, the claim that reads), and each read's answer held
 * back while `hold` is set. With `combined` false the store offers no `addOrGet`, so a load claims with `add` and
 * reads with `get`.
 */
function countedStore(store: Store, combined: boolean): { store: Store; reads: () => number; hold: (gate: Promise<void> | undefined) => void } {
  let reads = 0;
  let gate: Promise<void> | undefined;
  const held = async <T>(answer: Promise<T>) => {
    reads++;
    const waitFor = gate;
    const result = await answer;
    if (waitFor !== undefined) await waitFor;
    return result;
  };
  const counted = Object.assign(Object.create(store) as Store, {
    get: (key: string) => held(store.get(key)),
    addOrGet: combined ? (key: string, value: Uint8Array, expiresAt: number) => held(store.addOrGet!(key, value, expiresAt)) : undefined,
    getMany(keys: readonly string[]) {
      reads += keys.length;
      return (store.getMany as (k: readonly string[]) => Promise<(Uint8Array | undefined)[]>).call(store, keys);
    },
  });
  return {
    store: counted,
    reads: () => reads,
    hold: (next) => {
      gate = next;
    },
  };
}

describe.each([
  ['a claim that reads (addOrGet)', true],
  ['a read, then a claim (get, add)', false],
])('cold keys over Redis: %s', (_, combined) => {
  it('1,000 callers of a cold key share one store read and one load', async () => {
    const prefix = uniquePrefix('cold');
    const counted = countedStore(redisStore({ url: REDIS_URL, prefix }), combined);
    const cache = new Cache({ stores: [counted.store] });
    open.push(cache);
    let loads = 0;
    const values = await Promise.all(
      Array.from({ length: 1_000 }, () =>
        cache.getOrSet('cold', async () => {
          loads++;
          await io();
          return { at: new Date(5) };
        }),
      ),
    );
    expect(values.every((v) => v.at.getTime() === 5)).toBe(true);
    expect(loads).toBe(1);
    expect(counted.reads()).toBe(1);
    expect(cache.getStats().misses).toBe(1_000);
    await cache.clear({ confirm: true });
  });

  it('1,000 callers of a key only Redis holds share one store read, run no load, and all count as hits', async () => {
    const prefix = uniquePrefix('warm-l2');
    const writer = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })] });
    const counted = countedStore(redisStore({ url: REDIS_URL, prefix }), combined);
    const cache = new Cache({ stores: [counted.store] });
    open.push(writer, cache);
    await writer.set('held', { n: 7 });
    let loads = 0;
    const values = await Promise.all(
      Array.from({ length: 1_000 }, () =>
        cache.getOrSet('held', () => {
          loads++;
          return { n: 0 };
        }),
      ),
    );
    expect(values.every((v) => v.n === 7)).toBe(true);
    expect(loads).toBe(0);
    expect(counted.reads()).toBe(1);
    expect(cache.getStats()).toMatchObject({ hits: 1_000, misses: 0 });
    expect(cache.getStats().stores.redis).toMatchObject({ hits: 1, misses: 0 });
    expect((await cache.getResult('held')).source).toBe('memory');
    await cache.clear({ confirm: true });
  });

  it('a caller that comes after an invalidation from another instance does not join a read begun before it', async () => {
    const prefix = uniquePrefix('cold-fence');
    const channel = `${prefix}bus`;
    const counted = countedStore(redisStore({ url: REDIS_URL, prefix }), combined);
    const a = new Cache({ stores: [counted.store], bus: redisBus({ url: REDIS_URL, channel }) });
    const b = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })], bus: redisBus({ url: REDIS_URL, channel }) });
    open.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    await b.set('k', 'v1');
    const gate = deferred();
    counted.hold(gate.promise);
    const first = a.getOrSet('k', () => 'loaded');
    await until(() => counted.reads() === 1, 'the first read to reach Redis');
    const heard = a.getStats().bus?.received ?? 0;
    await b.set('k', 'v2');
    await until(() => (a.getStats().bus?.received ?? 0) > heard, 'a to hear b’s write');
    counted.hold(undefined);
    // The first read is still held, holding v1: a caller after the write must read for itself.
    expect(await a.getOrSet('k', () => 'loaded')).toBe('v2');
    gate.resolve();
    expect(await first).toBe('v1');
    expect(counted.reads()).toBe(2);
    expect(await a.get('k')).toBe('v2');
    await a.clear({ confirm: true });
  });
});

describe('getOrSetMany over Redis', () => {
  it('reads the stores once per tier and writes them in one batch (Redis)', async () => {
    const prefix = `compute-many-${process.pid}-${Date.now()}:`;
    const a = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })] });
    const b = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })] });
    open.push(a, b);
    await a.getOrSetMany(['k1', 'k2', 'k3'], (keys) => keys.map((k) => ({ k, at: new Date(0) })));
    let calls = 0;
    const values = await b.getOrSetMany(['k1', 'k2', 'k3', 'k4'], (keys) => {
      calls++;
      return keys.map((k) => ({ k, at: new Date(1) }));
    });
    expect(values).toStrictEqual([{ k: 'k1', at: new Date(0) }, { k: 'k2', at: new Date(0) }, { k: 'k3', at: new Date(0) }, { k: 'k4', at: new Date(1) }]);
    expect(calls).toBe(1);
    expect(b.getStats().stores.redis?.hits).toBe(3);
    await a.clear({ confirm: true });
  });
});

describe('wrappers over a Redis store', () => {
  it('share results across instances, and memoize.clear() and escaped patterns reach the store', async () => {
    const prefix = uniquePrefix('wrappers');
    const make = () => {
      const cache = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })] });
      open.push(cache);
      return cache;
    };
    const [a, b, c] = [make(), make(), make()];
    try {
      let calls = 0;
      async function fetchQuote(symbol: string) {
        await io();
        calls++;
        return { symbol, price: 100 + calls };
      }
      const onA = memoize(a, fetchQuote, { ttl: '1m' });
      const onB = memoize(b, fetchQuote, { ttl: '1m' });
      const onC = memoize(c, fetchQuote, { ttl: '1m' });
      expect(await onA('ACME')).toStrictEqual({ symbol: 'ACME', price: 101 });
      expect(await onB('ACME')).toStrictEqual({ symbol: 'ACME', price: 101 });
      expect(calls).toBe(1);
      await onA('*');
      expect(calls).toBe(2);

      // Only the entries of user '*' go, in the store as in memory, though '*' is a wildcard to SCAN MATCH.
      const profile = (cache: Cache) => cacheAside(cache, async (id: string) => (await io(), `profile:${id}`), { key: 'user:{0}:profile' });
      await profile(a)('*');
      await profile(a)('1');
      await writeThrough(a, async (id: string) => (await io(), id), { invalidate: { patterns: ['user:{0}:*'] } })('*');
      expect(await c.has('user:%2A:profile')).toBe(false);
      expect(await c.has('user:1:profile')).toBe(true);

      expect(await onA.clear()).toBe(2);
      expect(await onC('ACME')).toStrictEqual({ symbol: 'ACME', price: 103 });
      expect(await c.has('user:1:profile')).toBe(true);
    } finally {
      await a.clear({ confirm: true });
    }
  });
});
