import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ALL_POLICIES } from './helpers.js';

const tierModule = fileURLToPath(new URL('../../src/memory/memory-tier.ts', import.meta.url));

/**
 * Bytes per entry a tier holding `n` entries costs beyond a Map of the same keys and values, measured in a
 * fresh process with a real `gc` (a test worker's heap moves with the runner's own allocations). Typed-array
 * backing stores live outside the JS heap, so `arrayBuffers` is counted along with `heapUsed`.
 */
function measure(policy: string, n: number, bound: number): number {
  const script = `
    const { MemoryTier } = await import(${JSON.stringify(tierModule)});
    const used = () => { for (let i = 0; i < 4; i++) gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
    const keys = Array.from({ length: ${n} }, (_, i) => 'user:' + i);
    const values = keys.map((_, i) => ({ id: i }));
    const base = used();
    const map = new Map();
    for (let i = 0; i < keys.length; i++) map.set(keys[i], values[i]);
    const withMap = used();
    const tier = new MemoryTier({ maxEntries: ${bound}, policy: ${JSON.stringify(policy)}, clock: { now: () => 0 }, sweepInterval: 0 });
    for (let i = 0; i < keys.length; i++) tier.set(keys[i], values[i], 64, Infinity);
    // Reads start what the policy builds lazily (the window tuner, the sketch at full size).
    for (let i = 0; i < keys.length; i++) tier.find(keys[i]);
    const withTier = used();
    // Touching keys and values here keeps them alive through the last measurement.
    if (tier.count !== keys.length || map.size !== values.length) throw new Error('lost entries');
    console.log(JSON.stringify((withTier - withMap - (withMap - base)) / keys.length));
  `;
  const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (child.status !== 0) throw new Error(child.stderr);
  return JSON.parse(child.stdout.trim().split('\n').pop() ?? 'NaN') as number;
}

describe('memory footprint', () => {
  it.each(ALL_POLICIES)('%s costs at most 56 bytes per entry more than a Map of 100,000 entries', (policy) => {
    const extra = measure(policy, 100_000, 100_000);
    expect(extra).toBeGreaterThan(0);
    expect(extra).toBeLessThanOrEqual(56);
  });

  it('grows with what it holds, not with its bound', () => {
    // 5,000 entries cost about the same under a bound of ten thousand as under one of fifty million. Sizing
    // anything by the bound would cost thousands of bytes per held entry here; the margin only absorbs the
    // GC noise of a small heap (tens of bytes per entry from run to run).
    // The smallest of three runs each: noise (a late scavenge, a code-space page) only ever adds bytes.
    const least = (bound: number) => Math.min(...[0, 1, 2].map(() => measure('tinylfu', 5000, bound)));
    const huge = least(50_000_000);
    const snug = least(10_000);
    expect(huge).toBeLessThan(snug * 1.5 + 50);
  });
});
