// The Keyv adapter: Keyv's own adapter suite over a memory-only Cache, both Keyv modes (its string
// serialization and pass-through), namespaces and errors, and cache-manager 7 over a Redis-backed tiered Cache.
import * as vitest from 'vitest';
import { afterEach, describe, expect, it } from 'vitest';
import Keyv, { type KeyvOptions } from 'keyv';
import { keyvApiTests, keyvNamespaceTest, keyvValueTests } from '@keyv/test-suite';
import { createCache } from 'cache-manager';
import { KeyvAdapter } from '@apollo/utils.keyvadapter';
import { Cache } from '../../src/cache.js';
import { redisBus } from '../../src/bus/redis.js';
import { redisStore } from '../../src/stores/redis.js';
import { TiercacheKeyv } from '../../src/integrations/keyv.js';
import { until } from '../kit/index.js';
import { REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';

const open: Cache[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});
// Keyv's documented way to hand values to the store unserialized; its types do not spell `undefined` out.
/** The adapter's types name Keyv's CommonJS declarations; this suite imports the ES module's: the same class at run time. */
const asApolloKeyv = (keyv: Keyv<string>) => keyv as unknown as ConstructorParameters<typeof KeyvAdapter<string>>[0];
const PASS_THROUGH = { serialize: undefined, deserialize: undefined } as unknown as Pick<KeyvOptions, 'serialize' | 'deserialize'>;
function memoryCache(): Cache {
  const cache = new Cache({});
  open.push(cache);
  return cache;
}

// Keyv's published adapter suite. Its iterator tests are left out: the adapter offers no iterator.
// A fresh cache per store() call: the suite clears between tests through the adapter.
describe('@keyv/test-suite', () => {
  const store = () => new TiercacheKeyv(new Cache({}));
  keyvApiTests(vitest, Keyv, store);
  keyvValueTests(vitest, Keyv, store);
  keyvNamespaceTest(vitest, Keyv, store);
});

describe('TiercacheKeyv', () => {
  it('with Keyv serialization off, values keep their types (Date, Map, BigInt) through the codec', async () => {
    const keyv = new Keyv({ store: new TiercacheKeyv(memoryCache()), ...PASS_THROUGH });
    const value = { at: new Date(5), tally: new Map([['a', 1n]]) };
    await keyv.set('k', value);
    expect(await keyv.get('k')).toStrictEqual(value);
  });

  it('with Keyv’s default serialization, a Date comes back as a string (Keyv’s JSON)', async () => {
    const keyv = new Keyv({ store: new TiercacheKeyv(memoryCache()) });
    await keyv.set('k', { at: new Date(5) });
    expect(await keyv.get('k')).toStrictEqual({ at: new Date(5).toISOString() });
  });

  it('clear() on one Keyv namespace leaves the other namespace and other cache keys alone', async () => {
    const cache = memoryCache();
    await cache.set('own', 1);
    const a = new Keyv({ store: new TiercacheKeyv(cache), namespace: 'a' });
    const b = new Keyv({ store: new TiercacheKeyv(cache), namespace: 'b' });
    await a.set('x', 'ax');
    await b.set('x', 'bx');
    await a.clear();
    expect(await a.get('x')).toBeUndefined();
    expect(await b.get('x')).toBe('bx');
    expect(await cache.get('own')).toBe(1);
    // Keyv namespaces are tiercache namespaces: the entry is the cache's 'b:x'.
    expect(await cache.namespace('b').has('x')).toBe(true);
  });

  it('a bad value (a function) fails the set: Keyv reports false and emits error', async () => {
    const keyv = new Keyv({ store: new TiercacheKeyv(memoryCache()), ...PASS_THROUGH });
    const errors: unknown[] = [];
    keyv.on('error', (error: unknown) => errors.push(error));
    expect(await keyv.set('k', { fn: () => 1 })).toBe(false);
    expect(errors).toHaveLength(1);
  });
});

describe('cache-manager 7 over a Redis-backed tiered Cache', () => {
  /** Two instances sharing one Redis prefix and bus channel, both listening. */
  async function twoInstances(tag: string): Promise<[Cache, Cache]> {
    const prefix = uniquePrefix(tag);
    const make = () => new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })], bus: redisBus({ url: REDIS_URL, channel: `${prefix}bus` }) });
    const pair: [Cache, Cache] = [make(), make()];
    open.push(...pair);
    await Promise.all(pair.map((cache) => cache.ready()));
    return pair;
  }

  it('wrap() runs the function once for concurrent callers; ttl, del and clear reach Redis and the other instance', async () => {
    const [a, b] = await twoInstances('keyv-cm');
    const managerA = createCache({ stores: [new Keyv({ store: new TiercacheKeyv(a), namespace: 'cm' })] });
    const managerB = createCache({ stores: [new Keyv({ store: new TiercacheKeyv(b), namespace: 'cm' })] });

    let runs = 0;
    const slow = async () => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { n: runs };
    };
    const results = await Promise.all(Array.from({ length: 20 }, () => managerA.wrap('w', slow, 60_000)));
    expect(runs).toBe(1);
    expect(results.every((r) => r.n === 1)).toBe(true);
    // The other instance reads it from Redis.
    expect(await managerB.get('w')).toStrictEqual({ n: 1 });

    await managerA.set('short', 'v', 60_000);
    const info = await a.namespace('cm').inspect('short');
    expect(info?.ttlRemaining).toBeGreaterThan(50_000);
    expect(info?.ttlRemaining).toBeLessThanOrEqual(60_000);

    expect(await managerB.get('short')).toBe('v'); // b has it in memory now
    await managerA.del('short');
    await until(async () => (await managerB.get('short')) === undefined, 'the delete to reach b');

    expect(await managerB.get('w')).toStrictEqual({ n: 1 });
    await managerA.clear();
    await until(async () => (await managerB.get('w')) === undefined, 'the clear to reach b');
  });

  it("Apollo's KeyValueCache (KeyvAdapter over Keyv): seconds TTLs, batched gets, deletes seen by the other instance", async () => {
    const [a, b] = await twoInstances('keyv-apollo');
    const apolloA = new KeyvAdapter(asApolloKeyv(new Keyv<string>({ store: new TiercacheKeyv(a), namespace: 'apq' })));
    const storeB = new TiercacheKeyv(b);
    let batches = 0;
    const getMany = storeB.getMany.bind(storeB);
    storeB.getMany = (keys) => {
      batches++;
      return getMany(keys);
    };
    const apolloB = new KeyvAdapter(asApolloKeyv(new Keyv<string>({ store: storeB, namespace: 'apq' })));

    await apolloA.set('query:1', '{"data":1}', { ttl: 30 });
    await apolloA.set('query:2', '{"data":2}');
    // Apollo's TTLs are seconds; Keyv turns them into milliseconds, and tiercache keeps them.
    const info = await a.namespace('apq').inspect('query:1');
    expect(info?.ttlRemaining).toBeGreaterThan(25_000);
    expect(info?.ttlRemaining).toBeLessThanOrEqual(30_000);
    // Gets in one tick are batched by the adapter's DataLoader into one getMany.
    expect(await Promise.all([apolloB.get('query:1'), apolloB.get('query:2'), apolloB.get('query:3')])).toEqual(['{"data":1}', '{"data":2}', undefined]);
    expect(batches).toBe(1);
    expect(await apolloA.delete('query:1')).toBe(true);
    await until(async () => (await apolloB.get('query:1')) === undefined, 'the delete to reach b');
    expect(await apolloB.get('query:2')).toBe('{"data":2}');
  });
});
