import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryTier } from '../../src/memory/memory-tier.js';
import type { EvictionPolicy } from '../../src/memory/types.js';
import { ALL_POLICIES, get, harness, rng, testClock } from './helpers.js';

describe('MemoryTier options', () => {
  const clock = testClock();

  it('refuses to be unbounded, naming the option', () => {
    expect(() => new MemoryTier({ clock })).toThrow(TypeError);
    expect(() => new MemoryTier({ clock })).toThrow(/memory\.maxEntries/);
    expect(() => new MemoryTier({ clock, maxEntries: Infinity })).toThrow(/memory\.maxEntries/);
    expect(() => new MemoryTier({ clock, maxBytes: Infinity })).toThrow(/memory\.maxEntries/);
    expect(() => new MemoryTier({ clock, maxEntries: Infinity, maxBytes: Infinity })).toThrow(TypeError);
  });

  it.each([0, -1, 1.5, Number.NaN, -Infinity, '10', null])('refuses maxEntries %s', (bad) => {
    expect(() => new MemoryTier({ clock, maxEntries: bad as number })).toThrow(/memory\.maxEntries.*got/);
  });

  it.each([0, -5, Number.NaN, '100', null])('refuses maxBytes %s', (bad) => {
    expect(() => new MemoryTier({ clock, maxBytes: bad as number })).toThrow(/memory\.maxBytes.*got/);
  });

  it('names policy and the value when the policy is unknown', () => {
    const make = () => new MemoryTier({ clock, maxEntries: 10, policy: 'fifo' as EvictionPolicy });
    expect(make).toThrow(TypeError);
    expect(make).toThrow(/memory\.policy.*"fifo"/);
  });

  it('refuses a negative sweep interval', () => {
    expect(() => new MemoryTier({ clock, maxEntries: 10, sweepInterval: -1 })).toThrow(/memory\.sweepInterval/);
  });

  it('accepts either bound alone, and Infinity entries beside a byte bound', () => {
    const a = new MemoryTier({ clock, maxEntries: 5, sweepInterval: 0 });
    expect([a.maxEntries, a.maxBytes]).toEqual([5, Infinity]);
    const b = new MemoryTier({ clock, maxBytes: 1000, sweepInterval: 0 });
    expect([b.maxEntries, b.maxBytes]).toEqual([Infinity, 1000]);
    const c = new MemoryTier({ clock, maxEntries: Infinity, maxBytes: 1000, sweepInterval: 0 });
    expect([c.maxEntries, c.maxBytes]).toEqual([Infinity, 1000]);
  });

  it('refuses sizes and deadlines that are not numbers', () => {
    const { tier } = harness({ maxEntries: 10 });
    expect(() => tier.set('a', 'x', -1, Infinity)).toThrow(TypeError);
    expect(() => tier.set('a', 'x', Number.NaN, Infinity)).toThrow(TypeError);
    expect(() => tier.set('a', 'x', Infinity, Infinity)).toThrow(TypeError);
    expect(() => tier.set('a', 'x', 1, Number.NaN)).toThrow(TypeError);
    expect(tier.count).toBe(0);
  });
});

