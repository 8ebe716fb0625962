import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheBackendError } from '../../src/errors.js';
import { redisStore, type RedisStoreOptions } from '../../src/stores/redis.js';
import { createFakeClock, storeConformance } from '../../src/testing/index.js';
import { freePort, REDIS_URL, rejection, ThrowawayRedis, uniquePrefix } from './redis-helpers.js';
import { until } from '../kit/index.js';

const text = (value: string) => new TextEncoder().encode(value);
const decode = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));
const later = (ms: number) => Date.now() + ms;

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of iterable) out.push(key);
  return out.sort();
}

function expectBackendError(error: unknown, store: string): asserts error is CacheBackendError {
  expect(error).toBeInstanceOf(CacheBackendError);
  const backend = error as CacheBackendError;
  expect(backend.store).toBe(store);
  expect(backend.message.startsWith(`${store}: `)).toBe(true);
}

describe('redis store: conformance (standalone)', () => {
  for (const c of storeConformance({ create: (ns) => redisStore({ url: REDIS_URL, prefix: `${ns}:` }) })) it(c.name, (context) => c.run(context));
});

describe('redis store: conformance of addOrGet on a server without SET … NX GET (before Redis 7.0)', () => {
  // The store finds out at the first refusal; this starts it there, so the two-command path runs on Redis 7 too.
  const older = (ns: string) => Object.assign(redisStore({ url: REDIS_URL, prefix: `${ns}:` }), { setNxGet: false });
  for (const c of storeConformance({ create: older })) if (c.requires.includes('addOrGet')) it(c.name, (context) => c.run(context));
});

