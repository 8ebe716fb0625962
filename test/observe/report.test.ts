import { afterEach, describe, expect, it } from 'vitest';
import { Cache, type CacheOptions, type CacheReport, type RecommendationCode } from '../../src/index.js';
import { sqliteStore } from '../../src/stores/sqlite.js';
import { createFakeClock } from '../kit/index.js';

const open: Cache[] = [];
afterEach(async () => {
  for (const cache of open.splice(0)) await cache.close();
});

function build(options: CacheOptions = {}) {
  const clock = createFakeClock();
  const cache = new Cache({ clock, ...options });
  open.push(cache);
  return { clock, cache };
}

function codes(report: CacheReport): RecommendationCode[] {
  return report.recommendations.map((r) => r.code);
}

function advice(report: CacheReport, code: RecommendationCode) {
  const found = report.recommendations.find((r) => r.code === code);
  if (found === undefined) throw new Error(`no ${code} in ${JSON.stringify(codes(report))}`);
  return found;
}

/** Busy for `ms` of real time: loader durations are measured with the real clock. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // burning time on purpose
  }
}

/** Reads of a working set that fits: nearly every read hits. */
async function healthyTraffic(cache: Cache): Promise<void> {
  for (let i = 0; i < 100; i++) await cache.getOrSet(`user:${i}`, () => ({ id: i }), { ttl: '1h' });
  for (let round = 0; round < 10; round++) for (let i = 0; i < 100; i++) await cache.getOrSet(`user:${i}`, () => ({ id: i }), { ttl: '1h' });
}

