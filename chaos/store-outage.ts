// Scenario 1: the Redis store (and the bus on the same server) goes away under steady load and comes back.
// Several callers run get/set/delete/getOrSet one after another; the server is SIGKILLed (connections drop,
// data lost) or SIGSTOPped (connections stay open, nothing answers) mid-run, then restarted or resumed.
import { isDeepStrictEqual } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Cache, defaultCodec, type BreakerState } from '../src/index.js';
import { redisBus } from '../src/bus/redis.js';
import { decodeEntry } from '../src/entry.js';
import { redisStore } from '../src/stores/redis.js';
import { bounded, describeError, ms, percentile, pick, seededRandom, waitFor, type Section } from './lib.js';
import { startPrivateRedis } from './redis-server.js';

export type OutageMode = 'kill' | 'hang';
type Phase = 'before' | 'during' | 'after';
const PHASES: readonly Phase[] = ['before', 'during', 'after'];

export interface OutageOptions {
  seed: number;
  mode: OutageMode;
  /** Steady load before the outage, ms. @default 3000 */
  beforeMs?: number;
  /** How long the server stays down, ms. @default 3000 */
  outageMs?: number;
  /** Load kept up once the cache has recovered, ms. @default 3000 */
  afterMs?: number;
  /** Longest wait for recovery once the server is back, ms. @default 20000 */
  recoveryLimitMs?: number;
  /** @default 4 */
  callers?: number;
  /** @default 250 */
  storeTimeoutMs?: number;
  /** A call pending this long is counted as stuck and abandoned, ms. @default 5000 */
  callLimitMs?: number;
  /** The breaker's cooldown, ms; the short run shortens it to spend less time waiting. @default the cache's own (5 s) */
  breakerCooldownMs?: number;
}

export interface OutageResult {
  mode: OutageMode;
  seed: number;
  storeTimeoutMs: number;
  breakerCooldownMs: number | undefined;
  readyMs: number;
  readyError: string | undefined;
  calls: Record<Phase, number>;
  p50: Record<Phase, number>;
  p99: Record<Phase, number>;
  max: Record<Phase, number>;
  /** Calls that rejected: outside strict mode the target is none. */
  surfacedErrors: number;
  surfacedKinds: string[];
  /** Calls still pending after `callLimitMs`, abandoned. */
  stuck: number;
  errorEvents: number;
  /** Breaker states as sampled, with ms since the outage began. */
  transitions: { atMs: number; state: BreakerState }[];
  /** From the server being back to breaker closed with no pending writes; undefined if it never got there. */
  recoveryMs: number | undefined;
  outageWrites: number;
  /** Outage writes found in Redis afterwards, read back with a plain client. */
  replayed: number;
  outageDeletes: number;
  /** Keys deleted during the outage that are gone from Redis afterwards (meaningful for `hang`: a kill loses everything). */
  deletesApplied: number;
}

