// Hit ratio of every memory-tier policy on real traces, next to Belady's optimum and a reference LRU, replayed
// both through the memory tier alone and through the public `Cache` API (what a user of the library gets).
// `npx tsx bench/hit-ratio.ts` prints the section; `bench/run.ts` includes it in docs/benchmarks.md.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Cache } from '../src/cache.js';
import type { Clock } from '../src/clock.js';
import { MemoryTier } from '../src/memory/memory-tier.js';
import type { EvictionPolicy } from '../src/memory/types.js';
import { beladyHits } from './lib/belady.js';
import { lruHits } from './lib/lru-reference.js';
import { trace, type Trace } from './lib/traces.js';

export interface HitRatioRow {
  trace: string;
  size: number;
}

export const HIT_RATIO_ROWS: readonly HitRatioRow[] = [
  { trace: 'gli', size: 1000 },
  { trace: 'loop', size: 512 },
  { trace: 'multi2', size: 2000 },
  { trace: 'sprite', size: 1000 },
  { trace: 'ps', size: 250 },
  { trace: 'cs', size: 1000 },
  { trace: 'cs', size: 250 },
  { trace: '2_pools', size: 1000 },
  { trace: 'oltp', size: 1000 },
  { trace: 'oltp', size: 5000 },
  { trace: 'corda', size: 256 },
];

export const POLICIES: readonly EvictionPolicy[] = ['lru', 'lfu', 'ttl', 'tinylfu'];

const keyNames = new WeakMap<Trace, string[]>();

/** The string key of each dense trace key, built once per trace so replays do not time string building. */
export function keyStrings(t: Trace): string[] {
  let names = keyNames.get(t);
  if (names === undefined) {
    names = Array.from({ length: t.distinct }, (_, i) => String(i));
    keyNames.set(t, names);
  }
  return names;
}

/**
 * Replays a trace through a real MemoryTier the way a read-through cache uses it: `find`, and on a miss
 * `set` (size 1, no deadline, a clock that never moves). Returns the hit ratio in [0, 1].
 */
export function replay(t: Trace, size: number, policy: EvictionPolicy): number {
  const clock: Clock = { now: () => 0 };
  const tier = new MemoryTier<number>({ maxEntries: size, policy, clock, sweepInterval: 0 });
  const names = keyStrings(t);
  const keys = t.keys;
  let hits = 0;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const key = names[k]!;
    if (tier.find(key) >= 0) hits++;
    else tier.set(key, k, 1, Infinity);
  }
  tier.close();
  return keys.length === 0 ? 0 : hits / keys.length;
}

/**
 * Replays a trace through the public API the way an application uses a read-through cache: `await get`, and on
 * a miss `await set`, on `new Cache({ memory: { maxEntries: size, policy } })` with everything else left at its
 * default (24 h TTL, so nothing expires during a replay). Every policy-visible effect of the API's own memory
 * look-ups counts here, which a replay of `MemoryTier` alone cannot see. Returns the hit ratio in [0, 1].
 */
export async function replayCache(t: Trace, size: number, policy: EvictionPolicy): Promise<number> {
  const cache = new Cache({ memory: { maxEntries: size, policy } });
  const names = keyStrings(t);
  const keys = t.keys;
  let hits = 0;
  try {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const key = names[k]!;
      // The value is the dense key itself, so a hit that returned another key's value would show up as wrong.
      const value = await cache.get<number>(key);
      if (value === undefined) await cache.set(key, k);
      else if (value === k) hits++;
      else throw new Error(`${t.name}: get(${key}) returned the value of key ${value}`);
    }
  } finally {
    await cache.close();
  }
  return keys.length === 0 ? 0 : hits / keys.length;
}

const pct = (ratio: number): string => (ratio * 100).toFixed(2);

export async function runHitRatio(): Promise<string> {
  const lines = [
    '## Memory-tier hit ratio',
    '',
    'Hit ratio (%) of each eviction policy replaying real cache traces (test/fixtures/traces, see its README), two ways.',
    '**tier**: the shipped `MemoryTier` alone, `find` and `set` on a miss, with a fixed clock and no expiry, so `ttl`',
    'degenerates to first-in first-out. **Cache**: the public API, what an application gets:',
    '`await cache.get(key)` and `await cache.set(key, value)` on a miss, on',
    '`new Cache({ memory: { maxEntries, policy } })` with every other option at its default. The two differ only',
    "by what the API itself does to the memory tier's policy. OPT is Belady's offline optimum at that size (the",
    'ceiling), LRU ref an independent Map-based LRU. Reference W-TinyLFU figures for the same rows are in the traces README.',
    '',
    `| trace @ entries | OPT | LRU ref | ${POLICIES.map((p) => `${p} tier | ${p} Cache`).join(' | ')} |`,
    `|---|---:|---:|${POLICIES.map(() => '---:|---:|').join('')}`,
  ];
  for (const row of HIT_RATIO_ROWS) {
    const t = trace(row.trace);
    const opt = beladyHits(t.keys, t.distinct, row.size).ratio;
    const ref = lruHits(t.keys, row.size).ratio;
    const cells: string[] = [];
    for (const policy of POLICIES) cells.push(pct(replay(t, row.size, policy)), pct(await replayCache(t, row.size, policy)));
    lines.push(`| ${row.trace} @${row.size} | ${pct(opt)} | ${pct(ref)} | ${cells.join(' | ')} |`);
    // Give the event loop a turn between rows; a full run takes several seconds.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  lines.push('', 'tinylfu is the default policy. The Cache columns are the public API: they are the figures a user sees.', '');
  return lines.join('\n');
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  console.log(await runHitRatio());
}
