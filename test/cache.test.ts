import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Decimal } from 'decimal.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type {
  CacheError} from '../src/index.js';
import {
  Cache,
  createCache,
  createCodec,
  InvalidKeyError,
  isCacheError,
  SerializationError,
  TtlPolicy,
  type CacheEvents,
  type CodecExtension,
} from '../src/index.js';
import { sqliteStore } from '../src/stores/sqlite.js';
import { createFakeClock } from '../src/testing/index.js';

const execFileAsync = promisify(execFile);
const caches: Cache[] = [];
function make(options: ConstructorParameters<typeof Cache>[0] = {}) {
  const clock = createFakeClock();
  const cache = new Cache({ clock, ...options });
  caches.push(cache);
  return { cache, clock };
}
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close()));
});

/**
 * Two caches on one real store (an in-process SQLite database): what `writer` sets, `reader` can only get by
 * decoding the stored bytes, since its memory tier starts empty. A memory-only cache hands back the very object
 * it was given, so it cannot show a codec bug; this pair can.
 */
function writerAndReader(options: ConstructorParameters<typeof Cache>[0] = {}) {
  const clock = createFakeClock();
  // The store judges expiry by the same clock as the caches: deadlines are absolute times on it.
  const store = sqliteStore({ path: ':memory:', pruneInterval: 0, clock });
  const writer = new Cache({ clock, stores: [store], ...options });
  const reader = new Cache({ clock, stores: [store], ...options });
  caches.push(writer, reader);
  return { writer, reader };
}

/** `reader`'s value for `key`, asserting it came from the store and is a decoded copy, not the writer's object. */
async function readBack(reader: Cache, key: string, written: unknown): Promise<unknown> {
  const result = await reader.getResult(key);
  expect(result.source, key).toBe('sqlite');
  if (typeof written === 'object' && written !== null) expect(result.value, key).not.toBe(written);
  return result.value;
}