describe.each(ALL_POLICIES)('MemoryTier basics (%s)', (policy) => {
  it('stores, finds, replaces and deletes', () => {
    const { tier, clock, removed } = harness({ maxEntries: 100, policy });
    expect(tier.find('a')).toBe(-1);
    expect(tier.set('a', 'one', 10, Infinity, ['t1'])).toBe(true);
    const slot = tier.find('a');
    expect(slot).toBeGreaterThanOrEqual(0);
    expect(tier.valueAt(slot)).toBe('one');
    expect(tier.keyAt(slot)).toBe('a');
    expect(tier.sizeOf(slot)).toBe(10);
    expect(tier.metaOf(slot)).toEqual(['t1']);
    expect(tier.createdAtOf(slot)).toBe(clock.now());
    expect(tier.expiresAtOf(slot)).toBe(Infinity);
    expect([tier.count, tier.bytes]).toEqual([1, 10]);

    clock.advance(5);
    expect(tier.set('a', 'two', 4, clock.now() + 100)).toBe(true);
    const again = tier.find('a');
    expect(tier.valueAt(again)).toBe('two');
    expect(tier.metaOf(again)).toBeUndefined();
    expect(tier.createdAtOf(again)).toBe(clock.now());
    expect(tier.expiresAtOf(again)).toBe(clock.now() + 100);
    expect([tier.count, tier.bytes]).toEqual([1, 4]);

    expect(tier.delete('a')).toBe(true);
    expect(tier.delete('a')).toBe(false);
    expect(tier.find('a')).toBe(-1);
    expect([tier.count, tier.bytes]).toEqual([0, 0]);
    expect(removed).toEqual([]);
  });

  it('peek finds without counting as a use', () => {
    const { tier } = harness({ maxEntries: 10, policy });
    tier.set('a', 'x', 1, Infinity);
    expect(tier.valueAt(tier.peek('a'))).toBe('x');
    expect(tier.peek('zz')).toBe(-1);
  });

  it('expires entries on lookup, notifying once, and keeps expiry sums exact', () => {
    const { tier, clock, removed } = harness({ maxEntries: 10, policy });
    const t0 = clock.now();
    tier.set('short', 's', 1, t0 + 100);
    tier.set('long', 'l', 1, t0 + 1000);
    tier.set('never', 'n', 1, Infinity);
    expect(tier.expiringCount).toBe(2);
    expect(tier.expirySum).toBe(2 * t0 + 1100);

    clock.advance(99);
    expect(get(tier, 'short')).toBe('s');
    clock.advance(1);
    expect(tier.find('short')).toBe(-1);
    expect(removed).toEqual([['short', 'expired']]);
    expect(tier.expiringCount).toBe(1);
    expect(tier.expirySum).toBe(t0 + 1000);

    clock.advance(1000);
    expect(tier.peek('long')).toBe(-1);
    expect(removed).toEqual([
      ['short', 'expired'],
      ['long', 'expired'],
    ]);
    expect([tier.count, tier.expiringCount, tier.expirySum]).toEqual([1, 0, 0]);
    expect(get(tier, 'never')).toBe('n');
  });

  it('set refuses an entry already expired or bigger than maxBytes, dropping the old one silently', () => {
    const { tier, clock, removed } = harness({ maxEntries: 10, maxBytes: 100, policy });
    tier.set('a', 'old', 10, Infinity);
    expect(tier.set('a', 'new', 10, clock.now())).toBe(false);
    expect(tier.find('a')).toBe(-1);
    tier.set('b', 'old', 10, Infinity);
    expect(tier.set('b', 'huge', 101, Infinity)).toBe(false);
    expect(tier.find('b')).toBe(-1);
    expect(tier.set('c', 'exact', 100, Infinity)).toBe(true);
    expect([tier.count, tier.bytes]).toEqual([1, 100]);
    expect(removed).toEqual([]);
  });

  it('keys() lists live keys and tolerates deletes while iterating', () => {
    const { tier, clock } = harness({ maxEntries: 10, policy });
    tier.set('a', '1', 1, Infinity);
    tier.set('b', '2', 1, clock.now() + 10);
    tier.set('c', '3', 1, Infinity);
    clock.advance(10);
    const seen: string[] = [];
    for (const key of tier.keys()) {
      seen.push(key);
      tier.delete(key);
    }
    expect(seen.sort()).toEqual(['a', 'c']);
    expect(tier.count).toBe(1);
  });

  it('clear() drops everything without notices and the tier stays usable', () => {
    const { tier, removed } = harness({ maxEntries: 50, policy });
    for (let i = 0; i < 100; i++) tier.set(`k${i}`, 'v', 2, Infinity);
    removed.length = 0;
    tier.clear();
    expect([tier.count, tier.bytes, tier.expiringCount, tier.expirySum]).toEqual([0, 0, 0, 0]);
    expect([...tier.keys()]).toEqual([]);
    expect(removed).toEqual([]);
    for (let i = 0; i < 100; i++) tier.set(`n${i}`, 'v', 2, Infinity);
    expect(tier.count).toBe(50);
    expect(tier.bytes).toBe(100);
  });

  it('keeps at most maxEntries, notifying each eviction as capacity, never evicting the entry just set', () => {
    const { tier, removed } = harness({ maxEntries: 8, policy });
    for (let i = 0; i < 200; i++) {
      tier.set(`k${i}`, `v${i}`, 1, Infinity);
      expect(tier.count).toBe(Math.min(i + 1, 8));
      expect(get(tier, `k${i}`)).toBe(`v${i}`);
    }
    expect(removed.length).toBe(192);
    expect(removed.every(([, cause]) => cause === 'capacity')).toBe(true);
    expect(new Set(removed.map(([k]) => k)).size).toBe(192);
  });

  it('works with a single-entry bound', () => {
    const { tier } = harness({ maxEntries: 1, policy });
    tier.set('a', 'x', 1, Infinity);
    tier.set('b', 'y', 1, Infinity);
    expect(tier.count).toBe(1);
    expect(get(tier, 'b')).toBe('y');
    expect(tier.find('a')).toBe(-1);
  });

  it('evicts expired entries as expired when the policy picks them for room', () => {
    const { tier, clock, removed } = harness({ maxEntries: 2, policy });
    tier.set('a', 'x', 1, clock.now() + 10);
    tier.set('b', 'y', 1, clock.now() + 10);
    clock.advance(10);
    tier.set('c', 'z', 1, Infinity);
    expect(removed.length).toBe(1);
    expect(removed[0]?.[1]).toBe('expired');
  });

  it('accounts bytes exactly and stays near maxBytes under churn', () => {
    const { tier } = harness({ maxBytes: 10_000, policy });
    const random = rng(7);
    let sumFromScratch = 0;
    for (let i = 0; i < 20_000; i++) {
      const key = `k${Math.floor(random() * 3000)}`;
      const size = 1 + Math.floor(random() * 200);
      tier.set(key, 'v', size, Infinity);
      expect(tier.bytes).toBeLessThanOrEqual(10_000);
      if (i > 2000) expect(tier.bytes).toBeGreaterThanOrEqual(9_000);
    }
    for (const key of tier.keys()) sumFromScratch += tier.sizeOf(tier.peek(key));
    expect(tier.bytes).toBe(sumFromScratch);
  });

  it('honours both bounds at once', () => {
    const { tier } = harness({ maxEntries: 10, maxBytes: 100, policy });
    for (let i = 0; i < 50; i++) tier.set(`small${i}`, 'v', 1, Infinity);
    expect(tier.count).toBe(10);
    tier.set('big', 'v', 95, Infinity);
    expect(tier.bytes).toBeLessThanOrEqual(100);
    expect(tier.count).toBeLessThanOrEqual(6);
    expect(get(tier, 'big')).toBe('v');
  });

  it('growing an entry in place evicts others to make room for it', () => {
    const { tier } = harness({ maxBytes: 100, policy });
    for (let i = 0; i < 10; i++) tier.set(`k${i}`, 'v', 10, Infinity);
    tier.set('k3', 'bigger', 60, Infinity);
    expect(tier.bytes).toBeLessThanOrEqual(100);
    expect(get(tier, 'k3')).toBe('bigger');
  });

  it('stores sizes beyond 8, 16 and 32 bits and fractional sizes exactly', () => {
    const { tier } = harness({ maxBytes: 2 ** 40, policy });
    tier.set('a', 'v', 1, Infinity);
    tier.set('small', 'v', 300, Infinity);
    expect(tier.sizeOf(tier.peek('small'))).toBe(300);
    expect(tier.sizeOf(tier.peek('a'))).toBe(1);
    tier.delete('small');
    tier.set('mid', 'v', 70_000, Infinity);
    expect(tier.sizeOf(tier.peek('mid'))).toBe(70_000);
    tier.delete('mid');
    tier.set('huge', 'v', 2 ** 33, Infinity);
    tier.set('half', 'v', 0.5, Infinity);
    expect(tier.sizeOf(tier.peek('huge'))).toBe(2 ** 33);
    expect(tier.sizeOf(tier.peek('half'))).toBe(0.5);
    expect(tier.sizeOf(tier.peek('a'))).toBe(1);
    expect(tier.bytes).toBe(2 ** 33 + 1.5);
  });

  it('sweep() removes expired entries, bounded by the limit', () => {
    const { tier, clock, removed } = harness({ maxEntries: 1000, policy });
    for (let i = 0; i < 300; i++) tier.set(`k${i}`, 'v', 1, i < 200 ? clock.now() + 10 : Infinity);
    expect(tier.sweep()).toBe(0);
    clock.advance(10);
    expect(tier.sweep(50)).toBe(50);
    expect(tier.count).toBe(250);
    expect(tier.sweep()).toBe(150);
    expect(tier.count).toBe(100);
    expect(removed.length).toBe(200);
    expect(removed.every(([, cause]) => cause === 'expired')).toBe(true);
    expect(tier.expiringCount).toBe(0);
  });

  it('delivers eviction notices after the tier is consistent, even if the callback writes back', () => {
    let tier: MemoryTier<string> | undefined;
    const seen: string[] = [];
    tier = new MemoryTier<string>({
      maxEntries: 4,
      policy,
      clock: testClock(),
      sweepInterval: 0,
      onRemove: (key) => {
        seen.push(key);
        if (!key.startsWith('echo')) tier?.set(`echo-${key}`, 'e', 1, Infinity);
      },
    });
    for (let i = 0; i < 20; i++) tier.set(`k${i}`, 'v', 1, Infinity);
    expect(tier.count).toBe(4);
    expect(seen.length).toBeGreaterThan(0);
    tier = undefined;
  });
});

