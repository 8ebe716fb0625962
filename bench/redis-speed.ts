// The `redis-speed` scenarios of `npm run bench` (issue 15: the shared tier at the speed of the raw client), one
// contender per process; bench/redis-speed-report.ts runs them in interleaved rounds and renders the section.
//   tsx bench/redis-speed.ts ops <contender> --prefix=P    set (plain, tagged), L2 hit and getMany(100), sequential
//                                                          and 64 in flight
//   tsx bench/redis-speed.ts cold <contender> --prefix=P   1,000 getOrSet callers on one missing key, 20 ms loader (the loader of the figure issue 15 starts from)
//   tsx bench/redis-speed.ts codec                         encode and decode cost per entry, every method (no Redis)
//   tsx bench/redis-speed.ts bus <kind> --prefix=P         a write in this process -> dropped in a forked peer
//   tsx bench/redis-speed.ts paired --prefix=P             tiercache and its floor alternating in one process (the ratio targets)
// The command counts run on a private server (bench/lib/command-counts.ts); the hop is bench/lib/bus-hop.ts.
// Each prints one JSON line (the last line of stdout); keys live under the given prefix and are removed at the end.
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { createKeyv as createRedisKeyv } from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import { createKeyv as createMemoryKeyv } from 'cacheable';
import { Redis } from 'ioredis';
import { Cache } from '../src/cache.js';
import { defaultCodec } from '../src/codec/index.js';
import { decodeEntry, encodeEntry } from '../src/entry.js';
import { redisStore } from '../src/stores/redis.js';
import { busHop, type BusResult } from './lib/bus-hop.js';
import { createContender } from './lib/compute-contenders.js';
import { decodeStored, deleteByPrefix, dist, permutation, rng, sleep, timerCost } from './redis-tier.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS = new URL(REDIS_URL);
const REDIS_HOST = REDIS.hostname;
const REDIS_PORT = Number(REDIS.port || 6379);
export const TTL_MS = 3_600_000;
/** Operations in flight in the concurrent phases. */
export const IN_FLIGHT = 64;
/** Memory-tier size for every contender that has one: tiercache's default `maxEntries`. */
const L1_ENTRIES = 10_000;
const KEYS = 10_000;
const BATCH = 100;
const WARM_MS = 200;
const TIMED_MS = 600;
/** Tags of the tagged `set` case. */
export const SET_TAGS = ['team:7', 'plan:pro'];
const MAX_SAMPLES = 1 << 20;

/** The value every case writes and reads: a ~200-byte JSON-ish record. */
export function speedValue(i: number): Record<string, unknown> {
  return {
    id: i,
    name: `user ${i}`,
    email: `user${i}@example.com`,
    active: i % 3 !== 0,
    score: i * 1.5,
    plan: 'team',
    roles: ['reader', 'editor'],
    createdAt: '2026-03-14T09:26:53.589Z',
    address: { city: 'Lyon', country: 'FR', zip: '69001' },
    visits: 1_000 + i,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Timing: every operation timed on its own (`performance.now()` around one call, the cost of an empty pair
// subtracted), by `concurrency` async workers sharing one operation counter, for a fixed time.

export interface Phase {
  opsPerSec: number;
  /** Microseconds per operation (queueing included when concurrent). */
  p50: number;
  p99: number;
  ops: number;
  /** Reads that found nothing (should be 0). */
  misses: number;
}

async function runPhase(op: (i: number) => Promise<unknown>, concurrency: number, ms: number, countMisses: boolean, timer: number): Promise<Phase> {
  const samples = new Float64Array(MAX_SAMPLES);
  let next = 0;
  let misses = 0;
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const i = next++;
        const t0 = performance.now();
        const v = await op(i);
        const dt = performance.now() - t0;
        if (i < MAX_SAMPLES) samples[i] = dt;
        if (countMisses && (v === undefined || v === null)) misses++;
      }
    }),
  );
  const elapsed = performance.now() - started;
  const d = dist(samples.subarray(0, Math.min(next, MAX_SAMPLES)), 1000, timer);
  return { opsPerSec: next / (elapsed / 1000), p50: d.p50, p99: d.p99, ops: next, misses };
}

export interface PhasePair {
  sequential: Phase;
  inFlight: Phase;
  /** Untimed operations before the timed phases. */
  warmOps: number;
}

