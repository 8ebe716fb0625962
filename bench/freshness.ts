// Freshness scenarios, one configuration per process; prints one JSON line (the last line of stdout):
//   invalidate <tiercache|bentocache> <memory|redis> <entries>   latency of one tag invalidation, N entries carrying the tag
//   tagged-get <tiercache|bentocache> <tags per entry>          memory-tier hit latency on entries with 0..n tags
//   pattern <100|10000>                                          invalidatePattern over 100,000 Redis keys, PINGed meanwhile
//   ping-peer                                                    (internal) the PING loop `pattern` forks
// Options: --prefix=P (Redis key prefix; default: a fresh `tcbench:fresh:<hex>:`). Every Redis key lives under
// the prefix and is removed at the end (SCAN + UNLINK by prefix); entries carry a 1 h TTL, so a crashed run
// also cleans itself up (tag markers excepted: the sweep in bench/freshness-report.ts catches those).
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { Redis } from 'ioredis';
import { redisBus } from '../src/bus/redis.js';
import { Cache } from '../src/cache.js';
import { redisStore } from '../src/stores/redis.js';
import { nextMessage } from './lib/bus-hop.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_HOST = new URL(REDIS_URL).hostname;
const REDIS_PORT = Number(new URL(REDIS_URL).port || 6379);
const TTL_MS = 3_600_000;
const SCRIPT = fileURLToPath(import.meta.url);
/** No scenario may run longer than this; every long loop checks it. */
const DEADLINE = performance.now() + 10 * 60_000;

// ---------------------------------------------------------------------------------------------------------
// Result shapes (read by bench/freshness-report.ts)

