// Heap bytes per entry for 100k small objects, one structure per process: `node --expose-gc --import tsx bench/memory.ts <name>`.
// Keys and values are built before the measurement and kept alive, so only the structure's own cost is counted
// (JS heap plus the array buffers behind typed arrays).
import { LRUCache } from 'lru-cache';
import { Cache } from '../src/index.js';

const N = 100_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

// Typed arrays keep their contents outside the JS heap: count both.
function settle(): number {
  for (let i = 0; i < 4; i++) gc?.();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

async function main() {
  const name = process.argv[2] ?? 'map';
  const keys = Array.from({ length: N }, (_, i) => `user:${i}`);
  const values = keys.map((_, i) => ({ id: i, name: `n${i}` }));
  const before = settle();
  let holder: unknown;
  switch (name) {
    case 'map': {
      const map = new Map<string, object>();
      for (let i = 0; i < N; i++) map.set(keys[i] as string, values[i] as object);
      holder = map;
      break;
    }
    case 'lru-cache': {
      const lru = new LRUCache<string, object>({ max: N });
      for (let i = 0; i < N; i++) lru.set(keys[i] as string, values[i]);
      holder = lru;
      break;
    }
    case 'lru-cache+ttl': {
      const lru = new LRUCache<string, object>({ max: N, ttl: 86_400_000 });
      for (let i = 0; i < N; i++) lru.set(keys[i] as string, values[i]);
      holder = lru;
      break;
    }
    default: {
      const policy = name.replace(/^tiercache:?/, '') || 'tinylfu';
      const cache = new Cache({ memory: { maxEntries: N, policy: policy as 'tinylfu' } });
      for (let i = 0; i < N; i++) await cache.set(keys[i] as string, values[i]);
      if (cache.getStats().keyCount !== N) throw new Error(`tiercache held ${cache.getStats().keyCount} of ${N}`);
      holder = cache;
    }
  }
  const after = settle();
  console.log(JSON.stringify({ name, bytesPerEntry: (after - before) / N, keep: holder === undefined ? 0 : keys.length + values.length }));
}

await main();
