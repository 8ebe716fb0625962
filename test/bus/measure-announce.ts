// How long announce() takes on the caller's path while the bus points at a server that never answers.
// Run: npx tsx test/bus/measure-announce.ts   (not part of the test suite; prints p50/p99 in microseconds)
import { Cache } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { BusSync } from '../../src/bus/sync.js';
import { systemClock } from '../../src/clock.js';
import { Emitter } from '../../src/events.js';
import { recordingTarget, startSilentServer } from './helpers.js';

const CALLS = 1_000;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function measure(sync: BusSync, label: string): void {
  const times: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const started = performance.now();
    sync.announce({ type: 'keys', keys: [`user:${i}:profile`] });
    times.push((performance.now() - started) * 1_000);
  }
  times.sort((x, y) => x - y);
  const us = (n: number) => `${n.toFixed(1)} µs`;
  console.log(`${label}: ${CALLS} sequential announce() calls, p50 ${us(percentile(times, 50))}, p99 ${us(percentile(times, 99))}, max ${us(times[times.length - 1] ?? Number.NaN)}`);
}

const server = await startSilentServer();
const emitter = new Emitter();
emitter.on('error', () => undefined);
const options = { prefix: 'app:', clock: systemClock, emitter, connectTimeoutMs: 2_000, breakerCooldownMs: 60_000 } as const;

// Every publish stays in flight: the breaker is closed and nothing has timed out yet.
const pending = new BusSync({ ...options, bus: redisBus({ url: server.url, channel: 'measure' }), publishTimeoutMs: 5_000, breakerFailures: 1_000_000 }, recordingTarget().target);
pending.ready.catch(() => undefined);
for (let round = 1; round <= 3; round++) measure(pending, `breaker closed, publishes pending (round ${round})`);

// The breaker has opened after timeouts: publishes are skipped.
const open = new BusSync({ ...options, bus: redisBus({ url: server.url, channel: 'measure' }), publishTimeoutMs: 50, breakerFailures: 3 }, recordingTarget().target);
open.ready.catch(() => undefined);
for (let i = 0; i < 3; i++) open.announce({ type: 'clear' });
await open.flush();
for (let round = 1; round <= 3; round++) measure(open, `breaker open, publishes skipped (round ${round})`);

// The caller's view: a memory-only cache whose bus points at the silent server, sequential set() calls.
const cache = new Cache({ prefix: 'measure:', bus: redisBus({ url: server.url, channel: 'measure' }) });
cache.on('error', () => undefined);
cache.ready().catch(() => undefined);
for (let round = 1; round <= 2; round++) {
  const times: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const started = performance.now();
    await cache.set(`user:${i}`, i);
    times.push((performance.now() - started) * 1_000);
  }
  times.sort((x, y) => x - y);
  console.log(`Cache.set with the bus on the silent server (round ${round}): ${CALLS} sequential calls, p50 ${percentile(times, 50).toFixed(1)} µs, p99 ${percentile(times, 99).toFixed(1)} µs`);
}

await Promise.all([pending.close(), open.close(), cache.close()]);
await server.close();