describe('get / set', () => {
  it('returns exactly what was stored, falsy and rich values included', async () => {
    const { cache } = make();
    const values: Record<string, unknown> = {
      zero: 0,
      no: false,
      empty: '',
      nil: null,
      nan: Number.NaN,
      negZero: -0,
      date: new Date('2025-12-20T00:00:00Z'),
      big: 12345678901234567890n,
      money: new Decimal('9.05'),
      map: new Map([['a', 1]]),
      set: new Set([1, 2]),
      nested: { at: new Date(0), list: [1, undefined, 'x'], missing: undefined },
    };
    for (const [key, value] of Object.entries(values)) expect(await cache.set(key, value)).toBe(true);
    for (const [key, value] of Object.entries(values)) expect(await cache.get(key)).toStrictEqual(value);

    // The same values through the codec: written by one cache to a store, read back by another.
    const { writer, reader } = writerAndReader();
    for (const [key, value] of Object.entries(values)) expect(await writer.set(key, value)).toBe(true);
    for (const [key, value] of Object.entries(values)) expect(await readBack(reader, key, value), key).toStrictEqual(value);
  });

  it('gives the default for a missing key, and undefined without one', async () => {
    const { cache } = make();
    expect(await cache.get('nope')).toBeUndefined();
    expect(await cache.get('nope', { default: 42 })).toBe(42);
    await cache.set('zero', 0);
    expect(await cache.get('zero', { default: 42 })).toBe(0);
  });

  it('expires entries by TTL measured on the injected clock', async () => {
    const { cache, clock } = make();
    await cache.set('k', 'v', { ttl: '1s' });
    clock.advance(999);
    expect(await cache.get('k')).toBe('v');
    clock.advance(1);
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.has('k')).toBe(false);
  });

  it('uses a 24h default TTL, or the configured one', async () => {
    const { cache, clock } = make();
    await cache.set('k', 1);
    clock.advance(TtlPolicy.extended - 1);
    expect(await cache.get('k')).toBe(1);
    clock.advance(1);
    expect(await cache.get('k')).toBeUndefined();

    const short = make({ defaultTtl: '5m' });
    await short.cache.set('k', 1);
    short.clock.advance(5 * 60_000);
    expect(await short.cache.get('k')).toBeUndefined();
  });

  it('takes an absolute Date as the deadline; a past Date stores nothing and removes the old value', async () => {
    const { cache, clock } = make();
    await cache.set('k', 'old');
    expect(await cache.set('k', 'new', { ttl: new Date(clock.now() - 1) })).toBe(false);
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.set('k', 'v', { ttl: new Date(clock.now() + 10_000) })).toBe(true);
    clock.advance(10_000);
    expect(await cache.get('k')).toBeUndefined();
  });

  it('treats ttl 0 as already expired', async () => {
    const { cache } = make();
    expect(await cache.set('k', 'v', { ttl: 0 })).toBe(false);
    expect(await cache.has('k')).toBe(false);
  });

  it('refuses bad TTLs with a TypeError naming ttl and the value, storing nothing', async () => {
    const { cache } = make();
    for (const ttl of [-5, Number.NaN, Number.POSITIVE_INFINITY, '10 parsecs']) {
      await expect(cache.set('k', 'v', { ttl })).rejects.toThrow(TypeError);
      await expect(cache.set('k', 'v', { ttl })).rejects.toThrow(new RegExp(`^ttl .*${String(ttl).replace('.', '\\.')}`));
    }
    expect(await cache.has('k')).toBe(false);
  });

  it('refuses what the codec cannot hold, naming key and path, and keeps the old value', async () => {
    const { cache } = make();
    await cache.set('k', { ok: 1 });
    const error = await cache.set('k', { handler: () => 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as SerializationError).message).toMatch(/k/);
    expect((error as SerializationError).path).toMatch(/handler/);
    expect(await cache.get('k')).toStrictEqual({ ok: 1 });
  });

  it('refuses values over maxValueBytes', async () => {
    const { cache } = make({ maxValueBytes: 1024 });
    await expect(cache.set('big', 'x'.repeat(2000))).rejects.toBeInstanceOf(SerializationError);
    expect(await cache.set('small', 'x'.repeat(100))).toBe(true);
  });

  it('accepts user classes through a codec extension', async () => {
    class Money {
      constructor(
        readonly cents: bigint,
        readonly currency: string,
      ) {}
    }
    const money: CodecExtension<Money> = {
      name: 'test.Money',
      test: (v): v is Money => v instanceof Money,
      encode: (m) => ({ cents: m.cents, currency: m.currency }),
      decode: (d) => {
        const { cents, currency } = d as { cents: bigint; currency: string };
        return new Money(cents, currency);
      },
    };
    const plain = make();
    await expect(plain.cache.set('m', new Money(1n, 'EUR'))).rejects.toThrow(/Money/);
    const { cache } = make({ codec: createCodec({ extensions: [money] }) });
    await cache.set('m', new Money(150n, 'EUR'));
    expect(await cache.get('m')).toStrictEqual(new Money(150n, 'EUR'));

    // Rebuilt by the extension from the stored bytes, in a cache that did not write it.
    const { writer, reader } = writerAndReader({ codec: createCodec({ extensions: [money] }) });
    const written = new Money(150n, 'EUR');
    await writer.set('m', written);
    const read = await readBack(reader, 'm', written);
    expect(read).toBeInstanceOf(Money);
    expect(read).toStrictEqual(new Money(150n, 'EUR'));
  });

  it('refuses bad keys with InvalidKeyError', async () => {
    const { cache } = make();
    await expect(cache.get('')).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(cache.set('a\u0000b', 1)).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(cache.get('x'.repeat(2000))).rejects.toThrow(/limit is 1024/);
    await expect(cache.set(undefined as unknown as string, 1)).rejects.toThrow(/key must be a string/);
  });
});

