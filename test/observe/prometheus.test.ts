import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/index.js';
import { EXPORTED_BUCKETS_SECONDS, exportedMetricNames, registerCacheMetrics } from '../../src/observe/prometheus.js';
import { redisStore } from '../../src/stores/redis.js';
import { sqliteStore } from '../../src/stores/sqlite.js';
import { serverDescribe } from '../kit/servers.js';
import { REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';
import { parseScrape, select, valueOf, type Scrape } from './prometheus-text.js';

const open: Cache[] = [];
afterEach(async () => {
  for (const cache of open.splice(0)) {
    await cache.clear({ confirm: true });
    await cache.close();
  }
});

function track(cache: Cache): Cache {
  open.push(cache);
  return cache;
}

async function scrape(registry: Registry): Promise<Scrape> {
  return parseScrape(await registry.metrics());
}

/** The cumulative bucket counts of one histogram series, by bound, in the order the scrape lists them. */
function buckets(s: Scrape, name: string, labels: Record<string, string>): { le: string; value: number }[] {
  return select(s, `${name}_bucket`, labels).map((sample) => ({ le: sample.labels.le ?? '', value: sample.value }));
}

serverDescribe('tiercache/prometheus over a Redis store', () => {
  it('exports reads by tier and result, store-call histograms in seconds and bytes, per cache', async () => {
    const prefix = uniquePrefix('prom');
    const shop = track(new Cache({ name: 'shop', prefix, stores: [redisStore({ url: REDIS_URL })] }));
    const reader = track(new Cache({ name: 'reader', prefix, stores: [redisStore({ url: REDIS_URL })] }));
    const registry = new Registry();
    registerCacheMetrics([shop, reader], { registry });

    for (let i = 0; i < 5; i++) await shop.set(`user:${i}`, { id: i, name: `user ${i}` });
    for (let i = 0; i < 5; i++) expect(await shop.get(`user:${i}`)).toMatchObject({ id: i });
    for (let i = 0; i < 3; i++) expect(await shop.get(`missing:${i}`)).toBeUndefined();
    // The second cache has nothing in memory: Redis answers it.
    for (let i = 0; i < 5; i++) expect(await reader.get(`user:${i}`)).toMatchObject({ id: i });

    const s = await scrape(registry);
    const requests = 'tiercache_requests_total';
    expect(valueOf(s, requests, { cache: 'shop', tier: 'memory', result: 'hit' })).toBe(5);
    expect(valueOf(s, requests, { cache: 'shop', tier: 'memory', result: 'miss' })).toBe(3);
    expect(valueOf(s, requests, { cache: 'shop', tier: 'redis', result: 'miss' })).toBe(3);
    expect(valueOf(s, requests, { cache: 'shop', tier: 'redis', result: 'hit' })).toBe(0);
    expect(valueOf(s, requests, { cache: 'reader', tier: 'redis', result: 'hit' })).toBe(5);
    expect(valueOf(s, requests, { cache: 'reader', tier: 'memory', result: 'miss' })).toBe(5);
    expect(valueOf(s, 'tiercache_sets_total', { cache: 'shop', tier: 'redis' })).toBe(5);

    // One histogram observation per store get: shop sent three (its misses), reader five.
    const duration = 'tiercache_operation_duration_seconds';
    const shopGets = { cache: 'shop', tier: 'redis', operation: 'get' };
    expect(valueOf(s, `${duration}_count`, shopGets)).toBe(3);
    expect(valueOf(s, `${duration}_count`, { cache: 'reader', tier: 'redis', operation: 'get' })).toBe(5);
    expect(valueOf(s, `${duration}_count`, { cache: 'shop', tier: 'redis', operation: 'set' })).toBe(5);
    const series = buckets(s, duration, shopGets);
    expect(series.map((b) => b.le)).toStrictEqual([...EXPORTED_BUCKETS_SECONDS.map(String), '+Inf']);
    expect(series.at(-1)?.value).toBe(3);
    for (let i = 1; i < series.length; i++) expect(series[i]!.value).toBeGreaterThanOrEqual(series[i - 1]!.value);
    // The sum is in seconds: the snapshot's milliseconds over 1000.
    const snapshot = shop.getMetrics().tiers.find((t) => t.tier === 'redis')!;
    expect(valueOf(s, `${duration}_sum`, shopGets)).toBeCloseTo(snapshot.latency.get.sum / 1000, 9);
    // A loopback Redis answers well under a second: every get is in the 1 s bucket.
    expect(series.find((b) => b.le === '1')?.value).toBe(3);

    expect(valueOf(s, 'tiercache_store_written_bytes_total', { cache: 'shop', store: 'redis' })).toBe(snapshot.bytesWritten);
    expect(valueOf(s, 'tiercache_store_written_bytes_total', { cache: 'shop', store: 'redis' })).toBeGreaterThan(0);
    expect(valueOf(s, 'tiercache_store_read_bytes_total', { cache: 'reader', store: 'redis' })).toBeGreaterThan(0);
    expect(valueOf(s, 'tiercache_breaker_state', { cache: 'shop', store: 'redis' })).toBe(0);
    expect(valueOf(s, 'tiercache_memory_entries', { cache: 'shop' })).toBe(5);
    expect(valueOf(s, 'tiercache_memory_used_bytes', { cache: 'shop' })).toBe(shop.getMetrics().memory.usedBytes);

    const types = new Map(s.families.map((f) => [f.name, f.type]));
    expect(types.get(requests)).toBe('COUNTER');
    expect(types.get(duration)).toBe('HISTOGRAM');
    expect(types.get('tiercache_memory_used_bytes')).toBe('GAUGE');
    for (const name of exportedMetricNames()) expect(types.has(name), name).toBe(true);
  });

  it('loads by outcome with their duration, single-flight joins and invalidations', async () => {
    const cache = track(new Cache({ name: 'loads', prefix: uniquePrefix('prom'), stores: [redisStore({ url: REDIS_URL })] }));
    const registry = new Registry();
    registerCacheMetrics(cache, { registry });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = cache.getOrSet('report:1', async () => {
      await gate;
      return 1;
    });
    const second = cache.getOrSet('report:1', () => 2);
    release();
    expect(await Promise.all([first, second])).toStrictEqual([1, 1]);
    await expect(cache.getOrSet('report:2', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    await cache.invalidate({ keys: ['report:1'] }, { reason: 'edited' });

    const s = await scrape(registry);
    expect(valueOf(s, 'tiercache_loads_total', { cache: 'loads', outcome: 'ok' })).toBe(1);
    expect(valueOf(s, 'tiercache_loads_total', { cache: 'loads', outcome: 'error' })).toBe(1);
    expect(valueOf(s, 'tiercache_load_duration_seconds_count', { cache: 'loads', outcome: 'ok' })).toBe(1);
    expect(valueOf(s, 'tiercache_single_flight_joins_total', { cache: 'loads' })).toBe(1);
    expect(valueOf(s, 'tiercache_invalidations_total', { cache: 'loads', kind: 'keys', origin: 'local', reason: 'edited' })).toBe(1);
  });

  it('stays monotonic when getStats({ reset: true }) resets the stats window', async () => {
    const cache = track(new Cache({ name: 'mono', prefix: uniquePrefix('prom'), stores: [redisStore({ url: REDIS_URL })] }));
    const registry = new Registry();
    registerCacheMetrics(cache, { registry });
    await cache.set('a', 1);
    for (let i = 0; i < 4; i++) await cache.get('a');
    await cache.get('nope');
    const before = await scrape(registry);
    cache.getStats({ reset: true });
    await cache.get('a');
    const after = await scrape(registry);
    for (const sample of before.samples) {
      if (!sample.name.endsWith('_total') && !sample.name.endsWith('_count') && !sample.name.endsWith('_bucket')) continue;
      const later = select(after, sample.name, sample.labels).find((s) => Object.keys(s.labels).length === Object.keys(sample.labels).length);
      expect(later?.value, `${sample.name}${JSON.stringify(sample.labels)}`).toBeGreaterThanOrEqual(sample.value);
    }
    expect(valueOf(after, 'tiercache_requests_total', { cache: 'mono', tier: 'memory', result: 'hit' })).toBe(5);
  });
});

describe('tiercache/prometheus labels and registration', () => {
  it('1,000 distinct keys give no key label: key groups stay bounded', async () => {
    const cache = track(new Cache({ name: 'bounded', stores: [sqliteStore({ path: ':memory:' })], metrics: true }));
    const registry = new Registry();
    registerCacheMetrics(cache, { registry });
    const keys = Array.from({ length: 1_000 }, (_, i) => `item:${i}`);
    for (const key of keys) await cache.getOrSet(key, () => key.length);
    for (const key of keys) await cache.get(key);

    const text = await registry.metrics();
    const s = parseScrape(text);
    const values = new Set(s.samples.flatMap((sample) => Object.values(sample.labels)));
    for (const key of keys) expect(values.has(key)).toBe(false);
    expect(text).not.toContain('item:');
    expect(valueOf(s, 'tiercache_key_group_loads_total', { cache: 'bounded', key_group: 'item' })).toBe(1_000);
    expect(valueOf(s, 'tiercache_key_group_requests_total', { cache: 'bounded', key_group: 'item', result: 'miss' })).toBe(1_000);
    expect(valueOf(s, 'tiercache_loads_total', { cache: 'bounded', outcome: 'ok' })).toBe(1_000);
    // Series count depends on tiers and families, not on keys.
    expect(s.samples.length).toBeLessThan(600);
  });

  it('unregister removes a cache’s series, and the families with the last cache; a second cache of the same name is refused', async () => {
    const a = track(new Cache({ name: 'a' }));
    const b = track(new Cache({ name: 'b' }));
    const registry = new Registry();
    const first = registerCacheMetrics(a, { registry });
    const second = registerCacheMetrics(b, { registry });
    expect(() => registerCacheMetrics(track(new Cache({ name: 'a' })), { registry })).toThrow(/already registered/);
    await a.set('k', 1);
    await b.set('k', 1);
    expect(select(await scrape(registry), 'tiercache_memory_entries').map((x) => x.labels.cache).sort()).toStrictEqual(['a', 'b']);

    first.unregister();
    expect(select(await scrape(registry), 'tiercache_memory_entries').map((x) => x.labels.cache)).toStrictEqual(['b']);
    second.unregister();
    expect(registry.getMetricsAsArray()).toHaveLength(0);

    // Registering again after everything left works, under another prefix too.
    registerCacheMetrics(a, { registry, prefix: 'app_cache_' });
    expect(valueOf(await scrape(registry), 'app_cache_memory_entries', { cache: 'a' })).toBe(1);
  });

  it('refuses a prefix that is not a metric name, and a registry that is not one', () => {
    const cache = track(new Cache());
    expect(() => registerCacheMetrics(cache, { registry: new Registry(), prefix: 'bad-prefix' })).toThrow(TypeError);
    expect(() => registerCacheMetrics(cache, { registry: {} as Registry })).toThrow(/prom-client Registry/);
  });
});
