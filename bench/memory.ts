// Heap bytes per entry for 100k small objects, one structure per process: `node --expose-gc --import tsx bench/memory.ts <name> [warm]`.
// Keys and values are built before the measurement and kept alive, so only the structure's own cost is counted
// (JS heap plus the array buffers behind typed arrays).
//
// By default the figure also carries what the first run of the structure's code compiles (bytecode, feedback,
// optimized code): for tiercache's write path a few hundred kilobytes, paid once per process however many
// entries or caches there are, about 3 bytes per entry at this size. `warm` leaves that out: a small instance of
// the same structure is filled first and kept alive, with bytecode flushing off so that what it compiled stays
// compiled. Warm figures vary more from run to run (optimized code still lands at different times).
import { setFlagsFromString } from 'node:v8';
import { LRUCache } from 'lru-cache';
import { Cache } from '../src/index.js';

const N = 100_000;
const WARM = 2_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
// Bytecode that has not run for a few collections is dropped and compiled again when next needed, which would
// land in one measurement and not another.
if (process.argv[3] === 'warm') setFlagsFromString('--no-flush-bytecode');

// Typed arrays keep their contents outside the JS heap: count both.
function settle(): number {
  for (let i = 0; i < 4; i++) gc?.();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

async function build(name: string, keys: readonly string[], values: readonly object[]): Promise<unknown> {
  const n = keys.length;
  switch (name) {
    case 'map': {
      const map = new Map<string, object>();
      for (let i = 0; i < n; i++) map.set(keys[i] as string, values[i] as object);
      return map;
    }
    case 'lru-cache': {
      const lru = new LRUCache<string, object>({ max: n });
      for (let i = 0; i < n; i++) lru.set(keys[i] as string, values[i]);
      return lru;
    }
    case 'lru-cache+ttl': {
      const lru = new LRUCache<string, object>({ max: n, ttl: 86_400_000 });
      for (let i = 0; i < n; i++) lru.set(keys[i] as string, values[i]);
      return lru;
    }
    default: {
      const policy = name.replace(/^tiercache:?/, '') || 'tinylfu';
      const cache = new Cache({ memory: { maxEntries: n, policy: policy as 'tinylfu' } });
      for (let i = 0; i < n; i++) await cache.set(keys[i] as string, values[i]);
      if (cache.getStats().keyCount !== n) throw new Error(`tiercache held ${cache.getStats().keyCount} of ${n}`);
      return cache;
    }
  }
}

const objects = (keys: readonly string[]) => keys.map((_, i) => ({ id: i, name: `n${i}` }));

async function main() {
  const name = process.argv[2] ?? 'map';
  const cold = process.argv[3] !== 'warm';
  let warm: unknown;
  if (!cold) {
    const warmKeys = Array.from({ length: WARM }, (_, i) => `warm:${i}`);
    warm = await build(name, warmKeys, objects(warmKeys));
  }
  const keys = Array.from({ length: N }, (_, i) => `user:${i}`);
  const values = objects(keys);
  const before = settle();
  const holder = await build(name, keys, values);
  const after = settle();
  const keep = holder === undefined || (!cold && warm === undefined) ? 0 : keys.length + values.length;
  console.log(JSON.stringify({ name, warm: !cold, bytesPerEntry: (after - before) / N, keep }));
}

await main();
