import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { Cache, defaultAlertRules, hitRateBand, type Alert, type AlertRule, type MonitorOptions } from '../../src/index.js';
import { sqliteStore } from '../../src/stores/sqlite.js';
import { createFakeClock, type FakeClock } from '../kit/index.js';

const open: Cache[] = [];
afterEach(async () => {
  for (const cache of open.splice(0)) await cache.close();
});

const INTERVAL = 10_000;
const rule: AlertRule = { name: 'low-hit-rate', metric: 'hitRate', below: 0.5, resolve: 0.7, for: '30s' };

function setup(options: MonitorOptions = {}, cacheOptions: ConstructorParameters<typeof Cache>[0] = {}) {
  const clock = createFakeClock();
  const cache = new Cache({ clock, ...cacheOptions });
  open.push(cache);
  const monitor = cache.monitor({ interval: INTERVAL, ...options });
  return { clock, cache, monitor };
}

/** One window of traffic: `hits` reads of keys the cache holds, `misses` reads of keys it does not, then the interval passes. */
async function windowOf(cache: Cache, clock: FakeClock, hits: number, misses: number): Promise<void> {
  await cache.set('held', 1, { ttl: '1d' });
  for (let i = 0; i < hits; i++) await cache.get('held');
  for (let i = 0; i < misses; i++) await cache.get(`absent:${i}`);
  clock.advance(INTERVAL);
}

/** Windows of `reads` reads at these hit rates, in order. */
async function rates(cache: Cache, clock: FakeClock, list: readonly number[], reads = 100): Promise<void> {
  for (const rate of list) await windowOf(cache, clock, Math.round(rate * reads), reads - Math.round(rate * reads));
}

