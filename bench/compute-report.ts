// The `compute` section of `npm run bench`: runs bench/compute.ts scenarios in child processes and renders them.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { CrossResult, FailRound, LatencyResult, LocalResult, StampedeRound, SwrResult } from './compute.js';
import { attemptChild } from './lib/child.js';
import { sweepPrefixes } from './lib/redis-admin.js';
import { LOCAL_CONTENDERS, SHARED_CONTENDERS } from './lib/compute-contenders.js';

const SCRIPT = 'compute.ts';
const LATENCY_CONTENDERS = ['map', 'lru-cache', 'tiercache', 'bentocache', 'cache-manager', 'cacheable'] as const;
/** The tiercache memory-tier getOrSet hit targets, in ns. */
const TARGET_P50_NS = 300;
const TARGET_P99_NS = 1_000;

const fmt = (x: number, digits = 0) => x.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
}

/** `1` when every round agrees, else each round's figure: `1, 4, 1`. */
function perRound(values: readonly number[]): string {
  return values.every((v) => v === values[0]) ? fmt(values[0] ?? Number.NaN) : values.map((v) => fmt(v)).join(', ');
}

/** Median with the range across rounds: `56 (54–62)`. */
function spread(values: readonly number[], digits = 0): string {
  return `${fmt(median(values), digits)} (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})`;
}

const label = (name: string) => (name.startsWith('tiercache') ? `**${name}**` : name);

// ---------------------------------------------------------------------------------------------------------

function latencySection(loads: number[]): string[] {
  const results = LATENCY_CONTENDERS.map((name) => attemptChild<LatencyResult>('compute', SCRIPT, `getOrSet hit latency: ${name}`, ['latency', name], loads));
  const ok = results.filter((r): r is LatencyResult => typeof r !== 'string');
  const ours = ok.find((r) => r.name === 'tiercache');
  const lines = [
    '### 1. Memory-tier hit: `getOrSet` latency',
    '',
    '10,000 keys holding small objects `{ id, name, active, score }`, loaded through each cache\'s own getOrSet, then',
    'read in a fixed pseudo-random order (an LCG), each contender in its own process, with a loader that must not',
    'run (it counts its calls; any call fails the run). Every call is timed on its own: `performance.now()` before',
    `and after one awaited call, minus the median cost of an empty timing pair (${ours === undefined ? 'n/a' : fmt(ours.timerNs)} ns here); ${fmt(ok[0]?.samples ?? 0)} calls`,
    'after a warm-up round of as many. ops/s is an untimed loop of 1,000,000 calls. `Map` and `lru-cache` are the',
    'floor: a synchronous `get`, no loader. Timer resolution makes the small figures steps of about 10 ns.',
    '',
    '| contender | call | p50 (ns) | p99 (ns) | ops/s | p50 vs tiercache | target |',
    '|---|---|---:|---:|---:|---:|---|',
  ];
  results.forEach((r, i) => {
    const name = LATENCY_CONTENDERS[i] as string;
    if (typeof r === 'string') {
      lines.push(`| ${label(name)} | _${r}_ | | | | | |`);
      return;
    }
    const target =
      r.name === 'tiercache'
        ? `p50 ≤ ${TARGET_P50_NS}, p99 ≤ ${fmt(TARGET_P99_NS)}: ${r.p50 <= TARGET_P50_NS && r.p99 <= TARGET_P99_NS ? '**met**' : `**missed** (${[r.p50 > TARGET_P50_NS ? 'p50' : '', r.p99 > TARGET_P99_NS ? 'p99' : ''].filter(Boolean).join(', ')})`}`
        : '';
    lines.push(
      `| ${label(r.name)} | ${r.call} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.opsPerSec)} | ${ours === undefined ? 'n/a' : `${(r.p50 / Math.max(1, ours.p50)).toFixed(2)}x`} | ${target} |`,
    );
  });
  lines.push('');
  return lines;
}

// ---------------------------------------------------------------------------------------------------------

