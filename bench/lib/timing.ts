// Timing helpers shared by the Redis benchmarks: a wall clock comparable across processes, distributions of
// samples, and the cost of the timer itself.

export interface Dist {
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

/** `performance.timeOrigin + performance.now()`: milliseconds comparable between processes on one machine. */
export const wall = () => performance.timeOrigin + performance.now();
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

/** Distribution of `samples` (sorted in place), scaled by `scale` after subtracting `offset` (clamped at 0 when asked). */
export function dist(samples: Float64Array, scale = 1, offset = 0, clamp = true): Dist {
  samples.sort();
  const f = (x: number) => (clamp ? Math.max(0, x - offset) : x - offset) * scale;
  let sum = 0;
  for (const s of samples) sum += s;
  return {
    p50: f(percentile(samples, 0.5)),
    p99: f(percentile(samples, 0.99)),
    mean: f(sum / Math.max(1, samples.length)),
    max: f(samples[samples.length - 1] ?? 0),
  };
}

/** Median cost of an empty `performance.now()` pair, ms. */
export function timerCost(): number {
  const n = 200_000;
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    s[i] = performance.now() - t0;
  }
  s.sort();
  return percentile(s, 0.5);
}
