// The `compute` scenarios of `npm run bench`, one contender per process (bench/compute-report.ts runs them):
//   tsx bench/compute.ts latency <contender>             getOrSet hit latency, memory tier
//   tsx bench/compute.ts local <contender>               cold-key stampede, failing loader, stale-while-revalidate
//   tsx bench/compute.ts cross <contender> --prefix=P    4 processes x 250 callers on one cold key, sharing Redis
// Each prints its result as JSON on its last line. `cross` forks its 4 workers (`cross-worker`) itself.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { createCache as createCacheManager } from 'cache-manager';
import { Cacheable } from 'cacheable';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { Cache } from '../src/cache.js';
import { createContender, type CallOptions, type ComputeContender, type StaleMode } from './lib/compute-contenders.js';
import { measureHits, type Reader as TimedReader } from './lib/hit-latency.js';

const SCRIPT = fileURLToPath(import.meta.url);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Epoch milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
const wall = () => performance.timeOrigin + performance.now();

/** Nearest-rank percentile of sorted samples: with 100 samples, p99 is the second largest. */
function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number;
}

/** Rejects after `ms`, so a scenario that hangs fails instead of stalling the whole run. */
async function within<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  const ac = new AbortController();
  const timeout = sleep(ms, undefined, { signal: ac.signal }).then(() => {
    throw new Error(`${label}: not done within ${ms} ms`);
  });
  timeout.catch(() => undefined);
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    ac.abort();
  }
}

// ---------------------------------------------------------------------------------------------------------
// 1. getOrSet hit latency

export interface LatencyResult {
  name: string;
  call: string;
  p50: number;
  p99: number;
  opsPerSec: number;
  timerNs: number;
  samples: number;
}

const KEYS = 10_000;
const SAMPLES = 300_000;
const LOOPS = 1_000_000;

type Reader = { call: string } & TimedReader;

async function latencySetup(name: string, keys: readonly string[], miss: () => Promise<object>): Promise<Reader> {
  const value = (i: number) => ({ id: i, name: `user ${i}`, active: true, score: i * 1.5 });
  switch (name) {
    case 'map': {
      const map = new Map<string, unknown>();
      keys.forEach((k, i) => map.set(k, value(i)));
      return { call: '`map.get(key)` (sync)', sync: (k) => map.get(k) };
    }
    case 'lru-cache': {
      const lru = new LRUCache<string, object>({ max: KEYS * 2 });
      keys.forEach((k, i) => lru.set(k, value(i)));
      return { call: '`lru.get(key)` (sync)', sync: (k) => lru.get(k) };
    }
    case 'tiercache': {
      const cache = new Cache({ memory: { maxEntries: KEYS * 2 } });
      for (const [i, k] of keys.entries()) await cache.getOrSet(k, () => value(i));
      return { call: '`await cache.getOrSet(key, loader)`', async: (k) => cache.getOrSet(k, miss) };
    }
    case 'bentocache': {
      const bento = new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: KEYS * 2 })) } });
      for (const [i, k] of keys.entries()) await bento.getOrSet({ key: k, factory: () => value(i), ttl: '24h' });
      return { call: '`await bento.getOrSet({ key, factory })`', async: (k) => bento.getOrSet({ key: k, factory: miss }) };
    }
    case 'cache-manager': {
      const manager = createCacheManager();
      for (const [i, k] of keys.entries()) await manager.wrap(k, () => value(i), 86_400_000);
      return { call: '`await manager.wrap(key, loader)`', async: (k) => manager.wrap(k, miss) };
    }
    case 'cacheable': {
      const cacheable = new Cacheable({ ttl: '24h' });
      for (const [i, k] of keys.entries()) await cacheable.getOrSet(k, () => Promise.resolve(value(i)));
      return { call: '`await cacheable.getOrSet(key, loader)`', async: (k) => cacheable.getOrSet(k, miss) };
    }
    default:
      throw new Error(`unknown contender ${name}`);
  }
}

