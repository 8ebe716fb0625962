import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { Cache } from '../../src/cache.js';
import { argsHash, keyTemplate } from '../../src/compute/key-template.js';
import { cacheAside, memoize, stampedeProtect, writeThrough } from '../../src/compute/wrappers.js';
import { createFakeClock, type FakeClock } from '../../src/testing/index.js';
import { deferred } from '../kit/index.js';

const open: Cache[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

function memoryCache(clock: FakeClock = createFakeClock()): Cache {
  const cache = new Cache({ clock });
  open.push(cache);
  return cache;
}

/** Stands for the I/O of a real data source: the wrapped functions are asynchronous for real. */
const io = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('key templates', () => {
  it('fill named placeholders from the first argument’s fields, positional ones by index, and named params', () => {
    expect(keyTemplate<[{ userId: string }]>('user:{userId}')({ userId: '123' })).toBe('user:123');
    expect(keyTemplate<[string, string]>('items:{0}:{1}')('category', 'page1')).toBe('items:category:page1');
    expect(keyTemplate<[string, number]>('report:{period}:{page}', { params: ['period', 'page'] })('2026-q1', 2)).toBe('report:2026-q1:2');
    expect(keyTemplate<[string]>('user:{id}', { prefix: 'v2:', params: ['id'] })('123')).toBe('v2:user:123');
    expect(keyTemplate<[Date, bigint, boolean]>('{0}/{1}/{2}')(new Date(Date.UTC(2026, 0, 2)), 10n, true)).toBe('2026-01-02T00%3A00%3A00.000Z/10/true');
  });

  it('escape substituted values, so an id cannot forge another key or widen a pattern', () => {
    const key = keyTemplate<[string, string]>('user:{0}:{1}');
    expect(key('a:b', 'c')).not.toBe(key('a', 'b:c'));
    expect(key('*', '?')).toBe('user:%2A:%3F');
  });

  it('reject a malformed template when it is compiled', () => {
    expect(() => keyTemplate('user:{id')).toThrow(TypeError);
    expect(() => keyTemplate('user:{user-id}')).toThrow(/malformed placeholder/);
    expect(() => keyTemplate('user:id}')).toThrow(/unmatched \}/);
    expect(() => keyTemplate('')).toThrow(TypeError);
    expect(() => keyTemplate('x', { params: ['a', 'a'] })).toThrow(/named twice/);
  });

  it('throw a TypeError naming a placeholder that has no value', () => {
    expect(() => keyTemplate<[{ id: string }]>('user:{userId}')({ id: '1' })).toThrow(/\{userId\}/);
    expect(() => keyTemplate<[string]>('items:{0}:{1}')('a')).toThrow(/\{1\}.*argument 1 is missing/);
    expect(() => keyTemplate<[{ userId: undefined }]>('user:{userId}')({ userId: undefined })).toThrow(TypeError);
    // A plain object's inherited members are not fields.
    expect(() => keyTemplate<[object]>('{constructor}')({})).toThrow(/\{constructor\}/);
    expect(() => keyTemplate<[unknown]>('user:{0}')({ nested: true })).toThrow(/\{0\} must be a string/);
    expect(() => keyTemplate<[number]>('n:{0}')(Number.NaN)).toThrow(/got NaN/);
  });

  it('hash arguments canonically: field order and trailing undefined do not matter, values do', () => {
    expect(argsHash([{ a: 1, b: 2 }])).toBe(argsHash([{ b: 2, a: 1 }]));
    expect(argsHash(['x'])).toBe(argsHash(['x', undefined]));
    expect(argsHash(['x', null])).not.toBe(argsHash(['x']));
    expect(argsHash([1])).not.toBe(argsHash(['1']));
    expect(argsHash([])).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('cacheAside', () => {
  it('calls the function once per distinct key and serves repeats from the cache', async () => {
    const cache = memoryCache();
    let calls = 0;
    const getUser = cacheAside(cache, async (userId: string) => (await io(), { id: userId, n: ++calls }), { key: 'user:{userId}', params: ['userId'] });
    expect(await getUser('1')).toStrictEqual({ id: '1', n: 1 });
    expect(await getUser('1')).toStrictEqual({ id: '1', n: 1 });
    expect(await getUser('2')).toStrictEqual({ id: '2', n: 2 });
    expect(calls).toBe(2);
    expect(getUser.key('1')).toBe('user:1');
    expect(await cache.get('user:1')).toStrictEqual({ id: '1', n: 1 });
  });

  it('invalidate(...args) drops that call’s entry only', async () => {
    const cache = memoryCache();
    let calls = 0;
    const getUser = cacheAside(cache, ({ userId }: { userId: string }) => `${userId}#${++calls}`, { key: 'user:{userId}' });
    await getUser({ userId: 'a' });
    await getUser({ userId: 'b' });
    expect(await getUser.invalidate({ userId: 'a' })).toBe(true);
    expect(await getUser.invalidate({ userId: 'a' })).toBe(false);
    expect(await getUser({ userId: 'a' })).toBe('a#3');
    expect(await getUser({ userId: 'b' })).toBe('b#2');
  });

  it('keeps the result for its TTL and recomputes after (fake clock)', async () => {
    const clock = createFakeClock();
    const cache = memoryCache(clock);
    let calls = 0;
    const rate = cacheAside(cache, (currency: string) => `${currency}:${++calls}`, { key: 'fx:{0}', ttl: '1m' });
    expect(await rate('usd')).toBe('usd:1');
    clock.advance(59_999);
    expect(await rate('usd')).toBe('usd:1');
    clock.advance(1);
    expect(await rate('usd')).toBe('usd:2');
  });

  it('defaults the key to the function name and a hash of the arguments', async () => {
    const cache = memoryCache();
    let calls = 0;
    async function loadPortfolio(userId: string, options: { window: number; currency: string }) {
      await io();
      calls++;
      return `${userId}/${options.window}/${options.currency}`;
    }
    const cachedLoad = cacheAside(cache, loadPortfolio);
    await cachedLoad('u1', { window: 3, currency: 'eur' });
    await cachedLoad('u1', { currency: 'eur', window: 3 });
    expect(calls).toBe(1);
    expect(cachedLoad.key('u1', { window: 3, currency: 'eur' })).toBe(`loadPortfolio:${argsHash(['u1', { window: 3, currency: 'eur' }])}`);
    expect(await cache.has(cachedLoad.key('u1', { window: 3, currency: 'eur' }))).toBe(true);
    expect(cacheAside(cache, (x: number) => x, { prefix: 'square:' }).key(2)).toBe(`square:${argsHash([2])}`);
  });

  it('refuses an anonymous function without a key or prefix: two of them would share entries', () => {
    const cache = memoryCache();
    expect(() => cacheAside(cache, (x: number) => x)).toThrow(/anonymous function needs a prefix/);
    expect(() => cacheAside(cache, (x: number) => x, { key: 'x:{0}' })).not.toThrow();
    expect(() => cacheAside({} as Cache, (x: number) => x, { key: 'x:{0}' })).toThrow(/cache must be a Cache/);
    expect(() => cacheAside(cache, 'nope' as unknown as () => number, { key: 'x' })).toThrow(/fn must be a function/);
  });

  it('makes a sync function asynchronous, turns its throws into rejections, and does not cache failures', async () => {
    const cache = memoryCache();
    let calls = 0;
    const parse = cacheAside(
      cache,
      (text: string): number => {
        calls++;
        if (text === 'bad') throw new RangeError('not a number');
        return Number(text);
      },
      { key: 'parse:{0}' },
    );
    expectTypeOf(parse).returns.toEqualTypeOf<Promise<number>>();
    const pending = parse('42');
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toBe(42);
    await expect(parse('bad')).rejects.toThrow(RangeError);
    await expect(parse('bad')).rejects.toThrow(RangeError);
    expect(calls).toBe(3);
  });

  it('rejects (never throws) when the key cannot be built, without calling the function', async () => {
    const cache = memoryCache();
    let calls = 0;
    const get = cacheAside(cache, (_input: { id?: string }) => ++calls, { key: 'thing:{id}' });
    const call = get({});
    expect(call).toBeInstanceOf(Promise);
    await expect(call).rejects.toThrow(/\{id\}/);
    expect(calls).toBe(0);
  });

  it('remembers a failure for negativeTtl when asked to', async () => {
    const clock = createFakeClock();
    const cache = memoryCache(clock);
    let calls = 0;
    const flaky = cacheAside(
      cache,
      async (_id: string): Promise<string> => {
        calls++;
        await io();
        throw new Error('backend down');
      },
      { key: 'flaky:{0}', negativeTtl: '10s' },
    );
    await expect(flaky('a')).rejects.toThrow('backend down');
    await expect(flaky('a')).rejects.toThrow('backend down');
    expect(calls).toBe(1);
    clock.advance(10_000);
    await expect(flaky('a')).rejects.toThrow('backend down');
    expect(calls).toBe(2);
  });

  it('fills tag templates, so invalidating one user’s tag drops that user’s entries only', async () => {
    const cache = memoryCache();
    let calls = 0;
    const getOrders = cacheAside(cache, (userId: string, page: number) => `${userId}:${page}:${++calls}`, {
      key: 'orders:{userId}:{page}',
      params: ['userId', 'page'],
      tags: ['orders', 'user:{userId}'],
    });
    await getOrders('a', 1);
    await getOrders('a', 2);
    await getOrders('b', 1);
    await cache.invalidateTags(['user:a']);
    await getOrders('a', 1);
    await getOrders('a', 2);
    await getOrders('b', 1);
    expect(calls).toBe(5);
    const withTagFunction = cacheAside(cache, (id: string) => id, { key: 't:{0}', tags: (id) => [`t:${id}`] });
    await withTagFunction('z');
    expect((await cache.inspect('t:z'))?.tags).toStrictEqual(['t:z']);
  });

  it('shares one call among 100 concurrent callers of a cold key', async () => {
    const cache = memoryCache();
    let calls = 0;
    const gate = deferred<void>();
    const slow = cacheAside(
      cache,
      async (id: string) => {
        calls++;
        await gate.promise;
        return `value:${id}`;
      },
      { key: 'slow:{0}' },
    );
    const all = Promise.all(Array.from({ length: 100 }, () => slow('x')));
    gate.resolve();
    expect(await all).toStrictEqual(Array.from({ length: 100 }, () => 'value:x'));
    expect(calls).toBe(1);
  });

  it('passes `this` on to the function', async () => {
    const cache = memoryCache();
    const service = {
      base: 10,
      add: cacheAside(
        cache,
        function (this: { base: number }, n: number) {
          return this.base + n;
        },
        { key: 'add:{0}' },
      ),
    };
    expect(await service.add(5)).toBe(15);
  });

  it('infers the result type of async functions', () => {
    const cache = memoryCache();
    const getUser = cacheAside(cache, async (id: string) => (await io(), { id }), { key: 'user:{0}' });
    expectTypeOf(getUser).parameters.toEqualTypeOf<[id: string]>();
    expectTypeOf(getUser).returns.toEqualTypeOf<Promise<{ id: string }>>();
  });
});

describe('stampedeProtect', () => {
  it('runs the computation once for 100 concurrent callers and caches it under the key', async () => {
    const cache = memoryCache();
    let calls = 0;
    const gate = deferred<void>();
    const stats = stampedeProtect(
      cache,
      async () => {
        calls++;
        await gate.promise;
        return { users: 7 };
      },
      { key: 'dashboard:stats', lockTtl: '60s', ttl: '1m' },
    );
    const all = Promise.all(Array.from({ length: 100 }, () => stats()));
    gate.resolve();
    const results = await all;
    expect(calls).toBe(1);
    expect(results.every((r) => r.users === 7)).toBe(true);
    expect(await cache.get('dashboard:stats')).toStrictEqual({ users: 7 });
    await stats();
    expect(calls).toBe(1);
  });
});

describe('writeThrough', () => {
  async function seeded() {
    const cache = memoryCache();
    for (const key of ['user:1', 'user:2', 'users:list:1', 'users:list:2', 'teams:list:1']) await cache.set(key, key);
    await cache.set('profile:1', 'p1', { tags: ['user:1'] });
    await cache.set('profile:2', 'p2', { tags: ['user:2'] });
    return cache;
  }

  it('after a successful write, invalidates the filled keys, patterns and tags only, and caches the result', async () => {
    const cache = await seeded();
    const writes: string[] = [];
    const updateUser = writeThrough(
      cache,
      async (userId: string, name: string) => {
        await io();
        writes.push(userId);
        return { id: userId, name };
      },
      {
        params: ['userId'],
        key: 'user:{userId}',
        ttl: '5m',
        invalidate: { patterns: ['users:list:*'], tags: ['user:{userId}'], keys: ['teams:list:{userId}'] },
      },
    );
    expect(await updateUser('1', 'Ada')).toStrictEqual({ id: '1', name: 'Ada' });
    expect(writes).toStrictEqual(['1']);
    expect(await cache.get('user:1')).toStrictEqual({ id: '1', name: 'Ada' });
    expect(await cache.get('users:list:1')).toBeUndefined();
    expect(await cache.get('users:list:2')).toBeUndefined();
    expect(await cache.get('teams:list:1')).toBeUndefined();
    expect(await cache.get('profile:1')).toBeUndefined();
    expect(await cache.get('profile:2')).toBe('p2');
    expect(await cache.get('user:2')).toBe('user:2');
  });

  it('when its own pattern covers its key, the key is left empty (never the old value)', async () => {
    const cache = await seeded();
    const update = writeThrough(cache, (id: string) => `new:${id}`, { key: 'user:{0}', invalidate: { patterns: ['user:*'] } });
    expect(await update('1')).toBe('new:1');
    expect(await cache.get('user:1')).toBeUndefined();
    expect(await cache.get('user:2')).toBeUndefined();
  });

  it('is fenced: a result overtaken by another write or invalidation of its key is returned but not cached', async () => {
    const cache = await seeded();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slowUpdate = writeThrough(
      cache,
      async (id: string) => {
        await gate;
        return `older:${id}`;
      },
      { key: 'user:{0}', invalidate: { patterns: ['users:list:*'] } },
    );
    const pending = slowUpdate('1');
    await new Promise((r) => setImmediate(r));
    // A newer write of the same user lands while the first is still running.
    await cache.set('user:1', 'newer:1');
    release();
    expect(await pending).toBe('older:1');
    expect(await cache.get('user:1')).toBe('newer:1');
    expect(await cache.get('users:list:1')).toBeUndefined();
  });

  it('a failing write invalidates nothing and rejects with its error', async () => {
    const cache = await seeded();
    const update = writeThrough(
      cache,
      (_id: string): string => {
        throw new Error('constraint violated');
      },
      { key: 'user:{0}', invalidate: { patterns: ['users:list:*'], tags: ['user:{0}'] } },
    );
    await expect(update('1')).rejects.toThrow('constraint violated');
    expect(await cache.get('user:1')).toBe('user:1');
    expect(await cache.get('users:list:1')).toBe('users:list:1');
    expect(await cache.get('profile:1')).toBe('p1');
  });

  it('does not run the write when a template cannot be filled', async () => {
    const cache = await seeded();
    let writes = 0;
    const update = writeThrough(cache, (_input: { id?: string }) => ++writes, { invalidate: { tags: ['user:{id}'] } });
    await expect(update({})).rejects.toThrow(/\{id\}/);
    expect(writes).toBe(0);
  });

  it('escapes values in patterns: an id of "*" invalidates only its own entries', async () => {
    const cache = memoryCache();
    let calls = 0;
    const getProfile = cacheAside(cache, (id: string) => `${id}#${++calls}`, { key: 'user:{0}:profile' });
    for (const id of ['*', '1', '2', '1?']) await getProfile(id);
    const update = writeThrough(cache, (id: string) => id, { invalidate: { patterns: ['user:{0}:*'] } });
    await update('*');
    await update('1?');
    for (const id of ['*', '1', '2', '1?']) await getProfile(id);
    expect(calls).toBe(6);
    expect(await getProfile('1')).toBe('1#2');
    expect(await getProfile('2')).toBe('2#3');
  });

  it('refuses a pattern that matches every key when built or when filled', async () => {
    const cache = memoryCache();
    expect(() => writeThrough(cache, () => 1, { invalidate: { patterns: ['*'] } })).toThrow(/matches every key/);
    const update = writeThrough(cache, (_prefix: string) => 1, { invalidate: { patterns: ['{0}*'] } });
    await expect(update('')).rejects.toThrow(/matches every key/);
    await expect(update('a')).resolves.toBe(1);
    const fromFunction = writeThrough(cache, (_id: string) => 1, { invalidate: { patterns: (id) => [id === '' ? '**' : `user:${id}:*`] } });
    await expect(fromFunction('')).rejects.toThrow(/matches every key/);
  });

  it('records the writer in the invalidation log', async () => {
    const cache = await seeded();
    async function renameTeam(_id: string) {
      await io();
      return 'ok';
    }
    await writeThrough(cache, renameTeam, { invalidate: { keys: ['teams:list:{0}'] } })('1');
    const events = await cache.getInvalidationEvents();
    expect(events.at(-1)).toMatchObject({ kind: 'keys', reason: 'write:renameTeam', keys: ['teams:list:1'] });
  });
});

describe('memoize', () => {
  it('clear() removes every result of the function and nothing of functions whose name it prefixes', async () => {
    const cache = memoryCache();
    let calls = 0;
    function get(id: number) {
      calls++;
      return id * 2;
    }
    function getAll(id: number) {
      calls++;
      return [id];
    }
    const memoGet = memoize(cache, get, { ttl: '1m' });
    const memoGetAll = memoize(cache, getAll, { ttl: '1m' });
    await cache.set('get', 'unrelated');
    await Promise.all([memoGet(1), memoGet(2), memoGetAll(1)]);
    expect(calls).toBe(3);
    expect(memoGet.key(1)).toBe(`get:${argsHash([1])}`);
    expect(await memoGet.clear()).toBe(2);
    await Promise.all([memoGet(1), memoGet(2), memoGetAll(1)]);
    expect(calls).toBe(5);
    expect(await cache.get('get')).toBe('unrelated');
  });

  it('puts templated keys under its own prefix, escapes the function name, and validates a given prefix', async () => {
    const cache = memoryCache();
    const generateReport = (period: string, region: string) => `${period}/${region}`;
    const getReport = memoize(cache, generateReport, { key: '{period}:{region}', params: ['period', 'region'] });
    expect(getReport.key('2026-q1', 'eu')).toBe('generateReport:2026-q1:eu');
    const odd = memoize(cache, Object.defineProperty((n: number) => n, 'name', { value: 'a*b:c' }));
    expect(odd.key(1)).toBe(`a%2Ab%3Ac:${argsHash([1])}`);
    expect(() => memoize(cache, (n: number) => n, { prefix: 'rep*:' })).toThrow(/must not contain/);
    expect(() => memoize(cache, (n: number) => n)).toThrow(/anonymous/);
    const withPrefix = memoize(cache, (n: number) => n, { prefix: 'sq:' });
    await withPrefix(3);
    await getReport('2026-q1', 'eu');
    expect(await withPrefix.clear()).toBe(1);
    expect(await cache.has('generateReport:2026-q1:eu')).toBe(true);
  });

  it('rejects arguments it cannot hash', async () => {
    const cache = memoryCache();
    const f = memoize(cache, (_cb: () => void) => 1, { prefix: 'f:' });
    await expect(f(() => undefined)).rejects.toThrow(TypeError);
  });
});