describe('batch calls', () => {
  it('getMany returns values in order with undefined for misses', async () => {
    const { cache } = make();
    await cache.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 0, ttl: '1m' },
    ]);
    expect(await cache.getMany(['a', 'missing', 'b'])).toStrictEqual([1, undefined, 0]);
    expect(cache.getStats()).toMatchObject({ hits: 2, misses: 1 });
  });

  it('setMany stores nothing when one entry is bad', async () => {
    const { cache } = make();
    await expect(
      cache.setMany([
        { key: 'a', value: 1 },
        { key: 'b', value: Symbol('no') },
      ]),
    ).rejects.toBeInstanceOf(SerializationError);
    await expect(cache.setMany([{ key: 'a', value: 1 }, { key: 'c', value: 2, ttl: -1 }])).rejects.toThrow(TypeError);
    expect(await cache.has('a')).toBe(false);
  });

  it('setMany applies shared options with per-entry overrides', async () => {
    const { cache, clock } = make();
    await cache.setMany(
      [
        { key: 'short', value: 1 },
        { key: 'long', value: 2, ttl: '1h' },
      ],
      { ttl: '1m', tags: ['t'] },
    );
    expect((await cache.inspect('short'))?.tags).toStrictEqual(['t']);
    clock.advance(60_000);
    expect(await cache.getMany(['short', 'long'])).toStrictEqual([undefined, 2]);
  });

  it('deleteMany counts only the keys that were there', async () => {
    const { cache } = make();
    await cache.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
    ]);
    expect(await cache.deleteMany(['a', 'b', 'c'])).toBe(2);
    expect(await cache.getMany(['a', 'b'])).toStrictEqual([undefined, undefined]);
  });
});

describe('delete, has, clear', () => {
  it('delete says whether something was removed', async () => {
    const { cache } = make();
    await cache.set('k', 1);
    expect(await cache.delete('k')).toBe(true);
    expect(await cache.delete('k')).toBe(false);
    expect(await cache.get('k')).toBeUndefined();
  });

  it('clear refuses without confirm and clears nothing', async () => {
    const { cache } = make();
    await cache.set('k', 1);
    const error = await cache.clear().catch((e: unknown) => e);
    expect(isCacheError(error)).toBe(true);
    expect((error as CacheError).code).toBe('E_NOT_CONFIRMED');
    await expect(cache.clear({ confirm: false })).rejects.toThrow(/confirm: true/);
    expect(await cache.get('k')).toBe(1);
  });

  it('clear({ confirm: true }) removes everything and returns the count', async () => {
    const { cache } = make();
    await cache.setMany([1, 2, 3].map((i) => ({ key: `k${i}`, value: i })));
    expect(await cache.clear({ confirm: true })).toBe(3);
    expect(cache.getStats().keyCount).toBe(0);
  });
});

describe('namespaces', () => {
  it('keeps keys apart and clears only its own', async () => {
    const { cache } = make();
    const users = cache.namespace('users');
    const orders = cache.namespace('orders');
    await users.set('1', 'ada');
    await orders.set('1', 'order');
    await cache.set('1', 'root');
    expect(await users.get('1')).toBe('ada');
    expect(await orders.get('1')).toBe('order');
    expect(await cache.get('users:1')).toBe('ada');
    expect(await users.clear({ confirm: true })).toBe(1);
    expect(await users.get('1')).toBeUndefined();
    expect(await orders.get('1')).toBe('order');
    expect(await cache.get('1')).toBe('root');
  });

  it('nests, and escapes names so one cannot reach into another', async () => {
    const { cache } = make();
    const eu = cache.namespace('users').namespace('eu');
    await eu.set('7', 'x');
    expect(await cache.get('users:eu:7')).toBe('x');
    const tricky = cache.namespace('a:b');
    await tricky.set('k', 1);
    expect(tricky.namespacePath).toBe('a%3Ab:');
    expect(await cache.namespace('a').namespace('b').get('k')).toBeUndefined();
  });
});

