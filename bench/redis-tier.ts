// Redis-tier scenarios, one per process: `tsx bench/redis-tier.ts <scenario> [contender] [mode] [--prefix=P]`.
//   l2-latency                      tiercache L2 hit vs raw GET + decode vs raw GET (one process, interleaved)
//   getmany                         getMany(100) vs sequential GETs vs Promise.all GETs vs MGET (interleaved)
//   bus                             set in this process -> `remote` event in a forked peer (bench/lib/bus-hop.ts)
//   throughput <contender> <mode>   contender: tiercache | bentocache | cache-manager; mode: tiered | l2
// Prints one JSON line (the last line of stdout). Every key lives under a prefix unique to the run and is
// removed at the end (SCAN + UNLINK by prefix); values carry a 1 h TTL so a crashed run cleans itself up.
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createKeyv as createRedisKeyv } from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import { createKeyv as createMemoryKeyv } from 'cacheable';
import { Redis } from 'ioredis';
import { Cache, type CacheStats, type StoreTierStats } from '../src/cache.js';
import { defaultCodec } from '../src/codec/codec.js';
import { decodeEntry } from '../src/entry.js';
import { redisStore } from '../src/stores/redis.js';
import { busHop } from './lib/bus-hop.js';
import { dist, percentile, sleep, timerCost, wall, type Dist } from './lib/timing.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_HOST = new URL(REDIS_URL).hostname;
const REDIS_PORT = Number(new URL(REDIS_URL).port || 6379);
const TTL_MS = 3_600_000;
const SCRIPT = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------------------
// Result shapes (read by bench/redis-report.ts)

export interface LatencyRow extends Dist {
  name: string;
}
export interface L2LatencyResult {
  keys: number;
  samples: number;
  warmup: number;
  timerNs: number;
  /** Microseconds, timer cost subtracted. */
  rows: LatencyRow[];
  redisHitFraction: number;
  memoryHitFraction: number;
  /** Reads that found nothing (should be 0). */
  misses: number;
  /** A separate check after the timed reads: how many of `sourceChecked` getResult calls reported `redis`. */
  sourceRedis: number;
  sourceChecked: number;
}
export interface GetManyResult {
  keys: number;
  batchSize: number;
  batches: number;
  warmupBatches: number;
  timerNs: number;
  /** Microseconds per batch. */
  rows: LatencyRow[];
  redisHitFraction: number;
  memoryHits: number;
  incomplete: number;
}
export type { BusResult } from './lib/bus-hop.js';
export interface ThroughputResult {
  name: string;
  mode: string;
  setup: string;
  error?: string;
  opsPerSec?: number;
  /** Microseconds per operation, under concurrency. */
  p50?: number;
  p99?: number;
  ops?: number;
  gets?: number;
  sets?: number;
  misses?: number;
  /** Reads answered without a Redis read. */
  l1Fraction?: number;
  durationMs?: number;
  warmupOps?: number;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

// The timing helpers moved to bench/lib/timing.ts; re-exported for the files that import them from here.
export { dist, percentile, sleep, timerCost, wall, type Dist };
const value = (i: number) => ({ id: i, name: `user ${i}`, active: true, score: i * 1.5 });

/** Deterministic PRNG (mulberry32), so every contender sees the same keys in the same order. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function permutation(n: number, random: () => number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = out[i] as number;
    out[i] = out[j] as number;
    out[j] = t;
  }
  return out;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Removes every key under `prefix` (SCAN + UNLINK, never FLUSHALL). Returns how many were removed. */
export async function deleteByPrefix(prefix: string): Promise<number> {
  if (!prefix.startsWith('tcbench:') || prefix.length < 12) throw new Error(`refusing to delete under prefix ${JSON.stringify(prefix)}`);
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let removed = 0;
  try {
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000);
      cursor = next;
      const mine = keys.filter((k) => k.startsWith(prefix));
      if (mine.length > 0) removed += await client.unlink(...mine);
    } while (cursor !== '0' && ++rounds < 1_000_000);
  } finally {
    await client.quit().catch(() => client.disconnect());
  }
  return removed;
}

