// The memory-tier hit timing shared by bench/latency.ts and bench/compute.ts: every read timed on its own, the
// median cost of an empty performance.now() pair subtracted, then an untimed loop for throughput.

export type Reader = { sync: (k: string) => unknown } | { async: (k: string) => Promise<unknown> };

export interface HitLatency {
  /** Nanoseconds, the timer's cost subtracted. */
  p50: number;
  p99: number;
  opsPerSec: number;
  timerNs: number;
  /** Reads that found a value, over both timed rounds and the untimed loop; the caller checks it. */
  found: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

/** Times `samples` reads of `keys` in `order` (a warm-up round, then the measured one), then `loops` untimed reads. */
export async function measureHits(reader: Reader, keys: readonly string[], order: Uint32Array, loops: number): Promise<HitLatency> {
  const count = order.length;
  const samples = new Float64Array(count);
  const overhead = new Float64Array(count);
  let found = 0;
  // Round 0 warms the JIT up; round 1 is the one kept.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      overhead[i] = performance.now() - t0;
    }
    if ('sync' in reader) {
      const read = reader.sync;
      for (let i = 0; i < count; i++) {
        const k = keys[order[i] as number] as string;
        const t0 = performance.now();
        const v = read(k);
        samples[i] = performance.now() - t0;
        if (v !== undefined) found++;
      }
    } else {
      const read = reader.async;
      for (let i = 0; i < count; i++) {
        const k = keys[order[i] as number] as string;
        const t0 = performance.now();
        const v = await read(k);
        samples[i] = performance.now() - t0;
        if (v !== undefined) found++;
      }
    }
  }
  samples.sort();
  overhead.sort();
  const timer = percentile(overhead, 0.5);
  const ns = (ms: number) => Math.max(0, (ms - timer) * 1e6);

  // Throughput without the timer in the loop.
  const started = performance.now();
  if ('sync' in reader) {
    for (let i = 0; i < loops; i++) if (reader.sync(keys[order[i % count] as number] as string) !== undefined) found++;
  } else {
    for (let i = 0; i < loops; i++) if ((await reader.async(keys[order[i % count] as number] as string)) !== undefined) found++;
  }
  const opsPerSec = loops / ((performance.now() - started) / 1000);
  return { p50: ns(percentile(samples, 0.5)), p99: ns(percentile(samples, 0.99)), opsPerSec, timerNs: timer * 1e6, found };
}
