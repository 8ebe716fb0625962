import { describe, expect, it } from 'vitest';
import { replay } from '../../bench/hit-ratio.js';
import { beladyHits } from '../../bench/lib/belady.js';
import { lruHits } from '../../bench/lib/lru-reference.js';
import { trace } from '../../bench/lib/traces.js';

/**
 * The default policy on real traces, replayed through the shipped MemoryTier. Floors: 95% of LRU where
 * LRU is strong (recency-skewed traces, which punish a fixed small admission window), and the published
 * W-TinyLFU figures less one point where frequency is what pays (traces README).
 */
const FLOORS: readonly { trace: string; size: number; floor: number; why: string }[] = [
  { trace: 'sprite', size: 1000, floor: 86.11, why: 'LRU 90.64 × 0.95' },
  { trace: 'oltp', size: 1000, floor: 31.2, why: 'LRU 32.83 × 0.95' },
  { trace: 'oltp', size: 5000, floor: 51.0, why: 'LRU 53.65 × 0.95' },
  { trace: 'corda', size: 256, floor: 31.67, why: 'LRU 33.33 × 0.95' },
  { trace: 'gli', size: 1000, floor: 49.8, why: 'published W-TinyLFU 50.82 − 1' },
  { trace: 'loop', size: 512, floor: 49.0, why: 'published W-TinyLFU 50.01 − 1' },
  { trace: 'multi2', size: 2000, floor: 68.6, why: 'published W-TinyLFU 69.63 − 1' },
  { trace: 'ps', size: 250, floor: 49.9, why: 'published W-TinyLFU 50.91 − 1' },
];

describe('tinylfu hit ratio on real traces', () => {
  it.each(FLOORS)('$trace @$size reaches $floor% ($why)', ({ trace: name, size, floor }) => {
    const t = trace(name);
    const ratio = replay(t, size, 'tinylfu') * 100;
    expect(ratio).toBeGreaterThanOrEqual(floor);
    // And no replay can beat the offline optimum: a check on the harness itself.
    expect(ratio).toBeLessThanOrEqual(beladyHits(t.keys, t.distinct, size).ratio * 100);
  });
});

describe('the trace harness', () => {
  it.each([
    ['sprite', 1000],
    ['multi2', 2000],
    ['corda', 256],
  ] as const)("'lru' replays %s @%i hit for hit like the reference LRU", (name, size) => {
    const t = trace(name);
    expect(replay(t, size, 'lru')).toBe(lruHits(t.keys, size).ratio);
  });

  it("reproduces the README's reference figures for OPT and LRU", () => {
    const t = trace('gli');
    expect((beladyHits(t.keys, t.distinct, 1000).ratio * 100).toFixed(2)).toBe('53.15');
    expect((lruHits(t.keys, 1000).ratio * 100).toFixed(2)).toBe('11.21');
    const loop = trace('loop');
    expect((beladyHits(loop.keys, loop.distinct, 512).ratio * 100).toFixed(2)).toBe('50.54');
    expect(lruHits(loop.keys, 512).ratio).toBe(0);
  });
});
