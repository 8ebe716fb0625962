import { describe, expect, it } from 'vitest';
import { replay, replayCache } from '../../bench/hit-ratio.js';
import { beladyHits } from '../../bench/lib/belady.js';
import { lruHits } from '../../bench/lib/lru-reference.js';
import { trace } from '../../bench/lib/traces.js';

/**
 * Published figures for each trace row, in %. `lru` and `wTinyLfu` come from the traces README (an independent
 * simulator); `wTinyLfu` is the better of its two W-TinyLFU columns (1% window, hill climber), since the
 * default policy is meant to match the best of them. cs and 2_pools have no published W-TinyLFU figure: their
 * LRU figure is the reference LRU's in docs/benchmarks.md (the harness test below checks that reference LRU
 * against the README's figures).
 */
const PUBLISHED: readonly { trace: string; size: number; lru: number; wTinyLfu: number | undefined }[] = [
  { trace: 'gli', size: 1000, lru: 11.21, wTinyLfu: 50.82 },
  { trace: 'loop', size: 512, lru: 0, wTinyLfu: 50.01 },
  { trace: 'multi2', size: 2000, lru: 49.0, wTinyLfu: 69.63 },
  { trace: 'sprite', size: 1000, lru: 90.64, wTinyLfu: 83.99 },
  { trace: 'ps', size: 250, lru: 13.06, wTinyLfu: 51.02 },
  { trace: 'oltp', size: 1000, lru: 32.83, wTinyLfu: 39.86 },
  { trace: 'oltp', size: 5000, lru: 53.65, wTinyLfu: 55.3 },
  { trace: 'corda', size: 256, lru: 33.33, wTinyLfu: 30.32 },
  { trace: 'cs', size: 1000, lru: 1.83, wTinyLfu: undefined },
  { trace: '2_pools', size: 1000, lru: 54.41, wTinyLfu: undefined },
];

/**
 * What a user of the default cache must get: no worse than LRU, and within a point of published W-TinyLFU. A row
 * with no published W-TinyLFU figure has only our own LRU replay as its reference; there the floor is that LRU
 * figure less one standard deviation of the hit ratio over the trace's length (binomial: 2_pools' cold pool is
 * uniform, so no online policy beats LRU there in expectation, and the two differ by a few dozen hits either way).
 */
const floorOf = (row: (typeof PUBLISHED)[number]): number => {
  if (row.wTinyLfu !== undefined) return Math.max(row.lru, row.wTinyLfu - 1);
  const p = row.lru / 100;
  return row.lru - 100 * Math.sqrt((p * (1 - p)) / trace(row.trace).keys.length);
};

/** Each trace replays once per policy and size, however many tests read the figure. */
const replays = new Map<string, Promise<number>>();
function cacheRatio(name: string, size: number): Promise<number> {
  const id = `${name}@${size}`;
  let ratio = replays.get(id);
  if (ratio === undefined) {
    ratio = replayCache(trace(name), size, 'tinylfu').then((r) => r * 100);
    replays.set(id, ratio);
  }
  return ratio;
}

const pct = (ratio: number): string => ratio.toFixed(2);

// Full traces: the published figures are for whole traces, and all of them together replay through the API in
// a few seconds.
describe('default-policy hit ratio through the public Cache API (get, then set on a miss)', () => {
  it.each(PUBLISHED.map((row) => ({ ...row, floor: floorOf(row).toFixed(2), published: row.wTinyLfu ?? 'none' })))(
    '$trace @$size reaches $floor% (LRU $lru, W-TinyLFU $published)',
    async (row) => {
      const t = trace(row.trace);
      const ratio = await cacheRatio(row.trace, row.size);
      const opt = beladyHits(t.keys, t.distinct, row.size).ratio * 100;
      expect(ratio, `Cache ${pct(ratio)}%, memory tier alone ${pct(replay(t, row.size, 'tinylfu') * 100)}%, OPT ${pct(opt)}%`).toBeGreaterThanOrEqual(floorOf(row));
      expect(ratio).toBeLessThanOrEqual(opt);
    },
  );
});