function stampedeSection(results: readonly (LocalResult | string)[]): string[] {
  const lines = [
    '### 2. Cold-key stampede, one process',
    '',
    '1,000 calls for one missing key issued in the same tick, with a loader that takes 50 ms (`setTimeout`) and',
    'counts its calls; wall time is from the first call to the last caller settled. Each round uses a new key;',
    'one warm-up round, then 3 measured ones (loader calls listed per round when they differ; wall time as the',
    'median and range of the rounds). Every contender coalesces concurrent calls in one process: 1 call is the',
    'expected figure for all of them.',
    '',
    '| contender | setup | call | loader calls | wall (ms) | callers with the value |',
    '|---|---|---|---:|---:|---:|',
  ];
  results.forEach((r, i) => {
    const name = LOCAL_CONTENDERS[i] as string;
    if (typeof r === 'string') {
      lines.push(`| ${label(name)} | _${r}_ | | | | |`);
      return;
    }
    if (typeof r.stampede === 'string') {
      lines.push(`| ${label(name)} | _${r.stampede}_ | | | | |`);
      return;
    }
    const rounds: StampedeRound[] = r.stampede;
    lines.push(
      `| ${label(r.name)} | ${r.setup} | \`${r.call}\` | ${perRound(rounds.map((x) => x.calls))} | ${spread(rounds.map((x) => x.wallMs))} | ${perRound(rounds.map((x) => x.resolved))} of 1,000 |`,
    );
  });
  lines.push('');
  return lines;
}

function crossSection(results: readonly (CrossResult | string)[]): string[] {
  const lines = [
    '### 3. Cold-key stampede across processes, sharing Redis',
    '',
    '4 worker processes × 250 concurrent calls on one missing key, all caches sharing one Redis (127.0.0.1) under a',
    'fresh key prefix; the loader takes 100 ms and counts its calls, and each worker reports its count to the',
    'coordinating process over IPC. The barrier: every worker builds its cache, makes one read (so connections are',
    'open) and reports ready; the coordinator then sends each a common start time 100 ms ahead, and each worker',
    'issues its 250 calls when its clock reaches it. "start skew" is the spread of the four actual start times',
    '(event-loop lag on a shared 2-core machine). Wall time is from the common start to the last of the 1,000',
    'callers settled. Each worker\'s loader returns a value naming its process and call, so "distinct values" counts',
    'the loads whose results the 1,000 callers got. One warm-up round (its own key), then 3 measured rounds on new keys.',
    'Only tiercache has a cross-process lease; every other contender coalesces per process only, so 4 calls (one per',
    'process) is what they are expected to make. None of the peers needed a feature left out here: each shares Redis',
    'through its own driver.',
    '',
    '| contender | setup | loader calls (per process) | wall (ms) | start skew, max (ms) | distinct values | callers failed |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  results.forEach((r, i) => {
    const name = SHARED_CONTENDERS[i] as string;
    if (typeof r === 'string') {
      lines.push(`| ${label(name)} | _${r}_ | | | | | |`);
      return;
    }
    const rounds = r.rounds;
    const calls = perRound(rounds.map((x) => x.calls));
    const perProcess = rounds.map((x) => x.perProcess.join('+')).join(', ');
    const failed = rounds.reduce((sum, x) => sum + x.rejected + x.missing, 0);
    const error = rounds.find((x) => x.error !== undefined)?.error;
    const setup = name.startsWith('tiercache') ? r.setup : `${r.setup}; n/a: no lease`;
    lines.push(
      `| ${label(r.name)} | ${setup} | ${calls} (${perProcess}) | ${spread(rounds.map((x) => x.wallMs))} | ${fmt(Math.max(...rounds.map((x) => x.skewMs)), 1)} | ${perRound(rounds.map((x) => x.distinctValues))} | ${failed}${error === undefined ? '' : ` (${error})`} |`,
    );
  });
  const reads = results
    .filter((r): r is CrossResult => typeof r !== 'string')
    .flatMap((r) => r.rounds.map((x) => x.storeReads))
    .filter((n): n is number => n !== undefined);
  lines.push(
    '',
    `tiercache's store reads, counted by its own stats over the 4 processes: ${reads.length === 0 ? 'n/a' : `${fmt(Math.min(...reads))}–${fmt(Math.max(...reads))} per round`}`,
    'for the 1,000 calls (1,000 is one per caller). Each caller reads Redis once before it joins its process\'s load: the in-process',
    'single-flight starts after the store read, so a cold-key stampede costs one GET per caller (the peers were not',
    'instrumented for this).',
    '',
    'With `lease: true`, the first process to reach Redis writes a lease marker (`add`); the others find it and',
    'wait for its value instead of loading. Without a bus they poll the store with a doubling delay (5 ms, 10 ms, …',
    'up to 200 ms), so they answer up to one poll interval after the value is written; with `redisBus` the',
    'holder\'s write is announced and wakes the waiters at once. Without `lease`, tiercache still fences the',
    'concurrent loads (each result is written only if the key still holds what its load expected) but does not',
    'wait: one load per process.',
    '',
  );
  return lines;
}

