import { describe, expect, it } from 'vitest';
import type { MemoryTier } from '../../src/memory/memory-tier.js';
import { access, get, harness, rng } from './helpers.js';

const evicted = (removed: [string, string][]): string[] => removed.filter(([, c]) => c === 'capacity').map(([k]) => k);

describe("policy 'lru'", () => {
  it('evicts the least recently used entry', () => {
    const { tier, removed } = harness({ maxEntries: 3, policy: 'lru' });
    tier.set('a', 'A', 1, Infinity);
    tier.set('b', 'B', 1, Infinity);
    tier.set('c', 'C', 1, Infinity);
    expect(get(tier, 'a')).toBe('A');
    tier.set('d', 'D', 1, Infinity);
    expect(evicted(removed)).toEqual(['b']);
    tier.set('c', 'C2', 1, Infinity); // a write is a use too
    tier.set('e', 'E', 1, Infinity);
    expect(evicted(removed)).toEqual(['b', 'a']);
  });

  it('peek does not refresh recency', () => {
    const { tier, removed } = harness({ maxEntries: 2, policy: 'lru' });
    tier.set('a', 'A', 1, Infinity);
    tier.set('b', 'B', 1, Infinity);
    tier.peek('a');
    tier.set('c', 'C', 1, Infinity);
    expect(evicted(removed)).toEqual(['a']);
  });
});

describe("policy 'lfu'", () => {
  it('keeps the frequently used and breaks ties by recency', () => {
    const { tier, removed } = harness({ maxEntries: 3, policy: 'lfu' });
    tier.set('a', 'A', 1, Infinity);
    tier.set('b', 'B', 1, Infinity);
    tier.set('c', 'C', 1, Infinity);
    for (let i = 0; i < 3; i++) get(tier, 'a');
    for (let i = 0; i < 2; i++) get(tier, 'b');
    tier.set('d', 'D', 1, Infinity);
    expect(evicted(removed)).toEqual(['c']);
    tier.set('e', 'E', 1, Infinity);
    expect(evicted(removed)).toEqual(['c', 'd']);
    expect(get(tier, 'a')).toBe('A');
    expect(get(tier, 'b')).toBe('B');
  });

  it('lets old popularity fade', () => {
    const { tier, removed } = harness({ maxEntries: 5, policy: 'lfu' });
    for (const k of ['old', 'b', 'c', 'd', 'f']) tier.set(k, k, 1, Infinity);
    for (let i = 0; i < 40; i++) get(tier, 'old');
    // A long stretch where other keys are used now and then, and one key constantly.
    for (let i = 0; i < 600; i++) get(tier, i % 10 === 0 ? ['b', 'c', 'd'][(i / 10) % 3]! : 'f');
    tier.set('e', 'E', 1, Infinity);
    expect(evicted(removed)).toEqual(['old']);
  });
});

describe("policy 'ttl'", () => {
  it('evicts the entry that expires soonest, then the oldest write among those that never expire', () => {
    const { tier, clock, removed } = harness({ maxEntries: 3, policy: 'ttl' });
    const now = clock.now();
    tier.set('late', 'L', 1, now + 300);
    tier.set('soon', 'S', 1, now + 100);
    tier.set('forever1', 'F', 1, Infinity);
    get(tier, 'soon');
    tier.set('mid', 'M', 1, now + 200);
    expect(evicted(removed)).toEqual(['soon']);
    tier.set('forever2', 'F', 1, Infinity);
    expect(evicted(removed)).toEqual(['soon', 'mid']);
    tier.set('x', 'X', 1, now + 1000);
    expect(evicted(removed)).toEqual(['soon', 'mid', 'late']);
    tier.set('y', 'Y', 1, now + 5000);
    expect(evicted(removed)).toEqual(['soon', 'mid', 'late', 'x']);
    tier.set('z', 'Z', 1, Infinity);
    expect(evicted(removed)).toEqual(['soon', 'mid', 'late', 'x', 'y']);
    tier.set('w', 'W', 1, Infinity);
    expect(evicted(removed)).toEqual(['soon', 'mid', 'late', 'x', 'y', 'forever1']);
  });

  it('re-files an entry whose deadline changes', () => {
    const { tier, clock, removed } = harness({ maxEntries: 2, policy: 'ttl' });
    const now = clock.now();
    tier.set('a', 'A', 1, now + 100);
    tier.set('b', 'B', 1, now + 200);
    tier.set('a', 'A2', 1, now + 300);
    tier.set('c', 'C', 1, now + 400);
    expect(evicted(removed)).toEqual(['b']);
  });
});