export interface Dist {
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

export interface InvalidateResult {
  contender: string;
  tiers: 'memory' | 'redis';
  setup: string;
  entries: number;
  /** Seconds to write the tagged entries. */
  loadSeconds: number;
  /** Entries held by the memory tier / found in Redis under the prefix after loading. */
  inMemory: number;
  inRedis: number;
  warmup: number;
  runs: number;
  /** Microseconds per `invalidateTags` / `deleteByTag` call. */
  latency: Dist;
  /** Probes written just before a call that still read back afterwards (must be 0). */
  probeSurvived: number;
  /** Bulk entries (written at load time) that read back after an invalidation (must be 0). */
  bulkSurvived: number;
  /** Entries written with the tag right after a call that did not read back (should be 0). */
  freshLost: number;
  /** The same, with a 2 ms pause between the call and the write, over `pausedRuns` calls. */
  freshLostAfterPause: number;
  pausedRuns: number;
  /** Redis commands sent per call by name, where countable (tiercache: its store and bus connections). */
  commandsPerCall: Record<string, number> | undefined;
}

export interface TaggedGetResult {
  contender: string;
  tags: number;
  keys: number;
  samples: number;
  timerNs: number;
  /** Nanoseconds per read, timer cost subtracted. */
  p50: number;
  p99: number;
  /** Nanoseconds per read in an untimed loop of `loopReads` reads. */
  loopNs: number;
  loopReads: number;
}

export interface PingStats {
  count: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  max: number;
}

export interface PatternResult {
  pattern: string;
  keys: number;
  expected: number;
  removed: number;
  loadSeconds: number;
  /** Keys in the whole Redis database when the call started (SCAN walks all of them). */
  dbsize: number;
  inMemory: number;
  /** Milliseconds for `invalidatePattern`. */
  wallMs: number;
  /** SCAN calls the store's connection made, and keys those calls returned. */
  clientScans: number;
  clientScanReturned: number;
  /** `INFO commandstats` deltas over the call (the server is shared: other clients' commands count too). */
  serverScans: number;
  serverScanUsec: number;
  serverUnlinks: number;
  serverUnlinkUsec: number;
  /** Scripts the server ran (a prefix deletion is one script per 500 keys), and their server time. */
  serverScripts: number;
  serverScriptUsec: number;
  /** How long building the prefix index took, before the call (one SCAN of the prefix). */
  indexBuildMs: number;
  /**
   * From `LATENCY HISTOGRAM` before and after the call: the upper bound (µs) of the slowest bucket that received a
   * SCAN / UNLINK meanwhile (power-of-two buckets; shared server, so other clients' calls count too).
   */
  slowestScanUs: number;
  slowestUnlinkUs: number;
  /** SLOWLOG entries added during the call, and the server's threshold (µs). */
  slowlogEntries: number;
  slowlogThresholdUs: number;
  /** Matching keys still under the prefix afterwards (must be 0), and keys left in all (must be keys - removed). */
  leftMatching: number;
  leftTotal: number;
  /** Matched keys that `get` still returned (must be 0); unmatched keys `get` lost (must be 0). */
  readAfter: number;
  unmatchedLost: number;
  pingBaseline: PingStats;
  pingDuring: PingStats;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const value = (i: number) => ({ id: i, name: `item ${i}`, active: true, score: i * 1.5 });

function checkDeadline(): void {
  if (performance.now() > DEADLINE) throw new Error('scenario ran past its time limit');
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

/** Distribution of `samples` (sorted in place), in ms, minus `offset`, times `scale`. */
function dist(samples: Float64Array, scale: number, offset = 0): Dist {
  samples.sort();
  const f = (x: number) => Math.max(0, x - offset) * scale;
  let sum = 0;
  for (const s of samples) sum += s;
  return { p50: f(percentile(samples, 0.5)), p99: f(percentile(samples, 0.99)), mean: f(sum / Math.max(1, samples.length)), max: f(samples[samples.length - 1] ?? 0) };
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function newPrefix(): string {
  return `tcbench:fresh:${randomBytes(4).toString('hex')}:`;
}

function checkPrefix(prefix: string): void {
  if (!prefix.startsWith('tcbench:') || prefix.length < 14) throw new Error(`refusing to work under prefix ${JSON.stringify(prefix)}`);
}

/** Keys under `prefix` (SCAN, bounded), optionally only those `keep` accepts. */
async function listByPrefix(client: Redis, prefix: string, keep: (key: string) => boolean = () => true): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  let rounds = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) if (k.startsWith(prefix) && keep(k)) out.push(k);
    checkDeadline();
  } while (cursor !== '0' && ++rounds < 1_000_000);
  return out;
}

/** Removes every key under `prefix` (SCAN + UNLINK, never FLUSHALL). Returns how many were removed. */
export async function deleteByPrefix(prefix: string): Promise<number> {
  checkPrefix(prefix);
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let removed = 0;
  try {
    const keys = await listByPrefix(client, prefix);
    for (let i = 0; i < keys.length; i += 1000) removed += await client.unlink(...keys.slice(i, i + 1000));
  } finally {
    await client.quit().catch(() => client.disconnect());
  }
  return removed;
}

/** Counts calls of `method` on `target` (an ioredis client), leaving its behaviour unchanged. */
function countCalls(target: object, method: string): { calls: number } {
  const counter = { calls: 0 };
  const holder = target as Record<string, (...args: unknown[]) => unknown>;
  const original = holder[method] as (...args: unknown[]) => unknown;
  holder[method] = function (this: unknown, ...args: unknown[]) {
    counter.calls++;
    return original.apply(this, args);
  };
  return counter;
}

/** Counts the commands an ioredis client sends, by name (pipelined ones included). */
function commandLog(client: Redis): Map<string, number> {
  const log = new Map<string, number>();
  const holder = client as unknown as { sendCommand: (command: { name: string }, ...rest: unknown[]) => unknown };
  const original = holder.sendCommand.bind(client);
  holder.sendCommand = (command, ...rest) => {
    log.set(command.name, (log.get(command.name) ?? 0) + 1);
    return original(command, ...rest);
  };
  return log;
}

// ---------------------------------------------------------------------------------------------------------
// 1. Tag invalidation latency against the number of tagged entries

const TAG = 'catalog';

interface Contender {
  setup: string;
  /** Writes entries `from..to-1` with the tag. */
  load: (from: number, to: number) => Promise<void>;
  set: (key: string, v: unknown) => Promise<unknown>;
  get: (key: string) => Promise<unknown>;
  invalidate: () => Promise<unknown>;
  inMemory: () => number;
  /** Commands sent to Redis so far, by name (undefined when they cannot be seen). */
  commands: (() => Map<string, number>) | undefined;
  close: () => Promise<void>;
}

async function invalidationContender(contender: string, tiers: string, entries: number, prefix: string): Promise<Contender> {
  const maxEntries = entries + 10_000;
  if (contender === 'tiercache') {
    const redis = tiers === 'redis';
    const client = redis ? new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2_000 }) : undefined;
    const busClient = redis ? new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2_000, lazyConnect: true }) : undefined;
    // What the store and the bus send, by command name (pipelined commands included).
    const logs = client === undefined || busClient === undefined ? [] : [commandLog(client), commandLog(busClient)];
    const cache = new Cache({
      memory: { maxEntries },
      defaultTtl: TTL_MS,
      ...(client === undefined || busClient === undefined
        ? {}
        : { stores: [redisStore({ client, prefix })], bus: redisBus({ client: busClient, channel: `${prefix}bus` }) }),
    });
    await cache.ready();
    return {
      setup: redis
        ? `memory { maxEntries: ${maxEntries.toLocaleString('en')} } + redisStore + redisBus`
        : `memory { maxEntries: ${maxEntries.toLocaleString('en')} }`,
      load: async (from, to) => {
        const batch = [];
        for (let i = from; i < to; i++) batch.push({ key: `item:${i}`, value: value(i), tags: [TAG] });
        await cache.setMany(batch);
      },
      set: (key, v) => cache.set(key, v, { tags: [TAG] }),
      get: (key) => cache.get(key),
      invalidate: () => cache.invalidateTags([TAG]),
      inMemory: () => cache.getStats().keyCount,
      commands:
        logs.length === 0
          ? undefined
          : () => {
              const total = new Map<string, number>();
              for (const log of logs) for (const [name, n] of log) total.set(name, (total.get(name) ?? 0) + n);
              return total;
            },
      close: async () => {
        await cache.close();
        for (const c of [client, busClient]) if (c !== undefined && c.status !== 'end') await c.quit().catch(() => c.disconnect());
      },
    };
  }
  if (contender === 'bentocache') {
    const redis = tiers === 'redis';
    const connection = { host: REDIS_HOST, port: REDIS_PORT };
    const l1 = memoryDriver({ maxItems: maxEntries });
    const store = redis
      ? bentostore().useL1Layer(l1).useL2Layer(redisDriver({ connection })).useBus(redisBusDriver({ connection }))
      : bentostore().useL1Layer(l1);
    const bento = new BentoCache({ default: 'main', prefix: `${prefix}bento`, stores: { main: store } });
    let l1Count = 0;
    return {
      setup: redis
        ? `memoryDriver({ maxItems: ${maxEntries.toLocaleString('en')} }) L1 + redisDriver L2 + redisBusDriver`
        : `memoryDriver({ maxItems: ${maxEntries.toLocaleString('en')} }) L1`,
      load: async (from, to) => {
        const writes = [];
        for (let i = from; i < to; i++) writes.push(bento.set({ key: `item:${i}`, value: value(i), ttl: TTL_MS, tags: [TAG] }));
        await Promise.all(writes);
        l1Count += to - from;
      },
      set: (key, v) => bento.set({ key, value: v, ttl: TTL_MS, tags: [TAG] }),
      get: (key) => bento.get({ key }),
      invalidate: () => bento.deleteByTag({ tags: [TAG] }),
      // BentoCache does not expose its L1 size; entries written (maxItems leaves room for all of them).
      inMemory: () => l1Count,
      commands: undefined,
      close: () => bento.disconnectAll(),
    };
  }
  throw new Error(`unknown contender ${contender}`);
}

