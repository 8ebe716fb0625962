// One contender's memory-tier hit latency, in its own process: `tsx bench/latency.ts <contender>`.
// Each read is timed on its own with performance.now(); the cost of the timing pair itself is measured the
// same way and subtracted, so p50/p99 are per-operation figures, not averages of batches.
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { createCache as createCacheManager } from 'cache-manager';
import { Cacheable, createKeyv } from 'cacheable';
import { LRUCache } from 'lru-cache';
import { tracingChannel } from 'node:diagnostics_channel';
import { Cache, TRACE_CHANNELS } from '../src/index.js';
import { measureHits, type Reader } from './lib/hit-latency.js';

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


async function setup(name: string): Promise<Reader> {
  switch (name) {
    case 'map': {
      const map = new Map<string, unknown>();
      keys.forEach((k, i) => map.set(k, value(i)));
      return { sync: (k) => map.get(k) };
    }
    case 'map (awaited)': {
      const map = new Map<string, unknown>();
      keys.forEach((k, i) => map.set(k, value(i)));
      return { async: (k) => Promise.resolve(map.get(k)) };
    }
    case 'lru-cache': {
      const lru = new LRUCache<string, object>({ max: KEYS * 2, ttl: 86_400_000 });
      keys.forEach((k, i) => lru.set(k, value(i)));
      return { sync: (k) => lru.get(k) };
    }
    case 'lru-cache (awaited)': {
      const lru = new LRUCache<string, object>({ max: KEYS * 2, ttl: 86_400_000 });
      keys.forEach((k, i) => lru.set(k, value(i)));
      return { async: (k) => Promise.resolve(lru.get(k)) };
    }
    case 'tiercache': {
      const cache = new Cache({ memory: { maxEntries: KEYS * 2 } });
      for (const [i, k] of keys.entries()) await cache.set(k, value(i));
      return { async: (k) => cache.get(k) };
    }
    case 'tiercache metrics': {
      // Detailed metrics on: one read in 64 timed and counted in its key group.
      const cache = new Cache({ memory: { maxEntries: KEYS * 2 }, metrics: true });
      for (const [i, k] of keys.entries()) await cache.set(k, value(i));
      return { async: (k) => cache.get(k) };
    }
    case 'tiercache traced': {
      // An APM listening on both tracing channels (memory-tier hits are not traced: this checks they stay free).
      for (const name of Object.values(TRACE_CHANNELS)) tracingChannel(name).subscribe({ start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} });
      const cache = new Cache({ memory: { maxEntries: KEYS * 2 } });
      for (const [i, k] of keys.entries()) await cache.set(k, value(i));
      return { async: (k) => cache.get(k) };
    }
    case 'tiercache getOrSet': {
      const cache = new Cache({ memory: { maxEntries: KEYS * 2 } });
      for (const [i, k] of keys.entries()) await cache.set(k, value(i));
      const loader = () => null;
      return { async: (k) => cache.getOrSet(k, loader) };
    }
    case 'tiercache namespace get': {
      const root = new Cache({ memory: { maxEntries: KEYS * 2 } });
      const cache = root.namespace('app');
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
      // Bounded as its users run it in production: Keyv over an LRU-bounded CacheableMemory.
      const manager = createCacheManager({ stores: [createKeyv({ lruSize: KEYS * 2 })] });
      for (const [i, k] of keys.entries()) await manager.set(k, value(i), 86_400_000);
      return { async: (k) => manager.get(k) };
    }
    case 'cacheable': {
      const cacheable = new Cacheable({ ttl: '24h', primary: createKeyv({ lruSize: KEYS * 2 }) });
      for (const [i, k] of keys.entries()) await cacheable.set(k, value(i));
      return { async: (k) => cacheable.get(k) };
    }
    default:
      throw new Error(`unknown contender ${name}`);
  }
}

async function main() {
  const name = process.argv[2] ?? 'tiercache';
  const reader = await setup(name);
  const LOOPS = 2_000_000;
  const r = await measureHits(reader, keys, order, LOOPS);
  if (r.found !== SAMPLES * 2 + LOOPS) throw new Error(`${name}: expected every read to hit, got ${r.found} of ${SAMPLES * 2 + LOOPS}`);
  console.log(JSON.stringify({ name, p50: r.p50, p99: r.p99, opsPerSec: r.opsPerSec, timerNs: r.timerNs }));
}

await main();
