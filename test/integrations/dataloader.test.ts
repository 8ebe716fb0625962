// The DataLoader bridge in a resolver-shaped flow: fields resolved in one tick batch into one load, requests
// (one loader each) share values through the cache, and two instances share them through Redis.
import { afterEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache.js';
import { redisStore } from '../../src/stores/redis.js';
import { createLoader } from '../../src/integrations/dataloader.js';
import { REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';

const open: Cache[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

interface User { id: number; name: string; since: Date }
const DB: ReadonlyMap<number, User> = new Map([1, 2, 3, 4, 5].map((id) => [id, { id, name: `u${id}`, since: new Date(id) }]));

/** A data source that records each batch it is asked for; id 404 fails. */
function source() {
  const batches: number[][] = [];
  const load = (ids: number[]) => {
    batches.push([...ids]);
    return Promise.resolve(ids.map((id) => DB.get(id) ?? new Error(`no user ${id}`)));
  };
  return { batches, load };
}

/** A memory-only cache, closed after the test, and a fresh source. */
function setup() {
  const cache = new Cache({});
  open.push(cache);
  return { cache, ...source() };
}

/** One "request": posts resolved in parallel, each resolving its author through the request's loader. */
function resolvePosts(cache: Cache, load: (ids: number[]) => Promise<(User | Error)[]>, authors: number[]) {
  const users = createLoader(cache, { load, ttl: '5m' });
  return Promise.all(authors.map((id) => users.load(id)));
}

describe('createLoader', () => {
  it('N resolvers in one tick make one batch, duplicates asked once', async () => {
    const { cache, batches, load } = setup();
    const users = await resolvePosts(cache, load, [1, 2, 1, 3, 2]);
    expect(users.map((u) => u.name)).toStrictEqual(['u1', 'u2', 'u1', 'u3', 'u2']);
    expect(batches).toStrictEqual([[1, 2, 3]]);
  });

  it('a second request (a new loader) loads only the keys the first did not cache', async () => {
    const { cache, batches, load } = setup();
    await resolvePosts(cache, load, [1, 2]);
    const second = await resolvePosts(cache, load, [2, 3, 1]);
    expect(second.map((u) => u.id)).toStrictEqual([2, 3, 1]);
    expect(batches).toStrictEqual([[1, 2], [3]]);
  });

  it('a failing key rejects that load only, and is not cached', async () => {
    const { cache, batches, load } = setup();
    const users = createLoader(cache, { load });
    const [ok, bad] = await Promise.allSettled([users.load(1), users.load(404)]);
    expect(ok).toMatchObject({ status: 'fulfilled', value: { id: 1 } });
    expect(bad).toMatchObject({ status: 'rejected', reason: new Error('no user 404') });
    expect(await cache.has('404')).toBe(false);
    await createLoader(cache, { load }).load(404).catch(() => undefined);
    expect(batches).toStrictEqual([[1, 404], [404]]);
  });

  it('invalidate(key) drops the key from the memo and the cache; clear(key) only from the memo', async () => {
    const { cache, batches, load } = setup();
    const users = createLoader(cache, { load });
    await users.load(1);
    users.clear(1);
    await users.load(1); // memo forgotten, the cache still answers
    expect(batches).toStrictEqual([[1]]);
    await users.invalidate(1);
    await users.load(1);
    expect(batches).toStrictEqual([[1], [1]]);
  });

  it('non-string keys need the key option', () => {
    const { cache } = setup();
    const users = createLoader(cache, { load: (keys: { id: number }[]) => keys.map(() => 1) });
    expect(() => users.load({ id: 1 })).toThrow(/need the `key` option/);
  });

  it('two instances over Redis share loaded values (types kept)', async () => {
    const prefix = uniquePrefix('dataloader');
    const a = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })] });
    const b = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })] });
    open.push(a, b);
    const { batches, load } = source();
    await resolvePosts(a, load, [1, 2]);
    const fromB = await resolvePosts(b, load, [1, 2, 4]);
    expect(fromB).toStrictEqual([DB.get(1), DB.get(2), DB.get(4)]);
    expect(fromB[0]?.since).toBeInstanceOf(Date);
    expect(batches).toStrictEqual([[1, 2], [4]]);
    await a.clear({ confirm: true });
  });
});