describe('monitor windows', () => {
  it('each window holds what happened in its interval only', async () => {
    const { clock, cache, monitor } = setup({ alerts: false });
    expect(monitor.latest()).toBeUndefined();
    await windowOf(cache, clock, 30, 10);
    await windowOf(cache, clock, 5, 15);
    const [first, second] = monitor.windows();
    expect(first).toMatchObject({ reads: 40, hits: 30, misses: 10, hitRate: 0.75, sets: 1 });
    expect(second).toMatchObject({ reads: 20, hits: 5, misses: 15, hitRate: 0.25, sets: 1 });
    expect(second?.start).toBe(first?.end);
    expect((second?.end ?? 0) - (second?.start ?? 0)).toBe(INTERVAL);
    expect(monitor.latest()).toBe(second);
    expect(first?.tiers[0]).toMatchObject({ tier: 'memory', kind: 'memory', reads: 40, hits: 30, misses: 10, hitRate: 0.75 });
    // Without metrics: true the memory tier is not timed.
    expect(first?.tiers[0]?.latency.count).toBe(0);
    expect(first?.memory).toMatchObject({ entries: 1, maxEntries: 10_000 });
  });

  it('a window with no reads has no hit rate, rather than a made-up one', () => {
    const { clock, monitor } = setup({ alerts: false });
    clock.advance(INTERVAL);
    expect(monitor.latest()).toMatchObject({ reads: 0, hitRate: undefined });
  });

  it('with a store: per-store reads, calls, latency percentiles and error rate', async () => {
    const store = sqliteStore({ path: ':memory:' });
    const { clock, cache, monitor } = setup({ alerts: false }, { stores: [{ store, breaker: { failures: 10_000 } }], metrics: { sampleEvery: 1 } });
    cache.on('error', () => undefined);
    await cache.set('a', 1);
    for (let i = 0; i < 25; i++) await cache.get(`miss${i}`);
    clock.advance(INTERVAL);
    const healthy = monitor.latest()?.tiers[1];
    expect(healthy).toMatchObject({ tier: 'sqlite', kind: 'store', reads: 25, misses: 25, calls: 26, errors: 0, errorRate: 0 });
    expect(healthy?.latency.count).toBe(25);
    expect(healthy?.latency.p99).toBeGreaterThan(0);
    expect(healthy?.latency.p50).toBeLessThanOrEqual(healthy?.latency.p99 ?? 0);
    // metrics with sampleEvery 1: every memory-tier look-up is timed.
    expect(monitor.latest()?.tiers[0]?.latency.count).toBe(25);

    // The store's database goes away under the cache: every call fails.
    await store.close();
    for (let i = 0; i < 20; i++) await cache.get(`gone${i}`);
    clock.advance(INTERVAL);
    expect(monitor.latest()?.tiers[1]).toMatchObject({ calls: 20, errors: 20, errorRate: 1, reads: 20, misses: 20 });
    // Failed calls are timed too, and only this window's.
    expect(monitor.latest()?.tiers[1]?.latency.count).toBe(20);
  });

  it('a read the store answers is a hit of the cache and of the store, and a miss of the memory tier', async () => {
    const { clock, cache, monitor } = setup({ alerts: false }, { memory: { maxEntries: 1 }, stores: [sqliteStore({ path: ':memory:' })] });
    await cache.set('x', 1);
    await cache.set('y', 2); // pushes x out of the one-entry memory tier
    expect(await cache.get('x')).toBe(1);
    expect(await cache.get('nowhere')).toBeUndefined();
    clock.advance(INTERVAL);
    const window = monitor.latest();
    expect(window).toMatchObject({ reads: 2, hits: 1, misses: 1, hitRate: 0.5 });
    expect(window?.tiers[0]).toMatchObject({ reads: 2, hits: 0, misses: 2, hitRate: 0 });
    expect(window?.tiers[1]).toMatchObject({ reads: 2, hits: 1, misses: 1, hitRate: 0.5 });
  });

  it('keeps a fixed number of windows, oldest first', async () => {
    const { clock, cache, monitor } = setup({ windows: 5, alerts: false });
    for (let w = 1; w <= 12; w++) await windowOf(cache, clock, w, 0);
    const kept = monitor.windows();
    expect(kept).toHaveLength(5);
    // Windows 8..12: each read `w` hits.
    expect(kept.map((w) => w.hits)).toEqual([8, 9, 10, 11, 12]);
    for (let i = 1; i < kept.length; i++) expect(kept[i]?.start).toBe(kept[i - 1]?.end);
    expect(monitor.latest()?.hits).toBe(12);
  });

  it('its memory does not grow after the ring is full', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { clock, cache, monitor } = setup({ windows: 20 });
    await cache.set('k', 1);
    const run = async (intervals: number) => {
      for (let i = 0; i < intervals; i++) {
        await cache.get('k');
        clock.advance(INTERVAL);
      }
    };
    // Past the ring's size and the compiler's warm-up before the first measurement.
    await run(2_000);
    gc();
    const full = process.memoryUsage().heapUsed;
    await run(10_000);
    gc();
    const later = process.memoryUsage().heapUsed;
    expect(monitor.windows()).toHaveLength(20);
    // Keeping 10,000 more windows (about 1 KB each) would add some 10 MB; a fixed ring stays where it was,
    // give or take the heap's own noise (a few hundred KB).
    expect(later - full).toBeLessThan(2 * 1024 * 1024);
  });
});

describe('trend', () => {
  it('is degrading when the hit rate falls against the baseline, with the drop in points', async () => {
    const { clock, cache, monitor } = setup({ windows: 10, recent: 3, alerts: false });
    await rates(cache, clock, [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.4, 0.4, 0.4]);
    const trend = monitor.trend();
    expect(trend.verdict).toBe('degrading');
    expect(trend).toMatchObject({ recentWindows: 3, baselineWindows: 7 });
    expect(trend.hitRate?.baseline).toBeCloseTo(0.9);
    expect(trend.hitRate?.recent).toBeCloseTo(0.4);
    expect(trend.hitRate?.change).toBeCloseTo(-0.5);
    expect(trend.tiers[0]).toMatchObject({ tier: 'memory', verdict: 'degrading' });
  });

  it('is stable for steady traffic, improving when the hit rate climbs, and undecided before a baseline exists', async () => {
    const { clock, cache, monitor } = setup({ windows: 10, recent: 2, alerts: false });
    await rates(cache, clock, [0.8]);
    expect(monitor.trend()).toMatchObject({ verdict: 'stable', baselineWindows: 0, hitRate: undefined });
    await rates(cache, clock, [0.8, 0.8, 0.81, 0.79]);
    expect(monitor.trend().verdict).toBe('stable');
    await rates(cache, clock, [0.97, 0.97]);
    expect(monitor.trend().verdict).toBe('improving');
  });

  it('a baseline count limits how far back it looks', async () => {
    const { clock, cache, monitor } = setup({ windows: 10, recent: 1, baseline: 2, alerts: false });
    await rates(cache, clock, [0.2, 0.2, 0.2, 0.9, 0.9, 0.9]);
    // Against the two windows before (0.9), the last one is steady; against all of them it would look improving.
    expect(monitor.trend()).toMatchObject({ verdict: 'stable', baselineWindows: 2 });
  });

  it('leaves out a figure with too few reads on either side', async () => {
    const { clock, cache, monitor } = setup({ windows: 10, recent: 1, alerts: false });
    await rates(cache, clock, [0.9, 0.9, 0.9]);
    await rates(cache, clock, [0.1], 10);
    expect(monitor.trend()).toMatchObject({ verdict: 'stable', hitRate: undefined });
  });
});