async function latency(name: string): Promise<LatencyResult> {
  const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}:profile`);
  let misses = 0;
  const miss = () => {
    misses++;
    return Promise.resolve({});
  };
  const reader = await latencySetup(name, keys, miss);
  // One pseudo-random read order (an LCG), the same for every contender.
  const order = new Uint32Array(SAMPLES);
  for (let i = 0, x = 12345; i < SAMPLES; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    order[i] = x % KEYS;
  }
  const r = await measureHits(reader, keys, order, LOOPS);
  if (r.found !== SAMPLES * 2 + LOOPS || misses !== 0) throw new Error(`${name}: ${r.found} of ${SAMPLES * 2 + LOOPS} reads hit, loader called ${misses} times`);
  return { name, call: reader.call, p50: r.p50, p99: r.p99, opsPerSec: r.opsPerSec, timerNs: r.timerNs, samples: SAMPLES };
}

// ---------------------------------------------------------------------------------------------------------
// 2, 4, 5. One process: cold-key stampede, failing loader, stale-while-revalidate

/** Measured rounds of each one-process scenario, after one warm-up round on its own key. */
const LOCAL_ROUNDS = 3;
const STAMPEDE_CALLERS = 1_000;
const STAMPEDE_LOADER_MS = 50;
const FAIL_CALLERS = 50;
const FAIL_AFTER_MS = 20;
const SWR_CALLERS = 100;
const SWR_REFRESH_MS = 200;
/** Caller i of the stale-while-revalidate scenario starts i x this after the first: 100 callers over 200 ms. */
const SWR_SPACING_MS = 2;

export interface StampedeRound {
  calls: number;
  wallMs: number;
  /** Callers that got the loader's value. */
  resolved: number;
  rejected: number;
}

export interface FailRound {
  calls: number;
  /** From the calls to the last caller's settlement. */
  wallMs: number;
  rejected: number;
  /** Callers that got a value (or `undefined`) instead of the error. */
  resolved: number;
}

export interface SwrRound {
  calls: number;
  p50: number;
  p99: number;
  max: number;
  /** Callers answered with the value from before the refresh. */
  stale: number;
  fresh: number;
  rejected: number;
}

export interface SwrResult {
  mode: StaleMode;
  /** TTL and grace of the entry before the calls, and how old it is when they start. */
  setup: string;
  rounds: SwrRound[];
}

export interface LocalResult {
  name: string;
  setup: string;
  call: string;
  stampede: StampedeRound[] | string;
  failing: FailRound[] | string;
  swr: (SwrResult | string)[];
}

async function stampedeRound(c: ComputeContender, key: string): Promise<StampedeRound> {
  let calls = 0;
  const loader = async () => {
    calls++;
    await sleep(STAMPEDE_LOADER_MS);
    return { id: 1, loadedAt: Date.now() };
  };
  const started = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < STAMPEDE_CALLERS; i++) pending.push(c.getOrSet(key, loader, { ttlMs: 60_000 }));
  const settled = await within(Promise.allSettled(pending), 30_000, 'stampede');
  const wallMs = performance.now() - started;
  const resolved = settled.filter((s) => s.status === 'fulfilled' && (s.value as { id?: number } | undefined)?.id === 1).length;
  return { calls, wallMs, resolved, rejected: settled.filter((s) => s.status === 'rejected').length };
}

async function failingRound(c: ComputeContender, key: string): Promise<FailRound> {
  let calls = 0;
  const loader = async (): Promise<object> => {
    calls++;
    await sleep(FAIL_AFTER_MS);
    throw new Error('loader failed');
  };
  const started = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < FAIL_CALLERS; i++) pending.push(c.getOrSet(key, loader, { ttlMs: 60_000 }));
  const settled = await within(Promise.allSettled(pending), 30_000, 'failing loader');
  const wallMs = performance.now() - started;
  const rejected = settled.filter((s) => s.status === 'rejected').length;
  return { calls, wallMs, rejected, resolved: FAIL_CALLERS - rejected };
}

/** How each stale mode is set up: the entry written before the calls, its age when they start, and the calls' options. */
function swrPlan(mode: StaleMode): { write: CallOptions; ageMs: number; calls: CallOptions; setup: string } {
  switch (mode) {
    case 'grace':
      return {
        write: { ttlMs: 50, graceMs: 60_000 },
        ageMs: 100,
        calls: { ttlMs: 60_000, graceMs: 60_000 },
        setup: 'TTL 50 ms, grace 60 s; calls 50 ms after the TTL ran out',
      };
    case 'refresh-threshold':
      return {
        write: { ttlMs: 1_000 },
        ageMs: 100,
        calls: { ttlMs: 60_000, refreshThresholdMs: 950 },
        setup: 'TTL 1 s, `refreshThreshold` 950 ms; calls 100 ms after the write (still within the TTL)',
      };
    case 'none':
      return { write: { ttlMs: 50 }, ageMs: 100, calls: { ttlMs: 60_000 }, setup: 'TTL 50 ms, no grace; calls 50 ms after the TTL ran out' };
  }
}

async function swrRound(c: ComputeContender, key: string, mode: StaleMode): Promise<SwrRound> {
  const plan = swrPlan(mode);
  await c.set(key, { version: 0 }, plan.write);
  await sleep(plan.ageMs);
  let calls = 0;
  const loader = async () => {
    calls++;
    await sleep(SWR_REFRESH_MS);
    return { version: 1 };
  };
  const latencies: number[] = [];
  let stale = 0;
  let fresh = 0;
  let rejected = 0;
  const one = async () => {
    const t0 = performance.now();
    try {
      const v = (await c.getOrSet(key, loader, plan.calls)) as { version?: number } | undefined;
      if (v?.version === 0) stale++;
      else if (v?.version === 1) fresh++;
    } catch {
      rejected++;
    }
    latencies.push(performance.now() - t0);
  };
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < SWR_CALLERS; i++) {
    const due = started + i * SWR_SPACING_MS - performance.now();
    if (due > 0) await sleep(due);
    pending.push(one());
  }
  await within(Promise.all(pending), 30_000, 'stale-while-revalidate');
  // The background refresh may still be running: let it finish so it does not leak into the next round.
  await sleep(SWR_REFRESH_MS + 50);
  latencies.sort((a, b) => a - b);
  return { calls, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies[latencies.length - 1] ?? Number.NaN, stale, fresh, rejected };
}

/** Runs one warm-up round and LOCAL_ROUNDS measured ones; an exception becomes the message shown. */
async function rounds<T>(label: string, run: (round: number) => Promise<T>): Promise<T[] | string> {
  try {
    await run(-1);
    const out: T[] = [];
    for (let r = 0; r < LOCAL_ROUNDS; r++) out.push(await run(r));
    return out;
  } catch (error) {
    console.error(`compute: ${label} failed: ${String(error)}`);
    return `failed: ${(error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''}`;
  }
}

async function local(name: string): Promise<LocalResult> {
  const c = createContender(name);
  try {
    await c.warm();
    const stampede = await rounds(`${name} stampede`, (r) => stampedeRound(c, `stampede:${r}`));
    const failing = await rounds(`${name} failing`, (r) => failingRound(c, `failing:${r}`));
    const swr: (SwrResult | string)[] = [];
    for (const mode of c.staleModes) {
      const result = await rounds(`${name} swr ${mode}`, (r) => swrRound(c, `swr:${mode}:${r}`, mode));
      swr.push(typeof result === 'string' ? `${mode}: ${result}` : { mode, setup: swrPlan(mode).setup, rounds: result });
    }
    return { name, setup: c.setup, call: c.call, stampede, failing, swr };
  } finally {
    await c.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// 3. Cold-key stampede across processes, sharing Redis

const WORKERS = 4;
const CROSS_CALLERS = 250;
const CROSS_LOADER_MS = 100;
const CROSS_ROUNDS = 3;
/** How far ahead of now the coordinator sets the common start time. */
const START_AHEAD_MS = 100;

type ToWorker = { type: 'go'; key: string; at: number } | { type: 'done' };
type FromWorker =
  | { type: 'ready'; setup: string; call: string }
  | {
      type: 'result';
      calls: number;
      firstStart: number;
      lastEnd: number;
      loadedBy: number[];
      rejected: number;
      missing: number;
      storeReads: number | undefined;
      error: string | undefined;
    };

export interface CrossRound {
  calls: number;
  perProcess: number[];
  /** From the common start time to the last of the 1,000 callers answered, over every process. */
  wallMs: number;
  /** Spread of the processes' actual start times. */
  skewMs: number;
  /** Distinct loads whose value the callers got: 1 when every process returned the same value. */
  distinctValues: number;
  rejected: number;
  missing: number;
  /** Reads of the shared store, over the 4 processes, where the library counts them (tiercache). */
  storeReads: number | undefined;
  error: string | undefined;
}

export interface CrossResult {
  name: string;
  setup: string;
  call: string;
  rounds: CrossRound[];
}

function argOf(flag: string): string {
  const arg = process.argv.find((a) => a.startsWith(`--${flag}=`));
  if (arg === undefined) throw new Error(`--${flag}= is required`);
  return arg.slice(flag.length + 3);
}

function nextMessage<M extends FromWorker>(child: ChildProcess, match: (m: FromWorker) => m is M, timeoutMs: number, label: string): Promise<M> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromWorker) => {
      if (!match(m)) return;
      cleanup();
      resolve(m);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`${label}: worker exited (${code}) before answering`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${label}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function sweep(prefix: string): Promise<void> {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await client.connect();
    let cursor = '0';
    let steps = 0;
    // Buffers, not strings: tiercache's prefix index key holds a 0xff byte that a UTF-8 round trip would mangle.
    do {
      const [next, keys] = await client.scanBuffer(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
      cursor = next.toString();
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0' && ++steps < 100_000);
  } finally {
    client.disconnect();
  }
}

async function cross(name: string, prefix: string): Promise<CrossResult> {
  const workers = Array.from({ length: WORKERS }, (_, i) =>
    fork(SCRIPT, ['cross-worker', name, `--prefix=${prefix}`, `--index=${i}`], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }),
  );
  const exited = workers.map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve())));
  const isReady = (m: FromWorker): m is Extract<FromWorker, { type: 'ready' }> => m.type === 'ready';
  const isResult = (m: FromWorker): m is Extract<FromWorker, { type: 'result' }> => m.type === 'result';
  try {
    const [ready] = await Promise.all(workers.map((w, i) => nextMessage(w, isReady, 30_000, `worker ${i}`)));
    const out: CrossRound[] = [];
    // Round -1 warms every process up (JIT, scripts loaded into Redis) on its own key; it is not reported.
    for (let r = -1; r < CROSS_ROUNDS; r++) {
      const key = `cross:${r}`;
      const at = wall() + START_AHEAD_MS;
      const results = Promise.all(workers.map((w, i) => nextMessage(w, isResult, 60_000, `worker ${i} round ${r}`)));
      for (const w of workers) w.send({ type: 'go', key, at } satisfies ToWorker);
      const answers = await results;
      const loadedBy = new Set(answers.flatMap((a) => a.loadedBy));
      if (r >= 0) {
        out.push({
          calls: answers.reduce((sum, a) => sum + a.calls, 0),
          perProcess: answers.map((a) => a.calls),
          wallMs: Math.max(...answers.map((a) => a.lastEnd)) - at,
          skewMs: Math.max(...answers.map((a) => a.firstStart)) - Math.min(...answers.map((a) => a.firstStart)),
          distinctValues: loadedBy.size,
          rejected: answers.reduce((sum, a) => sum + a.rejected, 0),
          missing: answers.reduce((sum, a) => sum + a.missing, 0),
          storeReads: answers.every((a) => a.storeReads !== undefined) ? answers.reduce((sum, a) => sum + (a.storeReads ?? 0), 0) : undefined,
          error: answers.find((a) => a.error !== undefined)?.error,
        });
      }
    }
    return { name, setup: ready?.setup ?? '', call: ready?.call ?? '', rounds: out };
  } finally {
    for (const w of workers) if (w.connected) w.send({ type: 'done' } satisfies ToWorker);
    const done = await within(Promise.all(exited), 10_000, 'workers exit').then(
      () => true,
      () => false,
    );
    if (!done) for (const w of workers) if (w.exitCode === null) w.kill();
    await sweep(prefix);
  }
}

async function crossWorker(name: string, prefix: string, index: number): Promise<void> {
  const send = (m: FromWorker) => process.send?.(m);
  const c = createContender(name, { url: REDIS_URL, prefix });
  await c.warm();
  await new Promise<void>((resolve) => {
    process.on('message', (m: ToWorker) => {
      if (m.type === 'done') {
        resolve();
        return;
      }
      void (async () => {
        let calls = 0;
        const loader = async () => {
          calls++;
          await sleep(CROSS_LOADER_MS);
          return { loadedBy: index * 1_000 + calls };
        };
        const wait = m.at - wall();
        if (wait > 0) await sleep(wait);
        const readsBefore = c.storeReads?.();
        const firstStart = wall();
        const pending: Promise<{ loadedBy: number } | undefined>[] = [];
        for (let i = 0; i < CROSS_CALLERS; i++) pending.push(c.getOrSet(m.key, loader, { ttlMs: 60_000 }));
        const settled = await Promise.allSettled(pending);
        const lastEnd = wall();
        const loadedBy = new Set<number>();
        let rejected = 0;
        let missing = 0;
        let error: string | undefined;
        for (const s of settled) {
          if (s.status === 'rejected') {
            rejected++;
            error ??= String(s.reason);
          } else if (s.value === undefined) missing++;
          else loadedBy.add(s.value.loadedBy);
        }
        const reads = readsBefore === undefined ? undefined : (c.storeReads?.() ?? 0) - readsBefore;
        send({ type: 'result', calls, firstStart, lastEnd, loadedBy: [...loadedBy], rejected, missing, storeReads: reads, error });
      })();
    });
    send({ type: 'ready', setup: c.setup, call: c.call });
  });
  await c.close();
  process.disconnect();
}

// ---------------------------------------------------------------------------------------------------------

const [mode = '', name = 'tiercache'] = process.argv.slice(2);
switch (mode) {
  case 'latency':
    console.log(JSON.stringify(await latency(name)));
    break;
  case 'local':
    console.log(JSON.stringify(await local(name)));
    break;
  case 'cross':
    console.log(JSON.stringify(await cross(name, argOf('prefix'))));
    break;
  case 'cross-worker':
    await crossWorker(name, argOf('prefix'), Number(argOf('index')));
    break;
  default:
    throw new Error(`usage: tsx bench/compute.ts latency|local|cross <contender> [--prefix=...]`);
}