describe('redis store (standalone)', () => {
  let raw: Redis;
  beforeAll(() => {
    raw = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await raw.quit();
  });

  it('stores bytes under prefix + key, with a TTL counted from the store clock, not the server clock', async () => {
    const prefix = uniquePrefix('ttl');
    // The application clock is an hour behind the server: only the relative TTL must reach Redis.
    const clock = createFakeClock(Date.now() - 3_600_000);
    const store = redisStore({ url: REDIS_URL, prefix, clock });
    try {
      await store.set('k', text('v'), clock.now() + 10_000);
      expect(await raw.get(`${prefix}k`)).toBe('v');
      const pttl = await raw.pttl(`${prefix}k`);
      expect(pttl).toBeGreaterThan(9_000);
      expect(pttl).toBeLessThanOrEqual(10_000);
      await store.set('k', text('v'), clock.now());
      expect(await raw.exists(`${prefix}k`)).toBe(0);
      expect(await store.add('k', text('v'), clock.now() - 1)).toBe(false);
      expect(await raw.exists(`${prefix}k`)).toBe(0);
      // A fraction of a millisecond still stores (rounded up), rather than being mistaken for "expired".
      await store.set('brief', text('v'), clock.now() + 0.25);
      expect(await raw.pttl(`${prefix}brief`)).toBeLessThanOrEqual(1);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('returns plain Uint8Arrays that no later read or write changes', async () => {
    const prefix = uniquePrefix('bytes');
    const store = redisStore({ url: REDIS_URL, prefix });
    try {
      await store.set('k', text('hello'), later(60_000));
      const value = await store.get('k');
      expect(value).toBeInstanceOf(Uint8Array);
      expect(Buffer.isBuffer(value)).toBe(false);
      await Promise.all(Array.from({ length: 50 }, (_, i) => store.set(`other-${i}`, text('x'.repeat(i * 40)), later(60_000))));
      await Promise.all(Array.from({ length: 50 }, (_, i) => store.get(`other-${i}`)));
      expect(decode(value)).toBe('hello');
      (value as Uint8Array)[0] = 0x4a;
      expect(decode(await store.get('k'))).toBe('hello');
      const [many] = await store.getMany(['k']);
      expect(decode(many)).toBe('hello');
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('leaves a user-owned client open on close', async () => {
    const client = new Redis(REDIS_URL);
    const store = redisStore({ client, prefix: uniquePrefix('owned') });
    try {
      await store.set('k', text('v'), later(60_000));
      expect(decode(await store.get('k'))).toBe('v');
      await store.clear();
      await store.close();
      await store.close();
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
      const { error } = await rejection(store.get('k'));
      expectBackendError(error, 'redis');
    } finally {
      await client.quit();
    }
  });

  it('keeps stores with different prefixes apart', async () => {
    const prefixA = uniquePrefix('a');
    const prefixB = uniquePrefix('b');
    const a = redisStore({ url: REDIS_URL, prefix: prefixA });
    const b = redisStore({ url: REDIS_URL, prefix: prefixB });
    try {
      await a.set('k', text('a'), later(60_000));
      expect(await b.get('k')).toBeUndefined();
      expect(await b.delete('k')).toBe(false);
      expect(await b.deleteMany(['k'])).toBe(0);
      expect(await b.add('k', text('b'), later(60_000))).toBe(true);
      expect(decode(await a.get('k'))).toBe('a');
      expect(decode(await b.get('k'))).toBe('b');
      expect(await collect(b.keys('*'))).toEqual(['k']);
      expect(await raw.get(`${prefixA}k`)).toBe('a');
      expect(await raw.get(`${prefixB}k`)).toBe('b');
    } finally {
      await a.clear();
      await b.clear();
      await a.close();
      await b.close();
    }
  });

  it('reads 100 keys with a single MGET', async () => {
    const prefix = uniquePrefix('mget');
    const store = redisStore({ url: REDIS_URL, prefix });
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    await store.setMany(keys.map((key) => ({ key, value: text(key), expiresAt: later(60_000) })));
    const monitor = await raw.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((arg) => arg.startsWith(prefix))) seen.push(args);
    });
    try {
      const values = await store.getMany([...keys, 'missing']);
      expect(values.map(decode)).toEqual([...keys, undefined]);
      // MONITOR reports commands in execution order: once a later marker shows up, the getMany commands have too.
      const marker = `${prefix}marker`;
      await raw.get(marker);
      await until(async () => Promise.resolve(seen.some((args) => args[1] === marker)), 'the marker in MONITOR', 2000, 50);
      const mine = seen.filter((args) => args[1] !== marker);
      expect(mine).toHaveLength(1);
      expect(mine[0]?.[0]?.toLowerCase()).toBe('mget');
      expect(mine[0]).toHaveLength(102);
    } finally {
      monitor.disconnect();
      await store.clear();
      await store.close();
    }
  });

  it('clear and keys stay inside a prefix that holds glob characters', async () => {
    const base = uniquePrefix('glob');
    const prefix = `${base}we*rd?[ab]\\:`;
    // Each of these would match if the prefix reached Redis as a pattern rather than as literal text.
    const foreign = [`${base}weXrd?[ab]\\:k`, `${base}we*rdQ[ab]\\:k`, `${base}we*rd?a\\:k`, `${base}we*rd?[ab]:k`, `${base}we*rd?[ab]`];
    for (const key of foreign) await raw.set(key, 'foreign', 'PX', 60_000);
    const store = redisStore({ url: REDIS_URL, prefix });
    try {
      for (const key of ['k', 'x[1]', 'back\\slash', 'ü1', 'a1', 'ab1']) await store.set(key, text(key), later(60_000));
      expect(await collect(store.keys('*'))).toEqual(['a1', 'ab1', 'back\\slash', 'k', 'x[1]', 'ü1'].sort());
      // `?` is one character even where UTF-8 needs two bytes for it.
      expect(await collect(store.keys('?1'))).toEqual(['a1', 'ü1']);
      expect(await collect(store.keys('x[1]'))).toEqual(['x[1]']);
      expect(await collect(store.keys('x[?]'))).toEqual(['x[1]']);
      expect(await collect(store.keys('back\\*'))).toEqual(['back\\slash']);
      expect(await collect(store.keys('k*'))).toEqual(['k']);
      await store.clear();
      expect(await collect(store.keys('*'))).toEqual([]);
      for (const key of foreign) expect(await raw.get(key)).toBe('foreign');
    } finally {
      await raw.del(...foreign);
      await store.close();
    }
  });

  it('clear never touches keys outside the default-style prefix', async () => {
    const prefix = uniquePrefix('clear');
    const foreign = `${prefix.slice(0, -1)}-outside`;
    await raw.set(foreign, 'foreign', 'PX', 60_000);
    const store = redisStore({ url: REDIS_URL, prefix });
    try {
      await store.setMany(Array.from({ length: 2500 }, (_, i) => ({ key: `k${i}`, value: text('v'), expiresAt: later(60_000) })));
      await store.clear();
      expect(await collect(store.keys('*'))).toEqual([]);
      expect(await raw.get(foreign)).toBe('foreign');
    } finally {
      await raw.del(foreign);
      await store.close();
    }
  });

  it('fails fast with a CacheBackendError naming the store when nothing listens on the port', async () => {
    const port = await freePort();
    const store = redisStore({ url: `redis://127.0.0.1:${port}`, name: 'sessions' });
    try {
      const first = await rejection(store.get('k'));
      expectBackendError(first.error, 'sessions');
      expect(first.error.cause).toBeDefined();
      expect(first.error.message).toMatch(/ECONNREFUSED/);
      expect(first.ms).toBeLessThan(1500);
      const again = await rejection(store.set('k', text('v'), later(1000)));
      expectBackendError(again.error, 'sessions');
      expect(again.ms).toBeLessThan(200);
      const scan = await rejection(collect(store.keys('*')));
      expectBackendError(scan.error, 'sessions');
      expectBackendError((await rejection(store.clear())).error, 'sessions');
    } finally {
      await store.close();
    }
  });

  it('refuses ambiguous connection options', () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true });
    const ambiguous = { client, url: REDIS_URL } as unknown as RedisStoreOptions;
    expect(() => redisStore(ambiguous)).toThrow(CacheBackendError);
    client.disconnect();
  });

  it('reports a refused value as a CacheBackendError, keeping the key', async () => {
    const store = redisStore({ url: REDIS_URL, prefix: uniquePrefix('nan') });
    try {
      const { error } = await rejection(store.set('k', text('v'), Number.NaN));
      expectBackendError(error, 'redis');
      expect(error.key).toBe('k');
    } finally {
      await store.close();
    }
  });
});

