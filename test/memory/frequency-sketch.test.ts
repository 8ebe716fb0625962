import { describe, expect, it } from 'vitest';
import { FrequencySketch } from '../../src/memory/frequency-sketch.js';
import { hashString } from '../../src/memory/hash.js';

describe('hashString', () => {
  it('is deterministic and spreads similar keys', () => {
    expect(hashString('user:1')).toBe(hashString('user:1'));
    const seen = new Set<number>();
    for (let i = 0; i < 100_000; i++) seen.add(hashString(`user:${i}`));
    // A good 32-bit hash has about one collision among 100,000 keys.
    expect(seen.size).toBeGreaterThan(99_990);
    expect(new Set(['', 'a', 'b', 'ab', 'ba', '\u00e9', '\u{1f600}'].map(hashString)).size).toBe(7);
  });

  it('uses every bit of the output', () => {
    let ones = 0;
    let zeros = 0;
    for (let i = 0; i < 1000; i++) {
      const h = hashString(`k${i}`);
      ones |= h;
      zeros |= ~h;
    }
    expect(ones | 0).toBe(-1);
    expect(zeros | 0).toBe(-1);
  });
});

describe('FrequencySketch', () => {
  const h = (key: string) => hashString(key);

  it('counts requests up to 15', () => {
    const sketch = new FrequencySketch(1000);
    expect(sketch.frequency(h('a'))).toBe(0);
    for (let i = 1; i <= 20; i++) {
      sketch.increment(h('a'));
      expect(sketch.frequency(h('a'))).toBe(Math.min(i, 15));
    }
  });

  it('rarely overestimates keys it has not seen', () => {
    const sketch = new FrequencySketch(1000);
    for (let i = 0; i < 1000; i++) for (let j = 0; j < 3; j++) sketch.increment(h(`seen${i}`));
    let wrong = 0;
    for (let i = 0; i < 1000; i++) if (sketch.frequency(h(`unseen${i}`)) > 0) wrong++;
    expect(wrong).toBeLessThan(50);
    for (let i = 0; i < 1000; i++) expect(sketch.frequency(h(`seen${i}`))).toBeGreaterThanOrEqual(3);
  });

  it('halves every count after ten times its capacity in requests', () => {
    const sketch = new FrequencySketch(10);
    for (let i = 0; i < 12; i++) sketch.increment(h('hot'));
    expect(sketch.frequency(h('hot'))).toBe(12);
    // 88 more requests reach the sample size of 100.
    for (let i = 0; i < 88; i++) sketch.increment(h('cold'));
    expect(sketch.frequency(h('hot'))).toBe(6);
    expect(sketch.frequency(h('cold'))).toBe(7);
  });

  it('keeps its estimates when it grows', () => {
    const sketch = new FrequencySketch(64);
    const keys = Array.from({ length: 64 }, (_, i) => h(`k${i}`));
    keys.forEach((key, i) => {
      for (let j = 0; j < (i % 7) + 1; j++) sketch.increment(key);
    });
    const before = keys.map((key) => sketch.frequency(key));
    sketch.ensureCapacity(128);
    expect(keys.map((key) => sketch.frequency(key))).toEqual(before);
    sketch.ensureCapacity(1000);
    keys.forEach((key, i) => expect(sketch.frequency(key)).toBeGreaterThanOrEqual(Math.min(before[i]!, (i % 7) + 1)));
  });

  it('sizes itself at about eight bytes per entry', () => {
    // 64 counter bytes and one epoch byte per block of 8 entries.
    expect(new FrequencySketch(100_000).byteLength).toBeLessThanOrEqual(100_000 * 8.125 + 65);
  });
});