describe('getReport', () => {
  it('a healthy cache gets figures and no recommendation', async () => {
    const { cache } = build({ name: 'shop' });
    await healthyTraffic(cache);
    const report = cache.getReport();
    expect(report.recommendations).toEqual([]);
    expect(report).toMatchObject({ cache: 'shop', generatedAt: '2026-01-01T00:00:00.000Z', period: { source: 'since-start', from: undefined } });
    expect(report.hitRate).toMatchObject({ reads: 1_100, band: 'excellent', trend: undefined, verdict: undefined });
    expect(report.hitRate.overall).toBeCloseTo(1_000 / 1_100);
    expect(report.tiers[0]).toMatchObject({ tier: 'memory', kind: 'memory', reads: 1_100, band: 'excellent', trend: undefined, latency: undefined });
    expect(report.memory).toMatchObject({ entries: 100, maxEntries: 10_000 });
    expect(report.evictions).toEqual({ capacity: 0, expired: 0 });
    expect(report.loads).toMatchObject({ count: 100, errors: 0 });
    expect(report.alerts).toEqual([]);
    expect(report.keyGroups).toMatchObject({ detailed: false, byTraffic: [], byMissCost: [] });
    expect(report.keyGroups.note).toContain('metrics: true');
  });

  it('a healthy cache with a store and detailed metrics gets none either', async () => {
    const { cache } = build({ stores: [sqliteStore({ path: ':memory:' })], metrics: true });
    await healthyTraffic(cache);
    const report = cache.getReport();
    expect(report.recommendations).toEqual([]);
    expect(report.tiers.map((t) => t.tier)).toEqual(['memory', 'sqlite']);
    expect(report.tiers[1]).toMatchObject({ kind: 'store', breaker: 'closed', errorRate: 0 });
    expect(report.tiers[1]?.latency?.p99).toBeGreaterThan(0);
    expect(report.keyGroups.byTraffic[0]).toMatchObject({ group: 'user', misses: 100, loads: 100 });
  });

  it('a memory tier too small for the working set → size advice, with the evictions as evidence', async () => {
    const { cache } = build({ memory: { maxEntries: 10 } });
    for (let round = 0; round < 5; round++) for (let i = 0; i < 50; i++) await cache.getOrSet(`item:${i}`, () => i, { ttl: '1h' });
    const report = cache.getReport();
    const size = advice(report, 'MEMORY_TOO_SMALL');
    expect(size.severity).toBe('warning');
    expect(size.evidence).toMatchObject({ maxEntries: 10, usage: 1 });
    expect(size.evidence.evictions).toBeGreaterThanOrEqual(200);
    expect(size.message).toContain('memory.maxEntries (10)');
    expect(codes(report)).not.toContain('TTL_TOO_SHORT');
    expect(codes(report)).not.toContain('INVALIDATION_TOO_BROAD');
    expect(codes(report)).not.toContain('HIT_RATE_LOW');
  });

  it('entries that expire before they are read again → TTL advice', async () => {
    const { clock, cache } = build({ defaultTtl: '1s' });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 40; i++) await cache.getOrSet(`quote:${i}`, () => i);
      clock.advance(2_000);
    }
    const report = cache.getReport();
    const ttl = advice(report, 'TTL_TOO_SHORT');
    expect(ttl.evidence).toMatchObject({ defaultTtlMs: 1_000, evictions: 0 });
    expect(ttl.evidence.expirations).toBeGreaterThanOrEqual(160);
    expect(ttl.message).toContain('1000 ms');
    expect(codes(report)).not.toContain('MEMORY_TOO_SMALL');
  });

  it('invalidating broad tags after every few writes → invalidation advice', async () => {
    const { cache } = build();
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 30; i++) await cache.getOrSet(`price:${i}`, () => i, { tags: ['prices'] });
      await cache.invalidateTags(['prices']);
    }
    const report = cache.getReport();
    const broad = advice(report, 'INVALIDATION_TOO_BROAD');
    expect(broad.evidence).toMatchObject({ invalidations: 6, broadInvalidations: 6, sets: 180 });
    expect(codes(report)).not.toContain('MEMORY_TOO_SMALL');
    expect(codes(report)).not.toContain('TTL_TOO_SHORT');
  });

  it('a key group whose misses cost the most loading time → warming advice for that group', async () => {
    const { cache } = build({ metrics: { sampleEvery: 1 } });
    for (let i = 0; i < 30; i++) await cache.getOrSet(`forecast:${i}`, () => (spin(2), i));
    for (let i = 0; i < 5; i++) await cache.set(`config:${i}`, i);
    for (let r = 0; r < 40; r++) await cache.get(`config:${r % 5}`);
    const report = cache.getReport();
    const warm = advice(report, 'WARM_KEY_GROUP');
    expect(warm.evidence).toMatchObject({ group: 'forecast', misses: 30, loads: 30, hitRate: 0 });
    expect(warm.evidence.meanLoadMs).toBeGreaterThanOrEqual(2);
    expect(report.recommendations.filter((r) => r.code === 'WARM_KEY_GROUP')).toHaveLength(1);
    expect(report.keyGroups.byTraffic.map((g) => g.group)).toEqual(['config', 'forecast']);
    expect(report.keyGroups.byMissCost.map((g) => g.group)).toEqual(['forecast']);
    expect(report.keyGroups.note).toBeUndefined();
  });

  it('a store failing its calls → store advice, critical', async () => {
    const store = sqliteStore({ path: ':memory:' });
    const { cache } = build({ stores: [{ store, breaker: { failures: 10_000 } }] });
    cache.on('error', () => undefined);
    await healthyTraffic(cache);
    await store.close();
    for (let i = 0; i < 30; i++) await cache.get(`gone:${i}`);
    const report = cache.getReport();
    const errors = advice(report, 'STORE_ERRORS');
    expect(errors.severity).toBe('critical');
    expect(errors.evidence).toMatchObject({ store: 'sqlite', errors: 30 });
    expect(report.recommendations[0]?.severity).toBe('critical');
  });

  it('an open breaker is named', async () => {
    const store = sqliteStore({ path: ':memory:' });
    const { cache } = build({ stores: [{ store, breaker: { failures: 3, cooldown: '1m' } }] });
    cache.on('error', () => undefined);
    await store.close();
    for (let i = 0; i < 10; i++) await cache.get(`gone:${i}`);
    expect(advice(cache.getReport(), 'STORE_BREAKER_OPEN').evidence).toMatchObject({ store: 'sqlite', state: 'open' });
  });

  it('failing loaders → loader advice', async () => {
    const { cache } = build();
    for (let i = 0; i < 30; i++) await cache.getOrSet(`flaky:${i}`, () => (i % 3 === 0 ? Promise.reject(new Error('upstream')) : i)).catch(() => undefined);
    const loaders = advice(cache.getReport(), 'LOADER_ERRORS');
    expect(loaders.evidence).toMatchObject({ loads: 30, errors: 10 });
  });

  it('with a monitor running: figures of its last window, its trend and its alerts', async () => {
    const { clock, cache } = build();
    const monitor = cache.monitor({ interval: '10s', windows: 10, recent: 2 });
    await cache.set('held', 1);
    const traffic = async (hits: number, misses: number) => {
      for (let i = 0; i < hits; i++) await cache.get('held');
      for (let i = 0; i < misses; i++) await cache.get(`absent:${i}`);
      clock.advance(10_000);
    };
    for (let w = 0; w < 4; w++) await traffic(95, 5);
    for (let w = 0; w < 3; w++) await traffic(30, 70);
    const report = cache.getReport();
    expect(report.period).toMatchObject({ source: 'monitor', from: monitor.latest()?.start, to: monitor.latest()?.end });
    expect(report.hitRate).toMatchObject({ overall: 0.3, reads: 100, band: 'poor', verdict: 'degrading' });
    // The last two windows (30 %) against the five before (four at 95 %, one at 30 %: 82 %).
    expect(report.hitRate.trend?.change).toBeCloseTo(0.3 - 0.82);
    expect(report.tiers[0]?.trend?.verdict).toBe('degrading');
    expect(report.alerts.map((a) => a.rule)).toContain('hit-rate-poor');
    expect(codes(report)).toContain('HIT_RATE_DEGRADING');
    // Cold keys with nothing pushing entries out: the generic low-hit-rate advice, over the monitor's windows.
    expect(advice(report, 'HIT_RATE_LOW').evidence).toMatchObject({ reads: 700, evictions: 0, expirations: 0 });

    // Once the monitor stops, the report goes back to the figures since start.
    monitor.stop();
    expect(cache.getReport()).toMatchObject({ period: { source: 'since-start' }, alerts: [], hitRate: { trend: undefined } });
  });
});
