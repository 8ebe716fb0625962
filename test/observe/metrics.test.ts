import { afterEach, describe, expect, it } from 'vitest';
import { Cache, quantileOf, type MetricsSnapshot, type TierMetrics } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { sqliteStore } from '../../src/stores/sqlite.js';
import { createFakeClock, deferred, until } from '../kit/index.js';
import { serverIt } from '../kit/servers.js';
import { REDIS_URL, uniquePrefix } from '../stores/redis-helpers.js';

const open: Cache[] = [];
afterEach(async () => {
  for (const cache of open.splice(0)) await cache.close();
});

function track(cache: Cache): Cache {
  open.push(cache);
  return cache;
}

function tier(snapshot: MetricsSnapshot, name: string): TierMetrics {
  const found = snapshot.tiers.find((t) => t.tier === name);
  if (found === undefined) throw new Error(`no tier ${name}`);
  return found;
}

describe('getMetrics', () => {
  it('counts each tier’s reads by result and times every store call', async () => {
    const cache = track(new Cache({ name: 'shop', stores: [sqliteStore({ path: ':memory:' })] }));
    await cache.set('user:1', { name: 'Ada' });
    for (let i = 0; i < 10; i++) await cache.get('user:1');
    await cache.get('user:missing');
    const snapshotBefore = cache.getMetrics();
    expect(snapshotBefore.cache).toBe('shop');
    const memory = tier(snapshotBefore, 'memory');
    expect(memory.requests).toMatchObject({ hit: 10, miss: 1, stale: 0 });
    const sqlite = tier(snapshotBefore, 'sqlite');
    expect(sqlite.kind).toBe('store');
    expect(sqlite.requests).toMatchObject({ hit: 0, miss: 1, error: 0, timeout: 0, skipped: 0 });
    expect(sqlite.sets).toBe(1);
    // Every store call is timed: one set, one get (the miss).
    expect(sqlite.latency.set.count).toBe(1);
    expect(sqlite.latency.get.count).toBe(1);
    expect(sqlite.bytesWritten).toBeGreaterThan(0);
    expect(sqlite.breaker).toStrictEqual({ state: 'closed', opened: 0, closed: 0 });
    expect(quantileOf(sqlite.latency.get, 0.99)).toBeGreaterThan(0);
  });

  it('reads answered by a store count as the store’s hits and bytes read', async () => {
    const fresh = track(new Cache({ memory: { maxEntries: 1 }, stores: [sqliteStore({ path: ':memory:' })] }));
    await fresh.set('x', 1);
    await fresh.set('y', 2); // pushes x out of the one-entry memory tier
    expect(await fresh.get('x')).toBe(1);
    const sqlite = tier(fresh.getMetrics(), 'sqlite');
    expect(sqlite.requests.hit).toBe(1);
    expect(sqlite.bytesRead).toBeGreaterThan(0);
  });

  it('counters only grow: getStats({ reset }) restarts the stats, not the metrics', async () => {
    const cache = track(new Cache());
    await cache.set('k', 1);
    await cache.get('k');
    await cache.get('k');
    expect(cache.getStats({ reset: true }).hits).toBe(2);
    expect(cache.getStats().hits).toBe(0);
    await cache.get('k');
    expect(cache.getStats().hits).toBe(1);
    expect(tier(cache.getMetrics(), 'memory').requests.hit).toBe(3);
  });

  it('loads are counted by outcome, with their durations', async () => {
    const clock = createFakeClock();
    const cache = track(new Cache({ clock }));
    await cache.getOrSet('a', () => 1);
    await expect(cache.getOrSet('b', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    const never = deferred<number>();
    const slow = cache.getOrSet('c', () => never.promise, { hardTimeout: 1_000 }).catch((error: unknown) => error);
    await clock.tick(1_000);
    expect(await slow).toMatchObject({ code: 'E_LOADER_TIMEOUT' });
    const { loads } = cache.getMetrics();
    expect(loads.runs.ok.count).toBe(1);
    expect(loads.runs.error.count).toBe(1);
    expect(loads.runs.timeout.count).toBe(1);
  });

  it('callers that share a running load are counted as joins', async () => {
    const cache = track(new Cache());
    const gate = deferred<number>();
    const calls = Array.from({ length: 5 }, () => cache.getOrSet('k', () => gate.promise));
    gate.resolve(7);
    expect(await Promise.all(calls)).toStrictEqual([7, 7, 7, 7, 7]);
    const { loads } = cache.getMetrics();
    expect(loads.runs.ok.count).toBe(1);
    expect(loads.joins).toBe(4);
  });

  it('invalidations are counted by kind, origin and reason', async () => {
    const cache = track(new Cache());
    await cache.set('user:1', 1, { tags: ['u'] });
    await cache.invalidateTags(['u'], { reason: 'profile edit' });
    await cache.invalidatePattern('user:*', { reason: 'profile edit' });
    await cache.invalidatePattern('user:*');
    await cache.clear({ confirm: true });
    const counts = cache.getMetrics().invalidations;
    expect(counts).toContainEqual({ kind: 'tags', origin: 'local', reason: 'profile edit', count: 1 });
    expect(counts).toContainEqual({ kind: 'pattern', origin: 'local', reason: 'profile edit', count: 1 });
    expect(counts).toContainEqual({ kind: 'pattern', origin: 'local', reason: '', count: 1 });
    expect(counts).toContainEqual({ kind: 'clear', origin: 'local', reason: '', count: 1 });
  });

  it('reasons are a bounded label: past maxKeyGroups they count as other', async () => {
    const cache = track(new Cache({ metrics: { maxKeyGroups: 2 } }));
    for (let i = 0; i < 10; i++) await cache.invalidatePattern('x:*', { reason: `reason ${i}` });
    const reasons = new Set(cache.getMetrics().invalidations.map((i) => i.reason));
    expect(reasons).toStrictEqual(new Set(['reason 0', 'reason 1', 'other']));
  });

  it('with metrics on, one memory-tier read in sampleEvery is timed, and hits are scaled back up per key group', async () => {
    const cache = track(new Cache({ metrics: { sampleEvery: 4 } }));
    for (let i = 0; i < 1_000; i++) await cache.set(`g${i % 10}:${i}`, i);
    for (let i = 0; i < 1_000; i++) await cache.get(`g${i % 10}:${i}`);
    for (let i = 0; i < 52; i++) await cache.get(`g1:missing${i}`);
    const snapshot = cache.getMetrics();
    expect(snapshot.detailed).toBe(true);
    expect(tier(snapshot, 'memory').latency.get.count).toBe(1_052 / 4);
    const groups = new Map(snapshot.keyGroups.map((g) => [g.group, g]));
    // Misses are counted exactly; hits one in four, times four.
    expect(groups.get('g1')?.misses).toBe(52);
    const hits = snapshot.keyGroups.reduce((sum, g) => sum + g.hits, 0);
    expect(hits).toBeGreaterThanOrEqual(900);
    expect(hits).toBeLessThanOrEqual(1_000);
  });

  it('key groups are a bounded label: past maxKeyGroups, new groups count as other', async () => {
    const cache = track(new Cache({ metrics: { sampleEvery: 1, maxKeyGroups: 3 } }));
    for (let i = 0; i < 100; i++) await cache.get(`g${i % 10}:${i}`);
    await cache.getOrSet('g9:load', () => 1);
    const groups = new Map(cache.getMetrics().keyGroups.map((g) => [g.group, g]));
    expect([...groups.keys()].sort()).toStrictEqual(['g0', 'g1', 'g2', 'other']);
    expect(groups.get('g0')?.misses).toBe(10);
    expect(groups.get('other')?.misses).toBe(71);
    expect(groups.get('other')?.loads).toBe(1);
  });

  it('without metrics, nothing is sampled and there are no key groups', async () => {
    const cache = track(new Cache());
    await cache.set('a:1', 1);
    for (let i = 0; i < 200; i++) await cache.get('a:1');
    const snapshot = cache.getMetrics();
    expect(snapshot.detailed).toBe(false);
    expect(tier(snapshot, 'memory').latency.get.count).toBe(0);
    expect(snapshot.keyGroups).toStrictEqual([]);
  });

  it('refuses bad metrics options by name', () => {
    expect(() => new Cache({ metrics: { sampleEvery: 3 } })).toThrow(/metrics.sampleEvery/);
    expect(() => new Cache({ metrics: { maxKeyGroups: 0 } })).toThrow(/metrics.maxKeyGroups/);
    expect(() => new Cache({ name: '' })).toThrow(/name/);
  });

  serverIt('the bus reports messages and their delivery lag', async () => {
    const channel = uniquePrefix('metrics-bus');
    const a = track(new Cache({ bus: redisBus({ url: REDIS_URL, channel }) }));
    const b = track(new Cache({ bus: redisBus({ url: REDIS_URL, channel }) }));
    await Promise.all([a.ready(), b.ready()]);
    await a.set('k', 1);
    await until(() => (b.getMetrics().bus?.received ?? 0) >= 1, 'the message to arrive');
    const bus = b.getMetrics().bus;
    expect(bus?.lag.count).toBe(1);
    expect(a.getMetrics().bus?.sent).toBe(1);
  });
});