describe('inspect', () => {
  it('reports tier, remaining TTL, size, timestamps and tags', async () => {
    const { cache, clock } = make();
    const createdAt = clock.now();
    await cache.set('k', { v: 'x'.repeat(100) }, { ttl: '1m', tags: ['a', 'b'] });
    clock.advance(10_000);
    const info = await cache.inspect('k');
    expect(info).toMatchObject({ key: 'k', exists: true, tier: 'memory', ttlRemaining: 50_000, tags: ['a', 'b'] });
    expect(info?.createdAt).toStrictEqual(new Date(createdAt));
    expect(info?.expiresAt).toStrictEqual(new Date(createdAt + 60_000));
    expect(info?.sizeBytes).toBeGreaterThan(100);
    expect(await cache.inspect('missing')).toBeUndefined();
  });

  it('does not count as a read', async () => {
    const { cache } = make();
    await cache.set('k', 1);
    await cache.inspect('k');
    await cache.has('k');
    expect(cache.getStats().totalRequests).toBe(0);
  });
});

describe('getStats', () => {
  it('counts requests, hits, misses and the hit rate, and resets on demand', async () => {
    const { cache } = make();
    await cache.get('k');
    await cache.set('k', { data: 'test' });
    await cache.get('k');
    const stats = cache.getStats({ reset: true });
    expect(stats).toMatchObject({ totalRequests: 2, hits: 1, misses: 1, hitRate: 0.5, keyCount: 1 });
    expect(stats.tiers.memory).toMatchObject({ hits: 1, misses: 1, sets: 1, keyCount: 1 });
    expect(cache.getStats()).toMatchObject({ totalRequests: 0, hits: 0, misses: 0, hitRate: 0, keyCount: 1 });
  });

  it('reports bytes used and the average TTL remaining', async () => {
    const { cache, clock } = make();
    await cache.set('a', 1, { ttl: '10s' });
    await cache.set('b', 1, { ttl: '30s' });
    clock.advance(5_000);
    const stats = cache.getStats();
    expect(stats.avgTtlRemaining).toBe(15_000);
    expect(stats.memoryUsedBytes).toBeGreaterThan(0);
    await cache.delete('a');
    await cache.delete('b');
    expect(cache.getStats().memoryUsedBytes).toBe(0);
  });

  it('counts evictions when the memory tier is full', async () => {
    const { cache } = make({ memory: { maxEntries: 10, policy: 'lru' } });
    for (let i = 0; i < 25; i++) await cache.set(`k${i}`, i);
    const stats = cache.getStats();
    expect(stats.keyCount).toBe(10);
    expect(stats.evictions).toBe(15);
    expect(await cache.get('k24')).toBe(24);
    expect(await cache.get('k0')).toBeUndefined();
  });

  it('keeps memoryUsedBytes within 10% below maxBytes under churn', async () => {
    const maxBytes = 200_000;
    const { cache } = make({ memory: { maxBytes } });
    for (let i = 0; i < 5_000; i++) {
      await cache.set(`key:${i % 1500}`, 'v'.repeat(50 + ((i * 37) % 400)));
      const used = cache.getStats().memoryUsedBytes;
      expect(used).toBeLessThanOrEqual(maxBytes);
      if (i > 2_000) expect(used).toBeGreaterThanOrEqual(maxBytes * 0.9);
    }
  });
});

describe('getResult', () => {
  it('returns structured results and never throws', async () => {
    const { cache } = make();
    await cache.set('k', 0);
    const hit = await cache.getResult('k');
    expect(hit).toMatchObject({ ok: true, value: 0, error: undefined, source: 'memory' });
    expect(hit.durationMs).toBeGreaterThanOrEqual(0);
    expect(await cache.getResult('missing')).toMatchObject({ ok: false, value: undefined, error: undefined, source: undefined });
    const bad = await cache.getResult('');
    expect(bad.ok).toBe(false);
    expect(bad.error).toBeInstanceOf(InvalidKeyError);
  });
});