function failingSection(results: readonly (LocalResult | string)[]): string[] {
  const lines = [
    '### 4. Failing loader',
    '',
    '50 calls for one missing key issued in the same tick; the loader rejects after 20 ms. Wall time is until every',
    'caller has settled; loader calls and rejections are counted (50 rejections of 50 is right: no caller may get a',
    'value). One warm-up round, then 3 measured rounds, each on a new key. tiercache is run with its defaults',
    '(`negativeTtl` 0: the failure is not remembered, so only the callers that joined the failed load share its',
    'rejection). cacheable\'s `getOrSet` resolves `undefined` on a loader error unless given `throwErrors: true`,',
    'which it is here.',
    '',
    '| contender | loader calls | wall (ms) | callers rejected |',
    '|---|---:|---:|---:|',
  ];
  results.forEach((r, i) => {
    const name = LOCAL_CONTENDERS[i] as string;
    if (typeof r === 'string') {
      lines.push(`| ${label(name)} | _${r}_ | | |`);
      return;
    }
    if (typeof r.failing === 'string') {
      lines.push(`| ${label(name)} | _${r.failing}_ | | |`);
      return;
    }
    const rounds: FailRound[] = r.failing;
    lines.push(`| ${label(r.name)} | ${perRound(rounds.map((x) => x.calls))} | ${spread(rounds.map((x) => x.wallMs))} | ${perRound(rounds.map((x) => x.rejected))} of 50 |`);
  });
  const bento = results.find((r): r is LocalResult => typeof r !== 'string' && r.name === 'bentocache');
  if (bento !== undefined && typeof bento.failing !== 'string' && bento.failing.some((x) => x.calls > 1)) {
    lines.push(
      '',
      'BentoCache serializes the callers of one key behind a per-key lock; when the holder\'s factory throws, the lock',
      'passes to the next caller, which finds nothing cached and runs the factory again: one call per caller, in series.',
    );
  }
  lines.push('');
  return lines;
}

const STALE_HOW: Readonly<Record<string, string>> = {
  tiercache: '`grace` (`softTimeout` 0, the default)',
  bentocache: '`grace` + `timeout: 0` (its default soft timeout)',
  'cache-manager:refresh-threshold': '`refreshThreshold` (refresh-ahead, before the TTL)',
  'cache-manager:none': 'n/a: no grace (value gone at its TTL)',
  'cacheable:none': 'n/a: no grace (value gone at its TTL)',
};