/** A warm-up, then the timed sequential and 64-in-flight phases of one operation. */
async function measure(op: (i: number) => Promise<unknown>, countMisses: boolean, timer: number): Promise<PhasePair> {
  const warm = await runPhase(op, IN_FLIGHT, WARM_MS, false, timer);
  const sequential = await runPhase(op, 1, TIMED_MS, countMisses, timer);
  const inFlight = await runPhase(op, IN_FLIGHT, TIMED_MS, countMisses, timer);
  return { sequential, inFlight, warmOps: warm.ops };
}

// ---------------------------------------------------------------------------------------------------------
// ops: set, L2 hit, getMany(100)

export const OPS_CONTENDERS = ['tiercache', 'raw', 'raw+codec', 'bentocache', 'cache-manager'] as const;
export type OpsName = (typeof OPS_CONTENDERS)[number];

interface OpsContender {
  /** How each case is set up, as the report shows it. */
  setup: { set?: string; taggedSet?: string; get?: string; getMany?: string };
  set?: (key: string, v: unknown) => Promise<unknown>;
  /** `set` with the two tags of {@link SET_TAGS}. */
  taggedSet?: (key: string, v: unknown) => Promise<unknown>;
  /** Writes the keys the reads use, through this contender (or, for `raw+codec`, through tiercache). */
  load: (keys: readonly string[], values: readonly unknown[]) => Promise<void>;
  /** A read answered by Redis: the memory tier, where there is one, kept out of the way. */
  get?: (key: string) => Promise<unknown>;
  getMany?: (keys: readonly string[]) => Promise<readonly unknown[]>;
  /** tiercache only: reads its Redis tier answered so far. */
  redisHits?: () => number;
  close: () => Promise<void>;
}

const parseJson = (bytes: Buffer | null): unknown => (bytes === null ? undefined : JSON.parse(bytes.toString('utf8')));

async function inChunks<T>(items: readonly T[], write: (chunk: readonly T[]) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < items.length; start += 500) await write(items.slice(start, start + 500));
}

async function loadThroughTiercache(cache: Cache, keys: readonly string[], values: readonly unknown[]): Promise<void> {
  const entries = keys.map((key, i) => ({ key, value: values[i] }));
  await inChunks(entries, (chunk) => cache.setMany(chunk, { ttl: TTL_MS }));
}

function tiercacheOps(prefix: string): OpsContender {
  // `set` as a user has it: the memory tier at its defaults in front of Redis. Reads use a second cache whose
  // memory tier holds one entry for 1 µs, so every `get` goes to Redis (the memory tier cannot be switched off).
  const user = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })] });
  const l2 = new Cache({ memory: { maxEntries: 1, maxTtl: 0.001 }, stores: [redisStore({ url: REDIS_URL, prefix })] });
  return {
    setup: {
      set: '`new Cache({ stores: [redisStore({ url, prefix })] })`, `cache.set(k, v, { ttl })`',
      taggedSet: 'the same cache, `cache.set(k, v, { ttl, tags })`',
      get: '`memory: { maxEntries: 1, maxTtl: 0.001 }` + `redisStore`, `cache.get(k)`',
      getMany: 'the same cache, `cache.getMany(keys)`',
    },
    set: (key, v) => user.set(key, v, { ttl: TTL_MS }),
    taggedSet: (key, v) => user.set(key, v, { ttl: TTL_MS, tags: SET_TAGS }),
    load: (keys, values) => loadThroughTiercache(l2, keys, values),
    get: (key) => l2.get(key),
    getMany: (keys) => l2.getMany(keys),
    redisHits: () => l2.getStats().stores.redis?.hits ?? 0,
    close: async () => {
      await Promise.all([user.close(), l2.close()]);
    },
  };
}

function rawOps(prefix: string): OpsContender {
  const raw = new Redis(REDIS_URL);
  return {
    setup: {
      set: '`redis.set(k, JSON.stringify(v), "PX", ttl)`',
      get: '`JSON.parse((await redis.getBuffer(k)).toString())`',
      getMany: 'one `redis.mgetBuffer(keys)` + `JSON.parse` of each',
    },
    set: (key, v) => raw.set(prefix + key, JSON.stringify(v), 'PX', TTL_MS),
    load: (keys, values) =>
      inChunks(
        keys.map((key, i) => [key, values[i]] as const),
        (chunk) => raw.pipeline(chunk.map(([key, v]) => ['set', prefix + key, JSON.stringify(v), 'PX', TTL_MS])).exec(),
      ),
    get: async (key) => parseJson(await raw.getBuffer(prefix + key)),
    getMany: async (keys) => (await raw.mgetBuffer(keys.map((key) => prefix + key))).map(parseJson),
    close: async () => {
      await raw.quit();
    },
  };
}

