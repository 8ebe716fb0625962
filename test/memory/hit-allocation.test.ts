import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const cacheModule = fileURLToPath(new URL('../../src/cache.ts', import.meta.url));

interface Figures {
  /** Heap bytes still held after 1,000,000 awaited hits and forced GCs. */
  retained: number;
  /** Heap bytes allocated per call (median of 7 windows of 100,000 calls, no GC inside a window). */
  perCall: number;
}

type Scenario = 'baseline' | 'control' | 'get' | 'getOrSet' | 'namespaceGet';

/**
 * Runs in a fresh `node --expose-gc` process: a test worker's heap moves with the runner's own allocations. The
 * semi-space is fixed at 64 MB so that no scavenge runs inside a 100,000-call window (up to 640 bytes per call),
 * which makes the heapUsed delta of a window the bytes it allocated.
 *
 * `baseline` is what any promise-returning lookup costs: a Map read wrapped in `Promise.resolve`. `control`
 * allocates one small object more per call, to show the method sees an allocation of that size.
 */
const SCRIPT = `
  const { Cache } = await import(${JSON.stringify(cacheModule)});
  const N = 1000;
  const keys = Array.from({ length: N }, (_, i) => 'user:' + i);
  const cache = new Cache({ memory: { maxEntries: 10000 } });
  const view = cache.namespace('ns');
  const map = new Map();
  for (let i = 0; i < N; i++) {
    const value = { id: i };
    map.set(keys[i], value);
    await cache.set(keys[i], value);
    await view.set(keys[i], value);
  }
  // Defined once: a closure made per call would be the caller's allocation, not the cache's.
  const loader = () => { throw new Error('a hit must not call the loader'); };
  let box;
  const scenarios = {
    baseline: (k) => Promise.resolve(map.get(k)),
    control: (k) => { box = { k }; return Promise.resolve(map.get(k)); },
    get: (k) => cache.get(k),
    getOrSet: (k) => cache.getOrSet(k, loader),
    namespaceGet: (k) => view.get(k),
  };
  const heap = () => process.memoryUsage().heapUsed;
  const settled = () => { for (let i = 0; i < 4; i++) gc(); return heap(); };
  const out = {};
  for (const [name, call] of Object.entries(scenarios)) {
    // Warm up until the call is optimized, so compilation is not counted as the call's allocation.
    for (let i = 0; i < 300000; i++) await call(keys[i % N]);
    const before = settled();
    for (let i = 0; i < 1000000; i++) if ((await call(keys[i % N])) !== map.get(keys[i % N])) throw new Error(name + ': not a hit');
    const retained = settled() - before;
    const windows = [];
    let last;
    for (let w = 0; w < 7; w++) {
      gc();
      const start = heap();
      for (let i = 0; i < 100000; i++) last = call(keys[i % N]);
      windows.push((heap() - start) / 100000);
      await last;
    }
    windows.sort((a, b) => a - b);
    out[name] = { retained, perCall: windows[3] };
  }
  if (box === undefined) throw new Error('control did not run');
  const stats = cache.getStats();
  if (stats.misses !== 0) throw new Error(stats.misses + ' misses: the scenarios must be hits only');
  await cache.close();
  console.log(JSON.stringify(out));
`;

function measure(): Record<Scenario, Figures> {
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64', '--import', 'tsx', '--input-type=module', '-e', SCRIPT],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (child.status !== 0) throw new Error(`measurement failed (${String(child.status ?? child.signal)}): ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as Record<Scenario, Figures>;
}

/** Retained growth over 1M hits; one 32-byte allocation kept per hit would be 32 MB. */
const MAX_RETAINED_BYTES = 1 << 20;
/**
 * Bytes per call beyond the baseline's promise. Windows repeat to within a fraction of a byte; one 16-byte
 * heap number every fourth hit would already break the bound.
 */
const MAX_EXTRA_BYTES_PER_HIT = 4;

describe('a memory-tier hit allocates nothing but its promise', () => {
  let figures: Record<Scenario, Figures>;
  beforeAll(() => {
    figures = measure();
    const rows = Object.entries(figures).map(([name, f]) => `${name}: ${f.perCall.toFixed(2)} B/call, retained ${f.retained} B`);
    console.info(`hit allocation (1M hits retained, 100k-call windows):\n  ${rows.join('\n  ')}`);
  }, 120_000);

  it('the measurement sees one small allocation per call', () => {
    expect(figures.control.perCall - figures.baseline.perCall).toBeGreaterThanOrEqual(24);
  });

  it.each(['get', 'getOrSet', 'namespaceGet'] as const)('%s keeps no memory over 1,000,000 hits', (name) => {
    expect(figures[name].retained).toBeLessThan(MAX_RETAINED_BYTES);
  });

  it.each(['get', 'getOrSet', 'namespaceGet'] as const)('%s allocates no more per hit than Promise.resolve of a Map read', (name) => {
    const extra = figures[name].perCall - figures.baseline.perCall;
    expect(extra, `${name} ${figures[name].perCall.toFixed(2)} B/call, baseline ${figures.baseline.perCall.toFixed(2)}`).toBeLessThan(MAX_EXTRA_BYTES_PER_HIT);
  });
});
