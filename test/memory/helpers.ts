import { createFakeClock, type FakeClock } from '../kit/index.js';
import { MemoryTier } from '../../src/memory/memory-tier.js';
import type { EvictionPolicy, MemoryTierOptions, RemovalCause } from '../../src/memory/types.js';

export const ALL_POLICIES: readonly EvictionPolicy[] = ['tinylfu', 'lru', 'lfu', 'ttl'];

/** The memory tier reads only `now`; the kit's fake clock, started where these tests always started. */
export const testClock = (start = 1_000_000): FakeClock => createFakeClock(start);

export interface Harness<V> {
  tier: MemoryTier<V>;
  clock: FakeClock;
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

export { seededRandom as rng } from '../kit/index.js';