function rawCodecOps(prefix: string): OpsContender {
  const raw = new Redis(REDIS_URL);
  return {
    setup: {
      get: '`redis.getBuffer(k)` + `decodeEntry` + `defaultCodec.decode` (the bytes tiercache wrote)',
      getMany: 'one `redis.mgetBuffer(keys)` + `decodeEntry` + `defaultCodec.decode` of each',
    },
    load: async (keys, values) => {
      const writer = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })] });
      try {
        await loadThroughTiercache(writer, keys, values);
      } finally {
        await writer.close();
      }
    },
    get: async (key) => decodeStored(await raw.getBuffer(prefix + key), key),
    getMany: async (keys) => (await raw.mgetBuffer(keys.map((key) => prefix + key))).map((bytes, j) => decodeStored(bytes, keys[j] as string)),
    close: async () => {
      await raw.quit();
    },
  };
}

function bentoOps(prefix: string): OpsContender {
  const connection = { host: REDIS_HOST, port: REDIS_PORT };
  const tiered = bentostore().useL1Layer(memoryDriver({ maxItems: L1_ENTRIES })).useL2Layer(redisDriver({ connection }));
  const user = new BentoCache({ default: 'main', prefix: `${prefix}bento`, stores: { main: tiered } });
  const l2 = new BentoCache({ default: 'main', prefix: `${prefix}bento`, stores: { main: bentostore().useL2Layer(redisDriver({ connection })) } });
  return {
    setup: {
      set: `\`memoryDriver({ maxItems: ${L1_ENTRIES} })\` L1 + \`redisDriver\` L2, \`bento.set({ key, value, ttl })\``,
      taggedSet: 'the same, `bento.set({ key, value, ttl, tags })`',
      get: '`redisDriver` L2 only, `bento.get({ key })`',
    },
    set: (key, v) => user.set({ key, value: v, ttl: TTL_MS }),
    taggedSet: (key, v) => user.set({ key, value: v, ttl: TTL_MS, tags: SET_TAGS }),
    load: (keys, values) => inChunks(keys.map((key, i) => ({ key, value: values[i] })), (chunk) => Promise.all(chunk.map((e) => l2.set({ ...e, ttl: TTL_MS })))),
    get: (key) => l2.get({ key }),
    close: async () => {
      await Promise.all([user.disconnectAll(), l2.disconnectAll()]);
    },
  };
}

function cacheManagerOps(prefix: string): OpsContender {
  const namespace = `${prefix}cm`;
  const user = createCacheManager({ stores: [createMemoryKeyv({ lruSize: L1_ENTRIES }), createRedisKeyv(REDIS_URL, { namespace })] });
  const l2 = createCacheManager({ stores: [createRedisKeyv(REDIS_URL, { namespace })] });
  return {
    setup: {
      set: `\`createCache({ stores: [Keyv(CacheableMemory { lruSize: ${L1_ENTRIES} }), Keyv(@keyv/redis)] })\`, \`set(k, v, ttl)\``,
      get: '`createCache({ stores: [Keyv(@keyv/redis)] })`, `get(k)`',
      getMany: 'the same, `mget(keys)`',
    },
    set: (key, v) => user.set(key, v, TTL_MS),
    load: (keys, values) => inChunks(keys.map((key, i) => ({ key, value: values[i], ttl: TTL_MS })), (chunk) => l2.mset([...chunk])),
    get: (key) => l2.get(key),
    getMany: (keys) => l2.mget([...keys]),
    close: async () => {
      await Promise.all([user.disconnect(), l2.disconnect()]);
    },
  };
}

function opsContender(name: string, prefix: string): OpsContender {
  switch (name) {
    case 'tiercache':
      return tiercacheOps(prefix);
    case 'raw':
      return rawOps(prefix);
    case 'raw+codec':
      return rawCodecOps(prefix);
    case 'bentocache':
      return bentoOps(prefix);
    case 'cache-manager':
      return cacheManagerOps(prefix);
    default:
      throw new Error(`unknown contender ${name}: ${OPS_CONTENDERS.join(' | ')}`);
  }
}

