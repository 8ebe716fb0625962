import { afterEach, describe, expect, it } from 'vitest';
import { until } from './kit/index.js';
import { serverDescribe, serverIt } from './kit/servers.js';
import type { CacheError, Store } from '../src/index.js';
import { Cache, escapeSegment } from '../src/index.js';
import { redisBus } from '../src/bus/redis.js';
import { memcachedStore } from '../src/stores/memcached.js';
import { redisStore } from '../src/stores/redis.js';
import { createFakeClock } from '../src/testing/index.js';

const open: Cache[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});
let unique = 0;

function memoryCache() {
  const cache = new Cache({ clock: createFakeClock() });
  open.push(cache);
  return cache;
}

/** Instances sharing one Redis prefix; `bus` decides whether they also share a bus. */
function redisCaches(count: number, bus: boolean) {
  const prefix = `fresh-${process.pid}-${++unique}:`;
  return Array.from({ length: count }, () => {
    const cache = new Cache({
      prefix,
      stores: [redisStore({ url: 'redis://127.0.0.1:6379', prefix: 'tc:' })],
      ...(bus ? { bus: redisBus({ url: 'redis://127.0.0.1:6379', channel: `${prefix}bus` }) } : {}),
    });
    open.push(cache);
    return cache;
  });
}


describe('tags on the memory tier', () => {
  it('invalidateTags removes every entry of the tag and nothing else', async () => {
    const cache = memoryCache();
    await cache.set('a', 1, { tags: ['user:1', 'balance'] });
    await cache.set('b', 2, { tags: ['user:1'] });
    await cache.set('c', 3, { tags: ['user:2'] });
    await cache.set('d', 4);
    expect(await cache.invalidateTags(['user:1'])).toBe(1);
    expect(await cache.getMany(['a', 'b', 'c', 'd'])).toStrictEqual([undefined, undefined, 3, 4]);
    expect(await cache.has('a')).toBe(false);
    expect(await cache.inspect('a')).toBeUndefined();
  });

  it('an entry written after the invalidation is valid again', async () => {
    const cache = memoryCache();
    await cache.set('a', 1, { tags: ['t'] });
    await cache.invalidateTags(['t']);
    await cache.set('a', 2, { tags: ['t'] });
    expect(await cache.get('a')).toBe(2);
  });

  it('expireTags makes entries stale: hidden by default, served to callers who accept stale data', async () => {
    const cache = memoryCache();
    await cache.set('a', 'old', { tags: ['t'] });
    expect(await cache.expireTags(['t'])).toBe(1);
    expect(await cache.get('a')).toBeUndefined();
    expect(await cache.get('a', { stale: true })).toBe('old');
    expect(await cache.inspect('a')).toMatchObject({ stale: true });
    expect(await cache.has('a')).toBe(false);
  });

  it('hard beats soft: after invalidateTags even stale readers get nothing', async () => {
    const cache = memoryCache();
    await cache.set('a', 'old', { tags: ['t'] });
    await cache.expireTags(['t']);
    await cache.invalidateTags(['t']);
    expect(await cache.get('a', { stale: true })).toBeUndefined();
  });

  it('costs the same whatever the number of tagged entries (no entry is touched)', async () => {
    const cache = new Cache({ clock: createFakeClock(), memory: { maxEntries: 50_000 } });
    open.push(cache);
    await cache.setMany(Array.from({ length: 20_000 }, (_, i) => ({ key: `k${i}`, value: i, tags: ['bulk'] })));
    const evicted: string[] = [];
    cache.on('delete', (e) => evicted.push(e.key));
    await cache.invalidateTags(['bulk']);
    expect(evicted).toHaveLength(0);
    expect(cache.getStats().keyCount).toBe(20_000);
    expect(await cache.get('k123')).toBeUndefined();
  });

  it('refuses empty and malformed tag lists', async () => {
    const cache = memoryCache();
    await expect(cache.invalidateTags([])).rejects.toThrow(/tags must not be empty/);
    await expect(cache.invalidateTags([''])).rejects.toThrow(/tag must not be empty/);
    await expect(cache.expireTags('t' as unknown as string[])).rejects.toThrow(/tags must be an array/);
  });
});

