import { describe, expect, it } from 'vitest';
import { BUCKET_BOUNDS_MS, bucketOf, EMPTY_HISTOGRAM, Histogram, histogramDelta, histogramSum, meanOf, quantileOf } from '../../src/observe/histogram.js';
import { seededRandom } from '../kit/index.js';

const LAST = BUCKET_BOUNDS_MS.length;

/** The exact q-quantile of `values` by the same rank rule the histogram uses (the ceil(q·n)-th smallest). */
function exact(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1] as number;
}

function recorded(values: readonly number[]): Histogram {
  const h = new Histogram();
  for (const v of values) h.record(v);
  return h;
}

describe('bucketOf', () => {
  it('puts every bound in its own bucket and a hair above it in the next', () => {
    BUCKET_BOUNDS_MS.forEach((bound, i) => {
      expect(bucketOf(bound)).toBe(i);
      expect(bucketOf(bound * (1 + 1e-9))).toBe(i + 1);
    });
  });

  it('bounds ascend from 1 µs to 100 s, ten per decade', () => {
    expect(BUCKET_BOUNDS_MS[0]).toBe(0.001);
    expect(BUCKET_BOUNDS_MS[LAST - 1]).toBe(100_000);
    for (let i = 1; i < LAST; i++) expect(BUCKET_BOUNDS_MS[i]).toBeGreaterThan(BUCKET_BOUNDS_MS[i - 1] as number);
    // Each step is at most a third (1.5 → 2 and 3 → 4): what "one bucket step" of error means.
    for (let i = 1; i < LAST; i++) expect((BUCKET_BOUNDS_MS[i] as number) / (BUCKET_BOUNDS_MS[i - 1] as number)).toBeLessThanOrEqual(4 / 3 + 1e-9);
    expect(LAST).toBe(8 * 10 + 1);
  });

  it('zero, negatives and NaN land in the first bucket; values past 100 s in the overflow bucket', () => {
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(Number.NaN)).toBe(0);
    expect(bucketOf(100_000.5)).toBe(LAST);
    expect(bucketOf(Number.POSITIVE_INFINITY)).toBe(LAST);
  });

  it('exact powers of ten, where log10 rounds, find their own bound', () => {
    for (const p of [0.01, 0.1, 1, 10, 100, 1_000, 10_000]) expect(BUCKET_BOUNDS_MS[bucketOf(p)]).toBe(p);
  });
});

describe('quantileOf', () => {
  const random = seededRandom(12);
  const distributions: Record<string, number[]> = {
    'uniform 0-1000 ms': Array.from({ length: 5_000 }, () => random() * 1_000),
    'exponential, mean 2 ms': Array.from({ length: 5_000 }, () => -2 * Math.log(1 - random())),
    'log-uniform 1 µs-10 s': Array.from({ length: 5_000 }, () => 10 ** (-3 + 7 * random())),
    'bimodal 0.2 ms / 40 ms': Array.from({ length: 5_000 }, (_, i) => (i % 10 === 0 ? 40 : 0.2) * (0.9 + 0.2 * random())),
  };
  for (const [name, values] of Object.entries(distributions)) {
    it(`${name}: p50, p95, p99 fall in the bucket of the exact value`, () => {
      const h = recorded(values).snapshot();
      for (const q of [0.5, 0.95, 0.99]) {
        const truth = exact(values, q);
        const estimate = quantileOf(h, q) as number;
        expect(bucketOf(estimate), `q=${q}: estimate ${estimate}, exact ${truth}`).toBe(bucketOf(truth));
        expect(Math.abs(estimate - truth) / truth).toBeLessThanOrEqual(1 / 3);
      }
    });
  }

  it('a constant value is reported within its bucket', () => {
    const h = recorded(new Array<number>(100).fill(3.3)).snapshot();
    const p99 = quantileOf(h, 0.99) as number;
    expect(p99).toBeGreaterThan(3);
    expect(p99).toBeLessThanOrEqual(4);
  });

  it('is undefined when empty, and reports the last bound for values past it', () => {
    expect(quantileOf(EMPTY_HISTOGRAM, 0.5)).toBeUndefined();
    expect(meanOf(EMPTY_HISTOGRAM)).toBeUndefined();
    expect(quantileOf(recorded([500_000]).snapshot(), 0.99)).toBe(100_000);
  });

  it('mean is exact (the sum is kept)', () => {
    expect(meanOf(recorded([1, 2, 3, 10]).snapshot())).toBe(4);
  });
});

describe('histogramDelta and histogramSum', () => {
  it('a delta holds only what was recorded between two snapshots', () => {
    const h = new Histogram();
    for (let i = 0; i < 1_000; i++) h.record(1);
    const before = h.snapshot();
    for (let i = 0; i < 500; i++) h.record(100);
    const delta = histogramDelta(h.snapshot(), before);
    expect(delta.count).toBe(500);
    expect(delta.sum).toBe(50_000);
    expect(delta.counts[bucketOf(1)]).toBe(0);
    expect(delta.counts[bucketOf(100)]).toBe(500);
    expect(quantileOf(delta, 0.5)).toBeGreaterThan(80);
    // The whole history still says 1 ms at the median.
    expect(quantileOf(h.snapshot(), 0.5)).toBeLessThanOrEqual(1);
  });

  it('a delta from nothing is the snapshot itself; an empty delta has no quantiles', () => {
    const h = recorded([5, 6]);
    const s = h.snapshot();
    expect(histogramDelta(s, undefined)).toBe(s);
    expect(quantileOf(histogramDelta(s, s), 0.99)).toBeUndefined();
  });

  it('a sum adds bucket by bucket', () => {
    const a = recorded([1, 1, 10]).snapshot();
    const b = recorded([10, 1_000]).snapshot();
    const sum = histogramSum([a, b]);
    expect(sum.count).toBe(5);
    expect(sum.sum).toBe(1_022);
    expect(sum.counts[bucketOf(10)]).toBe(2);
    expect(sum.counts).toHaveLength(LAST + 1);
  });
});