async function invalidate(contender: string, tiers: string, entries: number, prefix: string): Promise<InvalidateResult> {
  if (tiers !== 'memory' && tiers !== 'redis') throw new Error(`tiers must be memory or redis, got ${tiers}`);
  if (!Number.isInteger(entries) || entries <= 0 || entries > 1_000_000) throw new Error(`bad entry count ${entries}`);
  // Warm-up calls fill the invalidation log (1,000 events are kept), so the timed calls see the steady state.
  const WARM = 1_000;
  const RUNS = 500;
  const c = await invalidationContender(contender, tiers, entries, prefix);
  const raw = tiers === 'redis' ? new Redis(REDIS_URL, { maxRetriesPerRequest: 1 }) : undefined;
  try {
    const loadStart = performance.now();
    for (let from = 0; from < entries; from += 1000) {
      await c.load(from, Math.min(entries, from + 1000));
      checkDeadline();
    }
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const inRedis = raw === undefined ? 0 : (await listByPrefix(raw, prefix, (k) => k.includes('item:'))).length;
    if (raw !== undefined && inRedis !== entries) throw new Error(`${contender}: ${inRedis} of ${entries} entries in Redis after load`);
    // Every entry must be there before the first invalidation.
    for (let i = 0; i < entries; i += Math.max(1, Math.floor(entries / 100))) {
      if ((await c.get(`item:${i}`)) === undefined) throw new Error(`${contender}: item:${i} missing after load`);
    }
    const inMemory = c.inMemory();

    const samples = new Float64Array(RUNS);
    let probeSurvived = 0;
    let bulkSurvived = 0;
    let freshLost = 0;
    for (let i = 0; i < WARM; i++) {
      await c.invalidate();
      checkDeadline();
    }
    for (let i = 0; i < RUNS; i++) {
      await c.set('probe', i);
      const t0 = performance.now();
      await c.invalidate();
      const dt = performance.now() - t0;
      if ((await c.get('probe')) !== undefined) probeSurvived++;
      // A different bulk entry each time: reading an invalidated entry removes it.
      if ((await c.get(`item:${(i * 7919) % entries}`)) !== undefined) bulkSurvived++;
      await c.set(`fresh:${i}`, i);
      if ((await c.get(`fresh:${i}`)) === undefined) freshLost++;
      samples[i] = dt;
      checkDeadline();
    }
    // Untimed: is a write lost only when it follows the invalidation within the same millisecond?
    const PAUSED = 50;
    let freshLostAfterPause = 0;
    for (let i = 0; i < PAUSED; i++) {
      await c.invalidate();
      await sleep(2);
      await c.set(`paused:${i}`, i);
      if ((await c.get(`paused:${i}`)) === undefined) freshLostAfterPause++;
    }
    // Untimed: the commands one call sends, including what it leaves to finish in the background.
    let commandsPerCall: Record<string, number> | undefined;
    if (c.commands !== undefined) {
      const CALLS = 20;
      const before = new Map(c.commands());
      for (let i = 0; i < CALLS; i++) {
        await c.invalidate();
        await sleep(20);
      }
      commandsPerCall = {};
      for (const [name, n] of c.commands()) {
        const d = n - (before.get(name) ?? 0);
        if (d > 0) commandsPerCall[name] = d / CALLS;
      }
    }
    return {
      contender,
      tiers,
      setup: c.setup,
      entries,
      loadSeconds,
      inMemory,
      inRedis,
      warmup: WARM,
      runs: RUNS,
      latency: dist(samples, 1000),
      probeSurvived,
      bulkSurvived,
      freshLost,
      freshLostAfterPause,
      pausedRuns: PAUSED,
      commandsPerCall,
    };
  } finally {
    await c.close();
    if (raw !== undefined) await raw.quit().catch(() => raw.disconnect());
  }
}