describe('events', () => {
  it('emits typed events to listeners and stops after off()', async () => {
    const { cache, clock } = make({ memory: { maxEntries: 1, policy: 'lru' } });
    const seen: string[] = [];
    const listener = (name: keyof CacheEvents) => (e: { key?: string }) => seen.push(`${name}:${e.key}`);
    const onHit = listener('hit');
    cache.on('hit', onHit).on('miss', listener('miss')).on('set', listener('set')).on('delete', listener('delete'));
    cache.on('evict', listener('evict')).on('expire', listener('expire'));
    await cache.get('a');
    await cache.set('a', 1, { ttl: '1s' });
    await cache.get('a');
    await cache.set('b', 2, { ttl: '1s' });
    clock.advance(1000);
    await cache.get('b');
    await cache.set('c', 3);
    await cache.delete('c');
    cache.off('hit', onHit);
    await cache.set('d', 4);
    await cache.get('d');
    expect(seen).toStrictEqual(['miss:a', 'set:a', 'hit:a', 'evict:a', 'set:b', 'expire:b', 'miss:b', 'set:c', 'delete:c', 'set:d']);
  });

  it('reports a throwing listener on error instead of failing the call', async () => {
    const { cache } = make();
    const errors: unknown[] = [];
    cache.on('error', (e) => errors.push(e.error));
    cache.on('set', () => {
      throw new Error('listener bug');
    });
    expect(await cache.set('k', 1)).toBe(true);
    expect(errors).toHaveLength(1);
  });

  it('refuses unknown events', () => {
    const { cache } = make();
    expect(() => cache.on('nope' as 'hit', () => {})).toThrow(/unknown cache event "nope"/);
  });
});

describe('options', () => {
  it('refuses an unbounded memory tier and names bad options', () => {
    expect(() => new Cache({ memory: { maxEntries: Number.POSITIVE_INFINITY } })).toThrow(/memory must be bounded/);
    expect(() => new Cache({ memory: { maxEntries: 0 } })).toThrow(/memory.maxEntries must be a positive integer, got 0/);
    expect(() => new Cache({ memory: { maxBytes: -1 } })).toThrow(/memory.maxBytes/);
    expect(() => new Cache({ memory: { policy: 'fifo' as 'lru' } })).toThrow(/memory.policy must be one of .* got "fifo"/);
    expect(() => new Cache({ defaultTtl: 'soon' })).toThrow(/defaultTtl/);
    expect(() => new Cache({ clock: {} as never })).toThrow(/clock/);
    expect(() => new Cache({ memory: { sweepInterval: -1 } })).toThrow(/memory.sweepInterval/);
  });

  it('has a default bound when none is given', () => {
    const cache = createCache();
    caches.push(cache);
    expect(cache).toBeInstanceOf(Cache);
  });
});

describe('close', () => {
  it('is idempotent and later calls fail with E_CLOSED', async () => {
    const { cache } = make();
    await cache.set('k', 1);
    await cache.close();
    await cache.close();
    await expect(cache.get('k')).rejects.toMatchObject({ code: 'E_CLOSED' });
    await expect(cache.set('k', 1)).rejects.toMatchObject({ code: 'E_CLOSED' });
  });

  it('sweeps expired entries out without anyone reading them', async () => {
    vi.useFakeTimers();
    try {
      const { cache, clock } = make({ memory: { sweepInterval: '10s' } });
      const expired: string[] = [];
      cache.on('expire', (e) => expired.push(e.key));
      await cache.set('short', 1, { ttl: '5s' });
      await cache.set('long', 2, { ttl: '1h' });
      clock.advance(6_000);
      expect(cache.getStats().keyCount).toBe(2);
      vi.advanceTimersByTime(10_000);
      expect(expired).toStrictEqual(['short']);
      expect(cache.getStats()).toMatchObject({ keyCount: 1, tiers: { memory: { expirations: 1 } } });
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not keep the process alive: a process that never closes its cache still exits', async () => {
    const entry = new URL('../src/index.ts', import.meta.url).href;
    const script = `import { Cache } from ${JSON.stringify(entry)};
      const cache = new Cache({ memory: { sweepInterval: '1s' } });
      await cache.set('k', 1);
      console.log('done');`;
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      timeout: 15_000,
    });
    expect(stdout.trim()).toBe('done');
  });
});