export interface OpsResult {
  name: string;
  setup: OpsContender['setup'];
  set?: PhasePair;
  taggedSet?: PhasePair;
  get?: PhasePair;
  /** Per batch of 100 keys. */
  getMany?: PhasePair;
  /** tiercache: share of the case's `get` calls (warm-up included) its Redis tier answered. */
  redisHitFraction?: number;
  timerNs: number;
}

async function ops(name: string, prefix: string): Promise<OpsResult> {
  const c = opsContender(name, prefix);
  try {
    const timer = timerCost();
    const result: OpsResult = { name, setup: c.setup, timerNs: timer * 1e6 };
    const values = Array.from({ length: KEYS }, (_, i) => speedValue(i));
    const order = permutation(KEYS, rng(42));
    const keyAt = (i: number) => order[i % KEYS] as number;
    if (c.set !== undefined) {
      const set = c.set;
      const setKeys = Array.from({ length: KEYS }, (_, i) => `set:${i}`);
      result.set = await measure((i) => set(setKeys[keyAt(i)] as string, values[keyAt(i)]), false, timer);
    }
    if (c.taggedSet !== undefined) {
      const taggedSet = c.taggedSet;
      const taggedKeys = Array.from({ length: KEYS }, (_, i) => `tagged:${i}`);
      result.taggedSet = await measure((i) => taggedSet(taggedKeys[keyAt(i)] as string, values[keyAt(i)]), false, timer);
    }
    const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`);
    await c.load(keys, values);
    if (c.get !== undefined) {
      const get = c.get;
      const before = c.redisHits?.() ?? 0;
      result.get = await measure((i) => get(keys[keyAt(i)] as string), true, timer);
      const reads = result.get.warmOps + result.get.sequential.ops + result.get.inFlight.ops;
      if (c.redisHits !== undefined) result.redisHitFraction = (c.redisHits() - before) / reads;
    }
    if (c.getMany !== undefined) {
      const getMany = c.getMany;
      const batches = Array.from({ length: KEYS / BATCH }, (_, b) => Array.from({ length: BATCH }, (_, j) => keys[order[b * BATCH + j] as number] as string));
      result.getMany = await measure(async (i) => {
        const got = await getMany(batches[i % batches.length] as string[]);
        // A batch with a hole counts as a miss.
        return got.length === BATCH && got.every((v) => v !== undefined && v !== null) ? got : undefined;
      }, true, timer);
    }
    return result;
  } finally {
    await c.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// cold: 1,000 concurrent getOrSet callers on one missing key

export const COLD_CONTENDERS = ['tiercache memory-only', 'tiercache tiered', 'bentocache tiered', 'cache-manager tiered'] as const;
const COLD_CALLERS = 1_000;
export const COLD_LOADER_MS = 20;
const COLD_ROUNDS = 5;

interface ColdContender {
  setup: string;
  getOrSet: (key: string, loader: () => Promise<unknown>) => Promise<unknown>;
  warm: () => Promise<void>;
  close: () => Promise<void>;
}

function coldContender(name: string, prefix: string): ColdContender {
  const redis = { url: REDIS_URL, prefix };
  const fromCompute = (c: ReturnType<typeof createContender>): ColdContender => ({
    setup: c.setup,
    getOrSet: (key, loader) => c.getOrSet(key, loader, { ttlMs: TTL_MS }),
    warm: () => c.warm(),
    close: () => c.close(),
  });
  switch (name) {
    case 'tiercache memory-only':
      return fromCompute(createContender('tiercache'));
    case 'tiercache tiered':
      return fromCompute(createContender('tiercache', redis));
    case 'bentocache tiered':
      return fromCompute(createContender('bentocache', redis));
    case 'cache-manager tiered': {
      const manager = createCacheManager({ stores: [createMemoryKeyv({ lruSize: 1_000 }), createRedisKeyv(REDIS_URL, { namespace: `${prefix}cm` })] });
      return {
        setup: '`createCache({ stores: [Keyv(CacheableMemory), Keyv(@keyv/redis)] })`, `wrap(key, loader, ttl)`',
        getOrSet: (key, loader) => manager.wrap(key, loader, TTL_MS),
        warm: async () => {
          await manager.get('warm-up');
        },
        close: async () => {
          await manager.disconnect();
        },
      };
    }
    default:
      throw new Error(`unknown contender ${name}: ${COLD_CONTENDERS.join(' | ')}`);
  }
}

export interface ColdRound {
  wallMs: number;
  loaderCalls: number;
  /** Callers that got the loader's value. */
  resolved: number;
}
export interface ColdResult {
  name: string;
  setup: string;
  rounds: ColdRound[];
}

async function coldRound(c: ColdContender, key: string): Promise<ColdRound> {
  let loaderCalls = 0;
  const loader = async () => {
    loaderCalls++;
    await sleep(COLD_LOADER_MS);
    return { id: 7, at: Date.now() };
  };
  const started = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < COLD_CALLERS; i++) pending.push(c.getOrSet(key, loader));
  const settled = await Promise.allSettled(pending);
  const wallMs = performance.now() - started;
  const resolved = settled.filter((s) => s.status === 'fulfilled' && (s.value as { id?: number } | undefined)?.id === 7).length;
  return { wallMs, loaderCalls, resolved };
}

async function cold(name: string, prefix: string): Promise<ColdResult> {
  const c = coldContender(name, prefix);
  try {
    await c.warm();
    await coldRound(c, 'cold:warm-up');
    const rounds: ColdRound[] = [];
    for (let r = 0; r < COLD_ROUNDS; r++) rounds.push(await coldRound(c, `cold:${r}`));
    return { name, setup: c.setup, rounds };
  } finally {
    await c.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// codec: encode and decode cost per entry, beside JSON and v8 serialization of the same value

export const CODEC_METHODS = ['tiercache codec', 'tiercache entry', 'JSON', 'v8'] as const;
export const CODEC_VALUES = ['small object', 'forecast', '10 kB array'] as const;
/** Warm-up, timed calls and untimed loop each run this long, per method, value and direction. */
const CODEC_SLICE_MS = 60;
export const CODEC_ROUNDS = 3;

interface Serializer {
  encode: (v: unknown) => unknown;
  decode: (bytes: unknown) => unknown;
}

function serializer(method: string): Serializer {
  switch (method) {
    case 'tiercache codec':
      return { encode: (v) => defaultCodec.encode(v), decode: (b) => defaultCodec.decode(b as Uint8Array) };
    case 'tiercache entry': {
      // What one Redis read costs tiercache beyond the bytes: the entry header, then the codec.
      const header = { createdAt: Date.now(), expiresAt: Date.now() + TTL_MS, tags: undefined, stamps: undefined };
      return { encode: (v) => encodeEntry(defaultCodec.encode(v), header), decode: (b) => defaultCodec.decode(decodeEntry(b as Uint8Array).value) };
    }
    case 'JSON':
      return { encode: (v) => JSON.stringify(v), decode: (s) => JSON.parse(s as string) };
    case 'v8':
      return { encode: (v) => v8.serialize(v), decode: (b) => v8.deserialize(b as Buffer) };
    default:
      throw new Error(`unknown method ${method}: ${CODEC_METHODS.join(' | ')}`);
  }
}

/**
 * The values of the codec case: the ~200-byte record above; a forecast-like object (a Date per point and
 * numbers: 24 points of an hourly forecast); an array of ~10 kB of JSON (68 small records).
 */
export function codecValue(kind: string): unknown {
  switch (kind) {
    case 'small object':
      return speedValue(1);
    case 'forecast': {
      const start = Date.UTC(2026, 0, 1);
      return {
        model: 'seasonal-v3',
        generatedAt: new Date(start),
        horizonHours: 24,
        points: Array.from({ length: 24 }, (_, i) => ({
          at: new Date(start + i * 3_600_000),
          value: 1234.5 + i * 10.25,
          low: 1100.125 + i * 9.5,
          high: 1390.875 + i * 11,
        })),
      };
    }
    case '10 kB array':
      return Array.from({ length: 68 }, (_, i) => ({ id: i, sku: `SKU-${1000 + i}`, title: `Item number ${i}`, price: 9.99 + i, qty: i % 7, tags: ['a', 'b'], inStock: i % 2 === 0, updated: '2026-03-14T09:26:53.589Z' }));
    default:
      throw new Error(`unknown value ${kind}: ${CODEC_VALUES.join(' | ')}`);
  }
}

export interface CodecTiming {
  /** Nanoseconds per call: the median of calls timed one by one (timer subtracted), and the mean of an untimed loop. */
  p50: number;
  mean: number;
}
export interface CodecRow {
  value: string;
  bytes: number;
  /** Whether decode(encode(v)) gave back Date instances (forecast only). */
  typesKept?: boolean;
  encode: CodecTiming;
  decode: CodecTiming;
}
export interface CodecResult {
  method: string;
  rows: CodecRow[];
}

function timeCalls(run: () => unknown, timer: number): CodecTiming {
  const warmUntil = performance.now() + CODEC_SLICE_MS;
  while (performance.now() < warmUntil) for (let i = 0; i < 100; i++) run();
  const samples = new Float64Array(MAX_SAMPLES);
  let n = 0;
  const timedUntil = performance.now() + CODEC_SLICE_MS;
  while (n < MAX_SAMPLES && performance.now() < timedUntil) {
    const t0 = performance.now();
    run();
    samples[n++] = performance.now() - t0;
  }
  let loops = 0;
  const started = performance.now();
  const loopUntil = started + CODEC_SLICE_MS;
  while (performance.now() < loopUntil) {
    for (let i = 0; i < 100; i++) run();
    loops += 100;
  }
  const mean = ((performance.now() - started) / loops) * 1e6;
  return { p50: dist(samples.subarray(0, n), 1e6, timer).p50, mean };
}

function codecRows(method: string, timer: number): CodecRow[] {
  const s = serializer(method);
  return CODEC_VALUES.flatMap((kind): CodecRow[] => {
    const v = codecValue(kind);
    let encoded: unknown;
    try {
      encoded = s.encode(v);
    } catch (error) {
      console.error(`codec ${method} ${kind}: ${String(error)}`);
      return [];
    }
    const bytes = typeof encoded === 'string' ? Buffer.byteLength(encoded) : (encoded as Uint8Array).length;
    const row: CodecRow = { value: kind, bytes, encode: timeCalls(() => s.encode(v), timer), decode: timeCalls(() => s.decode(encoded), timer) };
    if (kind === 'forecast') {
      const back = s.decode(encoded) as { generatedAt?: unknown };
      row.typesKept = back.generatedAt instanceof Date;
    }
    return [row];
  });
}

/** Every method in one process, the order rotated by `round` (the report runs rounds in fresh processes). */
function codec(round: number): CodecResult[] {
  const timer = timerCost();
  return CODEC_METHODS.map((_, i) => CODEC_METHODS[(i + round) % CODEC_METHODS.length] as string).map((method) => ({ method, rows: codecRows(method, timer) }));
}

// ---------------------------------------------------------------------------------------------------------
// bus: the hop of bench/lib/bus-hop.ts, shorter than the `redis` section's so that every kind runs in rounds

export const BUS_MESSAGES = 600;
const BUS_WARM = 100;

function bus(kind: string, prefix: string): Promise<BusResult> {
  return busHop(kind, prefix, { warm: BUS_WARM, messages: BUS_MESSAGES, periodMs: 2 });
}

// ---------------------------------------------------------------------------------------------------------

export const newRunPrefix = () => `tcbench:${Date.now().toString(36)}-${randomBytes(3).toString('hex')}:`;

// ---------------------------------------------------------------------------------------------------------
// paired: tiercache and its floor in one process, in alternating short phases, for the ratio targets. Separate
// processes give each contender a clean heap, but on a shared machine two processes minutes apart can differ by
// more than the gap measured; here both sides of each ratio ran within the same second.

export const PAIRED_ROUNDS = 6;
export const PAIRED_MS = 300;

export interface PairedResult {
  /** tiercache ÷ raw, one per round: L2 hit sequential p50, L2 hit ops/s at 64 in flight, and the same for getMany(100). */
  getP50: number[];
  getInFlight: number[];
  manyP50: number[];
  manyInFlight: number[];
  /** 1,000 cold-key callers, all resolved: tiered ÷ memory-only, one per round. */
  cold: number[];
}

async function paired(prefix: string): Promise<PairedResult> {
  const ours = tiercacheOps(`${prefix}tc:`);
  const floor = rawOps(`${prefix}raw:`);
  const memoryOnly = coldContender('tiercache memory-only', `${prefix}cold-memory:`);
  const tiered = coldContender('tiercache tiered', `${prefix}cold-tiered:`);
  try {
    const timer = timerCost();
    const values = Array.from({ length: KEYS }, (_, i) => speedValue(i));
    const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`);
    const order = permutation(KEYS, rng(42));
    const keyAt = (i: number) => keys[order[i % KEYS] as number] as string;
    const batches = Array.from({ length: KEYS / BATCH }, (_, b) => Array.from({ length: BATCH }, (_, j) => keys[order[b * BATCH + j] as number] as string));
    await Promise.all([ours.load(keys, values), floor.load(keys, values), memoryOnly.warm(), tiered.warm()]);
    const get = (c: OpsContender) => (i: number) => (c.get as (key: string) => Promise<unknown>)(keyAt(i));
    const many = (c: OpsContender) => (i: number) => (c.getMany as (keys: readonly string[]) => Promise<unknown>)(batches[i % batches.length] as string[]);
    for (const c of [ours, floor]) {
      await runPhase(get(c), IN_FLIGHT, WARM_MS, false, timer);
      await runPhase(many(c), IN_FLIGHT, WARM_MS, false, timer);
    }
    await coldRound(memoryOnly, 'cold:warm-up');
    await coldRound(tiered, 'cold:warm-up');
    const result: PairedResult = { getP50: [], getInFlight: [], manyP50: [], manyInFlight: [], cold: [] };
    // Who goes first alternates by round.
    const both = async (round: number, op: (c: OpsContender) => (i: number) => Promise<unknown>, concurrency: number) => {
      const first = round % 2 === 0 ? ours : floor;
      const second = first === ours ? floor : ours;
      const a = await runPhase(op(first), concurrency, PAIRED_MS, false, timer);
      const b = await runPhase(op(second), concurrency, PAIRED_MS, false, timer);
      return first === ours ? { ours: a, floor: b } : { ours: b, floor: a };
    };
    for (let round = 0; round < PAIRED_ROUNDS; round++) {
      const g = await both(round, get, 1);
      result.getP50.push(g.ours.p50 / g.floor.p50);
      const gf = await both(round, get, IN_FLIGHT);
      result.getInFlight.push(gf.ours.opsPerSec / gf.floor.opsPerSec);
      const m = await both(round, many, 1);
      result.manyP50.push(m.ours.p50 / m.floor.p50);
      const mf = await both(round, many, IN_FLIGHT);
      result.manyInFlight.push(mf.ours.opsPerSec / mf.floor.opsPerSec);
      const memoryFirst = round % 2 === 0;
      const x = await coldRound(memoryFirst ? memoryOnly : tiered, `cold:${round}:a`);
      const y = await coldRound(memoryFirst ? tiered : memoryOnly, `cold:${round}:b`);
      result.cold.push(memoryFirst ? y.wallMs / x.wallMs : x.wallMs / y.wallMs);
    }
    return result;
  } finally {
    await Promise.all([ours.close(), floor.close(), memoryOnly.close(), tiered.close()]);
  }
}

async function main(): Promise<void> {
  const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const base = process.argv.find((a) => a.startsWith('--prefix='))?.slice('--prefix='.length) ?? newRunPrefix();
  const [scenario = '', name = ''] = positional;
  if (scenario === 'codec') {
    console.log(JSON.stringify(codec(Number(name || 0))));
    return;
  }
  const prefix = `${base}${scenario}-${name.replace(/[^a-z+-]/gi, '_')}:`;
  let result: unknown;
  try {
    if (scenario === 'ops') result = await ops(name, prefix);
    else if (scenario === 'cold') result = await cold(name, prefix);
    else if (scenario === 'bus') result = await bus(name, prefix);
    else if (scenario === 'paired') result = await paired(prefix);
    else throw new Error(`unknown scenario ${JSON.stringify(scenario)}: ops <contender> | cold <contender> | codec [round] | bus <kind> | paired`);
  } finally {
    const removed = await deleteByPrefix(prefix);
    console.error(`redis-speed ${scenario} ${name}: removed ${removed} keys under ${prefix}`);
  }
  console.log(JSON.stringify(result));
}

const invoked = process.argv[1] === undefined ? '' : realpathSync(process.argv[1]);
if (invoked === realpathSync(fileURLToPath(import.meta.url))) await main();
