// Scenario 2: a store and a bus whose server accepts connections and never answers a byte, the failure a
// timeout exists for (a frozen process, a black-holed proxy). Construction and ready() must settle, and
// every call must come back within about the store timeout.
import { createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cache, isCacheError } from '../src/index.js';
import { redisBus } from '../src/bus/redis.js';
import { memcachedStore } from '../src/stores/memcached.js';
import { redisStore } from '../src/stores/redis.js';
import { bounded, describeError, ms, percentile, pick, seededRandom, type Section, type Target } from './lib.js';

export interface SilentOptions {
  seed: number;
  /** Concurrent callers per cache. @default 8 */
  callers?: number;
  /** Calls per caller, at most. @default 40 */
  callsPerCaller?: number;
  /** No new call starts after this long, ms. @default 8000 */
  durationMs?: number;
  /** @default 250 */
  storeTimeoutMs?: number;
  /** A call or ready() pending this long is counted as stuck, ms. @default 10000 */
  callLimitMs?: number;
}

export interface SilentCase {
  name: string;
  constructMs: number;
  /** 'resolved', 'stuck', or the error's class and code. */
  ready: string;
  readyTyped: boolean;
  readyMs: number;
  calls: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  errorKinds: string[];
  stuck: number;
}

export interface SilentResult {
  seed: number;
  storeTimeoutMs: number;
  cases: SilentCase[];
}

/** A TCP server that takes every connection and says nothing; resolves with its port and a way to stop it. */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function exercise(name: string, build: () => Cache, options: Required<Omit<SilentOptions, 'seed'>>, random: () => number): Promise<SilentCase> {
  const constructStarted = performance.now();
  const cache = build();
  const constructMs = performance.now() - constructStarted;
  cache.on('error', () => undefined);
  const ready = await bounded(() => cache.ready(), options.callLimitMs);
  const latencies: number[] = [];
  const errorKinds = new Set<string>();
  let errors = 0;
  let stuck = 0;
  const stopAt = performance.now() + options.durationMs;
  const caller = async (id: number) => {
    for (let n = 0; n < options.callsPerCaller && performance.now() < stopAt; n++) {
      const key = `silent:${Math.floor(random() * 50)}`;
      const call = pick(random, [
        () => cache.get(key),
        () => cache.set(key, { id, n }),
        () => cache.delete(key),
        () => cache.getOrSet(key, () => ({ id, n })),
        () => cache.has(key),
      ]);
      const outcome = await bounded(call, options.callLimitMs);
      latencies.push(outcome.ms);
      if (outcome.kind === 'error') {
        errors++;
        errorKinds.add(describeError(outcome.error));
      } else if (outcome.kind === 'stuck') {
        stuck++;
      }
      await sleep(1);
    }
  };
  await Promise.all(Array.from({ length: options.callers }, (_, i) => caller(i)));
  await bounded(() => cache.close(), 5_000);
  return {
    name,
    constructMs,
    ready: ready.kind === 'value' ? 'resolved' : ready.kind === 'stuck' ? 'stuck' : describeError(ready.error),
    readyTyped: ready.kind === 'value' || (ready.kind === 'error' && isCacheError(ready.error)),
    readyMs: ready.ms,
    calls: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: percentile(latencies, 100),
    errors,
    errorKinds: [...errorKinds],
    stuck,
  };
}

export async function runSilentPeers(options: SilentOptions): Promise<SilentResult> {
  const resolved = {
    callers: options.callers ?? 8,
    callsPerCaller: options.callsPerCaller ?? 40,
    durationMs: options.durationMs ?? 8_000,
    storeTimeoutMs: options.storeTimeoutMs ?? 250,
    callLimitMs: options.callLimitMs ?? 10_000,
  };
  const random = seededRandom(options.seed);
  const silent = await silentServer();
  const url = `redis://127.0.0.1:${silent.port}`;
  try {
    const cases = [
      await exercise(
        'redis store + redis bus',
        () => new Cache({ stores: [{ store: redisStore({ url, prefix: 'silent:' }), timeout: resolved.storeTimeoutMs }], bus: redisBus({ url, channel: 'silent:bus' }) }),
        resolved,
        random,
      ),
      // The same store without the bus, so that what the store's timeout does is seen apart from the bus.
      await exercise(
        'redis store alone',
        () => new Cache({ stores: [{ store: redisStore({ url, prefix: 'silent:' }), timeout: resolved.storeTimeoutMs }] }),
        resolved,
        random,
      ),
      await exercise(
        'memcached store',
        () => new Cache({ stores: [{ store: memcachedStore({ servers: `127.0.0.1:${silent.port}`, prefix: 'silent:' }), timeout: resolved.storeTimeoutMs }] }),
        resolved,
        random,
      ),
    ];
    return { seed: options.seed, storeTimeoutMs: resolved.storeTimeoutMs, cases };
  } finally {
    await silent.close();
  }
}

export function silentPeersSection(result: SilentResult): Section {
  const t = result.storeTimeoutMs;
  const targets: Target[] = result.cases.flatMap((c) => [
    { what: `${c.name}: ready() settles, with a typed error when the bus cannot subscribe`, ok: c.ready !== 'stuck' && c.readyTyped, detail: `${c.ready} after ${ms(c.readyMs, 0)} ms` },
    { what: `${c.name}: every call returns within about the store timeout (p99 <= ${1.5 * t} ms, max <= ${2 * t} ms)`, ok: c.p99 <= 1.5 * t && c.max <= 2 * t && c.stuck === 0, detail: `p99 ${ms(c.p99)} ms, max ${ms(c.max)} ms, ${c.stuck} stuck` },
    { what: `${c.name}: no error surfaced to callers`, ok: c.errors === 0, detail: `${c.errors} (${c.errorKinds.join(', ') || 'none'})` },
  ]);
  return {
    title: '2. A store and a bus that never answer',
    setup: `A loopback TCP server accepts connections and never writes. Three caches on it: a Redis store (${t} ms timeout) with a Redis bus, the same Redis store alone, and a Memcached store (${t} ms timeout). Each gets concurrent get/set/delete/getOrSet/has calls; a call or ready() pending past 10 s is counted as stuck.`,
    table: {
      head: ['cache', 'new Cache ms', 'ready()', 'ready ms', 'calls', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'stuck'],
      rows: result.cases.map((c) => [c.name, ms(c.constructMs, 2), c.ready, ms(c.readyMs, 0), c.calls, ms(c.p50), ms(c.p99), ms(c.max), c.errors, c.stuck]),
    },
    targets,
  };
}
