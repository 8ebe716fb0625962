// Scenario 6: the memory tier's byte bound under churn. A small maxBytes, values of random sizes (some larger
// than the bound itself), short TTLs on a fake clock that moves 1 ms per operation, gets and deletes mixed in;
// getStats().memoryUsedBytes is read after every single operation and must never exceed the bound.
import { Cache, type EvictionPolicy } from '../src/index.js';
import { createFakeClock } from '../src/testing/index.js';
import { describeError, seededRandom, type Section } from './lib.js';

export interface ChurnOptions {
  seed: number;
  /** Sets under the default policy. @default 200000 */
  sets?: number;
  /** Sets under each other policy. @default 50000 */
  otherPolicySets?: number;
  /** @default 65536 */
  maxBytes?: number;
}

export interface ChurnRow {
  policy: EvictionPolicy;
  sets: number;
  gets: number;
  deletes: number;
  samples: number;
  maxUsedBytes: number;
  overBound: number;
  maxKeys: number;
  evictions: number;
  /** Sets refused (values above the bound): they must fail cleanly or be dropped, never break the bound. */
  refused: number;
  refusedKinds: string[];
  opsPerSec: number;
}

export interface ChurnResult {
  seed: number;
  maxBytes: number;
  rows: ChurnRow[];
}

async function churn(policy: EvictionPolicy, sets: number, maxBytes: number, random: () => number): Promise<ChurnRow> {
  const clock = createFakeClock();
  const cache = new Cache({ clock, memory: { maxBytes, policy, sweepInterval: 50 } });
  const row: ChurnRow = { policy, sets: 0, gets: 0, deletes: 0, samples: 0, maxUsedBytes: 0, overBound: 0, maxKeys: 0, evictions: 0, refused: 0, refusedKinds: [], opsPerSec: 0 };
  const kinds = new Set<string>();
  const sample = () => {
    const stats = cache.getStats();
    row.samples++;
    if (stats.memoryUsedBytes > row.maxUsedBytes) row.maxUsedBytes = stats.memoryUsedBytes;
    if (stats.memoryUsedBytes > maxBytes) row.overBound++;
    if (stats.keyCount > row.maxKeys) row.maxKeys = stats.keyCount;
  };
  const started = performance.now();
  const keySpace = 2_000;
  while (row.sets < sets) {
    const roll = random();
    const key = `churn:${Math.floor(random() * keySpace)}`;
    if (roll < 0.6) {
      // Mostly small, a tail of large ones, and one in a thousand bigger than the whole tier.
      const size = random() < 0.001 ? maxBytes + Math.floor(random() * maxBytes) : random() < 0.05 ? Math.floor(random() * (maxBytes / 4)) : Math.floor(random() * 512);
      row.sets++;
      try {
        await cache.set(key, 'v'.repeat(size), { ttl: 10 + Math.floor(random() * 500) });
      } catch (error) {
        row.refused++;
        kinds.add(describeError(error));
      }
    } else if (roll < 0.9) {
      row.gets++;
      await cache.get(key);
    } else {
      row.deletes++;
      await cache.delete(key);
    }
    sample();
    clock.advance(1);
    sample();
  }
  row.opsPerSec = ((row.sets + row.gets + row.deletes) / (performance.now() - started)) * 1000;
  row.evictions = cache.getStats().evictions;
  row.refusedKinds = [...kinds];
  await cache.close();
  return row;
}

export async function runMemoryChurn(options: ChurnOptions): Promise<ChurnResult> {
  const sets = options.sets ?? 200_000;
  const others = options.otherPolicySets ?? 50_000;
  const maxBytes = options.maxBytes ?? 65_536;
  const random = seededRandom(options.seed);
  const rows: ChurnRow[] = [];
  rows.push(await churn('tinylfu', sets, maxBytes, random));
  for (const policy of ['lru', 'lfu', 'ttl'] as const) rows.push(await churn(policy, others, maxBytes, random));
  return { seed: options.seed, maxBytes, rows };
}

export function memoryChurnSection(result: ChurnResult): Section {
  return {
    title: '6. The memory bound under churn',
    setup:
      `memory.maxBytes ${result.maxBytes.toLocaleString('en')}; 2,000 keys; 60% sets (values of 0-512 characters, 5% up to a quarter of the bound, 0.1% above the bound), 30% gets, 10% deletes; TTLs of 10-510 ms on a fake clock that moves 1 ms per operation. ` +
      'getStats().memoryUsedBytes is read after every operation and after every clock step.',
    table: {
      head: ['policy', 'sets', 'gets', 'deletes', 'samples', 'max used bytes', 'bound', 'samples over', 'max keys', 'evictions', 'sets refused', 'ops/s'],
      rows: result.rows.map((r) => [
        r.policy,
        r.sets,
        r.gets,
        r.deletes,
        r.samples,
        r.maxUsedBytes,
        result.maxBytes,
        r.overBound,
        r.maxKeys,
        r.evictions,
        r.refusedKinds.length === 0 ? r.refused : `${r.refused} (${r.refusedKinds.join(', ')})`,
        Math.round(r.opsPerSec).toLocaleString('en'),
      ]),
    },
    targets: [
      {
        what: 'memoryUsedBytes never above maxBytes',
        ok: result.rows.every((r) => r.overBound === 0),
        detail: result.rows.map((r) => `${r.policy}: max ${r.maxUsedBytes}`).join(', '),
      },
    ],
  };
}
