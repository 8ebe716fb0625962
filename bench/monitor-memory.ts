// Heap bytes a monitor holds with its ring full, at default settings (10 s windows, 60 of them, default alert
// rules): `node --expose-gc --import tsx bench/monitor-memory.ts`. Time is a fake clock, so the 60 windows take
// no real minutes. The cache is built and warmed before the first measurement, and its reads during the windows
// are memory-tier hits (they allocate nothing), so the difference is the monitor's own: its ring of windows, the
// previous metrics snapshot each window is taken against, and its alert state.
import { Cache, type CacheOptions } from '../src/index.js';
import { sqliteStore } from '../src/stores/sqlite.js';
import { createFakeClock } from '../src/testing/index.js';
import { settledHeap as settle } from './lib/heap.js';

interface Row {
  setup: string;
  windows: number;
  bytes: number;
}

/** Caches measured side by side: their monitors' cost is a few tens of KB each, so one alone drowns in the heap's noise. */
const CACHES = 50;

async function measure(setup: string, options: () => CacheOptions, windowsToRun: number): Promise<Row> {
  const clock = createFakeClock();
  const caches: Cache[] = [];
  for (let c = 0; c < CACHES; c++) {
    const cache = new Cache({ clock, memory: { sweepInterval: 0 }, ...options() });
    for (let i = 0; i < 200; i++) await cache.set(`user:${i}`, { id: i });
    for (let i = 0; i < 200; i++) await cache.get(`user:${i}`);
    caches.push(cache);
  }
  const before = settle();
  const monitors = caches.map((cache) => cache.monitor());
  const interval = monitors[0]?.interval ?? 10_000;
  for (let w = 0; w < windowsToRun; w++) {
    for (const cache of caches) for (let i = 0; i < 50; i++) await cache.get(`user:${i}`);
    clock.advance(interval);
  }
  const after = settle();
  const row = { setup, windows: monitors[0]?.windows().length ?? 0, bytes: Math.round((after - before) / CACHES) };
  for (const monitor of monitors) monitor.stop();
  for (const cache of caches) await cache.close();
  return row;
}

async function main() {
  const setups: [string, () => CacheOptions][] = [
    ['memory tier only', () => ({})],
    ['memory tier only, metrics: true', () => ({ metrics: true })],
    ['memory tier + one store (sqlite)', () => ({ stores: [sqliteStore({ path: ':memory:' })] })],
  ];
  // A throwaway round first, so the compiler's own allocations are not counted.
  await measure('warm-up', () => ({}), 70);
  const rows: Row[] = [];
  for (let round = 0; round < 3; round++) {
    for (const [setup, options] of setups) {
      rows.push(await measure(setup, options, 1));
      rows.push(await measure(setup, options, 70));
    }
  }
  // The median of three rounds per setup and window count.
  const groups = new Map<string, number[]>();
  for (const row of rows) {
    const id = `${row.setup}|${row.windows}`;
    groups.set(id, [...(groups.get(id) ?? []), row.bytes]);
  }
  const medians: Row[] = [];
  for (const [id, values] of groups) {
    const [setup, windows] = id.split('|') as [string, string];
    medians.push({ setup, windows: Number(windows), bytes: [...values].sort((a, b) => a - b)[1] as number });
  }
  // For `npm run bench`: the medians as the last line.
  console.log(JSON.stringify({ caches: CACHES, rows: medians }));
}

await main();