describe('patterns on the memory tier', () => {
  it('removes exactly the matching keys and counts them', async () => {
    const cache = memoryCache();
    for (const key of ['forecast:user_123:balance:30d:linear:a', 'forecast:user_123:burn_rate:90d:ema:b', 'forecast:user_456:balance:30d:linear:c']) {
      await cache.set(key, key);
    }
    expect(await cache.invalidatePattern('forecast:*:balance:*')).toBe(2);
    expect(await cache.get('forecast:user_123:burn_rate:90d:ema:b')).toBeDefined();
    expect(await cache.invalidatePattern('forecast:user_12?:*')).toBe(1);
  });

  it('refuses empty patterns and a bare * unless confirmed', async () => {
    const cache = memoryCache();
    await cache.set('a', 1);
    await expect(cache.invalidatePattern('')).rejects.toMatchObject({ code: 'E_INVALID_PATTERN', message: 'pattern must not be empty' });
    const error = await cache.invalidatePattern('**').catch((e: unknown) => e);
    expect((error as CacheError).code).toBe('E_NOT_CONFIRMED');
    expect(await cache.get('a')).toBe(1);
    expect(await cache.invalidatePattern('*', { confirm: true })).toBe(1);
  });

  it('an escaped segment in a pattern matches that segment only: glob characters in an id select that id', async () => {
    const cache = memoryCache();
    await cache.set('forecast:user_1:balance:30d:linear:x', 1);
    await cache.set('forecast:user_2:balance:30d:linear:x', 2);
    await cache.set('forecast:*:balance:30d:linear:x', 3);
    await cache.set('forecast:%2A:balance:30d:linear:x', 4);
    expect(await cache.invalidate({ pattern: `forecast:${escapeSegment('*')}:*` })).toBe(1);
    expect(await cache.getMany(['forecast:user_1:balance:30d:linear:x', 'forecast:user_2:balance:30d:linear:x', 'forecast:*:balance:30d:linear:x', 'forecast:%2A:balance:30d:linear:x'])).toStrictEqual([1, 2, 3, undefined]);
    expect(await cache.invalidate({ pattern: `forecast:${escapeSegment('user_1')}:*` })).toBe(1);
  });

  it('invalidate takes the union of keys, pattern and tags, and records events with reason', async () => {
    const cache = memoryCache();
    await cache.setMany([
      { key: 'k1', value: 1 },
      { key: 'p:1', value: 2 },
      { key: 't1', value: 3, tags: ['t'] },
      { key: 'other', value: 4 },
    ]);
    expect(await cache.invalidate({ keys: ['k1', 'missing'], pattern: 'p:*', tags: ['t'] }, { reason: 'data_update', triggeredBy: 'test' })).toBe(2);
    expect(await cache.getMany(['k1', 'p:1', 't1', 'other'])).toStrictEqual([undefined, undefined, undefined, 4]);
    const [event] = await cache.getInvalidationEvents({ limit: 1 });
    expect(event).toMatchObject({ reason: 'data_update', triggeredBy: 'test', count: 2, pattern: 'p:*', tags: ['t'] });
    await expect(cache.invalidate({})).rejects.toThrow(/at least one of/);
  });

  it('works inside a namespace view only', async () => {
    const cache = memoryCache();
    const users = cache.namespace('users');
    await users.set('1', 'a');
    await cache.set('1', 'root');
    expect(await users.invalidatePattern('*', { confirm: true })).toBe(1);
    expect(await cache.get('1')).toBe('root');
  });
});