describe('redis store: a server that dies and comes back', () => {
  let server: ThrowawayRedis;
  beforeAll(async () => {
    server = new ThrowawayRedis(await freePort());
    await server.start();
  });
  afterAll(async () => {
    await server.kill();
  });

  it('fails fast while the server is down and recovers when it is back', async () => {
    const store = redisStore({ url: server.url, prefix: uniquePrefix('fault') });
    try {
      await store.set('k', text('v'), later(60_000));
      expect(decode(await store.get('k'))).toBe('v');

      await server.kill();
      for (const call of [() => store.get('k'), () => store.set('k', text('v'), later(60_000)), () => store.getMany(['k'])]) {
        const { error, ms } = await rejection(call());
        expectBackendError(error, 'redis');
        expect(error.cause).toBeDefined();
        expect(ms).toBeLessThan(1500);
      }
      // Once the store knows the connection is down, calls do not wait at all.
      const { ms } = await rejection(store.get('k'));
      expect(ms).toBeLessThan(100);

      await server.start();
      await until(
        () => store.get('k').then(() => true, () => false),
        'the store to reconnect',
        5000,
        50,
      );
      // The server kept nothing (no persistence): a miss, then a normal round trip.
      expect(await store.get('k')).toBeUndefined();
      await store.set('k', text('again'), later(60_000));
      expect(decode(await store.get('k'))).toBe('again');
    } finally {
      await store.close();
    }
  });
});