// ---------------------------------------------------------------------------------------------------------
// 2. Memory-tier hit on tagged entries (the bench/latency.ts method)

async function taggedGet(contender: string, tagCount: number): Promise<TaggedGetResult> {
  if (!Number.isInteger(tagCount) || tagCount < 0 || tagCount > 64) throw new Error(`bad tag count ${tagCount}`);
  const KEYS = 10_000;
  // BentoCache reads take microseconds (tens with tags): fewer reads resolve them as well and keep the run short.
  const SAMPLES = contender === 'bentocache' ? 50_000 : 200_000;
  const LOOP = contender === 'bentocache' ? 200_000 : 1_000_000;
  const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}:profile`);
  // Tag j of entry i: 100 distinct tags per position, so entries share tags as they would in an application.
  const tagsOf = (i: number) => Array.from({ length: tagCount }, (_, j) => `t${j}:${i % 100}`);
  const order = new Uint32Array(SAMPLES);
  for (let i = 0, x = 12345; i < SAMPLES; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    order[i] = x % KEYS;
  }

  let read: (k: string) => Promise<unknown>;
  let close: () => Promise<void>;
  if (contender === 'tiercache') {
    const cache = new Cache({ memory: { maxEntries: KEYS * 2 } });
    for (const [i, k] of keys.entries()) await cache.set(k, value(i), tagCount === 0 ? {} : { tags: tagsOf(i) });
    read = (k) => cache.get(k);
    close = () => cache.close();
  } else if (contender === 'bentocache') {
    const bento = new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: KEYS * 2 })) } });
    for (const [i, k] of keys.entries()) {
      await bento.set(tagCount === 0 ? { key: k, value: value(i), ttl: '24h' } : { key: k, value: value(i), ttl: '24h', tags: tagsOf(i) });
    }
    read = (k) => bento.get({ key: k });
    close = () => bento.disconnectAll();
  } else {
    throw new Error(`unknown contender ${contender}`);
  }

  try {
    const samples = new Float64Array(SAMPLES);
    const overhead = new Float64Array(SAMPLES);
    let hits = 0;
    for (let round = 0; round < 2; round++) {
      // Round 0 warms the JIT up; round 1 is measured.
      for (let i = 0; i < SAMPLES; i++) {
        const t0 = performance.now();
        const t1 = performance.now();
        overhead[i] = t1 - t0;
      }
      for (let i = 0; i < SAMPLES; i++) {
        const k = keys[order[i] as number] as string;
        const t0 = performance.now();
        const v = await read(k);
        samples[i] = performance.now() - t0;
        if (v !== undefined) hits++;
        if ((i & 4095) === 0) checkDeadline();
      }
    }
    if (hits !== SAMPLES * 2) throw new Error(`${contender}: expected every read to hit, got ${hits} of ${SAMPLES * 2}`);
    samples.sort();
    overhead.sort();
    const timer = percentile(overhead, 0.5);
    const ns = (ms: number) => Math.max(0, (ms - timer) * 1e6);

    const started = performance.now();
    let misses = 0;
    for (let i = 0; i < LOOP; i++) {
      if ((await read(keys[order[i % SAMPLES] as number] as string)) === undefined) misses++;
      if ((i & 65535) === 0) checkDeadline();
    }
    const loopNs = ((performance.now() - started) * 1e6) / LOOP;
    if (misses > 0) throw new Error(`${contender}: ${misses} misses in the untimed loop`);
    return { contender, tags: tagCount, keys: KEYS, samples: SAMPLES, timerNs: timer * 1e6, p50: ns(percentile(samples, 0.5)), p99: ns(percentile(samples, 0.99)), loopNs, loopReads: LOOP };
  } finally {
    await close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// 3. Pattern invalidation over 100,000 Redis keys, with a PING loop on another connection in another process

type ToPeer = { type: 'start' } | { type: 'stop' } | { type: 'exit' };
type FromPeer = { type: 'ready' } | { type: 'started' } | ({ type: 'result' } & PingStats);


/** Runs `during` while the peer PINGs Redis back to back; returns the peer's PING latencies. */
async function pinged(child: ChildProcess, during: () => Promise<void>): Promise<PingStats> {
  const started = nextMessage(child, (m: FromPeer): m is { type: 'started' } => m.type === 'started', 10_000, 'ping-peer');
  child.send({ type: 'start' } satisfies ToPeer);
  await started;
  let failure: Error | undefined;
  try {
    await during();
  } catch (error) {
    failure = error instanceof Error ? error : new Error(String(error));
  }
  // The peer is stopped either way, so a failed call does not leave it PINGing.
  const result = nextMessage(child, (m: FromPeer): m is { type: 'result' } & PingStats => m.type === 'result', 10_000, 'ping-peer');
  child.send({ type: 'stop' } satisfies ToPeer);
  const r = await result;
  if (failure !== undefined) throw failure;
  return { count: r.count, p50: r.p50, p99: r.p99, max: r.max };
}

async function pingPeer(): Promise<void> {
  const send = (m: FromPeer) => process.send?.(m);
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  // Warm the loop up first, so the baseline window is not the one that pays for the JIT.
  for (let i = 0; i < 5_000; i++) await client.ping();
  let running = false;
  let exit = false;
  process.on('message', (m: ToPeer) => {
    if (m.type === 'start') running = true;
    if (m.type === 'stop') running = false;
    if (m.type === 'exit') exit = true;
  });
  send({ type: 'ready' });
  const limit = performance.now() + 10 * 60_000;
  while (!exit && performance.now() < limit) {
    if (!running) {
      await sleep(1);
      continue;
    }
    send({ type: 'started' });
    const samples: number[] = [];
    const windowEnd = performance.now() + 120_000;
    while (running && samples.length < 5_000_000 && performance.now() < windowEnd) {
      const t0 = performance.now();
      await client.ping();
      samples.push(performance.now() - t0);
    }
    running = false;
    const sorted = Float64Array.from(samples).sort();
    send({ type: 'result', count: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? 0 });
  }
  await client.quit().catch(() => client.disconnect());
}

/** `LATENCY HISTOGRAM <commands>` as command -> (bucket upper bound µs -> calls in that bucket). */
async function latencyHistogram(client: Redis, commands: readonly string[]): Promise<Map<string, Map<number, number>>> {
  const reply = (await client.call('LATENCY', 'HISTOGRAM', ...commands)) as unknown[];
  const out = new Map<string, Map<number, number>>();
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const name = String(reply[i]);
    const fields = reply[i + 1] as unknown[];
    const at = fields.findIndex((f) => String(f) === 'histogram_usec');
    const flat = (at >= 0 ? (fields[at + 1] as unknown[]) : []).map(Number);
    const buckets = new Map<number, number>();
    let previous = 0;
    for (let j = 0; j + 1 < flat.length; j += 2) {
      const cumulative = flat[j + 1] as number;
      buckets.set(flat[j] as number, cumulative - previous);
      previous = cumulative;
    }
    out.set(name, buckets);
  }
  return out;
}

/** The upper bound of the slowest bucket that gained calls between two histograms; 0 when none did. */
function slowestBucket(before: Map<number, number> | undefined, after: Map<number, number> | undefined): number {
  let slowest = 0;
  for (const [bound, count] of after ?? []) if (count > (before?.get(bound) ?? 0) && bound > slowest) slowest = bound;
  return slowest;
}

function parseCommandStats(info: string): Map<string, { calls: number; usec: number }> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m !== null) out.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

async function pattern(matching: number, prefix: string): Promise<PatternResult> {
  const USERS = 1_000;
  const DAYS = 100;
  // Two plain prefixes (the store's prefix index answers them) and a glob (SCAN on every master).
  const glob = matching === 100 ? 'forecast:u42:*' : matching === 11_100 ? 'forecast:u9*' : matching === 10_000 ? 'forecast:u9??:*' : undefined;
  if (glob === undefined) throw new Error('pattern: the match count must be 100, 11100 or 10000');
  const keyOf = (u: number, d: number) => `forecast:u${u}:d${d}`;
  const matches = (u: number) => (matching === 100 ? u === 42 : matching === 11_100 ? String(u).startsWith('9') : u >= 900 && u <= 999);

  // The store's connection is ours so that its SCANs can be counted; same fail-fast settings as redisStore's own.
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2_000 });
  const scans = countCalls(client, 'scan');
  let scanReturned = 0;
  const countedScan = client.scan.bind(client) as (...args: unknown[]) => Promise<[string, string[]]>;
  (client as unknown as { scan: (...args: unknown[]) => Promise<[string, string[]]> }).scan = async (...args: unknown[]) => {
    const reply = await countedScan(...args);
    scanReturned += reply[1].length;
    return reply;
  };
  const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let indexBuildMs = 0;
  const store = redisStore({ client, prefix, prefixIndex: true });
  const cache = new Cache({ memory: { maxEntries: 10_000 }, stores: [store], defaultTtl: TTL_MS });
  const child = fork(SCRIPT, ['ping-peer'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const loadStart = performance.now();
    let expected = 0;
    for (let u = 0; u < USERS; u++) {
      const batch = [];
      for (let d = 0; d < DAYS; d++) batch.push({ key: keyOf(u, d), value: { user: u, day: d, tempC: (u * 7 + d) % 40, rainMm: (u + d * 3) % 25 } });
      if (matches(u)) expected += DAYS;
      await cache.setMany(batch);
      checkDeadline();
    }
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const loaded = (await listByPrefix(admin, prefix)).length;
    if (loaded !== USERS * DAYS) throw new Error(`pattern: ${loaded} keys under the prefix after loading, expected ${USERS * DAYS}`);
    // As in a service that has run a while: its first prefix deletion built the index (here, up front).
    const indexStart = performance.now();
    await store.buildIndex();
    indexBuildMs = performance.now() - indexStart;
    await nextMessage(child, (m: FromPeer): m is { type: 'ready' } => m.type === 'ready', 30_000, 'ping-peer');

    const pingBaseline = await pinged(child, () => sleep(1_000));
    await sleep(200);
    const threshold = Number(((await admin.config('GET', 'slowlog-log-slower-than')) as string[])[1] ?? -1);
    const slowBefore = (await admin.slowlog('GET', 1)) as [number, ...unknown[]][];
    const lastSlowId = slowBefore[0]?.[0] ?? -1;
    const histogramBefore = await latencyHistogram(admin, ['scan', 'unlink']);
    const statsBefore = parseCommandStats(await admin.info('commandstats'));
    const dbsize = await admin.dbsize();
    const inMemory = cache.getStats().keyCount;
    scans.calls = 0;
    scanReturned = 0;
    let removed = 0;
    let wallMs = 0;
    const pingDuring = await pinged(child, async () => {
      const t0 = performance.now();
      removed = await cache.invalidatePattern(glob);
      wallMs = performance.now() - t0;
    });
    const statsAfter = parseCommandStats(await admin.info('commandstats'));
    const histogramAfter = await latencyHistogram(admin, ['scan', 'unlink']);
    const slowAfter = (await admin.slowlog('GET', 128)) as [number, ...unknown[]][];
    const delta = (name: string, field: 'calls' | 'usec') => (statsAfter.get(name)?.[field] ?? 0) - (statsBefore.get(name)?.[field] ?? 0);

    // Entries only: the prefix also holds the invalidation log (an internal key starting with \u0001).
    const left = await listByPrefix(admin, prefix, (k) => k.startsWith(`${prefix}forecast:`));
    const userOf = (k: string) => Number(/^forecast:u(\d+):/.exec(k.slice(prefix.length))?.[1] ?? -1);
    const leftMatching = left.filter((k) => matches(userOf(k))).length;
    let readAfter = 0;
    let unmatchedLost = 0;
    for (let u = 0; u < USERS; u += 7) {
      const got = await cache.get(keyOf(u, u % DAYS));
      if (matches(u) && got !== undefined) readAfter++;
      if (!matches(u) && got === undefined) unmatchedLost++;
    }
    for (let d = 0; d < DAYS; d++) if ((await cache.get(keyOf(matching === 100 ? 42 : 950, d))) !== undefined) readAfter++;
    return {
      pattern: glob,
      keys: USERS * DAYS,
      expected,
      removed,
      loadSeconds,
      dbsize,
      inMemory,
      wallMs,
      clientScans: scans.calls,
      clientScanReturned: scanReturned,
      serverScans: delta('scan', 'calls'),
      serverScanUsec: delta('scan', 'usec'),
      serverUnlinks: delta('unlink', 'calls'),
      serverUnlinkUsec: delta('unlink', 'usec'),
      serverScripts: delta('evalsha', 'calls') + delta('eval', 'calls'),
      serverScriptUsec: delta('evalsha', 'usec') + delta('eval', 'usec'),
      indexBuildMs,
      slowestScanUs: slowestBucket(histogramBefore.get('scan'), histogramAfter.get('scan')),
      slowestUnlinkUs: slowestBucket(histogramBefore.get('unlink'), histogramAfter.get('unlink')),
      slowlogEntries: slowAfter.filter((e) => e[0] > lastSlowId).length,
      slowlogThresholdUs: threshold,
      leftMatching,
      leftTotal: left.length,
      readAfter,
      unmatchedLost,
      pingBaseline,
      pingDuring,
    };
  } finally {
    if (child.connected) child.send({ type: 'exit' } satisfies ToPeer);
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 10_000)))]);
    clearTimeout(timer);
    if (!done) child.kill();
    await cache.close();
    await client.quit().catch(() => client.disconnect());
    await admin.quit().catch(() => admin.disconnect());
  }
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const prefixArg = process.argv.find((a) => a.startsWith('--prefix='))?.slice('--prefix='.length);
  const [scenario, a, b, c] = args;
  if (scenario === 'ping-peer') return pingPeer();
  const prefix = prefixArg ?? newPrefix();
  checkPrefix(prefix);
  let result: unknown;
  try {
    switch (scenario) {
      case 'invalidate':
        result = await invalidate(a ?? 'tiercache', b ?? 'memory', Number(c ?? 10_000), prefix);
        break;
      case 'tagged-get':
        result = await taggedGet(a ?? 'tiercache', Number(b ?? 1));
        break;
      case 'pattern':
        result = await pattern(Number(a ?? 100), prefix);
        break;
      default:
        throw new Error(`unknown scenario ${String(scenario)}: invalidate | tagged-get | pattern`);
    }
  } finally {
    if (scenario !== 'tagged-get') {
      const removed = await deleteByPrefix(prefix);
      console.error(`freshness: removed ${removed} keys under ${prefix}`);
    }
  }
  console.log(JSON.stringify(result));
}

await main();