serverDescribe('tags and patterns over Redis, across instances', () => {
  serverIt('with a bus: another instance stops serving an invalidated tag from its memory tier', async () => {
    const [a, b] = redisCaches(2, true) as [Cache, Cache];
    await Promise.all([a.ready(), b.ready()]);
    await a.set('k', 'v1', { tags: ['t'] });
    expect(await b.getResult('k')).toMatchObject({ value: 'v1', source: 'redis' });
    // A read that overlaps the bus message of a's write does not copy the value up (it may be older than the
    // write it crossed): the memory tier answers from the next read after delivery.
    await until(async () => (await b.getResult('k')).source === 'memory', 'b to keep the value in memory');
    expect(await b.getResult('k')).toMatchObject({ value: 'v1', source: 'memory' });
    await a.invalidateTags(['t']);
    await until(async () => (await b.get('k')) === undefined, 'b to drop the tagged entry');
    await a.set('k', 'v2', { tags: ['t'] });
    await until(async () => (await b.get('k')) === 'v2', 'b to see the new entry');
  });

  serverIt('without a bus: a read from the shared tier checks the tag marker in the store', async () => {
    const [a, b] = redisCaches(2, false) as [Cache, Cache];
    await a.set('k', 'v1', { tags: ['t'] });
    await b.invalidateTags(['t']);
    // a's memory copy is a's own business without a bus; a fresh instance reading Redis must not see v1.
    const [c] = redisCaches(1, false) as [Cache];
    expect(await c.get('k')).toBeUndefined();
  });

  serverIt('soft expiry over Redis: stale readers only', async () => {
    const [a, b] = redisCaches(2, true) as [Cache, Cache];
    await Promise.all([a.ready(), b.ready()]);
    await a.set('k', 'old', { tags: ['t'] });
    await a.expireTags(['t']);
    expect(await b.get('k')).toBeUndefined();
    expect(await b.get('k', { stale: true })).toBe('old');
  });

  serverIt('patterns remove keys from Redis and other instances’ memory tiers', async () => {
    const [a, b] = redisCaches(2, true) as [Cache, Cache];
    await Promise.all([a.ready(), b.ready()]);
    await a.setMany([
      { key: 'forecast:u1:balance:30d:linear:x', value: 1 },
      { key: 'forecast:u1:runway:1y:basic:x', value: 2 },
      { key: 'forecast:u2:balance:30d:linear:x', value: 3 },
    ]);
    expect(await b.getMany(['forecast:u1:balance:30d:linear:x', 'forecast:u2:balance:30d:linear:x'])).toStrictEqual([1, 3]);
    expect(await a.invalidatePattern('forecast:u1:*')).toBe(2);
    await until(async () => (await b.get('forecast:u1:balance:30d:linear:x')) === undefined, 'b to apply the pattern');
    expect(await b.get('forecast:u2:balance:30d:linear:x')).toBe(3);
    const [c] = redisCaches(1, false) as [Cache];
    expect(await c.get('forecast:u1:runway:1y:basic:x')).toBeUndefined();
  });

  serverIt('a prefix pattern on Redis goes through the prefix index: exact matches, no key listing, counted', async () => {
    const prefix = `pidx-${process.pid}-${++unique}:`;
    const store = redisStore({ url: 'redis://127.0.0.1:6379', prefix, prefixIndex: true });
    let listings = 0;
    // The real store, with its key listing counted.
    const counted: Store = Object.assign(Object.create(store) as Store, {
      keys(pattern: string) {
        listings++;
        return (store.keys as (p: string) => AsyncIterable<string>).call(store, pattern);
      },
    });
    const cache = new Cache({ stores: [counted] });
    open.push(cache);
    await store.buildIndex();
    await cache.setMany([
      { key: 'forecast:user_1:balance:30d:linear:x', value: 1 },
      { key: 'forecast:user_1:runway:1y:basic:x', value: 2 },
      { key: 'forecast:user_12:balance:30d:linear:x', value: 3 },
      { key: 'forecast:a%2A:balance:30d:linear:x', value: 4 },
      { key: 'forecast:ab:balance:30d:linear:x', value: 5 },
    ]);
    expect(await cache.invalidatePattern('forecast:user_1:*')).toBe(2);
    expect(await cache.invalidate({ pattern: `forecast:${escapeSegment('a*')}:*` })).toBe(1);
    expect(listings).toBe(0);
    const fresh = new Cache({ stores: [redisStore({ url: 'redis://127.0.0.1:6379', prefix })] });
    open.push(fresh);
    expect(await fresh.getMany(['forecast:user_1:balance:30d:linear:x', 'forecast:user_12:balance:30d:linear:x', 'forecast:a%2A:balance:30d:linear:x', 'forecast:ab:balance:30d:linear:x'])).toStrictEqual([
      undefined,
      3,
      undefined,
      5,
    ]);
    // Any other glob still lists keys (SCAN on every master).
    expect(await cache.invalidatePattern('forecast:*:balance:*')).toBe(2);
    expect(listings).toBe(1);
    await cache.clear({ confirm: true });
  });

  serverIt('a store that cannot list keys makes a pattern fail clearly, before removing anything', async () => {
    const cache = new Cache({ stores: [memcachedStore({ prefix: `pat${process.pid}:` })] });
    open.push(cache);
    await cache.set('a:1', 1);
    const error = await cache.invalidatePattern('a:*').catch((e: unknown) => e);
    expect((error as CacheError).code).toBe('E_UNSUPPORTED');
    expect((error as Error).message).toMatch(/memcached: cannot list keys/);
    expect(await cache.get('a:1')).toBe(1);
  });
});