function swrSection(results: readonly (LocalResult | string)[]): string[] {
  const lines = [
    '### 5. Stale-while-revalidate',
    '',
    'A key is written (version 0) with a short TTL, and once the TTL has run out (50 ms later), 100 callers call',
    'getOrSet on it, caller i starting i × 2 ms after the first, so the calls cover the 200 ms the refresh takes.',
    'The refresh loader returns version 1 after 200 ms and counts its calls. Per-call latency is from the call to',
    'its answer; "stale / fresh" counts the callers answered with version 0 / version 1. Percentiles are nearest-rank:',
    'with 100 callers p99 is the second slowest call. After the calls, the round waits for the refresh to finish.',
    'One warm-up round, then 3 measured rounds on new keys: latencies are the median across rounds',
    '(with the range), loader calls are per round. A contender without grace is shown past its TTL anyway, as what',
    'its callers see: they all wait for the loader. cache-manager has no grace either, but its `refreshThreshold`',
    'refreshes in the background before the TTL runs out: that row writes the key with a 1 s TTL and a 950 ms',
    'threshold and calls 100 ms later, while the entry is still within its TTL.',
    '',
    '| contender | how stale values are served | entry when the calls start | loader calls | p50 (ms) | p99 (ms) | max (ms) | stale / fresh |',
    '|---|---|---|---:|---:|---:|---:|---:|',
  ];
  results.forEach((r, i) => {
    const name = LOCAL_CONTENDERS[i] as string;
    if (typeof r === 'string') {
      lines.push(`| ${label(name)} | _${r}_ | | | | | | |`);
      return;
    }
    for (const s of r.swr) {
      if (typeof s === 'string') {
        lines.push(`| ${label(name)} | _${s}_ | | | | | | |`);
        continue;
      }
      const result: SwrResult = s;
      const rounds = result.rounds;
      const how = STALE_HOW[`${name}:${result.mode}`] ?? STALE_HOW[name] ?? result.mode;
      const stale = rounds.reduce((sum, x) => sum + x.stale, 0);
      const fresh = rounds.reduce((sum, x) => sum + x.fresh, 0);
      const rejected = rounds.reduce((sum, x) => sum + x.rejected, 0);
      lines.push(
        `| ${label(name)} | ${how} | ${result.setup} | ${perRound(rounds.map((x) => x.calls))} | ${spread(rounds.map((x) => x.p50), 2)} | ${spread(rounds.map((x) => x.p99), 1)} | ${spread(rounds.map((x) => x.max), 1)} | ${stale} / ${fresh} of ${rounds.length * 100}${rejected > 0 ? `, ${rejected} failed` : ''} |`,
      );
    }
  });
  lines.push(
    '',
    'BentoCache\'s graced answers take about a millisecond: a caller that finds the key\'s lock held (by the refresh)',
    'waits for it with a timeout equal to the soft timeout (async-mutex `withTimeout`), and a 0 ms `setTimeout` fires',
    'after at least 1 ms in Node; then it answers with the graced value.',
    '',
  );
  return lines;
}

// ---------------------------------------------------------------------------------------------------------

export async function runComputeBenchmarks(): Promise<string> {
  const loads: number[] = [];
  const prefix = `tcbench:compute:${randomBytes(4).toString('hex')}:`;
  const sections: string[] = [];
  try {
    sections.push(...latencySection(loads));
    const local = LOCAL_CONTENDERS.map((name) => attemptChild<LocalResult>('compute', SCRIPT, `one-process scenarios: ${name}`, ['local', name], loads));
    sections.push(...stampedeSection(local));
    const cross = SHARED_CONTENDERS.map((name) =>
      attemptChild<CrossResult>('compute', SCRIPT, `cross-process stampede: ${name}`, ['cross', name, `--prefix=${prefix}${name.replace(/\W+/g, '-')}:`], loads),
    );
    sections.push(...crossSection(cross));
    sections.push(...failingSection(local));
    sections.push(...swrSection(local));
  } finally {
    const leftover = await sweepPrefixes([prefix]).catch((error: unknown) => {
      console.error(`compute: sweep failed: ${String(error)}`);
      return 0;
    });
    if (leftover > 0) console.error(`compute: swept ${leftover} leftover keys`);
  }
  const header = [
    '## Compute: getOrSet, stampedes, failing loaders, stale-while-revalidate',
    '',
    "Each cache's own getOrSet: tiercache `getOrSet`, BentoCache `getOrSet({ key, factory })`, cache-manager",
    '`wrap(key, fn, ttl)`, cacheable `getOrSet`. Every contender runs in its own process (bench/compute.ts, driven',
    'by bench/compute-report.ts); the cross-process scenario runs 4 more per contender. Scenarios 2, 4 and 5 share one',
    'process per contender and one cache instance, each round on a new key. Loaders wait on `setTimeout`, so wall',
    'times include timer lateness (about 1 ms). Reproduce with `npm run bench -- compute`.',
    `One-minute load average while the scenarios ran: ${fmt(Math.min(...loads), 2)}–${fmt(Math.max(...loads), 2)} on ${os.cpus().length} cores.`,
    '',
  ];
  return [...header, ...sections].join('\n');
}