describe('the sweep timer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sweeps expired entries in the background every sweepInterval', () => {
    vi.useFakeTimers();
    const clock = testClock();
    const removed: string[] = [];
    const tier = new MemoryTier<string>({
      maxEntries: 100,
      clock,
      sweepInterval: 1000,
      onRemove: (key, cause) => removed.push(`${key}:${cause}`),
    });
    tier.set('a', 'v', 1, clock.now() + 500);
    tier.set('b', 'v', 1, Infinity);
    vi.advanceTimersByTime(1000);
    expect(removed).toEqual([]);
    clock.advance(500);
    vi.advanceTimersByTime(1000);
    expect(removed).toEqual(['a:expired']);
    expect(tier.count).toBe(1);
    tier.close();
    tier.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('defaults to a 30 s interval, and 0 disables it', () => {
    vi.useFakeTimers();
    const a = new MemoryTier({ maxEntries: 10, clock: testClock() });
    expect(vi.getTimerCount()).toBe(1);
    a.close();
    new MemoryTier({ maxEntries: 10, clock: testClock(), sweepInterval: 0 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not keep the process alive', () => {
    const tierModule = fileURLToPath(new URL('../../src/memory/memory-tier.ts', import.meta.url));
    const script = `
      const { MemoryTier } = await import(${JSON.stringify(tierModule)});
      globalThis.tier = new MemoryTier({ maxEntries: 10, clock: { now: Date.now }, sweepInterval: 50 });
      console.log('started');
    `;
    const started = Date.now();
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(child.stdout.trim()).toBe('started');
    expect(child.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