/** Writes `count` keys `user:<i>` through tiercache, in batches. */
async function loadTiercache(cache: Cache, count: number): Promise<void> {
  for (let start = 0; start < count; start += 500) {
    const entries = [];
    for (let i = start; i < Math.min(count, start + 500); i++) entries.push({ key: `user:${i}`, value: value(i) });
    await cache.setMany(entries, { ttl: TTL_MS });
  }
}

/** The Redis store's counters in `getStats()`. */
function redisTierStats(stats: CacheStats): StoreTierStats {
  const redis = stats.stores.redis;
  if (redis === undefined) throw new Error('getStats().stores.redis is missing');
  return redis;
}

export function decodeStored(bytes: Buffer | null, key: string): unknown {
  if (bytes === null) return undefined;
  return defaultCodec.decode(decodeEntry(bytes, key).value, key);
}

// ---------------------------------------------------------------------------------------------------------
// 1. L2 hit latency

async function l2Latency(prefix: string): Promise<L2LatencyResult> {
  const KEYS = 20_000;
  const BLOCK = 500;
  const WARM = 5_000; // per contender, a multiple of BLOCK
  const SAMPLES = 30_000; // per contender, a multiple of BLOCK
  const cache = new Cache({ memory: { maxEntries: 16 }, stores: [redisStore({ url: REDIS_URL, prefix })], defaultTtl: TTL_MS });
  const raw = new Redis(REDIS_URL);
  try {
    await loadTiercache(cache, KEYS);
    const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`);
    const fullKeys = keys.map((k) => prefix + k);
    const random = rng(42);
    const order = new Uint32Array(WARM + SAMPLES);
    for (let i = 0; i < order.length; i++) order[i] = Math.floor(random() * KEYS);

    const contenders: { name: string; read: (i: number) => Promise<unknown> }[] = [
      { name: 'tiercache `get` (memory miss, Redis hit)', read: (i) => cache.get(keys[i] as string) },
      { name: 'raw ioredis `getBuffer` + `decodeEntry` + `defaultCodec.decode`', read: async (i) => decodeStored(await raw.getBuffer(fullKeys[i] as string), keys[i] as string) },
      { name: 'raw ioredis `getBuffer` only', read: (i) => raw.getBuffer(fullKeys[i] as string) },
    ];
    const samples = contenders.map(() => new Float64Array(SAMPLES));
    let misses = 0;
    const blocks = (WARM + SAMPLES) / BLOCK;
    for (let b = 0; b < blocks; b++) {
      if (b * BLOCK === WARM) cache.getStats({ reset: true });
      // Rotate who goes first, so drift (GC, Redis background work) falls on every contender alike.
      for (let r = 0; r < contenders.length; r++) {
        const c = (b + r) % contenders.length;
        const { read } = contenders[c] as (typeof contenders)[number];
        const out = samples[c] as Float64Array;
        for (let j = b * BLOCK; j < (b + 1) * BLOCK; j++) {
          const i = order[j] as number;
          const t0 = performance.now();
          const v = await read(i);
          const dt = performance.now() - t0;
          if (v === undefined || v === null) misses++;
          if (j >= WARM) out[j - WARM] = dt;
        }
      }
    }
    const stats = cache.getStats();
    const redisStats = redisTierStats(stats);
    const timer = timerCost();
    const rows = contenders.map((c, k) => ({ name: c.name, ...dist(samples[k] as Float64Array, 1000, timer) }));

    // Cross-check with getResult: which tier answered (untimed).
    let sourceRedis = 0;
    const sourceChecked = 2_000;
    for (let j = 0; j < sourceChecked; j++) {
      const result = await cache.getResult(keys[order[j] as number] as string);
      if (result.source === 'redis') sourceRedis++;
    }
    return {
      keys: KEYS,
      samples: SAMPLES,
      warmup: WARM,
      timerNs: timer * 1e6,
      rows,
      redisHitFraction: redisStats.hits / SAMPLES,
      memoryHitFraction: stats.tiers.memory.hits / SAMPLES,
      misses,
      sourceRedis,
      sourceChecked,
    };
  } finally {
    await cache.close();
    await raw.quit();
  }
}

// ---------------------------------------------------------------------------------------------------------
// 2. getMany of 100 keys

async function getMany(prefix: string): Promise<GetManyResult> {
  const KEYS = 20_000;
  const BATCH = 100;
  const WARM = 30;
  const BATCHES = 300;
  const cache = new Cache({ memory: { maxEntries: 16 }, stores: [redisStore({ url: REDIS_URL, prefix })], defaultTtl: TTL_MS });
  const raw = new Redis(REDIS_URL);
  try {
    await loadTiercache(cache, KEYS);
    const perm = permutation(KEYS, rng(7));
    const batches = Array.from({ length: WARM + BATCHES }, (_, b) => {
      const keys = Array.from({ length: BATCH }, (_, j) => `user:${perm[(b * BATCH + j) % KEYS] as number}`);
      return { keys, full: keys.map((k) => prefix + k) };
    });
    type Batch = (typeof batches)[number];
    const decodeAll = (replies: (Buffer | null)[], batch: Batch) => replies.map((r, j) => decodeStored(r, batch.keys[j] as string));
    const contenders: { name: string; run: (batch: Batch) => Promise<unknown[]> }[] = [
      { name: 'tiercache `getMany` (100 keys, all from Redis)', run: (batch) => cache.getMany(batch.keys) },
      {
        name: '100 sequential awaited `getBuffer` + decode',
        run: async (batch) => {
          const out: unknown[] = [];
          for (let j = 0; j < BATCH; j++) out.push(decodeStored(await raw.getBuffer(batch.full[j] as string), batch.keys[j] as string));
          return out;
        },
      },
      {
        name: '100 `getBuffer` + decode issued together (`Promise.all`)',
        run: (batch) => Promise.all(batch.full.map(async (k, j) => decodeStored(await raw.getBuffer(k), batch.keys[j] as string))),
      },
      { name: 'one raw `mgetBuffer` + decode', run: async (batch) => decodeAll(await raw.mgetBuffer(batch.full), batch) },
      { name: 'one raw `mgetBuffer`, no decode', run: (batch) => raw.mgetBuffer(batch.full) },
    ];
    const samples = contenders.map(() => new Float64Array(BATCHES));
    let incomplete = 0;
    for (let b = 0; b < WARM + BATCHES; b++) {
      if (b === WARM) cache.getStats({ reset: true });
      const batch = batches[b] as Batch;
      for (let r = 0; r < contenders.length; r++) {
        const c = (b + r) % contenders.length;
        const t0 = performance.now();
        const got = await (contenders[c] as (typeof contenders)[number]).run(batch);
        const dt = performance.now() - t0;
        if (got.length !== BATCH || got.some((v) => v === undefined || v === null)) incomplete++;
        if (b >= WARM) (samples[c] as Float64Array)[b - WARM] = dt;
      }
    }
    const stats = cache.getStats();
    const timer = timerCost();
    return {
      keys: KEYS,
      batchSize: BATCH,
      batches: BATCHES,
      warmupBatches: WARM,
      timerNs: timer * 1e6,
      rows: contenders.map((c, k) => ({ name: c.name, ...dist(samples[k] as Float64Array, 1000, timer) })),
      redisHitFraction: redisTierStats(stats).hits / (BATCH * BATCHES),
      memoryHits: stats.tiers.memory.hits,
      incomplete,
    };
  } finally {
    await cache.close();
    await raw.quit();
  }
}

// ---------------------------------------------------------------------------------------------------------
// 3. Bus propagation between two processes: bench/lib/bus-hop.ts (shared with the `redis-speed` section)

// ---------------------------------------------------------------------------------------------------------
// 4. Throughput at concurrency 64, tiered and L2-only

interface Contender {
  setup: string;
  get(key: string): Promise<unknown>;
  set(key: string, v: unknown): Promise<unknown>;
  /** Reads that went to Redis so far. */
  l2Reads(): number;
  close(): Promise<void>;
}

const T_KEYS = 10_000;
const T_L1 = 1_000;

/** Counts calls of `object[method]` (a Redis read) by wrapping it; returns the counter's reader. */
function countCalls(object: object, method: string): () => number {
  let calls = 0;
  const target = object as Record<string, (...args: unknown[]) => unknown>;
  const original = (target[method] as (...args: unknown[]) => unknown).bind(object);
  target[method] = (...args: unknown[]) => {
    calls++;
    return original(...args);
  };
  return () => calls;
}

function makeContender(contender: string, mode: string, prefix: string): Contender {
  const tiered = mode === 'tiered';
  // `<name>+autopipe`: the same library with ioredis's `enableAutoPipelining` (commands issued in one tick share a write).
  const autopipe = contender.endsWith('+autopipe');
  const name = autopipe ? contender.slice(0, -'+autopipe'.length) : contender;
  if (autopipe && name === 'cache-manager') throw new Error('cache-manager uses node-redis (via @keyv/redis), which always pipelines');
  const pipeNote = autopipe ? ', ioredis enableAutoPipelining' : '';
  switch (name) {
    case 'tiercache': {
      // tiercache cannot switch its memory tier off; one entry that lives 1 µs is as close as it gets.
      const memory = tiered ? { maxEntries: T_L1 } : { maxEntries: 1, maxTtl: 0.001 };
      const store = autopipe ? redisStore({ url: REDIS_URL, prefix, redis: { enableAutoPipelining: true } }) : redisStore({ url: REDIS_URL, prefix });
      const cache = new Cache({ memory, stores: [store], defaultTtl: TTL_MS });
      return {
        setup: (tiered ? `memory { maxEntries: ${T_L1} } (W-TinyLFU) + redisStore` : 'memory { maxEntries: 1, maxTtl: 0.001 } + redisStore') + pipeNote,
        get: (key) => cache.get(key),
        set: (key, v) => cache.set(key, v, { ttl: TTL_MS }),
        l2Reads: () => {
          const r = redisTierStats(cache.getStats());
          return r.hits + r.misses;
        },
        close: () => cache.close(),
      };
    }
    case 'bentocache': {
      // The driver is given an ioredis client made from { host, port } (what redisDriver would build) so its GETs can be counted.
      const connection = new Redis({ host: REDIS_HOST, port: REDIS_PORT, enableAutoPipelining: autopipe });
      const l2Reads = countCalls(connection, 'get');
      const store = tiered
        ? bentostore().useL1Layer(memoryDriver({ maxItems: T_L1 })).useL2Layer(redisDriver({ connection }))
        : bentostore().useL2Layer(redisDriver({ connection }));
      const bento = new BentoCache({ default: 'main', prefix: `${prefix}bento`, stores: { main: store } });
      return {
        setup: (tiered ? `memoryDriver({ maxItems: ${T_L1} }) L1 + redisDriver L2` : 'redisDriver L2 only (no L1 layer)') + pipeNote,
        get: (key) => bento.get({ key }),
        set: (key, v) => bento.set({ key, value: v, ttl: TTL_MS }),
        l2Reads,
        close: async () => {
          await bento.disconnectAll();
          if (connection.status !== 'end') connection.disconnect();
        },
      };
    }
    case 'cache-manager': {
      const redis = createRedisKeyv(REDIS_URL, { namespace: `${prefix}cm` });
      const l2Reads = countCalls(redis, 'get');
      const stores = tiered ? [createMemoryKeyv({ lruSize: T_L1 }), redis] : [redis];
      const manager = createCacheManager({ stores });
      return {
        setup: tiered ? `Keyv(CacheableMemory { lruSize: ${T_L1} }) + Keyv(@keyv/redis)` : 'Keyv(@keyv/redis) only',
        get: (key) => manager.get(key),
        set: (key, v) => manager.set(key, v, TTL_MS),
        l2Reads,
        close: () => manager.disconnect().then(() => undefined),
      };
    }
    default:
      throw new Error(`unknown contender ${contender}`);
  }
}

/** A Zipf(s) sampler over ranks 0..n-1 (rank 0 hottest), by inverse CDF. */
function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += 1 / Math.pow(k + 1, s);
    cdf[k] = sum;
  }
  for (let k = 0; k < n; k++) cdf[k] = (cdf[k] as number) / sum;
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

async function throughput(name: string, mode: string, prefix: string): Promise<ThroughputResult> {
  const CONCURRENCY = 64;
  const OPS = 1 << 20;
  const WARM_OPS = 60_000;
  const WARM_MAX_MS = 15_000;
  const DURATION_MS = 4_000;
  const MAX_SAMPLES = 4_000_000;
  const SET_FRACTION = 0.05;

  // The workload: the same for every contender (fixed seed).
  const random = rng(2024);
  const rankToKey = permutation(T_KEYS, random);
  const draw = zipf(T_KEYS, 0.99, random);
  const opKey = new Uint16Array(OPS);
  const opSet = new Uint8Array(OPS);
  for (let i = 0; i < OPS; i++) {
    opKey[i] = rankToKey[draw()] as number;
    opSet[i] = random() < SET_FRACTION ? 1 : 0;
  }
  const keys = Array.from({ length: T_KEYS }, (_, i) => `user:${i}`);
  const values = Array.from({ length: T_KEYS }, (_, i) => value(i));

  let contender: Contender;
  try {
    contender = makeContender(name, mode, prefix);
  } catch (error) {
    return { name, mode, setup: '', error: String(error) };
  }
  try {
    // Load every key through the contender's own API, in the same order, 64 at a time.
    const loadOrder = permutation(T_KEYS, rng(99));
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < T_KEYS) {
          const k = loadOrder[next++] as number;
          await contender.set(keys[k] as string, values[k]);
        }
      }),
    );

    let cursor = 0;
    let gets = 0;
    let sets = 0;
    let misses = 0;
    const samples = new Float64Array(MAX_SAMPLES);
    let recorded = 0;
    const phase = async (maxOps: number, maxMs: number, record: boolean) => {
      const deadline = performance.now() + maxMs;
      let issued = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (issued < maxOps && performance.now() < deadline) {
            issued++;
            const i = cursor++ & (OPS - 1);
            const k = opKey[i] as number;
            const isSet = opSet[i] === 1;
            const t0 = performance.now();
            if (isSet) {
              await contender.set(keys[k] as string, values[k]);
            } else {
              const v = await contender.get(keys[k] as string);
              if (v === undefined || v === null) misses++;
            }
            const dt = performance.now() - t0;
            if (record) {
              if (isSet) sets++;
              else gets++;
              if (recorded < MAX_SAMPLES) samples[recorded++] = dt;
            }
          }
        }),
      );
      return issued;
    };

    const warmupOps = await phase(WARM_OPS, WARM_MAX_MS, false);
    misses = 0;
    const l2Before = contender.l2Reads();
    const started = performance.now();
    const ops = await phase(Number.POSITIVE_INFINITY, DURATION_MS, true);
    const elapsed = performance.now() - started;
    const l2 = contender.l2Reads() - l2Before;
    const d = dist(samples.subarray(0, recorded), 1000);
    return {
      name,
      mode,
      setup: contender.setup,
      opsPerSec: ops / (elapsed / 1000),
      p50: d.p50,
      p99: d.p99,
      ops,
      gets,
      sets,
      misses,
      l1Fraction: gets === 0 ? 0 : 1 - l2 / gets,
      durationMs: elapsed,
      warmupOps,
    };
  } catch (error) {
    return { name, mode, setup: contender.setup, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await contender.close();
  }
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const given = process.argv.find((a) => a.startsWith('--prefix='))?.slice('--prefix='.length);
  const [scenario = '', contender = 'tiercache', mode = 'tiered'] = positional;
  const base = given ?? `tcbench:${Date.now().toString(36)}-${randomBytes(3).toString('hex')}:`;
  // Each scenario (and contender) writes under its own sub-prefix, removed at the end.
  const prefix = `${base}${scenario === 'throughput' ? `${contender}-${mode}` : scenario}:`;
  let result: unknown;
  try {
    switch (scenario) {
      case 'l2-latency':
        result = await l2Latency(prefix);
        break;
      case 'getmany':
        result = await getMany(prefix);
        break;
      case 'bus':
        result = await busHop('tiercache bus', prefix);
        break;
      case 'throughput':
        result = await throughput(contender, mode, prefix);
        break;
      default:
        throw new Error(`unknown scenario ${JSON.stringify(scenario)}: l2-latency | getmany | bus | throughput <contender> <mode>`);
    }
  } finally {
    const removed = await deleteByPrefix(prefix);
    console.error(`redis-tier ${scenario}: removed ${removed} keys under ${prefix}`);
  }
  console.log(JSON.stringify(result));
}

const invoked = process.argv[1] === undefined ? '' : realpathSync(process.argv[1]);
if (invoked === realpathSync(SCRIPT)) await main();
