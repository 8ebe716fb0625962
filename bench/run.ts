// `npm run bench`: every scenario side by side in one run, written to docs/benchmarks.md.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { runComputeBenchmarks } from './compute-report.js';
import { runForecastBenchmarks } from './forecast-report.js';
import { runFreshnessBenchmarks } from './freshness-report.js';
import { runHitRatio } from './hit-ratio.js';
import { runHttpBenchmarks } from './http.js';
import { runChild } from './lib/child.js';
import { runRedisBenchmarks } from './redis-report.js';
import { runRedisSpeedBenchmarks } from './redis-speed-report.js';

interface Latency {
  name: string;
  p50: number;
  p99: number;
  opsPerSec: number;
  timerNs: number;
}
interface Memory {
  name: string;
  bytesPerEntry: number;
}

const only = new Set(process.argv.slice(2));
const LATENCY_ROUNDS = 3;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function medianLatency(name: string, rounds: readonly Latency[]): Latency {
  return {
    name,
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    opsPerSec: median(rounds.map((r) => r.opsPerSec)),
    timerNs: median(rounds.map((r) => r.timerNs)),
  };
}
const want = (section: string) => only.size === 0 || only.has(section);
const sections: string[] = [];

if (want('latency')) {
  const contenders = ['map', 'map (awaited)', 'lru-cache', 'lru-cache (awaited)', 'tiercache', 'tiercache getOrSet', 'tiercache namespace get', 'tiercache metrics', 'tiercache traced', 'bentocache', 'cache-manager', 'cacheable'];
  // Each contender runs in LATENCY_ROUNDS fresh processes, the rounds interleaved so a slow minute of the
  // machine lands on every contender alike; each figure is the median of its rounds.
  const runs = new Map<string, Latency[]>(contenders.map((name) => [name, []]));
  for (let round = 0; round < LATENCY_ROUNDS; round++) {
    for (const name of contenders) {
      console.error(`latency: ${name} (round ${round + 1} of ${LATENCY_ROUNDS})`);
      runs.get(name)?.push(runChild<Latency>('latency.ts', [name]));
    }
  }
  const rows = contenders.map((name) => medianLatency(name, runs.get(name) ?? []));
  const ours = rows.find((r) => r.name === 'tiercache') as Latency;
  const floor = rows.find((r) => r.name === 'lru-cache (awaited)') as Latency;
  const lines = [
    '## Memory-tier hit: `get` latency',
    '',
    `10,000 keys holding small objects, read in a fixed pseudo-random order; each contender in ${LATENCY_ROUNDS} fresh processes,`,
    'the rounds interleaved, each figure the median of the rounds.',
    'Every read is timed on its own (`performance.now()` around one call, the cost of the empty timing pair',
    `subtracted: ${ours.timerNs.toFixed(0)} ns here); 400,000 reads after a warm-up round of as many. ops/s is an`,
    'untimed loop of 2,000,000 reads. `Map` and `lru-cache` are shown as synchronous calls and awaited (the floor',
    'of an async API: the same read behind one resolved promise); the caches are awaited. Peers run bounded, as',
    'in production (BentoCache `maxItems`, cache-manager and cacheable over an LRU-bounded `CacheableMemory`).',
    '',
    '| contender | p50 (ns) | p99 (ns) | ops/s | p50 vs tiercache | p50 vs awaited lru-cache |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name.startsWith('tiercache') ? `**${r.name}**` : r.name} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${Math.round(r.opsPerSec).toLocaleString('en')} | ${(r.p50 / Math.max(1, ours.p50)).toFixed(2)}x | ${(r.p50 / Math.max(1, floor.p50)).toFixed(2)}x |`,
    ),
    '',
    '### What watching costs on the hit path',
    '',
    'The same `get` hit, same run: observability off (the default), detailed metrics on (`metrics: true`: one',
    'read in 64 timed and counted in its key group), and a subscriber on both tracing channels (`tiercache:load`,',
    '`tiercache:store`; memory-tier hits are never traced).',
    '',
    '| setting | p50 (ns) | p99 (ns) | ops/s | p50 over off (ns) |',
    '|---|---:|---:|---:|---:|',
    ...(
      [
        ['off', 'tiercache'],
        ['metrics: true', 'tiercache metrics'],
        ['tracing subscriber', 'tiercache traced'],
      ] as const
    ).map(([label, name]) => {
      const r = rows.find((row) => row.name === name) as Latency;
      return `| ${label} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${Math.round(r.opsPerSec).toLocaleString('en')} | ${(r.p50 - ours.p50).toFixed(0)} |`;
    }),
    '',
  ];
  sections.push(lines.join('\n'));
}