describe("policy 'tinylfu'", () => {
  it('counts a miss and the set that fills it as one request, also when a batch misses many keys first', () => {
    const { tier } = harness({ maxEntries: 1_000, policy: 'tinylfu' });
    // Requests the frequency sketch has counted (it halves only every 10 x capacity of them).
    const counted = () => (tier as unknown as { policy: { sketch: { additions: number } } }).policy.sketch.additions;
    for (let i = 0; i < 500; i++) tier.set(`fill:${i}`, 'v', 1, Infinity);
    let before = counted();
    // One read then its copy-in, as a get after a memory miss does.
    expect(tier.find('single')).toBe(-1);
    tier.set('single', 'v', 1, Infinity);
    expect(counted() - before).toBe(1);
    // A batch read: every key misses first, then each is copied in.
    before = counted();
    const batch = Array.from({ length: 100 }, (_, i) => `batch:${i}`);
    for (const key of batch) expect(tier.find(key)).toBe(-1);
    for (const key of batch) tier.set(key, 'v', 1, Infinity);
    expect(counted() - before).toBe(100);
    // A plain write with no read before it is a request of its own, and so is a hit.
    before = counted();
    tier.set('written', 'v', 1, Infinity);
    expect(tier.find('written')).toBeGreaterThanOrEqual(0);
    expect(counted() - before).toBe(2);
  });

  function hotHitRatio(tier: MemoryTier<number>): number {
    let hotHits = 0;
    let hotReads = 0;
    let scan = 0;
    for (let i = 0; i < 50_000; i++) {
      if (i % 5 === 0) {
        // Each hot key comes back after 200 one-off keys: twice what LRU can hold.
        if (access(tier, `hot${hotReads++ % 50}`, 0) !== undefined) hotHits++;
      } else {
        access(tier, `scan${scan++}`, 0);
      }
    }
    return hotHits / hotReads;
  }

  it('keeps a hot set through a scan that flushes LRU', () => {
    expect(hotHitRatio(harness<number>({ maxEntries: 100, policy: 'tinylfu' }).tier)).toBeGreaterThan(0.9);
    expect(hotHitRatio(harness<number>({ maxEntries: 100, policy: 'lru' }).tier)).toBeLessThan(0.05);
  });

  it('is the default policy', () => {
    expect(hotHitRatio(harness<number>({ maxEntries: 100 }).tier)).toBeGreaterThan(0.9);
  });

  /** Every key is read twice, the second time 5 to 5 + reach requests later: frequency says nothing, recency all. */
  function recencyTrace(length: number, reach: number): string[] {
    const random = rng(9);
    const trace: (string | undefined)[] = new Array<string | undefined>(length + reach + 10).fill(undefined);
    let next = 0;
    for (let i = 0; i < length; i++) {
      if (trace[i] !== undefined) continue;
      const key = `k${next++}`;
      trace[i] = key;
      let again = i + 5 + Math.floor(random() * reach);
      while (trace[again] !== undefined) again++;
      trace[again] = key;
    }
    return trace.slice(0, length).map((k) => k ?? 'never');
  }

  /** Hit ratio over the second half of the trace, once the tuner has had time to settle. */
  function settledHitRatio(tier: MemoryTier<number>, trace: string[]): number {
    let hits = 0;
    for (let i = 0; i < trace.length; i++) {
      if (access(tier, trace[i]!, 0) !== undefined && i >= trace.length / 2) hits++;
    }
    return hits / (trace.length / 2);
  }

  it.each([32, 256, 2000])('widens its window when recency is what pays, matching LRU (%i entries)', (size) => {
    const trace = recencyTrace(Math.max(40_000, 40 * size), size / 2);
    const lru = settledHitRatio(harness<number>({ maxEntries: size, policy: 'lru' }).tier, trace);
    const tinylfu = settledHitRatio(harness<number>({ maxEntries: size, policy: 'tinylfu' }).tier, trace);
    expect(lru).toBeGreaterThan(0.45);
    expect(tinylfu).toBeGreaterThan(0.95 * lru);
  });

  it('admits by frequency under a byte bound too', () => {
    const { tier } = harness<number>({ maxBytes: 100 * 64, policy: 'tinylfu' });
    const random = rng(3);
    let hotHits = 0;
    let hotReads = 0;
    for (let i = 0; i < 30_000; i++) {
      if (i % 3 === 0) {
        hotReads++;
        if (access(tier, `hot${Math.floor(random() * 40)}`, 0, 64) !== undefined) hotHits++;
      } else {
        access(tier, `scan${i}`, 0, 32 + Math.floor(random() * 64));
      }
      expect(tier.bytes).toBeLessThanOrEqual(100 * 64);
    }
    expect(hotHits / hotReads).toBeGreaterThan(0.9);
  });
});