describe('alerts', () => {
  it("show in the instance's fleet record while they fire, and no longer once the monitor stops", async () => {
    const { clock, cache, monitor } = setup({ alerts: [rule] });
    await rates(cache, clock, [0.3, 0.3, 0.3]);
    const [self] = await cache.listInstances();
    expect(self?.alerts).toEqual([{ name: 'low-hit-rate', severity: 'warning', since: monitor.windows()[0]?.start }]);
    monitor.stop();
    expect((await cache.listInstances())[0]?.alerts).toEqual([]);
  });


  it('are raised only once the condition held for `for`, and resolved only past the second threshold', async () => {
    const seen: string[] = [];
    const called: Alert[] = [];
    const { clock, cache, monitor } = setup({ alerts: [rule], onAlert: (a) => called.push(a) });
    monitor.on('alert', (a) => seen.push(`alert ${a.value}`));
    monitor.on('resolve', (a) => seen.push(`resolve ${a.value}`));

    await rates(cache, clock, [0.3, 0.3]);
    expect(seen).toEqual([]);
    expect(monitor.activeAlerts()).toEqual([]);
    await rates(cache, clock, [0.3]);
    expect(seen).toEqual(['alert 0.3']);
    const [active] = monitor.activeAlerts();
    expect(active).toMatchObject({ rule: 'low-hit-rate', metric: 'hitRate', tier: undefined, state: 'active', severity: 'warning', threshold: 0.5, direction: 'below', resolveAt: 0.7 });
    const start = monitor.windows()[0]?.start ?? 0;
    expect(active?.since).toBe(start);
    expect(active?.raisedAt).toBe(start + 3 * INTERVAL);
    expect(active?.message).toContain('30.0 %');

    // Hovering between the thresholds: neither resolved nor raised again.
    await rates(cache, clock, [0.6, 0.45, 0.65, 0.55, 0.4, 0.69]);
    expect(seen).toEqual(['alert 0.3']);
    expect(monitor.activeAlerts()).toHaveLength(1);

    await rates(cache, clock, [0.8]);
    expect(seen).toEqual(['alert 0.3', 'resolve 0.8']);
    expect(monitor.activeAlerts()).toEqual([]);
    expect(called.map((a) => a.state)).toEqual(['active', 'resolved']);
    expect(called[1]).toMatchObject({ rule: 'low-hit-rate', state: 'resolved', resolvedAt: start + 10 * INTERVAL, since: start });
  });

  it('a value crossing the threshold back and forth never holds long enough to raise', async () => {
    const seen: Alert[] = [];
    const { clock, cache, monitor } = setup({ alerts: [rule] });
    monitor.on('alert', (a) => seen.push(a));
    await rates(cache, clock, [0.45, 0.55, 0.45, 0.45, 0.55, 0.4, 0.52, 0.45, 0.45]);
    expect(seen).toEqual([]);
  });

  it('windows with fewer than minRequests reads raise no hit-rate alert', async () => {
    const quiet = setup({ alerts: [{ ...rule, for: 0 }] });
    await rates(quiet.cache, quiet.clock, [0, 0, 0, 0, 0], 19);
    expect(quiet.monitor.activeAlerts()).toEqual([]);

    const tuned = setup({ alerts: [{ ...rule, for: 0 }], minRequests: 5 });
    await rates(tuned.cache, tuned.clock, [0], 19);
    expect(tuned.monitor.activeAlerts()).toHaveLength(1);
  });

  it('defaults follow the seed’s bands: poor (< 50 %) for three windows raises, above 55 % resolves', async () => {
    const events: string[] = [];
    const { clock, cache, monitor } = setup();
    monitor.on('alert', (a) => events.push(`+${a.rule}`));
    monitor.on('resolve', (a) => events.push(`-${a.rule}`));
    await rates(cache, clock, [0.45, 0.45]);
    expect(events).toEqual([]);
    await rates(cache, clock, [0.45]);
    expect(events).toEqual(['+hit-rate-poor']);
    await rates(cache, clock, [0.52]);
    expect(events).toEqual(['+hit-rate-poor']);
    await rates(cache, clock, [0.56]);
    expect(events).toEqual(['+hit-rate-poor', '-hit-rate-poor']);
    expect(defaultAlertRules('10s').map((r) => r.name)).toEqual(['hit-rate-poor', 'hit-rate-drop', 'store-errors', 'memory-full']);
  });

  it('a store failing its calls raises the default store-errors alert for that store', async () => {
    const store = sqliteStore({ path: ':memory:' });
    const { clock, cache, monitor } = setup({}, { stores: [{ store, breaker: { failures: 10_000 } }] });
    cache.on('error', () => undefined);
    await store.close();
    for (let w = 0; w < 2; w++) {
      for (let i = 0; i < 25; i++) await cache.get(`k${i}`);
      clock.advance(INTERVAL);
    }
    expect(monitor.activeAlerts().find((a) => a.rule === 'store-errors')).toMatchObject({ tier: 'sqlite', severity: 'critical', value: 1 });
  });

  it('alerts: false turns the defaults off; an array replaces them', async () => {
    const off = setup({ alerts: false });
    await rates(off.cache, off.clock, [0, 0, 0, 0]);
    expect(off.monitor.activeAlerts()).toEqual([]);

    const mine = setup({ alerts: [{ name: 'evicting', metric: 'evictionRate', above: 0.5 }] }, { memory: { maxEntries: 2 } });
    for (let i = 0; i < 30; i++) await mine.cache.set(`k${i}`, i);
    await rates(mine.cache, mine.clock, [0]);
    // 31 writes into a tier of two entries: 29 evictions in a 10 s window. No default rule is there.
    expect(mine.monitor.activeAlerts().map((a) => a.rule)).toEqual(['evicting']);
    expect(mine.monitor.activeAlerts()[0]?.value).toBeCloseTo(2.9);
  });

  it('a listener that throws is reported on the cache’s error event, and the others still run', async () => {
    const errors: string[] = [];
    const seen: string[] = [];
    const { clock, cache, monitor } = setup({ alerts: [{ ...rule, for: 0 }] });
    cache.on('error', (e) => errors.push(e.operation));
    monitor.on('alert', () => {
      throw new Error('listener bug');
    });
    monitor.on('alert', (a) => seen.push(a.rule));
    await rates(cache, clock, [0.1]);
    expect(seen).toEqual(['low-hit-rate']);
    expect(errors).toEqual(['monitor alert listener']);
  });
});

