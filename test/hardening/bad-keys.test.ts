import { afterEach, describe, expect, it } from 'vitest';
import { Cache, InvalidKeyError } from '../../src/index.js';

const open: Cache[] = [];
afterEach(async () => {
  for (const cache of open.splice(0)) await cache.close();
});

function make(): Cache {
  const cache = new Cache();
  open.push(cache);
  return cache;
}

const BAD: [string, unknown][] = [
  ['null', null],
  ['undefined', undefined],
  ['a number', 42],
  ['an object', { toString: () => 'k' }],
  ['a lone high surrogate', 'k:\uD800'],
  ['a lone low surrogate', 'k:\uDC00'],
  ['a C1 control', 'k:\u0085'],
  ['a C0 control', 'k:\u0007'],
  ['the empty string', ''],
];

/** Every public method that takes a key, called with `key` in that place. */
const CALLS: [string, (cache: Cache, key: string) => Promise<unknown>][] = [
  ['get', (c, k) => c.get(k)],
  ['getOrSet', (c, k) => c.getOrSet(k, () => 1)],
  ['getOrSet with options', (c, k) => c.getOrSet(k, () => 1, { ttl: '1m' })],
  ['getOrSetMany', (c, k) => c.getOrSetMany([k], () => [1])],
  ['set', (c, k) => c.set(k, 1)],
  ['has', (c, k) => c.has(k)],
  ['delete', (c, k) => c.delete(k)],
  ['getMany', (c, k) => c.getMany([k])],
  ['setMany', (c, k) => c.setMany([{ key: k, value: 1 }])],
  ['deleteMany', (c, k) => c.deleteMany([k])],
  ['inspect', (c, k) => c.inspect(k)],
  ['addDependency', (c, k) => c.addDependency(k, 'other')],
  ['addDependency (source)', (c, k) => c.addDependency('other', k)],
  ['invalidateWithDependencies', (c, k) => c.invalidateWithDependencies(k)],
  ['invalidate({ keys })', (c, k) => c.invalidate({ keys: [k] })],
  ['namespace view get', (c, k) => c.namespace('ns').get(k)],
];

describe('a bad key', () => {
  for (const [what, key] of BAD) {
    it(`(${what}) is refused with InvalidKeyError by every method that takes a key, and nothing is stored`, async () => {
      const cache = make();
      for (const [name, call] of CALLS) {
        const error = await call(cache, key as string).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, `${name}(${what})`).toBeInstanceOf(InvalidKeyError);
        expect((error as InvalidKeyError).code, name).toBe('E_INVALID_KEY');
      }
      expect(cache.getStats().keyCount).toBe(0);
    });
  }

  it('getResult and getOrSetResult report it instead of throwing', async () => {
    const cache = make();
    const read = await cache.getResult(null as unknown as string);
    expect(read.ok).toBe(false);
    expect(read.error).toBeInstanceOf(InvalidKeyError);
    const load = await cache.getOrSetResult('k:\uD800', () => 1);
    expect(load.ok).toBe(false);
    expect(load.error).toBeInstanceOf(InvalidKeyError);
  });

  it('a warm cache still refuses bad per-call options on a hit, as a miss would', async () => {
    const cache = make();
    await cache.set('k', 1);
    await expect(cache.getOrSet('k', () => 2, { ttl: -1 })).rejects.toThrow(/ttl must be a finite number of milliseconds >= 0/);
    await expect(cache.getOrSet('k', () => 2, { ttl: 1e308 })).rejects.toThrow(/ttl/);
    await expect(cache.getOrSet('k', () => 2, { tags: 'users' as unknown as string[] })).rejects.toThrow(/tags must be an array/);
    await expect(cache.getOrSet('k', () => 2, { hardTimeout: 0 })).rejects.toThrow(/hardTimeout must be greater than 0/);
    // The same options object, valid, is checked once and then costs nothing.
    const options = { ttl: '1m' };
    expect(await cache.getOrSet('k', () => 2, options)).toBe(1);
    expect(await cache.getOrSet('k', () => 2, options)).toBe(1);
  });

  it('a TTL past the latest Date is refused by name, and inspect never reports an invalid date', async () => {
    const cache = make();
    await expect(cache.set('k', 1, { ttl: 1e308 })).rejects.toThrow(/ttl/);
    await cache.set('k', 1, { ttl: '7d' });
    const info = await cache.inspect('k');
    expect(Number.isNaN(info?.expiresAt.getTime())).toBe(false);
  });
});
