import { describe, expect, it } from 'vitest';
import { FrequencySketch } from '../../src/memory/frequency-sketch.js';
import { hashString } from '../../src/memory/hash.js';
import { MemoryTier } from '../../src/memory/memory-tier.js';
import { rng } from './helpers.js';

/**
 * The ageing work is invisible through any public method: a call that halves the whole table returns the same
 * values as one that halves nothing yet. So these tests read the counter table and count the words one call
 * changed, which is a lower bound on the counters it visited.
 */
function tableOf(sketch: FrequencySketch): Int32Array {
  return (sketch as unknown as { table: Int32Array }).table;
}

function sketchOf(tier: MemoryTier<number>): FrequencySketch {
  return (tier as unknown as { policy: { sketch: FrequencySketch } }).policy.sketch;
}

/** Words that differ between the snapshot and the table, refreshing the snapshot. */
function changedWords(table: Int32Array, snapshot: Int32Array): number {
  let changed = 0;
  for (let i = 0; i < table.length; i++) {
    if (table[i] !== snapshot[i]) {
      changed++;
      snapshot[i] = table[i]!;
    }
  }
  return changed;
}

/** One block of 16 words for the key counted, one the hand catches up, and the 4 counters incremented. */
const MAX_WORDS_PER_CALL = 16 + 16 + 4;

describe('frequency-sketch ageing', () => {
  it('never changes more than a few blocks of counters in one increment, yet halves every counter each period', () => {
    const entries = 1024;
    const sketch = new FrequencySketch(entries);
    const table = tableOf(sketch);
    // A sketch of 1,024 entries has 2,048 words, so a halving of the whole table would change hundreds.
    expect(table.length).toBeGreaterThanOrEqual(2048);
    const snapshot = table.slice();
    const next = rng(7);
    const hot = hashString('hot');
    const cold = Array.from({ length: 4 * entries }, (_, k) => hashString(`k${k}`));
    const requested = new Uint32Array(cold.length);
    let worst = 0;
    // Three periods of 10 × entries requests: every counter is halved at least twice.
    for (let i = 0; i < 30 * entries; i++) {
      if (i % 4 === 0) {
        sketch.increment(hot);
      } else {
        const k = Math.floor(next() * cold.length);
        requested[k]!++;
        sketch.increment(cold[k]!);
      }
      worst = Math.max(worst, changedWords(table, snapshot));
    }
    expect(worst).toBeLessThanOrEqual(MAX_WORDS_PER_CALL);
    // The ageing did happen. Count-min never underestimates, so without it every estimate would be at least
    // the key's request count; halved twice or more, the cold keys read well under half of it.
    expect(sketch.frequency(hot)).toBeGreaterThanOrEqual(7);
    let estimated = 0;
    let counted = 0;
    cold.forEach((key, k) => {
      estimated += sketch.frequency(key);
      counted += Math.min(15, requested[k]!);
    });
    expect(estimated / counted).toBeLessThan(0.5);
  });

  it('halves every key at the same moment, as a whole-table halving would', () => {
    const sketch = new FrequencySketch(64);
    const keys = Array.from({ length: 64 }, (_, i) => hashString(`key${i}`));
    for (const key of keys) for (let j = 0; j < 8; j++) sketch.increment(key);
    const before = keys.map((key) => sketch.frequency(key));
    // 512 requests so far; the first halving comes at 640, whichever blocks the hand has reached.
    for (let i = 0; i < 128; i++) sketch.increment(hashString('filler'));
    expect(keys.map((key) => sketch.frequency(key))).toEqual(before.map((f) => f >>> 1));
  });

  it('no memory-tier request does more than a bounded amount of sketch work', () => {
    const tier = new MemoryTier<number>({ maxEntries: 2048, clock: { now: () => 0 }, sweepInterval: 0 });
    const next = rng(11);
    const keys = Array.from({ length: 8192 }, (_, i) => `user:${i}`);
    // Warm up first: the sketch grows with the tier, and growing is a resize, not ageing.
    for (let i = 0; i < 20_000; i++) {
      const key = keys[Math.floor(next() ** 2 * keys.length)]!;
      if (tier.find(key) < 0) tier.set(key, i, 1, Infinity);
    }
    const table = tableOf(sketchOf(tier));
    const snapshot = table.slice();
    let worst = 0;
    // 60,000 requests span three sketch periods of 20,480.
    for (let i = 0; i < 60_000; i++) {
      const key = keys[Math.floor(next() ** 2 * keys.length)]!;
      if (tier.find(key) < 0) tier.set(key, i, 1, Infinity);
      worst = Math.max(worst, changedWords(table, snapshot));
    }
    expect(tableOf(sketchOf(tier))).toBe(table);
    expect(worst).toBeLessThanOrEqual(MAX_WORDS_PER_CALL);
    tier.close();
  });
});
