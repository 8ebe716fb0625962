// The `redis` section of `npm run bench`: runs bench/redis-tier.ts scenarios in child processes and renders them.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { runChild } from './lib/child.js';
import { redisVersion, sweepPrefixes } from './lib/redis-admin.js';
import type { BusResult, GetManyResult, L2LatencyResult, ThroughputResult } from './redis-tier.js';

const SCRIPT = 'redis-tier.ts';
/** Throughput rounds: every configuration runs once per round, in a rotated order; the median round is shown. */
const ROUNDS = 3;
const THROUGHPUT_CONTENDERS = ['tiercache', 'bentocache', 'cache-manager', 'tiercache+autopipe', 'bentocache+autopipe'] as const;

const fmt = (x: number, digits = 0) => x.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pct = (x: number) => `${(x * 100).toFixed(x >= 0.999 || x <= 0.001 ? 2 : 1)}%`;
const ratio = (x: number, base: number) => (base > 0 ? `${(x / base).toFixed(2)}x` : 'n/a');

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
}

/** Runs one scenario; an exception becomes the message shown in place of its table. */
function attempt<T>(label: string, args: string[], loads: number[]): T | string {
  console.error(`redis: ${label}`);
  loads.push(os.loadavg()[0] ?? 0);
  try {
    const result = runChild<T>(SCRIPT, args);
    console.error(`redis: ${JSON.stringify(result)}`);
    return result;
  } catch (error) {
    return `_${label} failed: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}_`;
  }
}

function l2Section(r: L2LatencyResult | string): string[] {
  const head = [
    '### L2 hit: `get` answered by Redis',
    '',
    'One process, three read paths over the same 20,000 keys (values `{ id, name, active, score }` written by',
    'tiercache, so every path reads the same bytes). tiercache runs with `memory: { maxEntries: 16 }`, so almost',
    'every `get` misses the memory tier and reads Redis; the raw paths use their own ioredis connection on the',
    'same keys. Reads are sequential and awaited, each timed on its own (`performance.now()` around one call,',
    'the cost of an empty timing pair subtracted); the paths take turns in blocks of 500 reads (rotating who',
    'goes first) over a fixed pseudo-random key order, 5,000 warm-up reads each, then 30,000 timed reads each.',
    '',
  ];
  if (typeof r === 'string') return [...head, r, ''];
  const base = r.rows[1] as (typeof r.rows)[number];
  const ours = r.rows[0] as (typeof r.rows)[number];
  const met = ours.p50 / base.p50 <= 1.2;
  return [
    ...head,
    '| read path | p50 (µs) | p99 (µs) | mean (µs) | p50 vs raw GET + decode | p99 vs raw GET + decode |',
    '|---|---:|---:|---:|---:|---:|',
    ...r.rows.map((row) => `| ${row.name} | ${fmt(row.p50, 1)} | ${fmt(row.p99, 1)} | ${fmt(row.mean, 1)} | ${ratio(row.p50, base.p50)} | ${ratio(row.p99, base.p99)} |`),
    '',
    `Timed tiercache reads answered by Redis (\`getStats().stores.redis.hits\`): ${pct(r.redisHitFraction)}; by the memory`,
    `tier: ${pct(r.memoryHitFraction)}. Cross-check with \`getResult\` afterwards: ${fmt(r.sourceRedis)} of ${fmt(r.sourceChecked)} reads report`,
    `\`source: 'redis'\`. Reads that found nothing: ${r.misses}. Timer pair: ${r.timerNs.toFixed(0)} ns. Target p50 ≤ 1.2x raw GET + decode:`,
    `${met ? 'met' : '**not met**'} (${ratio(ours.p50, base.p50)}; the gap is ${fmt(ours.p50 - base.p50, 1)} µs per read).`,
    '',
  ];
}

function getManySection(r: GetManyResult | string): string[] {
  const head = [
    '### `getMany` of 100 keys',
    '',
    'One process, 20,000 keys as above, tiercache with `memory: { maxEntries: 16 }` so every key of a batch comes',
    'from Redis. Batches of 100 distinct keys from a fixed permutation; for each batch every path runs once',
    '(rotating who goes first), each batch timed as a whole; 30 warm-up batches, then 300 timed. The raw paths',
    'decode every entry (`decodeEntry` + `defaultCodec.decode`) so they do the same work as the cache, except the',
    'last row, the floor.',
    '',
  ];
  if (typeof r === 'string') return [...head, r, ''];
  const base = r.rows[3] as (typeof r.rows)[number];
  return [
    ...head,
    '| read path | median per batch (µs) | p99 per batch (µs) | per key at median (µs) | median vs one MGET + decode |',
    '|---|---:|---:|---:|---:|',
    ...r.rows.map((row) => `| ${row.name} | ${fmt(row.p50)} | ${fmt(row.p99)} | ${fmt(row.p50 / r.batchSize, 2)} | ${ratio(row.p50, base.p50)} |`),
    '',
    `tiercache keys answered by Redis in the timed batches: ${pct(r.redisHitFraction)} (memory-tier hits: ${r.memoryHits});`,
    `batches with a missing value: ${r.incomplete}.`,
    '',
  ];
}