describe('dependencies', () => {
  it('invalidating a key takes its dependents along, transitively, and survives cycles', async () => {
    const cache = memoryCache();
    await cache.setMany(['source', 'derived', 'report', 'unrelated'].map((key) => ({ key, value: key })));
    await cache.addDependency('derived', 'source');
    await cache.addDependency('report', ['derived']);
    await cache.addDependency('source', 'report'); // a cycle
    expect(await cache.invalidateWithDependencies('source')).toBe(3);
    expect(await cache.getMany(['source', 'derived', 'report', 'unrelated'])).toStrictEqual([undefined, undefined, undefined, 'unrelated']);
  });

  it('stops at the direct dependents without recursive', async () => {
    const cache = memoryCache();
    await cache.setMany(['a', 'b', 'c'].map((key) => ({ key, value: key })));
    await cache.addDependency('b', 'a');
    await cache.addDependency('c', 'b');
    expect(await cache.invalidateWithDependencies('a', { recursive: false })).toBe(2);
    expect(await cache.get('c')).toBe('c');
  });

  serverIt('is shared through Redis: an instance that never saw addDependency follows the graph', async () => {
    const [a, b] = redisCaches(2, true) as [Cache, Cache];
    await Promise.all([a.ready(), b.ready()]);
    await a.setMany([
      { key: 'src', value: 1 },
      { key: 'dep', value: 2 },
    ]);
    await a.addDependency('dep', 'src');
    expect(await b.invalidateWithDependencies('src')).toBe(2);
    await until(async () => (await a.get('dep')) === undefined, 'a to drop the dependent');
  });
});

describe('rules and invalidateByWrite', () => {
  it('a write invalidates the resource tags and what the rules name, with escaped values', async () => {
    const cache = memoryCache();
    cache.addInvalidationRule({ whenResource: 'transaction', invalidateTags: ['user:{userId}'], invalidatePatterns: ['forecast:{userId}:*'] });
    await cache.set('forecast:u1:balance:30d:linear:x', 1);
    await cache.set('forecast:u2:balance:30d:linear:x', 2);
    await cache.set('profile:u1', 'p', { tags: ['user:u1'] });
    await cache.set('list', 'l', { tags: ['transaction'] });
    await cache.set('one', 'o', { tags: ['transaction:t-9'] });
    expect(await cache.invalidateByWrite('transaction', 't-9', { userId: 'u1' })).toBe(1);
    expect(await cache.getMany(['forecast:u1:balance:30d:linear:x', 'forecast:u2:balance:30d:linear:x', 'profile:u1', 'list', 'one'])).toStrictEqual([
      undefined,
      2,
      undefined,
      undefined,
      undefined,
    ]);
    expect((await cache.getInvalidationEvents({ limit: 1 }))[0]).toMatchObject({ reason: 'write:transaction' });
    await cache.set('forecast:*:balance:30d:linear:x', 3);
    await cache.invalidateByWrite('transaction', 't-10', { userId: '*' });
    expect(await cache.get('forecast:u2:balance:30d:linear:x')).toBe(2);
  });

  it('tag rules cascade, cycles included, and can be removed', async () => {
    const cache = memoryCache();
    const remove = cache.addInvalidationRule({ whenTags: ['goal'], invalidateTags: ['goals_summary'] });
    cache.addInvalidationRule({ whenTags: ['goals_summary'], invalidateTags: ['goal'] });
    await cache.set('summary', 1, { tags: ['goals_summary'] });
    await cache.invalidateTags(['goal']);
    expect(await cache.get('summary')).toBeUndefined();
    remove();
    await cache.set('summary', 2, { tags: ['goals_summary'] });
    await cache.set('g', 3, { tags: ['goal'] });
    await cache.invalidateTags(['goal']);
    expect(await cache.get('summary')).toBe(2);
    expect(() => cache.addInvalidationRule({ invalidateTags: ['x'] })).toThrow(/whenTags or whenResource/);
  });
});

