// One contender's memory-tier hit latency, in its own process: `tsx bench/latency.ts <contender>`.
// Each read is timed on its own with performance.now(); the cost of the timing pair itself is measured the
// same way and subtracted, so p50/p99 are per-operation figures, not averages of batches.
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { createCache as createCacheManager } from 'cache-manager';
import { Cacheable } from 'cacheable';
import { LRUCache } from 'lru-cache';
import { Cache } from '../src/index.js';

const KEYS = 10_000;
const SAMPLES = 400_000;
const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}:profile`);
const value = (i: number) => ({ id: i, name: `user ${i}`, active: true, score: i * 1.5 });
// A fixed pseudo-random read order, the same for every contender.
const order = new Uint32Array(SAMPLES);
for (let i = 0, x = 12345; i < SAMPLES; i++) {
  x = (x * 1103515245 + 12345) >>> 0;
  order[i] = x % KEYS;
}

type Reader = { sync: (k: string) => unknown } | { async: (k: string) => Promise<unknown> };

async function setup(name: string): Promise<Reader> {
  switch (name) {
    case 'map': {
      const map = new Map<string, unknown>();
      keys.forEach((k, i) => map.set(k, value(i)));
      return { sync: (k) => map.get(k) };
    }
    case 'lru-cache': {
      const lru = new LRUCache<string, object>({ max: KEYS * 2, ttl: 86_400_000 });
      keys.forEach((k, i) => lru.set(k, value(i)));
      return { sync: (k) => lru.get(k) };
    }
    case 'tiercache': {
      const cache = new Cache({ memory: { maxEntries: KEYS * 2 } });
      for (const [i, k] of keys.entries()) await cache.set(k, value(i));
      return { async: (k) => cache.get(k) };
    }
    case 'bentocache': {
      const bento = new BentoCache({
        default: 'memory',
        stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: KEYS * 2 })) },
      });
      for (const [i, k] of keys.entries()) await bento.set({ key: k, value: value(i), ttl: '24h' });
      return { async: (k) => bento.get({ key: k }) };
    }
    case 'cache-manager': {
      const manager = createCacheManager();
      for (const [i, k] of keys.entries()) await manager.set(k, value(i), 86_400_000);
      return { async: (k) => manager.get(k) };
    }
    case 'cacheable': {
      const cacheable = new Cacheable({ ttl: '24h' });
      for (const [i, k] of keys.entries()) await cacheable.set(k, value(i));
      return { async: (k) => cacheable.get(k) };
    }
    default:
      throw new Error(`unknown contender ${name}`);
  }
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

async function main() {
  const name = process.argv[2] ?? 'tiercache';
  const reader = await setup(name);
  const samples = new Float64Array(SAMPLES);
  const overhead = new Float64Array(SAMPLES);
  let sink = 0;

  for (let round = 0; round < 2; round++) {
    // Round 0 warms the JIT up; round 1 is measured.
    for (let i = 0; i < SAMPLES; i++) {
      const t0 = performance.now();
      const t1 = performance.now();
      overhead[i] = t1 - t0;
    }
    if ('sync' in reader) {
      const read = reader.sync;
      for (let i = 0; i < SAMPLES; i++) {
        const k = keys[order[i] as number] as string;
        const t0 = performance.now();
        const v = read(k);
        samples[i] = performance.now() - t0;
        if (v !== undefined) sink++;
      }
    } else {
      const read = reader.async;
      for (let i = 0; i < SAMPLES; i++) {
        const k = keys[order[i] as number] as string;
        const t0 = performance.now();
        const v = await read(k);
        samples[i] = performance.now() - t0;
        if (v !== undefined) sink++;
      }
    }
  }
  if (sink !== SAMPLES * 2) throw new Error(`${name}: expected every read to hit, got ${sink} of ${SAMPLES * 2}`);

  samples.sort();
  overhead.sort();
  const timer = percentile(overhead, 0.5);
  const ns = (ms: number) => Math.max(0, (ms - timer) * 1e6);

  // Throughput: an untimed loop, so the timer's cost is not in it.
  const LOOPS = 2_000_000;
  const started = performance.now();
  if ('sync' in reader) {
    for (let i = 0; i < LOOPS; i++) if (reader.sync(keys[order[i % SAMPLES] as number] as string) === undefined) sink--;
  } else {
    for (let i = 0; i < LOOPS; i++) if ((await reader.async(keys[order[i % SAMPLES] as number] as string)) === undefined) sink--;
  }
  const opsPerSec = LOOPS / ((performance.now() - started) / 1000);
  console.log(JSON.stringify({ name, p50: ns(percentile(samples, 0.5)), p99: ns(percentile(samples, 0.99)), opsPerSec, timerNs: timer * 1e6 }));
}

await main();
