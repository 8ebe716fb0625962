import type { Clock } from '../../src/clock.js';
import { MemoryTier } from '../../src/memory/memory-tier.js';
import type { EvictionPolicy, MemoryTierOptions, RemovalCause } from '../../src/memory/types.js';

export const ALL_POLICIES: readonly EvictionPolicy[] = ['tinylfu', 'lru', 'lfu', 'ttl'];

export interface TestClock extends Clock {
  advance(ms: number): void;
}

export function testClock(start = 1_000_000): TestClock {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

export interface Harness<V> {
  tier: MemoryTier<V>;
  clock: TestClock;
  removed: [string, RemovalCause][];
}

/** A tier with a fake clock, no sweep timer, and a log of removal notices. */
export function harness<V = string>(options: Partial<MemoryTierOptions> = {}): Harness<V> {
  const clock = testClock();
  const removed: [string, RemovalCause][] = [];
  const tier = new MemoryTier<V>({
    clock,
    sweepInterval: 0,
    onRemove: (key, cause) => removed.push([key, cause]),
    ...options,
  });
  return { tier, clock, removed };
}

/** Read-through access as the core does it: the value on a hit, undefined (after storing `fill`) on a miss. */
export function access<V>(tier: MemoryTier<V>, key: string, fill: V, size = 1): V | undefined {
  const slot = tier.find(key);
  if (slot >= 0) return tier.valueAt(slot);
  tier.set(key, fill, size, Infinity);
  return undefined;
}

export function get<V>(tier: MemoryTier<V>, key: string): V | undefined {
  const slot = tier.find(key);
  return slot >= 0 ? tier.valueAt(slot) : undefined;
}

/** Deterministic pseudo-random numbers (xorshift32) for workloads. */
export function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}