export async function runStoreOutage(options: OutageOptions): Promise<OutageResult> {
  const { seed, mode } = options;
  const beforeMs = options.beforeMs ?? 3_000;
  const outageMs = options.outageMs ?? 3_000;
  const afterMs = options.afterMs ?? 3_000;
  const recoveryLimitMs = options.recoveryLimitMs ?? 20_000;
  const callers = options.callers ?? 4;
  const storeTimeoutMs = options.storeTimeoutMs ?? 250;
  const callLimitMs = options.callLimitMs ?? 5_000;
  const random = seededRandom(seed);
  const prefix = `chaos-outage-${seed}:`;
  const server = await startPrivateRedis();
  const cache = new Cache({
    stores: [
      {
        store: redisStore({ url: server.url, prefix }),
        timeout: storeTimeoutMs,
        ...(options.breakerCooldownMs === undefined ? {} : { breaker: { cooldown: options.breakerCooldownMs } }),
      },
    ],
    bus: redisBus({ url: server.url, channel: `${prefix}bus` }),
  });
  let errorEvents = 0;
  cache.on('error', () => void errorEvents++);

  const latencies: Record<Phase, number[]> = { before: [], during: [], after: [] };
  const surfacedKinds = new Set<string>();
  let surfacedErrors = 0;
  let stuck = 0;
  let phase: Phase = 'before';
  let running = true;
  let outageStartedAt = 0;
  const outageSets = new Map<string, unknown>();
  const outageDeletes = new Set<string>();
  const transitions: OutageResult['transitions'] = [];

  const ready = await bounded(() => cache.ready(), 10_000);
  const readyError = ready.kind === 'error' ? describeError(ready.error) : ready.kind === 'stuck' ? 'stuck' : undefined;

  // Keys set before the outage and deleted during it: the deletes must reach Redis once it is back.
  const doomed: string[] = [];
  for (let i = 0; i < callers * 5; i++) {
    doomed.push(`doomed:${i}`);
    await cache.set(`doomed:${i}`, i);
  }

  const caller = async (id: number) => {
    let n = 0;
    let duringCalls = 0;
    const loader = () => ({ id, n, at: Date.now() });
    while (running && n < 1_000_000) {
      n++;
      const startedIn = phase;
      if (startedIn === 'during') duringCalls++;
      // Each caller's first outage calls are a delete and two sets, so every run has writes to check afterwards.
      const roll = duringCalls === 1 ? 0 : duringCalls === 2 || duringCalls === 3 ? 0.2 : random();
      const key = `k:${Math.floor(random() * 200)}`;
      let call: () => Promise<unknown>;
      if (startedIn === 'during' && roll < 0.1 && doomed.length > 0) {
        const victim = doomed.pop() as string;
        outageDeletes.add(victim);
        call = () => cache.delete(victim);
      } else if (startedIn === 'during' && roll < 0.3) {
        const own = `outage:${id}:${n}`;
        const value = { id, n, seed };
        outageSets.set(own, value);
        call = () => cache.set(own, value, { ttl: '10m' });
      } else {
        call = pick(random, [
          () => cache.get(key),
          () => cache.get(key),
          () => cache.set(key, { id, n }, { ttl: '1m' }),
          () => cache.delete(key),
          () => cache.getOrSet(key, loader, { ttl: '1m' }),
          () => cache.getOrSet(key, loader, { ttl: '1m' }),
        ]);
      }
      const outcome = await bounded(call, callLimitMs);
      latencies[startedIn].push(outcome.ms);
      if (outcome.kind === 'error') {
        surfacedErrors++;
        surfacedKinds.add(describeError(outcome.error));
      } else if (outcome.kind === 'stuck') {
        stuck++;
      }
      // A breath between calls, so the load is steady rather than a spin on memory-tier hits.
      await sleep(1);
    }
  };

  let lastState: BreakerState | undefined;
  const sampler = setInterval(() => {
    const state = cache.getStats().stores.redis?.breaker;
    if (state !== undefined && state !== lastState) {
      transitions.push({ atMs: outageStartedAt === 0 ? 0 : performance.now() - outageStartedAt, state });
      lastState = state;
    }
  }, 5);

  const load = Array.from({ length: callers }, (_, i) => caller(i));
  let recoveryMs: number | undefined;
  try {
    await sleep(beforeMs);
    outageStartedAt = performance.now();
    phase = 'during';
    if (mode === 'kill') await server.kill();
    else server.freeze();
    await sleep(outageMs);
    phase = 'after';
    const backAt = performance.now();
    if (mode === 'kill') await server.restart();
    else server.thaw();
    const recovered = await waitFor(() => {
      const stats = cache.getStats().stores.redis;
      return stats !== undefined && stats.breaker === 'closed' && stats.pendingWrites === 0;
    }, recoveryLimitMs, 5);
    if (recovered) recoveryMs = performance.now() - backAt;
    await sleep(afterMs);
  } finally {
    running = false;
    await Promise.all(load);
    clearInterval(sampler);
  }

  // Read what the outage wrote with a plain client: the replay must have put it in Redis.
  const raw = new Redis(server.url, { maxRetriesPerRequest: 1 });
  raw.on('error', () => undefined);
  let replayed = 0;
  let deletesApplied = 0;
  try {
    for (const [key, expected] of outageSets) {
      const bytes = await raw.getBuffer(prefix + key);
      if (bytes === null) continue;
      try {
        const entry = decodeEntry(bytes, key);
        if (isDeepStrictEqual(defaultCodec.decode(entry.value, key), expected)) replayed++;
      } catch {
        // Unreadable counts as not replayed.
      }
    }
    for (const key of outageDeletes) if ((await raw.exists(prefix + key)) === 0) deletesApplied++;
  } finally {
    raw.disconnect();
    await bounded(() => cache.close(), 5_000);
    await server.stop();
  }

  const figure = (f: (samples: number[]) => number) => ({ before: f(latencies.before), during: f(latencies.during), after: f(latencies.after) });
  return {
    mode,
    seed,
    storeTimeoutMs,
    breakerCooldownMs: options.breakerCooldownMs,
    readyMs: ready.ms,
    readyError,
    calls: figure((s) => s.length),
    p50: figure((s) => percentile(s, 50)),
    p99: figure((s) => percentile(s, 99)),
    max: figure((s) => percentile(s, 100)),
    surfacedErrors,
    surfacedKinds: [...surfacedKinds],
    stuck,
    errorEvents,
    transitions,
    recoveryMs,
    outageWrites: outageSets.size,
    replayed,
    outageDeletes: outageDeletes.size,
    deletesApplied,
  };
}