function busSection(r: BusResult | string): string[] {
  const head = [
    '### Invalidation bus: propagation between two processes',
    '',
    'Process A `set`s keys; process B (forked by A, talking over IPC) listens with `cache.on(\'remote\', ...)`.',
    "Both are `new Cache({ stores: [redisStore(...)], bus: redisBus(...) })` on the run's own channel. A issues one",
    '`set` every 2 ms (awaited; 200 warm-up messages, then 2,000 timed) and stamps `performance.timeOrigin +',
    "performance.now()` just before the call and when it resolves; B stamps the same clock first thing in its",
    '`remote` listener. Latency = B\'s stamp minus A\'s.',
    '',
  ];
  if (typeof r === 'string') return [...head, r, ''];
  const met = r.fromCall.p99 < 5;
  const row = (name: string, d: { p50: number; p99: number; mean: number; max: number }) =>
    `| ${name} | ${d.p50.toFixed(3)} | ${d.p99.toFixed(3)} | ${d.mean.toFixed(3)} | ${d.max.toFixed(3)} |`;
  return [
    ...head,
    '| interval | p50 (ms) | p99 (ms) | mean (ms) | max (ms) |',
    '|---|---:|---:|---:|---:|',
    row("A calls `set` → B's `remote` event", r.fromCall),
    row("A's `set` resolves → B's `remote` event", r.fromResolve),
    row("A's `set` itself (Redis SET + PUBLISH)", r.setLatency),
    '',
    `Messages received by B: ${fmt(r.received)} of ${fmt(r.messages)}; \`recover\` events in B: ${r.recovers}; achieved spacing`,
    `${r.periodMs.toFixed(2)} ms. In ${fmt(r.fromResolve.negative)} of ${fmt(r.received)} messages B had the invalidation before A's \`set\` resolved (down to`,
    `${r.fromResolve.min.toFixed(3)} ms): Redis delivers the PUBLISH to B as it answers A. Clock check: an IPC ping-pong puts B's`,
    `clock ${(r.clockOffsetMs * 1000).toFixed(0)} µs from A's (± ${(r.clockOffsetBoundMs * 1000).toFixed(0)} µs); not applied. Target p99 < 5 ms from the call:`,
    `${met ? 'met' : '**not met**'} (${r.fromCall.p99.toFixed(2)} ms).`,
    '',
  ];
}

function throughputTable(mode: string, rows: Map<string, (ThroughputResult | string)[]>): string[] {
  const summary = THROUGHPUT_CONTENDERS.map((name) => {
    const runs = rows.get(`${name} ${mode}`) ?? [];
    const ok = runs.filter((r): r is ThroughputResult => typeof r !== 'string' && r.error === undefined && r.opsPerSec !== undefined);
    const failure = runs.find((r) => typeof r === 'string' || r.error !== undefined);
    const setup = ok[0]?.setup ?? (typeof failure === 'object' ? failure.setup : '');
    return {
      name,
      setup,
      ok,
      failure: failure === undefined ? undefined : typeof failure === 'string' ? failure : failure.error,
      ops: median(ok.map((r) => r.opsPerSec as number)),
      p50: median(ok.map((r) => r.p50 as number)),
      p99: median(ok.map((r) => r.p99 as number)),
      l1: median(ok.map((r) => r.l1Fraction as number)),
      misses: ok.reduce((sum, r) => sum + (r.misses ?? 0), 0),
    };
  });
  const ours = summary[0]?.ops ?? Number.NaN;
  const label = (name: string) => (name === 'tiercache' ? '**tiercache**' : name.replace('+autopipe', ' + auto-pipelining'));
  return [
    '| contender | setup | ops/s (median) | ops/s range | p50 per op (µs) | p99 per op (µs) | reads without Redis | ops/s vs tiercache |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...summary.map((s) => {
      if (s.ok.length === 0) return `| ${label(s.name)} | ${s.setup} | n/a: ${s.failure ?? 'no result'} | | | | | |`;
      const all = s.ok.map((r) => r.opsPerSec as number);
      const range = `${fmt(Math.min(...all) / 1000, 1)}k–${fmt(Math.max(...all) / 1000, 1)}k`;
      const missNote = s.misses > 0 ? ` (${s.misses} misses!)` : '';
      const failed = ROUNDS - s.ok.length;
      const failNote = failed > 0 ? ` (${failed} of ${ROUNDS} rounds failed: ${s.failure ?? 'no result'})` : '';
      return `| ${label(s.name)} | ${s.setup} | ${fmt(s.ops)}${missNote}${failNote} | ${range} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${pct(s.l1)} | ${ratio(s.ops, ours)} |`;
    }),
    '',
  ];
}