if (want('observe')) {
  console.error('observe: the memory a monitor holds');
  const measured = runChild<{ caches: number; rows: { setup: string; windows: number; bytes: number }[] }>('monitor-memory.ts', [], ['--expose-gc']);
  sections.push(
    [
      '## The memory cost of monitoring',
      '',
      '`cache.monitor()` at its defaults (10 s windows, a ring of 60, the default alert rules), its ring filled on a',
      `fake clock. Heap bytes per monitor, measured over ${measured.caches} caches at once (one alone is lost in the heap's`,
      'noise), the median of 3 rounds: with one window kept, and with the ring full.',
      '',
      '| cache | windows kept | heap bytes per monitor |',
      '|---|---:|---:|',
      ...measured.rows.map((r) => `| ${r.setup} | ${r.windows} | ${Math.round(r.bytes).toLocaleString('en')} |`),
      '',
    ].join('\n'),
  );
}

if (want('memory')) {
  const names = ['map', 'lru-cache', 'lru-cache+ttl', 'tiercache', 'tiercache:lru', 'tiercache:lfu', 'tiercache:ttl'];
  const rows = names.map((name) => {
    console.error(`memory: ${name}`);
    return runChild<Memory>('memory.ts', [name], ['--expose-gc']);
  });
  const map = rows.find((r) => r.name === 'map') as Memory;
  const lines = [
    '## Memory per entry',
    '',
    '100,000 entries, keys `user:<i>` and values `{ id, name }` built beforehand and kept alive, so only the',
    "structure's own heap is counted (heapUsed after forced GCs, one process per structure). tiercache entries",
    'carry their deadline, creation time, byte size and policy state; `lru-cache` is shown with and without TTLs.',
    '',
    '| structure | bytes / entry | above `Map` |',
    '|---|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.bytesPerEntry.toFixed(1)} | ${(r.bytesPerEntry - map.bytesPerEntry).toFixed(1)} |`),
    '',
  ];
  sections.push(lines.join('\n'));
}

if (want('hit-ratio')) {
  console.error('hit ratio: replaying traces');
  sections.push(await runHitRatio());
}

if (want('redis')) {
  console.error('redis: Redis tier scenarios');
  sections.push(await runRedisBenchmarks());
}

if (want('redis-speed')) {
  console.error('redis-speed: the shared tier against raw ioredis, BentoCache and cache-manager');
  sections.push(await runRedisSpeedBenchmarks());
}

if (want('freshness')) {
  console.error('freshness: tag and pattern invalidation');
  sections.push(await runFreshnessBenchmarks());
}

if (want('compute')) {
  console.error('compute: getOrSet, stampedes, failing loaders, stale-while-revalidate');
  sections.push(await runComputeBenchmarks());
}

if (want('http')) {
  console.error('http: a 20 ms handler uncached and cached through Fastify, Express and Hono, beside @fastify/caching');
  sections.push(await runHttpBenchmarks(3));
}

if (want('forecast')) {
  console.error('forecast: dashboards cold and warm, batch warming, calculators without a cache');
  sections.push(await runForecastBenchmarks());
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const header = [
  '# Benchmarks',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} x ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB,`,
  `Node ${process.version}, ${os.type()} ${os.release()}. Command: \`npm run bench\` (sections: \`npm run bench -- latency memory hit-ratio compute forecast\`).`,
  'Figures move by a few percent between runs on a shared machine; ratios measured in one run are what to compare.',
  '',
].join('\n');

const out = header + '\n' + sections.join('\n');
if (only.size === 0) {
  writeFileSync(fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url)), out);
  console.error('wrote docs/benchmarks.md');
}
console.log(out);
