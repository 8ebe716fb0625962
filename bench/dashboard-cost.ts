// What watching costs: memory-tier `cache.get` hit latency on a cache whose dashboard has no stream open, then
// one open stream read by another process (the default 2 s snapshot interval, and a 100 ms one as a stress
// case). Each read timed on its own with performance.now(), the median cost of an empty timing pair subtracted,
// as bench/lib/hit-latency.ts does; unlike it, the loop yields to the event loop every BATCH reads, as a server
// does between requests, so the dashboard's timers fire and its snapshots are built while reads are timed.
// Rounds interleaved, median of three. Run: npx tsx bench/dashboard-cost.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Cache } from '../src/index.js';
import { createDashboard, type DashboardHandler } from '../src/dashboard/index.js';

const KEYS = 10_000;
const SAMPLES = 4_000_000;
const BATCH = 2_000;
const ROUNDS = 3;
const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}:profile`);
const order = new Uint32Array(SAMPLES);
for (let i = 0, x = 12345; i < SAMPLES; i++) {
  x = (x * 1103515245 + 12345) >>> 0;
  order[i] = x % KEYS;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** p50/p99 of one hit in ns, and hits per second over the whole run (yields included). */
async function timeHits(cache: Cache): Promise<{ p50: number; p99: number; opsPerSec: number; found: number }> {
  const samples = new Float64Array(SAMPLES);
  const overhead = new Float64Array(SAMPLES);
  let found = 0;
  let started = 0;
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < SAMPLES; i++) {
      const t0 = performance.now();
      overhead[i] = performance.now() - t0;
    }
    started = performance.now();
    for (let i = 0; i < SAMPLES; i++) {
      if (i % BATCH === 0) await yieldToLoop();
      const k = keys[order[i] as number] as string;
      const t0 = performance.now();
      const v = await cache.get(k);
      samples[i] = performance.now() - t0;
      if (v !== undefined) found++;
    }
  }
  const elapsed = performance.now() - started;
  samples.sort();
  overhead.sort();
  const timer = percentile(overhead, 0.5);
  const ns = (ms: number) => Math.max(0, (ms - timer) * 1e6);
  return { p50: ns(percentile(samples, 0.5)), p99: ns(percentile(samples, 0.99)), opsPerSec: SAMPLES / (elapsed / 1000), found };
}

/** A viewer in its own process, reading the stream and counting the snapshots it gets. */
function viewer(url: string): Promise<{ child: ChildProcess; snapshots: () => number }> {
  const script = `
    const r = await fetch(${JSON.stringify(url)});
    const reader = r.body.getReader(); const d = new TextDecoder();
    for (;;) { const { value, done } = await reader.read(); if (done) break; const n = (d.decode(value).match(/event: snapshot/g) || []).length; if (n) process.stdout.write('s'.repeat(n)); }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let count = 0;
  return new Promise((resolve) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      count += chunk.length;
      if (count === 1) resolve({ child, snapshots: () => count });
    });
  });
}

async function mode(name: string, interval: number | undefined): Promise<{ name: string; p50: number; p99: number; opsPerSec: number; snapshots: number }> {
  const cache = new Cache({ memory: { maxEntries: KEYS * 2 } });
  for (const [i, k] of keys.entries()) await cache.set(k, { id: i, name: `user ${i}`, active: true, score: i * 1.5 });
  const dashboard: DashboardHandler = createDashboard({ cache, interval: interval ?? '2s' });
  const server = createServer((req, res) => dashboard(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const watching = interval === undefined ? undefined : await viewer(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/stream`);
  const before = watching?.snapshots() ?? 0;
  const r = await timeHits(cache);
  if (r.found !== 2 * SAMPLES) throw new Error(`${name}: ${r.found} reads found a value`);
  const snapshots = (watching?.snapshots() ?? 0) - before;
  watching?.child.kill();
  dashboard.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await cache.close();
  return { name, p50: r.p50, p99: r.p99, opsPerSec: r.opsPerSec, snapshots };
}

const modes: [string, number | undefined][] = [
  ['no stream open', undefined],
  ['one stream, 2 s interval', 2_000],
  ['one stream, 100 ms interval', 100],
];
const results = new Map<string, Awaited<ReturnType<typeof mode>>[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, interval] of modes) {
    const r = await mode(name, interval);
    results.set(name, [...(results.get(name) ?? []), r]);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
console.log('| dashboard | hit p50 | hit p99 | hits/s | snapshots sent during the run |');
console.log('|---|---|---|---|---|');
for (const [name, runs] of results) {
  console.log(
    `| ${name} | ${median(runs.map((r) => r.p50)).toFixed(0)} ns | ${median(runs.map((r) => r.p99)).toFixed(0)} ns | ${(median(runs.map((r) => r.opsPerSec)) / 1e6).toFixed(2)} M | ${median(runs.map((r) => r.snapshots))} |`,
  );
}
console.log(`\nNode ${process.version}, ${SAMPLES.toLocaleString('en')} timed reads per run (after as many to warm up), a yield every ${BATCH}, median of ${ROUNDS} interleaved rounds.`);