export function storeOutageSection(results: readonly OutageResult[]): Section {
  const rows: (string | number)[][] = [];
  for (const r of results) {
    for (const p of PHASES) rows.push([r.mode, p, r.calls[p], ms(r.p50[p]), ms(r.p99[p]), ms(r.max[p])]);
  }
  const targets = results.flatMap((r) => [
    { what: `${r.mode}: caller p99 during the outage <= 1.5x the store timeout (${1.5 * r.storeTimeoutMs} ms)`, ok: r.p99.during <= 1.5 * r.storeTimeoutMs, detail: `${ms(r.p99.during)} ms` },
    { what: `${r.mode}: no error surfaced to callers, no call stuck`, ok: r.surfacedErrors === 0 && r.stuck === 0, detail: `${r.surfacedErrors} rejected (${r.surfacedKinds.join(', ') || 'none'}), ${r.stuck} stuck, ${r.errorEvents} error events` },
    { what: `${r.mode}: recovered (breaker closed, no pending writes)`, ok: r.recoveryMs !== undefined, detail: r.recoveryMs === undefined ? 'never' : `${ms(r.recoveryMs, 0)} ms after the server was back` },
    { what: `${r.mode}: writes made during the outage found in Redis afterwards`, ok: r.replayed === r.outageWrites, detail: `${r.replayed}/${r.outageWrites} sets, ${r.deletesApplied}/${r.outageDeletes} deletes` },
    { what: `${r.mode}: ready() settled`, ok: r.readyError === undefined, detail: `${ms(r.readyMs, 0)} ms${r.readyError === undefined ? '' : `, ${r.readyError}`}` },
  ]);
  const notes = results.map(
    (r) => `${r.mode}: breaker ${r.transitions.map((t) => `${t.state} at ${ms(t.atMs, 0)} ms`).join(' → ') || 'never sampled'} (ms since the outage began).`,
  );
  return {
    title: '1. Store outage under steady load',
    setup:
      `A private redis-server is the store (${results[0]?.storeTimeoutMs ?? 250} ms timeout, breaker opening after 5 failures, cooldown ${results[0]?.breakerCooldownMs ?? 5_000} ms) and the bus of a memory+Redis cache. Four callers run get/set/delete/getOrSet one after another; ` +
      'mid-run the server is SIGKILLed and restarted (kill) or SIGSTOPped and resumed (hang). Latencies are per call, by the phase the call started in; a call pending past 5 s is counted as stuck.',
    table: { head: ['mode', 'phase', 'calls', 'p50 ms', 'p99 ms', 'max ms'], rows },
    targets,
    notes,
  };
}