describe('batched invalidation', () => {
  serverIt('coalesces concurrent tag invalidations into one store write and one bus message, each caller answered', async () => {
    const [a, b] = redisCaches(2, true) as [Cache, Cache];
    await Promise.all([a.ready(), b.ready()]);
    const messages: string[] = [];
    b.on('remote', (e) => messages.push(e.type));
    await a.set('k1', 1, { tags: ['t1'] });
    await a.set('k2', 2, { tags: ['t2'] });
    await until(() => Promise.resolve(messages.length >= 2), 'the set announcements');
    messages.length = 0;
    const answers = await Promise.all([a.invalidateTags(['t1']), a.invalidateTags(['t2', 't3']), a.expireTags(['t1'])]);
    expect(answers).toStrictEqual([1, 2, 1]);
    expect(await a.getMany(['k1', 'k2'])).toStrictEqual([undefined, undefined]);
    // A later set is announced after the batch on the same channel: once its message is in, nothing else from
    // the batch can still be on the way.
    await a.set('marker', 1);
    await until(() => messages.includes('keys'), 'the marker’s announcement');
    expect(messages).toStrictEqual(['tags', 'keys']);
    expect(a.getStats().stores.redis?.errors).toBe(0);
  });

  serverIt('close() flushes a pending batch', async () => {
    const [a] = redisCaches(1, false) as [Cache];
    await a.set('k', 1, { tags: ['t'] });
    const pending = a.invalidateTags(['t']);
    await a.close();
    await pending;
    const [c] = redisCaches(1, false) as [Cache];
    expect(await c.get('k')).toBeUndefined();
  });
});

describe('the invalidation log', () => {
  serverIt('is shared through a capped Redis stream: any instance reads every instance’s history', async () => {
    const [a, b] = redisCaches(2, false) as [Cache, Cache];
    const since = new Date(Date.now() - 1);
    await a.invalidateTags(['user:1'], { reason: 'transaction_added', triggeredBy: 'ledger' });
    await b.invalidate({ keys: ['k'] }, { reason: 'manual_refresh' });
    const events = await b.getInvalidationEvents({ since });
    const mine = events.filter((e) => e.reason === 'transaction_added' || e.reason === 'manual_refresh');
    expect(mine.map((e) => [e.reason, e.triggeredBy, e.kind])).toStrictEqual([
      ['transaction_added', 'ledger', 'tags'],
      ['manual_refresh', undefined, 'keys'],
    ]);
    expect(mine[0]?.tags).toStrictEqual(['user:1']);
    expect(mine[0]?.at).toBeInstanceOf(Date);
    expect(new Set(mine.map((e) => e.id)).size).toBe(2);
    expect(await a.getInvalidationEvents({ since, limit: 1 })).toHaveLength(1);
    await expect(a.getInvalidationEvents({ limit: 0 })).rejects.toThrow(/limit must be a positive integer/);
  });
});

describe('what must hold for tags', () => {
  serverIt('no resurrection: a lost tag marker invalidates its entries instead of reviving them', async () => {
    const prefix = `res-${process.pid}:`;
    const make = () => {
      const cache = new Cache({ prefix, stores: [redisStore({ url: 'redis://127.0.0.1:6379', prefix: 'tc:' })] });
      open.push(cache);
      return cache;
    };
    const a = make();
    await a.set('k', 'before', { tags: ['t'] });
    await a.invalidateTags(['t']);
    await a.set('k2', 'after', { tags: ['t'] });
    const { Redis } = await import('ioredis');
    const raw = new Redis('redis://127.0.0.1:6379');
    // The marker disappears (evicted, flushed...): neither entry may come back as valid.
    expect(await raw.del(`tc:${prefix}\u0001tag:t`)).toBe(1);
    await raw.quit();
    const b = make();
    expect(await b.get('k')).toBeUndefined();
    expect(await b.get('k2')).toBeUndefined();
  });

  serverIt('no clock-skew dependence: an instance whose clock is hours behind still invalidates', async () => {
    const prefix = `skew-${process.pid}:`;
    const ahead = createFakeClock(Date.now() + 3 * 3_600_000);
    const behind = createFakeClock(Date.now() - 3 * 3_600_000);
    const make = (clock: ReturnType<typeof createFakeClock>) => {
      const cache = new Cache({ clock, prefix, stores: [redisStore({ url: 'redis://127.0.0.1:6379', prefix: 'tc:', clock })] });
      open.push(cache);
      return cache;
    };
    const writer = make(ahead);
    await writer.set('k', 'v', { tags: ['t'], ttl: '10h' });
    await make(behind).invalidateTags(['t']);
    expect(await make(ahead).get('k')).toBeUndefined();
  });

  it('hard means hard: once invalidateTags resolves, no reader in this process gets the old value', async () => {
    const cache = memoryCache();
    for (let round = 0; round < 50; round++) {
      await cache.set('k', round, { tags: ['t'] });
      const reads = Array.from({ length: 20 }, () => cache.get('k', { stale: true }));
      await cache.invalidateTags(['t']);
      expect(await cache.get('k', { stale: true })).toBeUndefined();
      await Promise.all(reads);
    }
  });
});