/**
 * The API must not cost the policy hits: a `get` is one look-up of the memory tier, so a replay through `Cache`
 * sees what the memory tier alone sees. A second look-up on a miss counts every newcomer twice in the frequency
 * sketch, which on looping traces lets newcomers push out the entries that would hit. cs @250 has no published
 * figure, but is where counting twice costs the most.
 */
describe('the public API keeps the memory tier’s hit ratio', () => {
  const rows = [...PUBLISHED, { trace: 'cs', size: 250 }];
  it.each(rows)('$trace @$size: Cache within 0.25 points of the memory tier alone', async ({ trace: name, size }) => {
    const tier = replay(trace(name), size, 'tinylfu') * 100;
    const ratio = await cacheRatio(name, size);
    expect(ratio, `Cache ${pct(ratio)}%, memory tier alone ${pct(tier)}%`).toBeGreaterThanOrEqual(tier - 0.25);
  });
});

/**
 * The shipped MemoryTier on its own. Floors: 95% of LRU where LRU is strong (recency-skewed traces, which punish
 * a fixed small admission window), and the published W-TinyLFU figures less one point where frequency is what
 * pays (traces README).
 */
const TIER_FLOORS: readonly { trace: string; size: number; floor: number; why: string }[] = [
  { trace: 'sprite', size: 1000, floor: 86.11, why: 'LRU 90.64 × 0.95' },
  { trace: 'oltp', size: 1000, floor: 31.2, why: 'LRU 32.83 × 0.95' },
  { trace: 'oltp', size: 5000, floor: 51.0, why: 'LRU 53.65 × 0.95' },
  { trace: 'corda', size: 256, floor: 31.67, why: 'LRU 33.33 × 0.95' },
  { trace: 'gli', size: 1000, floor: 49.8, why: 'published W-TinyLFU 50.82 − 1' },
  { trace: 'loop', size: 512, floor: 49.0, why: 'published W-TinyLFU 50.01 − 1' },
  { trace: 'multi2', size: 2000, floor: 68.6, why: 'published W-TinyLFU 69.63 − 1' },
  { trace: 'ps', size: 250, floor: 49.9, why: 'published W-TinyLFU 50.91 − 1' },
];

describe('tinylfu hit ratio of the memory tier alone', () => {
  it.each(TIER_FLOORS)('$trace @$size reaches $floor% ($why)', ({ trace: name, size, floor }) => {
    const t = trace(name);
    const ratio = replay(t, size, 'tinylfu') * 100;
    expect(ratio).toBeGreaterThanOrEqual(floor);
    // And no replay can beat the offline optimum: a check on the harness itself.
    expect(ratio).toBeLessThanOrEqual(beladyHits(t.keys, t.distinct, size).ratio * 100);
  });
});

describe('the trace harness', () => {
  it.each([
    ['sprite', 1000],
    ['multi2', 2000],
    ['corda', 256],
  ] as const)("'lru' replays %s @%i hit for hit like the reference LRU", (name, size) => {
    const t = trace(name);
    expect(replay(t, size, 'lru')).toBe(lruHits(t.keys, size).ratio);
  });

  it('the public API with the lru policy replays hit for hit like the reference LRU', async () => {
    const t = trace('multi2');
    expect(await replayCache(t, 2000, 'lru')).toBe(lruHits(t.keys, 2000).ratio);
  });

  it("reproduces the published LRU figures and the README's OPT figures", () => {
    for (const row of PUBLISHED) {
      const t = trace(row.trace);
      expect(pct(lruHits(t.keys, row.size).ratio * 100), `${row.trace} @${row.size}`).toBe(pct(row.lru));
    }
    const t = trace('gli');
    expect((beladyHits(t.keys, t.distinct, 1000).ratio * 100).toFixed(2)).toBe('53.15');
    const loop = trace('loop');
    expect((beladyHits(loop.keys, loop.distinct, 512).ratio * 100).toFixed(2)).toBe('50.54');
  });
});
