import { afterEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache.js';
import { createFakeClock, type FakeClock } from '../../src/testing/index.js';
import { HotKeys, Refresher, type RefresherOptions } from '../../src/warming/hot-keys.js';
import { Warmer } from '../../src/warming/warmer.js';
import { createFakeTimers, deferred, drain } from '../kit/index.js';

const open: Cache[] = [];
const refreshers: Refresher[] = [];
afterEach(async () => {
  await Promise.all(refreshers.splice(0).map((r) => r.stop()));
  await Promise.all(open.splice(0).map((c) => c.close()));
});

describe('HotKeys', () => {
  it('halves every score each half-life', () => {
    const clock = createFakeClock();
    const hot = new HotKeys({ halfLife: '1m', clock });
    for (let i = 0; i < 8; i++) hot.record('a');
    expect(hot.score('a')).toBe(8);
    clock.advance(60_000);
    expect(hot.score('a')).toBeCloseTo(4, 10);
    hot.record('a');
    expect(hot.score('a')).toBeCloseTo(5, 10);
    clock.advance(120_000);
    expect(hot.score('a')).toBeCloseTo(1.25, 10);
    expect(hot.score('never-read')).toBe(0);
  });

  it('a key is hot from hotScore; top and hot list the hottest first', () => {
    const clock = createFakeClock();
    const hot = new HotKeys({ clock, hotScore: 3 });
    hot.record('warm', 2);
    hot.record('hot', 5);
    hot.record('hotter', 9);
    expect(hot.isHot('warm')).toBe(false);
    expect(hot.isHot('hot')).toBe(true);
    expect(hot.hot()).toStrictEqual([
      { key: 'hotter', score: 9 },
      { key: 'hot', score: 5 },
    ]);
    expect(hot.top(2).map((h) => h.key)).toStrictEqual(['hotter', 'hot']);
    expect(hot.top(10)).toHaveLength(3);
    clock.advance(60_000);
    // 5 reads a minute ago now weigh 2.5: no longer hot.
    expect(hot.hot().map((h) => h.key)).toStrictEqual(['hotter']);
  });

  it('stays bounded under a flood of one-off keys, and keeps the keys read often', () => {
    const clock = createFakeClock();
    const hot = new HotKeys({ clock, capacity: 100 });
    let largest = 0;
    for (let i = 0; i < 50_000; i++) {
      hot.record(`once:${i}`);
      if (i % 10 === 0) hot.record('popular');
      if (i % 25 === 0) hot.record('steady');
      if (i % 100 === 0) clock.advance(50);
      largest = Math.max(largest, hot.size);
    }
    expect(largest).toBe(100);
    expect(hot.top(2).map((h) => h.key)).toStrictEqual(['popular', 'steady']);
  });

  it('keeps correct scores over any number of half-lives (no overflow)', () => {
    const clock = createFakeClock();
    const hot = new HotKeys({ clock, halfLife: 1_000 });
    hot.record('old', 1_000);
    for (let i = 0; i < 300; i++) {
      clock.advance(1_000);
      hot.record('ticker');
    }
    expect(hot.score('ticker')).toBeCloseTo(2, 5);
    expect(Number.isFinite(hot.score('ticker'))).toBe(true);
    // 1,000 reads 300 half-lives ago are worth nothing now, and are no longer tracked.
    expect(hot.score('old')).toBeLessThan(1e-9);
    hot.record('new');
    expect(hot.score('new')).toBeCloseTo(1, 10);
  });

  it('learns from the hits and misses of a real cache until detached', async () => {
    const clock = createFakeClock();
    const cache = new Cache({ clock });
    open.push(cache);
    const hot = new HotKeys({ clock });
    const detach = hot.attach(cache);
    await cache.get('missing');
    await cache.set('k', 1);
    await cache.get('k');
    await cache.get('k');
    await cache.getOrSet('k', () => 2);
    expect(hot.score('missing')).toBe(1);
    expect(hot.score('k')).toBe(3);
    // Looking a key up without reading it is not a read.
    await cache.has('k');
    await cache.inspect('k');
    expect(hot.score('k')).toBe(3);
    detach();
    await cache.get('k');
    expect(hot.score('k')).toBe(3);
  });

  it('forget and clear', () => {
    const hot = new HotKeys({ clock: createFakeClock() });
    hot.record('a');
    hot.record('b');
    expect(hot.forget('a')).toBe(true);
    expect(hot.size).toBe(1);
    hot.clear();
    expect(hot.size).toBe(0);
  });

  it('validates its options', () => {
    expect(() => new HotKeys({ capacity: 0 })).toThrow(/capacity must be an integer >= 1/);
    expect(() => new HotKeys({ halfLife: 0 })).toThrow(/halfLife must be greater than 0/);
    expect(() => new HotKeys({ halfLife: 'often' })).toThrow(/halfLife must be a duration/);
    expect(() => new HotKeys({ hotScore: -1 })).toThrow(/hotScore must be a finite number > 0/);
  });
});

function refreshSetup(options: Partial<RefresherOptions> = {}, clock: FakeClock = createFakeClock()) {
  const cache = new Cache({ clock });
  open.push(cache);
  const timers = createFakeTimers(clock);
  const hotKeys = new HotKeys({ clock, halfLife: '10m' });
  hotKeys.attach(cache);
  const refresher = new Refresher(cache, { hotKeys, setTimer: timers.setTimer, interval: '1s', ...options });
  refreshers.push(refresher);
  return { clock, cache, timers, hotKeys, refresher };
}

async function readTimes(cache: Cache, key: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await cache.get(key);
}

describe('Refresher', () => {
  it('refreshes a hot key once less than 20% of its TTL is left, and not before', async () => {
    const { clock, cache, refresher } = refreshSetup();
    let version = 0;
    const loader = () => `v${++version}`;
    refresher.register('rates', loader, { ttl: 100_000, tags: ['fx'] });
    await cache.getOrSet('rates', loader, { ttl: 100_000, tags: ['fx'] });
    await readTimes(cache, 'rates', 5);

    clock.advance(79_000);
    expect(await refresher.tick()).toStrictEqual({ checked: 1, started: 0, failed: 0 });
    expect(version).toBe(1);

    clock.advance(2_000);
    expect(await refresher.tick()).toStrictEqual({ checked: 1, started: 1, failed: 0 });
    expect(version).toBe(2);
    expect(await cache.inspect('rates')).toMatchObject({ ttlRemaining: 100_000, tags: ['fx'] });
    // Refreshing is not reading: the refresher does not make a key hot by itself.
    expect(await cache.get('rates')).toBe('v2');
  });

  it('leaves cold keys to expire', async () => {
    const { clock, cache, refresher } = refreshSetup();
    let calls = 0;
    const loader = () => ++calls;
    refresher.register('cold', loader, { ttl: 10_000 });
    await cache.getOrSet('cold', loader, { ttl: 10_000 });
    await readTimes(cache, 'cold', 1);
    clock.advance(9_000);
    expect((await refresher.tick()).started).toBe(0);
    clock.advance(1_000);
    expect(await cache.has('cold')).toBe(false);
    expect(calls).toBe(1);
  });

  it('leaves hot keys without a loader, and hot keys not cached at all, alone', async () => {
    const { clock, cache, refresher } = refreshSetup();
    await cache.set('no-loader', 1, { ttl: 10_000 });
    await readTimes(cache, 'no-loader', 5);
    await readTimes(cache, 'absent', 5);
    let calls = 0;
    refresher.register('absent', () => ++calls);
    clock.advance(9_500);
    expect(await refresher.tick()).toStrictEqual({ checked: 1, started: 0, failed: 0 });
    expect(calls).toBe(0);
  });

  it('refreshes a hot key whose tags were soft-expired', async () => {
    const { cache, refresher } = refreshSetup();
    refresher.register('k', () => 'new', { tags: ['t'] });
    await cache.set('k', 'old', { ttl: '1h', tags: ['t'] });
    await readTimes(cache, 'k', 5);
    await cache.expireTags(['t']);
    expect((await refresher.tick()).started).toBe(1);
    expect(await cache.get('k')).toBe('new');
  });

  it('runs at most one refresh per key at a time', async () => {
    const { clock, cache, refresher } = refreshSetup({ concurrency: 4 });
    const gate = deferred<string>();
    let calls = 0;
    refresher.register('k', () => {
      calls++;
      return gate.promise;
    });
    await cache.set('k', 'old', { ttl: 10_000 });
    await readTimes(cache, 'k', 5);
    clock.advance(9_000);
    const first = refresher.tick();
    await drain();
    const second = refresher.tick();
    await drain();
    expect(calls).toBe(1);
    gate.resolve('new');
    expect(await first).toMatchObject({ started: 1 });
    expect(await second).toMatchObject({ started: 0 });
    expect(await cache.get('k')).toBe('new');
  });

  it('runs at most `concurrency` refreshes at once, hottest first', async () => {
    const { clock, cache, refresher } = refreshSetup({ concurrency: 2 });
    const gate = deferred<string>();
    const calls: Record<string, number> = {};
    for (const key of ['a', 'b', 'c']) {
      refresher.register(key, () => {
        calls[key] = (calls[key] ?? 0) + 1;
        return gate.promise;
      });
      await cache.set(key, 'old', { ttl: 10_000 });
    }
    await readTimes(cache, 'a', 7);
    await readTimes(cache, 'b', 6);
    await readTimes(cache, 'c', 5);
    clock.advance(9_000);
    const first = refresher.tick();
    await drain();
    const second = refresher.tick();
    await drain();
    expect(calls).toStrictEqual({ a: 1, b: 1 });
    gate.resolve('new');
    expect(await first).toMatchObject({ started: 2 });
    expect(await second).toMatchObject({ started: 0 });
    expect((await refresher.tick()).started).toBe(1);
    expect(calls).toStrictEqual({ a: 1, b: 1, c: 1 });
  });

  it('checks on its own every interval once started, until stopped', async () => {
    const { clock, cache, timers, refresher } = refreshSetup({ interval: '1s' });
    let version = 0;
    refresher.register('k', () => ++version, { ttl: 10_000 });
    await cache.getOrSet('k', () => ++version, { ttl: 10_000 });
    await readTimes(cache, 'k', 5);
    refresher.start();
    await timers.advance(7_000);
    expect(version).toBe(1);
    await timers.advance(2_000);
    expect(version).toBe(2);
    expect(clock.now() - Date.UTC(2026, 0, 1)).toBe(9_000);
    await refresher.stop();
    expect(timers.count).toBe(0);
    await readTimes(cache, 'k', 5);
    await timers.advance(20_000);
    expect(version).toBe(2);
  });

  it('takes loaders from warming tasks', async () => {
    const { clock, cache, hotKeys } = refreshSetup();
    const warmer = new Warmer(cache);
    let version = 0;
    warmer.register({ id: 'cfg', key: 'config', loader: () => ++version, ttl: 10_000, tags: ['config'] });
    await warmer.run();
    const refresher = new Refresher(cache, { hotKeys, tasks: warmer });
    refreshers.push(refresher);
    await readTimes(cache, 'config', 5);
    clock.advance(9_000);
    expect((await refresher.tick()).started).toBe(1);
    expect(version).toBe(2);
    expect(await cache.inspect('config')).toMatchObject({ ttlRemaining: 10_000, tags: ['config'] });
  });

  it('works on a namespace view, whose events carry namespaced keys', async () => {
    const clock = createFakeClock();
    const root = new Cache({ clock });
    open.push(root);
    const users = root.namespace('users');
    const hotKeys = new HotKeys({ clock });
    hotKeys.attach(users);
    const refresher = new Refresher(users, { hotKeys });
    refreshers.push(refresher);
    let version = 0;
    refresher.register('42', () => ++version, { ttl: 10_000 });
    await users.getOrSet('42', () => ++version, { ttl: 10_000 });
    await root.set('42', 'not a user', { ttl: 10_000 });
    await readTimes(users, '42', 5);
    expect(hotKeys.isHot('users:42')).toBe(true);
    clock.advance(9_000);
    expect((await refresher.tick()).started).toBe(1);
    expect(await users.get('42')).toBe(2);
    expect(await root.get('42')).toBe('not a user');
  });

  it('a refresh overtaken by an invalidation does not write back its value', async () => {
    const { clock, cache, refresher } = refreshSetup();
    const gate = deferred<string>();
    refresher.register('k', () => gate.promise, { tags: ['user:1'] });
    await cache.set('k', 'old', { ttl: 10_000, tags: ['user:1'] });
    await readTimes(cache, 'k', 5);
    clock.advance(9_000);
    const pass = refresher.tick();
    await drain();
    await cache.invalidateTags(['user:1']);
    gate.resolve('computed before the invalidation');
    await pass;
    expect(await cache.get('k')).toBeUndefined();
  });

  it('a failed refresh is reported; the old entry simply stays until it expires', async () => {
    const errors: [unknown, string][] = [];
    const boom = new Error('upstream down');
    const { clock, cache, refresher } = refreshSetup({ onError: (error, key) => errors.push([error, key]) });
    refresher.register('k', () => Promise.reject(boom));
    await cache.set('k', 'old', { ttl: 10_000 });
    await readTimes(cache, 'k', 5);
    clock.advance(9_000);
    expect(await refresher.tick()).toStrictEqual({ checked: 1, started: 1, failed: 1 });
    expect(errors).toStrictEqual([[boom, 'k']]);
    expect(await cache.get('k')).toBe('old');
  });

  it('validates its options', () => {
    const cache = new Cache();
    open.push(cache);
    const hotKeys = new HotKeys();
    expect(() => new Refresher(cache, { hotKeys: {} as HotKeys })).toThrow(/hotKeys must be a HotKeys/);
    expect(() => new Refresher(cache, { hotKeys, refreshAhead: 1 })).toThrow(/refreshAhead must be a fraction between 0 and 1, got 1/);
    expect(() => new Refresher(cache, { hotKeys, interval: 0 })).toThrow(/interval must be greater than 0/);
    expect(() => new Refresher(cache, { hotKeys, concurrency: 0 })).toThrow(/concurrency must be an integer >= 1/);
    const refresher = new Refresher(cache, { hotKeys });
    expect(() => refresher.register('', () => 1)).toThrow(/key must be a non-empty string/);
    expect(refresher.unregister('nothing')).toBe(false);
  });
});