function throughputSection(rows: Map<string, (ThroughputResult | string)[]>): string[] {
  return [
    '### Throughput at concurrency 64',
    '',
    'Each contender in its own process, against the same Redis, with the same workload: 10,000 keys `user:<i>`',
    'holding the same small objects, a Zipf(0.99) key popularity (fixed seed, hot keys scattered by a fixed',
    'permutation), 95% `get` / 5% `set` (1 h TTL), one pre-generated operation sequence shared by 64 async',
    'workers. Every key is first written through the contender\'s own `set` (same order, 64 at a time), then',
    '60,000 warm-up operations (the same count for everyone, so every memory tier starts from the same traffic),',
    `then 4 s timed. ops/s counts completed operations; latency is per operation, queueing included. ${ROUNDS} rounds,`,
    'each running every configuration once in a rotated order; each column is the median over the rounds. "Reads',
    'without Redis" is 1 − (Redis GETs ÷ `get` calls), counted from tiercache\'s `getStats()` and, for the others, by',
    'counting calls of the Redis client\'s `get` (bentocache is given an ioredis client built from `{ host, port }`,',
    'as its `redisDriver` would build, so the calls can be counted).',
    '',
    '**Tiered** (memory tier of 1,000 entries, 10% of the keys, in front of Redis):',
    '',
    ...throughputTable('tiered', rows),
    '**Memory tier off** (every read goes to Redis). bentocache and cache-manager are configured with the Redis',
    'layer only. tiercache always has a memory tier; `{ maxEntries: 1, maxTtl: 0.001 }` is as close to off as it',
    'gets (its column shows what still hit memory).',
    '',
    ...throughputTable('l2', rows),
    'Notes. Defaults are kept except where stated: bentocache\'s memory driver stores entries serialized (JSON) and',
    "parses on every L1 hit; cache-manager's `CacheableMemory` clones on every read; cache-manager does not copy a",
    "value it found in Redis into its memory store (only `set` fills it), so its L1 holds recently written keys. The",
    '"+ auto-pipelining" rows pass ioredis\'s `enableAutoPipelining: true` (tiercache: `redisStore({ url, redis: {',
    '... } })`), which is not the default of either library; cache-manager reaches Redis through node-redis',
    '(`@keyv/redis`), which always sends the commands issued in one tick as one write.',
    '',
  ];
}

export async function runRedisBenchmarks(): Promise<string> {
  const base = `tcbench:${Date.now().toString(36)}-${randomBytes(3).toString('hex')}:`;
  const prefixArg = `--prefix=${base}`;
  const version = await redisVersion();
  const loads: number[] = [];
  const started = Date.now();
  let l2: L2LatencyResult | string;
  let many: GetManyResult | string;
  let busResult: BusResult | string;
  const throughput = new Map<string, (ThroughputResult | string)[]>();
  try {
    l2 = attempt<L2LatencyResult>('L2 hit latency', ['l2-latency', prefixArg], loads);
    many = attempt<GetManyResult>('getMany of 100 keys', ['getmany', prefixArg], loads);
    busResult = attempt<BusResult>('bus propagation', ['bus', prefixArg], loads);
    const configs = (['tiered', 'l2'] as const).flatMap((mode) => THROUGHPUT_CONTENDERS.map((name) => ({ name, mode })));
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < configs.length; i++) {
        const { name, mode } = configs[(i + round * 3) % configs.length] as (typeof configs)[number];
        const key = `${name} ${mode}`;
        const result = attempt<ThroughputResult>(`throughput ${key} (round ${round + 1})`, ['throughput', name, mode, `--prefix=${base}r${round}-`], loads);
        throughput.set(key, [...(throughput.get(key) ?? []), result]);
      }
    }
  } finally {
    const left = await sweepPrefixes([base]).catch(() => 0);
    if (left > 0) console.error(`redis: removed ${left} keys left under ${base}`);
  }
  loads.push(os.loadavg()[0] ?? 0);
  const minutes = (Date.now() - started) / 60_000;
  return [
    '## Redis tier',
    '',
    `Redis ${version} on 127.0.0.1, on the same machine as the clients (so Redis, the client process and anything`,
    `else running share its ${os.cpus().length} cores). Every scenario runs in fresh processes (\`tsx bench/redis-tier.ts <scenario>\`) under`,
    'a key prefix unique to the run, removed at the end (SCAN + UNLINK). 1-minute load average seen between',
    `scenarios: ${fmt(Math.min(...loads), 1)}–${fmt(Math.max(...loads), 1)} (section took ${minutes.toFixed(1)} min); tails (p99, max) are the figures most sensitive to it.`,
    '',
    ...l2Section(l2),
    ...getManySection(many),
    ...busSection(busResult),
    ...throughputSection(throughput),
  ].join('\n');
}