describe('stopping', () => {
  it('stop() stops the timer: no window after it', async () => {
    const { clock, cache, monitor } = setup({ alerts: false });
    await rates(cache, clock, [0.5, 0.5]);
    const pending = clock.pending;
    monitor.stop();
    expect(monitor.running).toBe(false);
    expect(clock.pending).toBe(pending - 1);
    await rates(cache, clock, [0.5, 0.5, 0.5]);
    expect(monitor.windows()).toHaveLength(2);
    monitor.stop();
  });

  it('close() stops it too', async () => {
    const { clock, cache, monitor } = setup({ alerts: false });
    await rates(cache, clock, [0.5]);
    await cache.close();
    expect(monitor.running).toBe(false);
    clock.advance(10 * INTERVAL);
    expect(monitor.windows()).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });
});

describe('options', () => {
  const cache = () => {
    const c = new Cache({ clock: createFakeClock() });
    open.push(c);
    return c;
  };

  it.each<[MonitorOptions, RegExp]>([
    [{ interval: 'soon' }, /^interval must be a duration/],
    [{ interval: 0 }, /^interval must be at least 1 ms/],
    [{ windows: 1 }, /^windows must be an integer from 2 to 10000/],
    [{ windows: 2.5 }, /^windows must be an integer/],
    [{ windows: 10, recent: 10 }, /^recent must be an integer from 1 to 9/],
    [{ windows: 10, recent: 3, baseline: 8 }, /^baseline must be an integer from 1 to 7/],
    [{ minRequests: -1 }, /^minRequests must be an integer/],
    [{ onAlert: 'log' as never }, /^onAlert must be a function/],
    [{ alerts: 'yes' as never }, /^alerts must be true, false or an array/],
    [{ alerts: [{ name: '', metric: 'hitRate', below: 0.5 }] }, /^alerts\[0\]\.name/],
    [{ alerts: [{ name: 'a', metric: 'hitRatio' as never, below: 0.5 }] }, /^alerts\[0\]\.metric must be one of hitRate, hitRateDrop/],
    [{ alerts: [{ name: 'a', metric: 'hitRate' }] }, /^alerts\[0\] must give exactly one of above and below/],
    [{ alerts: [{ name: 'a', metric: 'hitRate', above: 0.1, below: 0.5 }] }, /^alerts\[0\] must give exactly one/],
    [{ alerts: [{ name: 'a', metric: 'hitRate', below: 50 }] }, /^alerts\[0\]\.below must be a fraction from 0 to 1/],
    [{ alerts: [{ name: 'a', metric: 'hitRate', below: 0.5, resolve: 0.4 }] }, /^alerts\[0\]\.resolve must be at least below/],
    [{ alerts: [{ name: 'a', metric: 'errorRate', above: 0.05, resolve: 0.1 }] }, /^alerts\[0\]\.resolve must be at most above/],
    [{ alerts: [{ name: 'a', metric: 'latencyP99', tier: 'redis', above: 5 }] }, /^alerts\[0\]\.tier must be one of memory/],
    [{ alerts: [{ name: 'a', metric: 'errorRate', tier: 'memory', above: 0.1 }] }, /^alerts\[0\]\.tier: errorRate is measured on stores/],
    [{ alerts: [{ name: 'a', metric: 'hitRate', below: 0.5, for: 'a while' }] }, /^alerts\[0\]\.for must be a duration/],
    [{ alerts: [{ name: 'a', metric: 'hitRate', below: 0.5, severity: 'page' as never }] }, /^alerts\[0\]\.severity must be one of/],
    [{ alerts: [{ name: 'a', metric: 'hitRate', below: 0.5 }, { name: 'a', metric: 'memoryUsage', above: 0.9 }] }, /^alerts\[1\]\.name "a" is used by another rule/],
  ])('%o is refused with a TypeError naming the option', (options, message) => {
    const c = cache();
    expect(() => c.monitor(options)).toThrow(TypeError);
    expect(() => c.monitor(options)).toThrow(message);
  });

  it('a refused monitor leaves no timer behind', () => {
    const clock = createFakeClock();
    const c = new Cache({ clock, memory: { sweepInterval: 0 } });
    open.push(c);
    const before = clock.pending;
    expect(() => c.monitor({ windows: 0 })).toThrow(TypeError);
    expect(clock.pending).toBe(before);
  });

  it('durations may be strings or milliseconds; `for` is rounded up to whole windows', async () => {
    const { clock, cache: c, monitor } = setup({ interval: '10s', alerts: [{ ...rule, for: 15_000 }] });
    expect(monitor.interval).toBe(10_000);
    await rates(c, clock, [0.1]);
    expect(monitor.activeAlerts()).toEqual([]);
    await rates(c, clock, [0.1]);
    expect(monitor.activeAlerts()).toHaveLength(1);
  });
});

describe('hitRateBand', () => {
  it('follows seed 001: excellent > 90 %, good 70–90, fair 50–70, poor < 50', () => {
    expect([0.95, 0.9, 0.7, 0.69, 0.5, 0.49, 0].map(hitRateBand)).toEqual(['excellent', 'good', 'good', 'fair', 'fair', 'poor', 'poor']);
    expect(() => hitRateBand(Number.NaN)).toThrow(TypeError);
  });
});
